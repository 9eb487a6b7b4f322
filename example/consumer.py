"""The example's GraphQL consumer (WebSocket and HTTP): authentication, middleware, keep-alive."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import graphene

import channels_graphql_ws
import example.schema
from example import tokens

logger = logging.getLogger(__name__)


def log_root_fields(next_: Any, root: Any, info: graphene.ResolveInfo, **args: Any) -> Any:
    """graphql-core middleware: log every top-level field an operation resolves.

    Middleware sees every field; `info.path.prev is None` picks the top-level
    ones. It runs for queries, mutations and each subscription notification
    (introspection is left out by the consumer). Returning `next_(...)` as is
    works for sync and async resolvers alike.
    """
    if info.path.prev is None:
        user = info.context.channels_scope.get("user")
        who = user.username if user is not None and user.is_authenticated else "anonymous"
        logger.info("%s %s (user: %s)", info.operation.operation.value, info.field_name, who)
    return next_(root, info, **args)


def _ensure_session(session: Any) -> None:
    """Give a connection that came without a (live) session cookie a session of its own.

    Channels' `SessionMiddleware` only saves sessions for HTTP responses; a
    socket without a cookie would otherwise have no session key, and all such
    sockets would look like one sender to `OnNewChatMessage`.
    """
    if session.session_key is None or not session.exists(session.session_key):
        session.create()


class GraphqlConsumer(channels_graphql_ws.GraphqlWsConsumer):
    """Serves `example.schema.schema`; the socket is behind `AuthMiddlewareStack`."""

    schema = example.schema.schema
    middleware: ClassVar[list[Any]] = [log_root_fields]
    #: Keep-alive: a `ping` (legacy: `ka`) every few seconds keeps idle sockets
    #: open through proxies; graphql-ws answers them with `pong` by itself.
    send_ping_every = 10
    #: Each subscription's first result, `{"data": null}`, tells the client it
    #: is live (joined to its chat room's group): messages sent from then on
    #: reach it. GraphiQL shows it until the first message arrives.
    confirm_subscriptions = True
    #: GraphiQL at /graphql/ for browsers, loaded from the example's offline
    #: copy (built by `run.py example` into example/static_build/graphiql-cdn/).
    graphiql = True
    graphiql_base_url = "/static/graphiql-cdn/"

    def on_connect(self, payload: Any) -> dict[str, Any] | bool:
        """Accept the connection, logging it in when the payload has a valid token.

        Two ways to be logged in: the session cookie (`AuthMiddlewareStack`
        already put its user in `scope["user"]`, e.g. after logging into
        /admin/ in this browser), or `{"token": "..."}` from the `login` mutation in the
        `connection_init` payload. A token that is given but not valid rejects
        the connection (4403), so a client never runs as someone else than it
        asked to. The `connection_ack` payload says who the connection is.

        A plain method using the ORM: the consumer runs it in Django's sync
        thread, as it does sync resolvers.
        """
        _ensure_session(self.scope["session"])
        if isinstance(payload, dict) and "token" in payload:
            user = tokens.user_for_token(payload["token"])
            if user is None:
                logger.info("connection_init with a bad token: rejected")
                return False
            self.scope["user"] = user
        user = self.scope.get("user")
        return {"user": user.username if user is not None and user.is_authenticated else None}

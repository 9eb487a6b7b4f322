"""What a user sets on their consumer: settings and hooks, with their defaults.

Every transport of the consumer (WebSocket today, HTTP beside it) reads
these, and the engine reads them through the consumer when it needs them:
settings are class attributes read at run time, so they may be changed
with ``setattr`` after the class is defined.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from . import execution, limits, operations
from . import graphiql as graphiql_page
from .protocol import OperationId


class ConsumerConfig:
    """The settings and hooks of ``GraphqlWsConsumer``, documented where they are."""

    # ------------------------------------------------------------ settings

    #: The ``graphene.Schema`` to serve; required.
    schema: ClassVar[Any] = None
    #: Seconds between keep-alives (``ping`` / legacy ``ka``); None: none sent.
    send_ping_every: ClassVar[float | None] = None
    #: Seconds a client has to send ``connection_init`` (close 4408); 0: forever.
    connection_init_wait_timeout: ClassVar[float] = 3
    #: Process every message of a connection, in order, one at a time.
    strict_ordering: ClassVar[bool] = False
    #: Send one extra result when a subscription starts (see API.md).
    confirm_subscriptions: ClassVar[bool] = False
    subscription_confirmation_message: ClassVar[dict[str, Any]] = {
        "data": None,
        "errors": None,
    }
    #: Log a warning when a query or mutation runs at least this long; None: never.
    warn_operation_timeout: ClassVar[float | None] = 1
    subscription_notification_queue_limit: ClassVar[int] = 1024
    #: graphql-core middleware: a list (first is innermost) or a MiddlewareManager.
    middleware: ClassVar[Any] = None
    #: With ``send_ping_every``: seconds a ``pong`` may take before the socket is
    #: closed with 1011 (graphql-transport-ws only: legacy clients never answer
    #: ``ka``). None: never.
    pong_timeout: ClassVar[float | None] = None
    #: On the process's first connection, move the objects made while starting
    #: out of the cycle collector's sight (``gc.freeze``), so its full
    #: collections, which pause every connection, walk only newer objects
    #: (see ``collector``). False: leave the collector as it is.
    freeze_startup_objects: ClassVar[bool] = True
    #: Largest incoming frame in bytes (close 1009 above it); None: no limit.
    max_message_size: ClassVar[int | None] = 1024 * 1024
    #: Operations running at the same time per connection (queries and
    #: mutations in flight plus live subscriptions); over it: an ``error``.
    max_operations: ClassVar[int | None] = 4096
    #: Longest GraphQL document, in characters; None: no limit.
    max_document_length: ClassVar[int | None] = 100_000
    #: Most lexical tokens (names, punctuation, values, comments) of a
    #: document, counted before it is parsed; None: no limit.
    max_document_tokens: ClassVar[int | None] = limits.DEFAULT_MAX_DOCUMENT_TOKENS
    #: Deepest field nesting of an operation (fragments followed); None: no limit.
    max_document_depth: ClassVar[int | None] = 64
    #: Field selections of an operation with fragments expanded (aliases
    #: count once each); None: no limit.
    max_document_fields: ClassVar[int | None] = 10_000
    #: Whether ``__schema`` and ``__type`` may be queried.
    introspection: ClassVar[bool] = True
    #: Send "Internal server error" instead of the text of unexpected
    #: (non-GraphQL) exceptions; each is logged with its traceback.
    mask_internal_errors: ClassVar[bool] = False
    # ------------------------------------------------ settings: HTTP only

    #: Serve the GraphiQL page at the endpoint to browsers (a GET preferring HTML).
    graphiql: ClassVar[bool] = False
    #: Where the GraphiQL page loads GraphiQL and React from (npm CDN layout).
    graphiql_base_url: ClassVar[str] = graphiql_page.DEFAULT_BASE_URL
    #: Origins allowed to call the endpoint from a browser ("*": any); None: no CORS.
    cors_allowed_origins: ClassVar[Sequence[str] | None] = None
    #: Let the listed origins send cookies (Access-Control-Allow-Credentials).
    cors_allow_credentials: ClassVar[bool] = False
    #: Serve graphql-sse's single connection mode (PUT reserves a stream, GET
    #: opens it, POST runs operations on it, DELETE stops them). Several
    #: processes may serve it with channels_redis's ``RedisChannelLayer``;
    #: it needs a channel layer. Distinct connections mode (one stream per
    #: operation) and Apollo multipart are always served.
    sse_single_connection: ClassVar[bool] = True

    #: Run sync resolvers, and ``subscribe``, ``publish``, ``unsubscribed``,
    #: ``on_connect``, ``on_operation`` and ``on_disconnect`` when they are plain
    #: functions, in Django's sync thread (as ``database_sync_to_async`` does),
    #: so that they may use the ORM; async ones stay on the loop. One hop per
    #: operation, and one per broadcast for all of a process's subscribers.
    #: Turn it off for a schema whose resolvers are all async, or whose sync
    #: resolvers need the loop (e.g. return ``DataLoader.load(...)``): then
    #: everything runs on the loop, and sync code must not query.
    sync_code_in_thread: ClassVar[bool] = True

    # --------------------------------------------------------------- hooks

    async def on_connect(self, payload: Any) -> Any:
        """Decide on ``connection_init``; ``payload`` is the client's, unchecked.

        Raise or return ``False`` to reject; return a dict to send it as the
        ``connection_ack`` payload; ``None`` or ``True`` for a plain ack. May
        be a plain (sync) method as well.
        """

    @operations.default_hook
    async def on_operation(self, op_id: OperationId, payload: dict[str, Any]) -> None:
        """Called before every operation; raise to refuse it with an error.

        The return value is ignored. May be a plain (sync) method as well.
        """

    async def on_disconnect(self, code: int) -> None:
        """Called once when the socket has closed, after every ``unsubscribed``.

        ``code`` is the WebSocket close code. May be a plain (sync) method.
        Meant for presence tracking and per-connection cleanup. An SSE or
        multipart stream calls it when it ends: 1000 when the server ended
        it (its operations were done), 1001 when the client went away.
        """

    def _confirmation_payload(self) -> dict[str, Any]:
        """The result sent when a subscription starts, with ``confirm_subscriptions``.

        ``data`` goes out as given; ``errors`` (exceptions) are formatted, and
        the key is left out when there are none, so the default is ``{"data": None}``.
        """
        message = self.subscription_confirmation_message
        payload: dict[str, Any] = {"data": message.get("data")}
        errors = message.get("errors")
        if errors:
            payload["errors"] = [self._format_error(error) for error in errors]
        return payload

    @staticmethod
    def _format_error(error: Exception) -> dict[str, Any]:
        """Turn an error into what the client sees; override to enrich errors."""
        return execution.format_error(error)

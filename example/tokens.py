"""Tokens for the `connection_init` payload: a second way to log a connection in.

`login` returns one; a client puts it in its `connection_init` payload as
`{"token": "..."}` and `GraphqlConsumer.on_connect` turns it back into the
user. It is Django's signed value of the user's primary key: nothing is stored,
and it stops working after `TOKEN_MAX_AGE` seconds or when SECRET_KEY changes.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core import signing

#: Seconds a token stays valid.
TOKEN_MAX_AGE = 24 * 60 * 60
_SALT = "example.tokens"


def make_token(user: Any) -> str:
    """A signed, timestamped token naming `user`."""
    return signing.dumps({"user": user.pk}, salt=_SALT)


def user_for_token(token: object) -> Any | None:
    """The active user a token names, or None if it is bad, expired or names nobody.

    Touches the database: call it from sync code (not on the event loop).
    """
    if not isinstance(token, str):
        return None
    try:
        data = signing.loads(token, salt=_SALT, max_age=TOKEN_MAX_AGE)
    except signing.BadSignature:  # Also raised for an expired token.
        return None
    user_model = get_user_model()
    try:
        user = user_model.objects.get(pk=data["user"])
    except (user_model.DoesNotExist, KeyError, TypeError):
        return None
    return user if user.is_active else None

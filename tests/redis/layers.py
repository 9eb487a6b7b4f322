"""The channels_redis layer configurations the tests use (no pytest needed here)."""

from __future__ import annotations

from typing import Any

#: The layer kinds: channels_redis's two layers.
CORE = "core"
PUBSUB = "pubsub"
BACKENDS = {
    CORE: "channels_redis.core.RedisChannelLayer",
    PUBSUB: "channels_redis.pubsub.RedisPubSubChannelLayer",
}
#: Seconds a core-layer group membership lasts unrenewed in the servers: short,
#: so a killed server leaves no group behind in the shared Redis for long.
SERVER_GROUP_EXPIRY = 300


def layer_config(kind: str, url: str, prefix: str, **config: Any) -> dict[str, Any]:
    """A ``CHANNEL_LAYERS`` entry of ``kind`` on the Redis at ``url``, keys under ``prefix``."""
    if kind not in BACKENDS:
        raise ValueError(f"Unknown layer kind {kind!r}; one of {sorted(BACKENDS)}.")
    options: dict[str, Any] = {"hosts": [url], "prefix": prefix}
    if kind == CORE:
        options["group_expiry"] = SERVER_GROUP_EXPIRY
    options.update(config)
    return {"BACKEND": BACKENDS[kind], "CONFIG": options}

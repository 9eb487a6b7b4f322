"""How a ``GraphqlWsClient`` talks to a server: the transport interface."""

from __future__ import annotations

from typing import Any


class GraphqlWsTransport:
    """A WebSocket carrying JSON messages; subclasses implement every method.

    ``timeout`` arguments are seconds; None means the class's ``TIMEOUT``.
    """

    TIMEOUT: float = 60.0

    async def connect(self, timeout: float | None = None) -> None:
        """Open the socket."""
        raise NotImplementedError()

    async def send(self, message: dict[str, Any]) -> None:
        """Send one JSON message."""
        raise NotImplementedError()

    async def receive(self, timeout: float | None = None) -> dict[str, Any]:
        """Wait for the next JSON message."""
        raise NotImplementedError()

    async def disconnect(self, timeout: float | None = None) -> None:
        """Close the socket."""
        raise NotImplementedError()

    async def wait_disconnect(self, timeout: float | None = None) -> dict[str, Any]:
        """Wait until the server closes the socket; return what the close said."""
        raise NotImplementedError()

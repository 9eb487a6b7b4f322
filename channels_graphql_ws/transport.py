"""How a ``GraphqlWsClient`` talks to a server: the transport interface and aiohttp.

``GraphqlWsTransport`` is the interface; ``GraphqlWsTransportAiohttp`` speaks
to a real server over aiohttp; ``testing.GraphqlWsTransport`` talks to a
consumer in-process.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
from typing import Any

import aiohttp

from .protocol import GRAPHQL_TRANSPORT_WS


class GraphqlWsTransport:
    """A WebSocket carrying JSON messages; subclasses implement every method.

    ``timeout`` arguments are seconds; None means the class's ``TIMEOUT``.
    """

    TIMEOUT: float = 60.0

    def request_subprotocol(self, subprotocol: str) -> None:
        """Ask for ``subprotocol`` when ``connect()`` is not told which one to ask for.

        ``GraphqlWsClient`` calls it with its own subprotocol, so that client
        and transport agree. Transports that fix the subprotocol when they are
        built (``testing.GraphqlWsTransport``) ignore it, as this default does.
        """

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


class GraphqlWsConnectionClosed(ConnectionError):
    """The socket is closed: nothing more will arrive and nothing can be sent.

    ``close`` is what ``wait_disconnect()`` returns: a dict with the ``code``
    and ``reason`` of the close (1006 when the connection was lost without one).
    """

    def __init__(self, close: dict[str, Any]) -> None:
        super().__init__(close)
        self.close = close

    @property
    def code(self) -> int:
        code: int = self.close["code"]
        return code

    @property
    def reason(self) -> str:
        reason: str = self.close["reason"]
        return reason

    def __str__(self) -> str:
        reason = f" ({self.reason})" if self.reason else ""
        return f"The WebSocket connection is closed with code {self.code}{reason}."


#: The code of a connection that ended without a close frame (RFC 6455).
_ABNORMAL_CLOSURE = 1006


class GraphqlWsTransportAiohttp(GraphqlWsTransport):
    """A transport to a real server over aiohttp (``ws://`` or ``wss://`` ``url``).

    ``cookies`` and ``headers`` go with the handshake. The transport owns its
    ``aiohttp.ClientSession``; a background task reads the socket into a
    queue, so messages are kept until ``receive`` asks for them, and a close
    from the server ends every pending and later ``receive`` at once with
    ``GraphqlWsConnectionClosed`` (once the messages that came before it are
    taken).
    """

    def __init__(
        self,
        url: str,
        cookies: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._url = url
        self._cookies = cookies
        self._headers = headers
        self._requested = GRAPHQL_TRANSPORT_WS
        self._reset()

    def _reset(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._socket: aiohttp.ClientWebSocketResponse[bool] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._inbox: collections.deque[Any] = collections.deque()
        self._waiters: set[asyncio.Future[None]] = set()
        self._close: dict[str, Any] | None = None
        self._closed = asyncio.Event()
        self._closing_by_us = False
        self._subprotocol: str | None = None

    @property
    def url(self) -> str:
        return self._url

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server picked (None before ``connect``)."""
        return self._subprotocol

    def request_subprotocol(self, subprotocol: str) -> None:
        self._requested = subprotocol

    async def connect(self, timeout: float | None = None, subprotocol: str | None = None) -> None:
        """Open the socket asking for ``subprotocol`` (else the one requested).

        Raises ``ConnectionError`` when the server picks another subprotocol
        (or none), ``asyncio.TimeoutError`` when the handshake takes longer
        than ``timeout``, and aiohttp's errors when there is no server.
        """
        if self._socket is not None and not self._closed.is_set():
            raise RuntimeError("The transport is already connected!")
        self._reset()
        requested = subprotocol or self._requested
        session = aiohttp.ClientSession(cookies=self._cookies, headers=self._headers)
        self._session = session
        try:
            socket = await asyncio.wait_for(
                session.ws_connect(self._url, protocols=(requested,)),
                self._timeout(timeout),
            )
            if socket.protocol != requested:
                await socket.close()
                raise ConnectionError(
                    f"The server at {self._url} picked the subprotocol "
                    f"{socket.protocol!r}, not {requested!r}!"
                )
        except BaseException:
            self._session = None
            await session.close()
            raise
        self._socket = socket
        self._subprotocol = socket.protocol
        self._reader = asyncio.get_running_loop().create_task(self._read(socket, session))

    async def send(self, message: dict[str, Any]) -> None:
        socket = self._connected_socket()
        if socket.closed or self._close is not None:
            raise GraphqlWsConnectionClosed(self._close_or_abnormal())
        await socket.send_str(json.dumps(message))

    async def receive(self, timeout: float | None = None) -> dict[str, Any]:
        """The next message; ``asyncio.TimeoutError`` when none comes in time.

        Safe to cancel (no message is lost) and to await from many tasks at
        once (each message goes to one of them).
        """
        self._connected_socket()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout(timeout)
        while not self._inbox:
            if self._close is not None:
                raise GraphqlWsConnectionClosed(self._close)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise asyncio.TimeoutError(f"No message within {self._timeout(timeout)} s.")
            waiter = loop.create_future()
            self._waiters.add(waiter)
            timer = loop.call_later(remaining, _wake, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiters.discard(waiter)
        item = self._inbox.popleft()
        if isinstance(item, Exception):
            raise item
        message: dict[str, Any] = item
        return message

    async def disconnect(self, timeout: float | None = None) -> None:
        """Close with 1000 and release the session; harmless when not connected."""
        socket, session, reader = self._socket, self._session, self._reader
        if socket is None or session is None:
            return
        try:
            if not socket.closed:
                self._closing_by_us = True
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(socket.close(code=1000), self._timeout(timeout))
        finally:
            if reader is not None:
                if not reader.done():
                    reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
            await session.close()
            self._finish({"type": "websocket.close", "code": 1000, "reason": ""})

    async def wait_disconnect(self, timeout: float | None = None) -> dict[str, Any]:
        """Wait until the server closes; return ``{"type", "code", "reason"}``.

        Raises ``asyncio.TimeoutError`` when the socket is still open after
        ``timeout``. Messages that came before the close can still be received.
        """
        self._connected_socket()
        await asyncio.wait_for(self._closed.wait(), self._timeout(timeout))
        await self.disconnect(timeout)
        return self._close_or_abnormal()

    # ------------------------------------------------------------ internals

    def _timeout(self, timeout: float | None) -> float:
        return self.TIMEOUT if timeout is None else timeout

    def _connected_socket(self) -> aiohttp.ClientWebSocketResponse[bool]:
        if self._socket is None:
            raise RuntimeError("The transport is not connected: call `connect()` first!")
        return self._socket

    def _close_or_abnormal(self) -> dict[str, Any]:
        if self._close is not None:
            return self._close
        return {"type": "websocket.close", "code": _ABNORMAL_CLOSURE, "reason": ""}

    async def _read(
        self, socket: aiohttp.ClientWebSocketResponse[bool], session: aiohttp.ClientSession
    ) -> None:
        """Move every message into the inbox until the socket closes."""
        close: dict[str, Any] | None = None
        try:
            while True:
                message = await socket.receive()
                if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    self._deliver(_decode(message.data))
                    continue
                if message.type is aiohttp.WSMsgType.CLOSE:
                    close = _close_message(message.data, message.extra)
                elif message.type is aiohttp.WSMsgType.ERROR:
                    self._deliver(_wrap_error(message.data))
                break
        except Exception as error:  # The connection broke: say so, then end.
            self._deliver(_wrap_error(error))
        finally:
            if close is None:
                if self._closing_by_us:
                    close = _close_message(1000, "")
                else:
                    close = _close_message(socket.close_code or _ABNORMAL_CLOSURE, "")
            self._finish(close)
        if not self._closing_by_us:
            # Nobody else will: the server ended the connection.
            await session.close()

    def _deliver(self, item: Any) -> None:
        self._inbox.append(item)
        self._wake_all()

    def _finish(self, close: dict[str, Any]) -> None:
        if self._close is None:
            self._close = close
        self._closed.set()
        self._wake_all()

    def _wake_all(self) -> None:
        for waiter in self._waiters:
            _wake(waiter)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _decode(data: str | bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError as error:
        return ValueError(f"The server sent a message that is not JSON: {data!r}: {error}")


def _close_message(code: Any, reason: Any) -> dict[str, Any]:
    return {
        "type": "websocket.close",
        "code": int(code) if code is not None else _ABNORMAL_CLOSURE,
        "reason": reason if isinstance(reason, str) else "",
    }


def _wrap_error(error: Any) -> ConnectionError:
    if isinstance(error, ConnectionError):
        return error
    wrapped = ConnectionError(f"The WebSocket connection failed: {error!r}")
    if isinstance(error, BaseException):
        wrapped.__cause__ = error
    return wrapped

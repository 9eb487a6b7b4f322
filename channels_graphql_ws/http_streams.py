"""Operations over one streaming HTTP response: Server-Sent Events and Apollo multipart.

A stream is one ``session.OperationSession`` with a sink of its own: the
session owns the operations, their tasks and group memberships (through
the process's fan-out, shared with every socket), and their one cleanup
path; this module only turns the session's answers into the bytes of
``protocol.sse`` or ``protocol.multipart`` and writes them.

Nothing here runs inside a Channels handler for longer than it takes to
send the response head: the keep-alive and the operations run in tasks of
the session, so the consumer keeps dispatching and sees ``http.disconnect``
as soon as the server does (TRANSPORTS.md section 4). ``HttpStream.close``
is the one way a stream ends, whoever ends it: ``unsubscribed``, groups and
tasks through ``session.close``, then ``on_disconnect``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from .operations import Operations
from .protocol import OperationId, encode_message, multipart, sse
from .session import Fanout, OperationSession

log = logging.getLogger(__name__)

#: An operation's id on a stream: None in the modes with one operation per stream.
StreamId = OperationId | None

#: ``on_disconnect`` codes of a stream: the server ended it (its operations
#: are done), or the client went away first.
ENDED_BY_SERVER = 1000
ENDED_BY_CLIENT = 1001


class StreamHost(Protocol):
    """What a stream needs of the consumer it runs on."""

    base_send: Callable[[dict[str, Any]], Awaitable[None]]
    send_ping_every: float | None

    def _fanout(self) -> Fanout: ...
    def on_disconnect(self, code: int) -> Any: ...


# ------------------------------------------------------------------ framing


class Framing(Protocol):
    """How a stream's answers look on the wire; ``ends`` says the response ends after it."""

    head: tuple[tuple[str, str], ...]
    first: bytes
    keepalive: bytes
    default_interval: float

    def result(self, op_id: StreamId, payload_json: str) -> bytes: ...
    def complete(self, op_id: StreamId) -> tuple[bytes, bool]: ...
    def errors(self, op_id: StreamId, errors_json: str, fatal: bool) -> tuple[bytes, bool]: ...


class DistinctSse:
    """graphql-sse's distinct connections mode: one operation, the stream ends with it."""

    head = sse.STREAM_HEADERS
    first = keepalive = sse.COMMENT
    default_interval = sse.KEEPALIVE_SECONDS

    def result(self, op_id: StreamId, payload_json: str) -> bytes:
        return sse.next_event(payload_json)

    def complete(self, op_id: StreamId) -> tuple[bytes, bool]:
        return sse.complete_event(), True

    def errors(self, op_id: StreamId, errors_json: str, fatal: bool) -> tuple[bytes, bool]:
        # GraphQL request errors go as a result, then complete (decision T8).
        return sse.next_event(f'{{"errors":{errors_json}}}') + sse.complete_event(), True


class SingleConnectionSse(DistinctSse):
    """graphql-sse's single connection mode: every event names its operation."""

    def result(self, op_id: StreamId, payload_json: str) -> bytes:
        return sse.next_event(sse.with_id(str(op_id), payload_json))

    def complete(self, op_id: StreamId) -> tuple[bytes, bool]:
        return sse.complete_event(sse.id_only(str(op_id))), False

    def errors(self, op_id: StreamId, errors_json: str, fatal: bool) -> tuple[bytes, bool]:
        result = self.result(op_id, f'{{"errors":{errors_json}}}')
        return result + self.complete(op_id)[0], False


class Multipart:
    """Apollo's multipart subscriptions: one operation, the close delimiter ends it."""

    head = multipart.STREAM_HEADERS
    first = keepalive = multipart.HEARTBEAT
    default_interval = multipart.HEARTBEAT_SECONDS

    def result(self, op_id: StreamId, payload_json: str) -> bytes:
        return multipart.result_part(payload_json)

    def complete(self, op_id: StreamId) -> tuple[bytes, bool]:
        return multipart.CLOSE, True

    def errors(self, op_id: StreamId, errors_json: str, fatal: bool) -> tuple[bytes, bool]:
        if fatal:
            return multipart.fatal_part(errors_json) + multipart.CLOSE, True
        return multipart.result_part(f'{{"errors":{errors_json}}}') + multipart.CLOSE, True


# ------------------------------------------------------------- the response


class StreamResponse:
    """The response of one stream: its head, its chunks, its keep-alive; it ends once.

    Writes to a client that is gone are dropped (daphne and uvicorn either
    raise or return silently): the ``http.disconnect`` that follows ends
    the stream.
    """

    def __init__(self, send: Callable[[dict[str, Any]], Awaitable[None]], framing: Framing):
        self._send = send
        self._framing = framing
        self.finished = False
        self.gone = False
        self._last_write = time.monotonic()

    async def open(self, extra_headers: Sequence[tuple[str, str]]) -> None:
        """Send the head and the first bytes at once, so clients see the stream open."""
        headers = [(name.encode(), value.encode("latin-1")) for name, value in self._framing.head]
        headers += [(name.encode(), value.encode("latin-1")) for name, value in extra_headers]
        await self._put({"type": "http.response.start", "status": 200, "headers": headers})
        await self.write(self._framing.first)

    async def write(self, chunk: bytes, *, last: bool = False) -> None:
        if self.finished or self.gone:
            return
        self.finished = last
        self._last_write = time.monotonic()
        await self._put({"type": "http.response.body", "body": chunk, "more_body": not last})

    async def _put(self, message: dict[str, Any]) -> None:
        try:
            await self._send(message)
        except (OSError, RuntimeError) as error:
            log.debug("The stream's client is gone (%r); nothing more is sent.", error)
            self.gone = True

    async def keep_alive(self, interval: float) -> None:
        """A keep-alive whenever nothing else was sent for ``interval`` seconds."""
        while not (self.finished or self.gone):
            idle = time.monotonic() - self._last_write
            if idle < interval:
                await asyncio.sleep(interval - idle)
                continue
            await self.write(self._framing.keepalive)


# ------------------------------------------------------------------ the sink


class StreamSink:
    """The session's answers as stream bytes (``lifecycle.Sink``).

    It knows which operations are running, so nothing goes out for one
    that has ended: a stopped query's result, a second ``complete``.
    ``operation_ended`` hears about each operation that ends (single
    connection mode frees its id for every process).
    """

    def __init__(
        self,
        response: StreamResponse,
        framing: Framing,
        operation_ended: Callable[[StreamId], Awaitable[None]] | None = None,
    ) -> None:
        self._response = response
        self._framing = framing
        self._active: set[StreamId] = set()
        self._operation_ended = operation_ended

    def activate(self, op_id: StreamId) -> bool:
        """Mark ``op_id`` as running; False when it already is."""
        if op_id in self._active:
            return False
        self._active.add(op_id)
        return True

    @property
    def active(self) -> frozenset[StreamId]:
        return frozenset(self._active)

    def is_active(self, op_id: StreamId) -> bool:
        return op_id in self._active and not self._response.gone

    async def send_result(self, op_id: StreamId, payload: dict[str, Any]) -> None:
        if op_id in self._active:
            await self._response.write(self._framing.result(op_id, encode_message(payload)))

    async def send_encoded_result(self, op_id: StreamId, payload_json: str) -> None:
        if op_id in self._active:
            await self._response.write(self._framing.result(op_id, payload_json))

    async def send_confirmation(self, op_id: StreamId, payload: dict[str, Any]) -> None:
        await self.send_result(op_id, payload)

    async def complete(self, op_id: StreamId) -> None:
        if self._end(op_id):
            chunk, last = self._framing.complete(op_id)
            await self._response.write(chunk, last=last)
            await self._ended(op_id)

    async def send_error(self, op_id: StreamId, errors: list[dict[str, Any]]) -> None:
        await self._send_errors(op_id, errors, fatal=True)

    async def send_document_errors(self, op_id: StreamId, errors: list[dict[str, Any]]) -> None:
        await self._send_errors(op_id, errors, fatal=False)

    async def send_setup_errors(self, op_id: StreamId, errors: list[dict[str, Any]]) -> None:
        await self._send_errors(op_id, errors, fatal=False)

    async def _send_errors(
        self, op_id: StreamId, errors: list[dict[str, Any]], *, fatal: bool
    ) -> None:
        if op_id not in self._active:
            return
        text = json.dumps(errors, allow_nan=False)  # raises before the id ends
        self._end(op_id)
        chunk, last = self._framing.errors(op_id, text, fatal)
        await self._response.write(chunk, last=last)
        await self._ended(op_id)

    def _end(self, op_id: StreamId) -> bool:
        if op_id not in self._active:
            return False
        self._active.discard(op_id)
        return True

    async def _ended(self, op_id: StreamId) -> None:
        if self._operation_ended is not None:
            try:
                await self._operation_ended(op_id)
            except Exception:
                log.exception("Freeing operation id %r of a stream failed.", op_id)


# ---------------------------------------------------------------- the stream


class HttpStream:
    """One streaming response and the session of its operations, ended once by ``close``."""

    def __init__(
        self,
        host: StreamHost,
        operations: Operations,
        framing: Framing,
        *,
        operation_ended: Callable[[StreamId], Awaitable[None]] | None = None,
    ) -> None:
        self._host = host
        self._operations = operations
        self._framing = framing
        self.response = StreamResponse(host.base_send, framing)
        self.sink = StreamSink(self.response, framing, operation_ended)
        self.session = OperationSession(
            operations, self.sink, strict_ordering=False, fanout=host._fanout
        )
        self._closed = False
        self._on_close: list[Callable[[], Awaitable[None]]] = []
        self._readers: set[asyncio.Task[Any]] = set()

    async def open(self, extra_headers: Sequence[tuple[str, str]] = ()) -> None:
        """Send the head and first bytes; start the keep-alive (a task of the session)."""
        await self.response.open(extra_headers)
        interval = self._host.send_ping_every or self._framing.default_interval
        self.session.spawn(self.response.keep_alive(interval))

    def read_while_open(self, reading: Awaitable[Any]) -> None:
        """Run ``reading`` (a channel-layer read loop) until the stream closes.

        Unlike the session's tasks it is cancelled without being waited
        for: a blocking Redis read may lose a cancellation and end only at
        its timeout (seconds later), which must not hold up
        ``unsubscribed``. The loop itself must stop once ``closed`` is set.
        """
        task = asyncio.ensure_future(reading)
        self._readers.add(task)
        task.add_done_callback(self._reader_done)

    def _reader_done(self, task: asyncio.Task[Any]) -> None:
        self._readers.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("A stream's layer reader failed.", exc_info=task.exception())

    def on_close(self, cleanup: Callable[[], Awaitable[None]]) -> None:
        """Run ``cleanup`` when the stream closes, after its operations ended."""
        self._on_close.append(cleanup)

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        """The response is over (``http.disconnect``): end everything, then ``on_disconnect``."""
        if self._closed:
            return
        self._closed = True
        code = ENDED_BY_SERVER if self.response.finished else ENDED_BY_CLIENT
        self.response.gone = True  # nothing more is written, whoever tries
        for reader in list(self._readers):
            reader.cancel()
        await self.session.close()
        for cleanup in self._on_close:
            try:
                await cleanup()
            except Exception:
                log.exception("Cleaning up after a stream failed.")
        try:
            await self._operations.call_hook(self._host.on_disconnect, code)
        except Exception:
            log.exception("`on_disconnect` failed.")

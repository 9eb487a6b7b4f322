"""A raw HTTP/1.1 client for the stream tests: the bytes as the server wrote them.

``aiohttp`` and browsers join and split what arrives; this client decodes
the chunked transfer coding itself, so a test sees each chunk the server
wrote (one per ASGI body message), in order, and when the body ends.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

#: Seconds one read may take.
STEP = 10.0


class RawStream:
    """One request on its own connection; its response read chunk by chunk."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.status = 0
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.ended = False
        self._chunked = False
        self._length: int | None = None

    async def _head(self) -> None:
        status_line = await asyncio.wait_for(self._reader.readline(), STEP)
        self.status = int(status_line.split()[1])
        while True:
            line = (await asyncio.wait_for(self._reader.readline(), STEP)).decode("latin-1")
            if line in ("\r\n", "\n", ""):
                break
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self._chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
        if "content-length" in self.headers:
            self._length = int(self.headers["content-length"])

    async def chunk(self, timeout: float = STEP) -> bytes | None:
        """The next chunk the server wrote; None once the body has ended."""
        if self.ended:
            return None
        if not self._chunked:
            body = await asyncio.wait_for(self._reader.readexactly(self._length or 0), timeout)
            self.ended = True
            self.chunks.append(body)
            return body
        size_line = await asyncio.wait_for(self._reader.readline(), timeout)
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        data = await asyncio.wait_for(self._reader.readexactly(size + 2), STEP)
        if size == 0:
            self.ended = True
            return None
        self.chunks.append(data[:-2])
        return data[:-2]

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    async def until(self, marker: bytes, timeout: float = STEP) -> bytes:
        deadline = asyncio.get_running_loop().time() + timeout
        while marker not in self.body:
            left = deadline - asyncio.get_running_loop().time()
            assert left > 0 and not self.ended, (marker, self.body)
            await self.chunk(left)
        return self.body

    async def whole(self) -> bytes:
        while await self.chunk() is not None:
            pass
        return self.body

    def close(self) -> None:
        self._writer.close()


async def open_stream(
    port: int,
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> RawStream:
    """Send one request on a new connection; return once the response head is in."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), STEP)
    data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    all_headers = dict(headers or {})
    if data:
        all_headers.setdefault("content-type", "application/json")
    if data or method in ("POST", "PUT"):
        all_headers["content-length"] = str(len(data))
    lines += [f"{name}: {value}" for name, value in all_headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data)
    await writer.drain()
    stream = RawStream(reader, writer)
    await stream._head()
    return stream

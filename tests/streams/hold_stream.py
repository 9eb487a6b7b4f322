"""A client process that opens a stream and holds it until it is killed.

    python -m tests.streams.hold_stream PORT PATH ACCEPT BODY_JSON

Prints ``open`` once the first bytes of the stream have arrived, then reads
on until the test kills it (SIGKILL: no goodbye, as a crashed client).
"""

from __future__ import annotations

import socket
import sys


def main() -> None:
    port, path, accept, body = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4].encode()
    connection = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: {accept}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    connection.sendall(head.encode() + body)
    received = b""
    while b"\r\n\r\n" not in received or len(received.split(b"\r\n\r\n", 1)[1]) == 0:
        chunk = connection.recv(65536)
        if not chunk:
            sys.exit("the server closed the stream")
        received += chunk
    print("open", flush=True)
    connection.settimeout(None)
    while connection.recv(65536):
        pass


if __name__ == "__main__":
    main()

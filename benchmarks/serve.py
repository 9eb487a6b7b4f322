"""One benchmark server: uvicorn on 127.0.0.1 serving ``benchmarks.app``.

    BENCH_LAYER=memory python -m benchmarks.serve --port 8765 --open-files 1300

The open-files limit is raised before uvicorn starts (failing loudly when
the hard limit is too low). uvicorn runs in this very process, so its pid
is the server's pid; its default event loop (uvloop when installed) and
WebSocket implementation serve both consumers alike.
"""

from __future__ import annotations

import argparse
import sys

import uvicorn

from .common import raise_open_files_limit


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serve")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--open-files", type=int, required=True)
    args = parser.parse_args(argv)
    raise_open_files_limit(args.open_files)
    uvicorn.run(
        "benchmarks.app:application",
        host="127.0.0.1",
        port=args.port,
        lifespan="off",
        access_log=False,
        log_level="warning",
        # Thousands of connections arrive within a second or two.
        backlog=8192,
    )


if __name__ == "__main__":
    main(sys.argv[1:])

#!/usr/bin/env python3
"""Developer entry point: one command for each thing a developer or CI does.

    python3 run.py example [--host 127.0.0.1] [--port 8000]
    python3 run.py test [pytest args...]
    python3 run.py tox [tox args...]

Only the standard library is used, so this works on a fresh clone with any
Python 3.10+. Each command gets its own virtualenv under `.venv/` which is
created on first use and reinstalled only when `pyproject.toml` changes.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
BIN = "Scripts" if os.name == "nt" else "bin"


def run(cmd: list[str], cwd: Path | None = None) -> None:
    """Print a command and run it; raise CalledProcessError if it fails."""
    print("+ " + shlex.join(cmd), flush=True)
    subprocess.run(cmd, cwd=cwd, check=True)


def ensure_venv(name: str, extra: str) -> Path:
    """Return `.venv/<name>` with `-e .[<extra>]` installed into it.

    The install is skipped when the stamp file says it was already done for
    the current `pyproject.toml`: reinstalling on every run would be slow, and
    the editable install picks up source changes by itself.
    """
    venv = ROOT / ".venv" / name
    python = venv / BIN / "python"
    if not python.exists():
        run([sys.executable, "-m", "venv", "--clear", str(venv)])
    stamp = venv / ".run-py-installed"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    wanted = f"{digest} {extra}\n"
    if not stamp.exists() or stamp.read_text() != wanted:
        run([str(python), "-m", "pip", "install", "-e", f".[{extra}]"], cwd=ROOT)
        stamp.write_text(wanted)
    return venv


def cmd_example(argv: list[str]) -> int:
    """Migrate the example project's SQLite database and serve it with daphne."""
    parser = argparse.ArgumentParser(prog="run.py example")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    venv = ensure_venv("example", "example")
    # Forced rather than defaulted: a DJANGO_SETTINGS_MODULE left in the
    # environment (e.g. by a test run) must not turn this into another project.
    os.environ["DJANGO_SETTINGS_MODULE"] = "example.settings"
    python = str(venv / BIN / "python")
    run([python, "manage.py", "migrate", "--noinput"], cwd=ROOT)
    daphne = str(venv / BIN / "daphne")
    cmd = [daphne, "-b", args.host, "-p", str(args.port), "example.asgi:application"]
    url = f"http://{args.host}:{args.port}/"
    print(
        f"Serving the example on {url} (GraphQL WebSocket: ws://{args.host}:"
        f"{args.port}/graphql/). Stop with Ctrl+C."
    )
    print("+ " + shlex.join(cmd), flush=True)
    os.chdir(ROOT)
    # Replace this process so that signals (Ctrl+C, a test killing us) reach
    # daphne directly.
    os.execv(daphne, cmd)
    return 1  # not reached


def cmd_test(argv: list[str]) -> int:
    """Run pytest from the test virtualenv; 'no tests collected' is a failure."""
    venv = ensure_venv("test", "test")
    python = str(venv / BIN / "python")
    run([python, "--version"])  # Which Python the tests run on.
    cmd = [python, "-m", "pytest", *argv]
    print("+ " + shlex.join(cmd), flush=True)
    code = subprocess.run(cmd, cwd=ROOT).returncode
    if code == 5:
        print(
            "run.py: pytest collected no tests; treating that as a failure.",
            file=sys.stderr,
        )
        return 1
    return code


def pyenv_bins() -> list[str]:
    """Every pyenv-installed CPython 3.x `bin` directory, newest first."""
    found: dict[Path, tuple[int, ...]] = {}
    for base in (Path("/root/.pyenv/versions"), Path.home() / ".pyenv/versions"):
        for bindir in base.glob("3.*/bin"):
            version = tuple(int(p) for p in bindir.parent.name.split(".") if p.isdigit())
            found[bindir.resolve()] = version
    return [str(p) for p in sorted(found, key=found.__getitem__, reverse=True)]


def cmd_tox(argv: list[str]) -> int:
    """Run tox from the test virtualenv with every pyenv Python on PATH.

    tox looks interpreters up on PATH (python3.10, python3.13, ...); pyenv's
    shims only expose the selected version, so the versions' own directories
    are put first. A missing interpreter still fails (tox.ini says so).
    """
    venv = ensure_venv("test", "test")
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([*pyenv_bins(), env.get("PATH", "")])
    cmd = [str(venv / BIN / "python"), "-m", "tox", *argv]
    print("+ " + shlex.join(cmd), flush=True)
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


COMMANDS = {"example": cmd_example, "test": cmd_test, "tox": cmd_tox}


def main() -> int:
    """Dispatch by hand so that pytest/tox arguments pass through untouched."""
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 0 if sys.argv[1:2] in (["-h"], ["--help"]) else 2
    try:
        return COMMANDS[sys.argv[1]](sys.argv[2:])
    except subprocess.CalledProcessError as error:
        print(
            f"run.py: command failed with exit code {error.returncode}: "
            f"{shlex.join(map(str, error.cmd))}",
            file=sys.stderr,
        )
        return error.returncode if error.returncode > 0 else 1


if __name__ == "__main__":
    sys.exit(main())

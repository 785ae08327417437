"""The conda environment of the rules pins what constraints.txt pins."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def constraint_pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[norm(name)] = version
    return pins


def env_pins(path: Path) -> dict[str, str]:
    env = yaml.safe_load(path.read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    return {norm(p.split("==")[0]): p.split("==")[1] for p in pip}


def test_every_env_pin_matches_constraints() -> None:
    pins = constraint_pins()
    for env in sorted((REPO / "envs").glob("*.yaml")):
        for name, version in env_pins(env).items():
            assert pins.get(name) == version, f"{env.name}: {name}=={version} vs constraints"


def test_rule_env_holds_every_runtime_dependency() -> None:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {norm(re.split(r"[<>=!~\[ ]", d)[0]) for d in deps} - {"snakemake"}
    assert names <= set(env_pins(REPO / "envs" / "mlser.yaml"))


def test_every_dependency_is_pinned() -> None:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = [re.split(r"[<>=!~\[ ]", d)[0] for d in deps["dependencies"]]
    names += [re.split(r"[<>=!~\[ ]", d)[0] for d in deps["optional-dependencies"]["dev"]]
    pins = constraint_pins()
    assert [n for n in names if norm(n) not in pins] == []

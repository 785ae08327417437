"""The conda environment of the rules pins what constraints.txt pins, and installs mlser.

Static checks: there is no conda here (and no network beyond PyPI), so no test creates
the environment; these check what `conda env create` would be given.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
RULE_ENV = REPO / "envs" / "mlser.yaml"
# pip's syntax for an environment variable in a requirements file (pip's
# req_file.ENV_VAR_RE); conda writes an env file's pip section to one for pip
ENV_VAR = re.compile(r"\$\{([A-Z0-9_]+)\}")


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


def pip_section(path: Path) -> list[str]:
    env = yaml.safe_load(path.read_text())
    return next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))


def env_pins(path: Path) -> dict[str, str]:
    """The `name==version` lines of an env file's pip section."""
    pins = [p for p in pip_section(path) if not p.startswith("-")]
    return {norm(p.split("==")[0]): p.split("==")[1] for p in pins}


def test_every_env_pin_matches_constraints() -> None:
    pins = constraint_pins()
    for env in sorted((REPO / "envs").glob("*.yaml")):
        for spec in pip_section(env):
            assert spec.startswith("-") or "==" in spec, f"{env.name}: {spec} is not pinned"
        for name, version in env_pins(env).items():
            assert pins.get(name) == version, f"{env.name}: {name}=={version} vs constraints"


def test_rule_env_holds_every_runtime_dependency() -> None:
    # snakemake too: pip installs it with mlser, so it is pinned rather than the newest
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {norm(re.split(r"[<>=!~\[ ]", d)[0]) for d in deps}
    assert sorted(names - set(env_pins(RULE_ENV))) == []


def test_every_dependency_is_pinned() -> None:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = [re.split(r"[<>=!~\[ ]", d)[0] for d in deps["dependencies"]]
    names += [re.split(r"[<>=!~\[ ]", d)[0] for d in deps["optional-dependencies"]["dev"]]
    pins = constraint_pins()
    assert [n for n in names if norm(n) not in pins] == []


def test_rule_env_installs_this_checkout_editable() -> None:
    # Every rule runs `python -m mlser <step>` in this env. Snakemake copies the env file
    # to <conda-prefix>/<hash>.yaml and conda runs pip from that folder, so a relative
    # path would name the conda prefix: the file names the checkout by ${MLSER_ROOT},
    # which the workflow sets to its own folder (the repository root) before any env is
    # created.
    installs = [p for p in pip_section(RULE_ENV) if p.startswith("-")]
    assert installs == ["-e ${MLSER_ROOT}"]
    common = (REPO / "workflow" / "rules" / "common.smk").read_text()
    assert "os.environ.update(MLSER_ROOT=workflow.basedir)" in common
    assert (REPO / "Snakefile").is_file()  # workflow.basedir: the main Snakefile's folder
    root = Path(ENV_VAR.sub(lambda m: {"MLSER_ROOT": str(REPO)}[m[1]], installs[0][3:]))
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert project["name"] == "mlser"


def runtime_imports() -> dict[str, Path]:
    """Top-level modules src/mlser imports (absolute imports, stdlib left out), each with a
    file importing it; plus the `package:<module>` models the configs name, which
    mlser.training.multilevel imports by name."""
    found: dict[str, Path] = {}
    for path in sorted((REPO / "src" / "mlser").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], path)
    for path in sorted((REPO / "config").glob("*.yaml")):
        for name in re.findall(r"[\"']package:([A-Za-z_][\w.]*)[\"']", path.read_text()):
            found.setdefault(name.split(".")[0], path)
    return {
        name: path
        for name, path in found.items()
        if name not in sys.stdlib_module_names and name not in {"__future__", "mlser"}
    }


def test_rule_env_holds_every_package_mlser_imports() -> None:
    # the distribution of each module, as installed in this (the test) environment
    dists = metadata.packages_distributions()
    in_env = set(env_pins(RULE_ENV))
    missing = []
    for module, path in sorted(runtime_imports().items()):
        names = {norm(d) for d in dists.get(module, [])}
        if not names & in_env:
            where = path.relative_to(REPO)
            missing.append(f"{module} ({where}; distribution {sorted(names) or 'unknown'})")
    assert missing == [], f"imported but not pinned in {RULE_ENV.name}: {missing}"

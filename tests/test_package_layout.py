"""The package's shape (issue #22): imports between mlser modules form no cycle (counting
the imports inside functions, which hide one from Python but not from a reader), no
module reaches for another's private (underscore) names, library modules never import
the command-line layer, and each name list the config schemas spell out is the code's."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

SRC = Path(__file__).resolve().parents[1] / "src"
CONFIG = Path(__file__).resolve().parents[1] / "config"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    """Every module of the mlser package by dotted name (packages by their __init__)."""
    return {_module_name(p): p for p in sorted((SRC / "mlser").rglob("*.py"))}


MODULES = _modules()


def _dotted(node: ast.expr) -> str | None:
    """``a.b.c`` of a chain of attribute accesses on a name, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and (base := _dotted(node.value)) is not None:
        return f"{base}.{node.attr}"
    return None


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _absolute(module: str, node: ast.ImportFrom) -> str:
    """The module an ``ImportFrom`` names, relative imports resolved against ``module``."""
    if not node.level:
        return node.module or ""
    package = module if _is_package(module) else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _imports(module: str) -> list[tuple[ast.stmt, str, list[str]]]:
    """Every import statement of ``module``, at any depth (module level, inside functions,
    under ``if``): the node, the mlser module it imports from and the names it takes."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"), str(MODULES[module]))
    found: list[tuple[ast.stmt, str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "mlser" or alias.name.startswith("mlser."):
                    found.append((node, alias.name, []))
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, node)
            if source == "mlser" or source.startswith("mlser."):
                found.append((node, source, [a.name for a in node.names]))
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the mlser modules it imports. ``from mlser.x import y`` is an edge to
    ``mlser.x`` and, where ``mlser.x.y`` is a module, to it as well."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module in MODULES:
        for _, source, names in _imports(module):
            targets = {source} | {f"{source}.{n}" for n in names}
            graph[module] |= {t for t in targets if t in MODULES and t != module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def is_command_module(name: str) -> bool:
    """The command-line layer: ``mlser.cli`` (and its helpers ``mlser.cli_*``),
    ``__main__``, and each package's ``commands`` / ``*_commands`` modules."""
    last = name.rpartition(".")[2]
    return (
        name in ("mlser.cli", "mlser.__main__")
        or name.startswith("mlser.cli_")
        or last == "commands"
        or last.endswith("_commands")
    )


# ------------------------------------------------------------------ the import graph


def test_the_import_graph_finds_a_planted_cycle() -> None:
    """The checker itself: a two-module cycle and a longer one are found and shown."""
    assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_function_level_imports_are_edges_too() -> None:
    graph = import_graph()
    # mlser.inference.export imports the model-file loader inside load_any
    assert "mlser.training.multilevel" in graph["mlser.inference.export"]
    # `from mlser.evaluation import metrics` is an edge to the module, not only the package
    assert "mlser.evaluation.metrics" in graph["mlser.evaluation.scoring"]


def test_no_import_cycle_between_mlser_modules() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_module_imports_another_modules_private_names() -> None:
    """``from mlser.x import _y`` (or ``x._y`` on an imported mlser module) uses what
    ``x`` keeps to itself: make the name public, or move it where both belong."""
    offences: list[str] = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases: dict[str, str] = {}  # local name -> the mlser module it is bound to
        for node, source, _ in _imports(module):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == source:
                        aliases[alias.asname or source.split(".")[0]] = (
                            source if alias.asname else "mlser"
                        )
                continue
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    offences.append(f"{module}: from {source} import {alias.name}")
                if f"{source}.{alias.name}" in MODULES:
                    aliases[alias.asname or alias.name] = f"{source}.{alias.name}"
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                continue
            owner = _dotted(node.value)
            head, _, rest = (owner or "").partition(".")
            target = ".".join(p for p in (aliases.get(head), rest) if p)
            if head in aliases and target in MODULES and target != module:
                offences.append(f"{module}: {owner}.{node.attr}")
    assert not offences, "private names used across modules:\n" + "\n".join(offences)


def test_library_modules_never_import_the_command_line_layer() -> None:
    graph = import_graph()
    offences = [
        f"{module} imports {target}"
        for module, targets in graph.items()
        if not is_command_module(module)
        for target in sorted(targets)
        if is_command_module(target)
    ]
    assert not offences, "\n".join(offences)


def test_command_modules_are_recognised() -> None:
    assert is_command_module("mlser.cli") and is_command_module("mlser.training.commands")
    assert is_command_module("mlser.training.lemer_commands")
    assert not is_command_module("mlser.training.lemer")
    assert not is_command_module("mlser.models.multilevel")


# ------------------------------------------------------------------ one list per name set


def _schema(path: str) -> dict:
    return yaml.safe_load((CONFIG / path).read_text(encoding="utf-8"))


def _experiments_enum(name: str) -> list:
    return _schema("experiments/schema.yaml")["$defs"][name]["enum"]


def _same(schema: list, code: list | tuple, what: str) -> None:
    assert len(set(schema)) == len(schema), f"{what}: a name twice in the schema"
    assert sorted(schema, key=str) == sorted(code, key=str), (
        f"{what}: only in the schema {sorted(set(schema) - set(code), key=str)}, "
        f"only in the code {sorted(set(code) - set(schema), key=str)}"
    )


def test_fusion_names_of_the_matrix_schema_are_the_codes() -> None:
    from mlser.models.fusion import FUSION_NAMES, FUSIONS, build_fusion

    _same(_experiments_enum("fusion"), FUSION_NAMES, "fusion")
    assert set(FUSIONS) <= set(FUSION_NAMES)
    # every name the multi-level family builds is one build_fusion knows, and only those
    with pytest.raises(ValueError, match="unknown fusion 'label_guided'"):
        build_fusion("label_guided", None)  # type: ignore[arg-type]


def test_family_names_of_both_schemas_are_the_codes() -> None:
    from mlser.experiments import SUPPORTED

    config = _schema("schema.yaml")
    families = config["$defs"]["family"]["enum"]
    _same(families, list(SUPPORTED), "family (config/schema.yaml)")
    experiments = config["properties"]["experiments"]["properties"]
    assert experiments["families"]["items"] == {"$ref": "#/$defs/family"}
    assert experiments["family_folds"]["propertyNames"] == {"$ref": "#/$defs/family"}
    matrix = _schema("experiments/schema.yaml")["$defs"]["model"]["properties"]["family"]
    _same(matrix["enum"], [*SUPPORTED, "external"], "family (config/experiments/schema.yaml)")


def test_text_sources_of_the_matrix_schema_are_the_codes() -> None:
    from mlser.experiments import SUPPORTED, TEXT_SOURCES
    from mlser.training import multilevel

    _same(_experiments_enum("text_source"), TEXT_SOURCES, "text_source")
    # one list: the family's capabilities and its training read the same names
    assert SUPPORTED["multilevel"]["text_sources"] == frozenset(TEXT_SOURCES)
    assert multilevel.TEXT_SOURCES is TEXT_SOURCES


def _enums_of(schema: dict, key: str) -> list[list]:
    """The ``enum`` of every property called ``key``, anywhere in ``schema``."""
    found: list[list] = []

    def visit(node: object) -> None:
        if isinstance(node, dict):
            prop = node.get("properties")
            if isinstance(prop, dict) and "enum" in (prop.get(key) or {}):
                found.append(prop[key]["enum"])
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    return found


def _setting_lists() -> dict[str, tuple]:
    from mlser.models.acoustic import ARCHITECTURES, FRONTENDS
    from mlser.models.fusion import GATE_FORMS
    from mlser.models.losses import CTC_REDUCTIONS
    from mlser.training.loop import LR_SCHEDULES, ON_NONFINITE, SELECT_METRICS

    return {
        "architecture": tuple(ARCHITECTURES),
        "frontend": FRONTENDS,
        "gate_form": GATE_FORMS,
        "ctc_reduction": CTC_REDUCTIONS,
        "lr_schedule": LR_SCHEDULES,
        "on_nonfinite": ON_NONFINITE,
        "select_metric": SELECT_METRICS,
    }


@pytest.mark.parametrize("key", sorted(_setting_lists()))
def test_every_schema_enum_of_a_setting_is_the_codes_list(key: str) -> None:
    code = _setting_lists()[key]
    enums = _enums_of(_schema("schema.yaml"), key) + _enums_of(
        _schema("experiments/schema.yaml"), key
    )
    assert enums, f"no `{key}` enum in the schemas (renamed?)"
    for enum in enums:
        _same(enum, code, key)

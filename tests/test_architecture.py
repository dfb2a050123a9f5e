"""The layering of docs/architecture.md, enforced: each stage package imports only earlier stages, the foundation
(kernels, _utils, errors) and itself; no module imports another at load time in a cycle; engine/ keeps at most ten
top-level modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[1] / "engine"

FOUNDATION = ("errors", "_version", "_utils", "kernels", "sample_data")
# explore (the explorer page) reads a release through a DuckDB connection only, so the bundle writer can add its page
STAGES = (
    "schema", "read", "htcds", "encode", "backends", "count", "protect", "explore", "bundle", "synth", "evaluation",
    "jobs",
)  # fmt: skip
TOP = ("__init__", "engine", "api", "testing")  # the user's API and shipped helpers: may import any stage


def _modules() -> dict[str, Path]:
    out = {}
    for path in ENGINE.rglob("*.py"):
        parts = path.relative_to(ENGINE).with_suffix("").parts
        out[".".join(parts)] = path
    return out


def _imports(path: Path, module_level_only: bool) -> set[str]:
    """The sdsynth modules a file imports (`from sdsynth.x.y import z` counts as x.y, or x.y.z when that is a
    module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    modules = _modules()

    def known(m: str) -> bool:
        return m in modules or f"{m}.__init__" in modules

    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "sdsynth":
            base = node.module.removeprefix("sdsynth").lstrip(".")
            for alias in node.names:
                sub = f"{base}.{alias.name}".lstrip(".")
                found.add(sub if known(sub) else base)
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix("sdsynth.") for a in node.names if a.name.startswith("sdsynth."))
    return {m for m in found if known(m)}


def _group(module: str) -> str:
    return module.split(".")[0]


def _allowed(group: str) -> set[str]:
    if group in TOP:
        return set(FOUNDATION) | set(STAGES) | set(TOP)
    if group in FOUNDATION:
        return {"errors", "_version", "_utils", "kernels"} | {group}
    earlier = STAGES[: STAGES.index(group)]
    return set(FOUNDATION) | set(earlier) | {group}


def test_every_engine_module_belongs_to_a_layer() -> None:
    groups = {_group(m) for m in _modules()}
    assert groups <= set(FOUNDATION) | set(STAGES) | set(TOP), groups - set(FOUNDATION) - set(STAGES) - set(TOP)


@pytest.mark.parametrize("module", sorted(_modules()))
def test_a_module_imports_only_earlier_stages(module: str) -> None:
    allowed = _allowed(_group(module))
    wrong = sorted(m for m in _imports(_modules()[module], module_level_only=False) if _group(m) not in allowed)
    assert not wrong, f"{module} imports {wrong}: docs/architecture.md, 'Layers'"


def test_no_import_cycle_at_load_time() -> None:
    modules = _modules()
    graph = {m: _imports(p, module_level_only=True) for m, p in modules.items()}
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph.get(m, ())):
            n = n if n in graph else f"{n}.__init__"
            if state.get(n) == 1:
                raise AssertionError(" → ".join([*path[path.index(n) :], n]) if n in path else f"{m} → {n}")
            if state.get(n) is None:
                visit(n, [*path, n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


def test_engine_keeps_at_most_ten_top_level_modules() -> None:
    top = sorted(p.name for p in ENGINE.glob("*.py"))
    assert len(top) <= 10, top


def test_commands_are_thin() -> None:
    """No function of the command line runs over 80 lines (decorators included): commands parse, call one job, print."""
    long = []
    for path in (ENGINE.parent / "cli").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                if node.end_lineno - first + 1 > 80:  # type: ignore[operator]
                    long.append(f"{path.name}:{node.name}")
    assert not long, long


def test_every_package_is_listed_for_installation() -> None:
    """setuptools installs only the packages pyproject.toml names: a new sub-package left out imports from the clone
    and fails from a wheel."""
    import tomllib

    root = ENGINE.parent
    listed = set(tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    present = {"sdsynth.cli", "sdsynth.schemas"}
    for init in ENGINE.rglob("__init__.py"):
        present.add(".".join(("sdsynth", *init.parent.relative_to(ENGINE).parts)))
    assert listed == present

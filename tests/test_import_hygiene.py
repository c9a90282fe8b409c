"""The core never imports the UI, and the CLI's start-up never imports the heavy stack."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import workbench

CORE_EXCLUDE = ("workbench.cli", "workbench.tui", "workbench.__main__")


def core_modules() -> list[str]:
    mods = []
    for m in pkgutil.walk_packages(workbench.__path__, "workbench."):
        if not m.name.startswith(CORE_EXCLUDE):
            mods.append(m.name)
    return sorted(mods)


def test_core_modules_import_neither_textual_nor_rich():
    mods = core_modules()
    assert "workbench.pipeline" in mods and "workbench.store" in mods
    code = (
        "import importlib, json, sys\n"
        f"mods = {mods!r}\n"
        "bad = {}\n"
        "for m in mods:\n"
        "    importlib.import_module(m)\n"
        "    hit = [k for k in ('textual', 'rich') if k in sys.modules]\n"
        "    if hit: bad[m] = hit; break\n"
        "print(json.dumps(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {}


def test_cli_help_does_not_import_the_heavy_stack():
    code = (
        "import sys, json\n"
        "from workbench.cli import _load_commands\n"
        "_load_commands()\n"
        "heavy = [m for m in ('torch', 'timm', 'onnx', 'onnxruntime', 'openvino', 'textual') if m in sys.modules]\n"
        "print(json.dumps(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_import_linter_contracts_are_declared():
    """`lint-imports` (a `.ci/run` step) checks the contracts; this keeps them there: the
    core-never-imports-the-UI rule and the layers."""
    from pathlib import Path

    from workbench.profile import tomllib  # tomli before 3.11

    cfg = tomllib.loads((Path(workbench.__file__).parents[1] / "pyproject.toml").read_text())
    contracts = cfg["tool"]["importlinter"]["contracts"]
    assert sorted(c["type"] for c in contracts) == ["forbidden", "layers"]
    forbidden = next(c for c in contracts if c["type"] == "forbidden")
    assert {"textual", "rich", "workbench.cli", "workbench.tui"} <= set(forbidden["forbidden_modules"])
    assert "workbench.pipeline" in forbidden["source_modules"]
    layers = next(c for c in contracts if c["type"] == "layers")["layers"]
    assert layers[:2] == ["workbench.__main__", "workbench.cli"] and len(layers) >= 10


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    x = stack.pop()
                    on.discard(x)
                    comp.append(x)
                    if x == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_core_modules():
    """Walk the import graph (grimp, as import-linter does; lazy imports count, imports
    only for type checking do not) and find no cycle among the core's modules."""
    import grimp

    g = grimp.build_graph("workbench", exclude_type_checking_imports=True)
    core = {m for m in g.modules if not m.startswith(CORE_EXCLUDE)}
    assert "workbench.pipeline" in core and "workbench.stages.bench" in core
    graph = {m: {i for i in g.find_modules_directly_imported_by(m) if i in core} for m in core}
    assert _cycles(graph) == []

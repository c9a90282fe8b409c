"""The architecture as tests: every package and root module has a place in the layers
contract, and no package reaches into another's private (``_name``) names."""

from __future__ import annotations

import ast
import pkgutil
import sys
from pathlib import Path

import workbench

ROOT = Path(workbench.__file__).resolve().parent


def _units() -> set[str]:
    return {f"workbench.{m.name}" for m in pkgutil.iter_modules([str(ROOT)])}


def _layer_modules() -> set[str]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    conf = tomllib.loads((ROOT.parent / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = conf["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["type"] == "layers")["layers"]
    return {name.strip() for layer in layers for name in layer.split("|")}


def test_the_layers_contract_names_every_package_and_root_module():
    missing = sorted(_units() - _layer_modules())
    assert not missing, f"not in any layer of [tool.importlinter]: {missing}"


def _unit_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


def private_imports() -> list[str]:
    """``from workbench.a.b import _name`` where the importer lives outside ``workbench.a``."""
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        importer = ".".join(rel.parts).removesuffix(".__init__")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or not node.module or node.level:
                continue
            if not node.module.startswith("workbench.") or _unit_of(node.module) == _unit_of(importer):
                continue
            for alias in node.names:
                private = alias.name.startswith("_") and not alias.name.startswith("__")
                if private or any(p.startswith("_") and not p.startswith("__")
                                  for p in node.module.split(".")):
                    out.append(f"{importer}:{node.lineno} imports {node.module}.{alias.name}")
    return out


def test_no_package_imports_another_packages_private_names():
    assert private_imports() == []


def backend_name_comparisons() -> list[str]:
    """Comparisons (``==``, ``!=``, ``in``) with a registered backend's name as a literal,
    anywhere outside ``workbench/backends/``: a backend's behaviour belongs in its package."""
    from workbench.backends import backend_names

    names = set(backend_names())
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        if (ROOT / "backends") in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Compare):
                continue
            for side in [node.left, *node.comparators]:
                items = side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side]
                if any(isinstance(i, ast.Constant) and i.value in names for i in items):
                    out.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}")
    return out


def test_no_module_outside_backends_compares_a_backend_name():
    assert backend_name_comparisons() == []

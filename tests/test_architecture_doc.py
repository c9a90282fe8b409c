"""docs/ARCHITECTURE.md's layer diagram is the import graph, not a drawing that drifts."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _generator():
    spec = importlib.util.spec_from_file_location("architecture_graph", ROOT / "docs" / "architecture_graph.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_architecture_diagram_is_the_import_graph_and_names_every_package():
    import pkgutil

    import workbench

    gen = _generator()
    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    shown = doc[doc.index(gen.BEGIN):doc.index(gen.END)].splitlines()
    want = gen.diagram().splitlines()
    hint = "regenerate: python docs/architecture_graph.py --write"
    # the layers exactly; every package with a line of its imports (the arrows themselves
    # follow every merge, so they are regenerated rather than compared line by line)
    assert [ln for ln in shown if ln[:3].strip().rstrip(".").isdigit()] == \
        [ln for ln in want if ln[:3].strip().rstrip(".").isdigit()], hint
    units = {ln.split("→")[0].strip() for ln in shown if "→" in ln}
    assert units == {m.name for m in pkgutil.iter_modules(workbench.__path__)}, hint

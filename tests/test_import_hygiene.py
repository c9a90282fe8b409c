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


def test_import_linter_contract_is_kept():
    """The same rule, statically: the [tool.importlinter] contract in pyproject.toml."""
    import shutil
    from pathlib import Path

    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([exe], cwd=root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "1 kept, 0 broken" in proc.stdout

"""Start-up: nothing heavy on the path to the first frame, and the counting child starts
only when a count is missing, never while a build runs."""

from __future__ import annotations

import os
import subprocess
import sys

os.environ["HRNET_WB_IMAGES"] = "halfcell"

from test_tui_app import make_app, profiles_dir, ready, sync, wait_for  # noqa: F401
from tui_data import REPO, tiny_profile

HEAVY = ("torch", "timm", "onnx", "onnxruntime", "openvino")


def test_importing_the_app_loads_no_torch_timm_or_onnx():
    code = ("import sys\nimport workbench.tui.app, workbench.tui.screens.models\n"
            "from workbench.tui import launch\n"
            f"print('heavy', sorted(m for m in {HEAVY!r} if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert "heavy []" in out.stdout, out.stdout + out.stderr


def test_the_plain_tui_path_imports_no_typer():
    # `hrnet-wb tui` and `python -m workbench tui` skip typer's parser (~15 ms)
    code = ("import sys\nimport workbench.cli, workbench.tui.app\n"
            "print('typer' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert out.stdout.strip() == "False", out.stdout + out.stderr


@sync
async def test_the_gc_paused_by_launch_resumes_after_the_first_frame(
        tmp_path, profiles_dir):  # noqa: F811
    import gc

    from workbench.home import resolve_home

    app = make_app(resolve_home(tmp_path / "home"), profiles_dir, mode="thread")
    app.gc_paused = True  # as launch() leaves it, with the GC off
    gc.disable()
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            assert await wait_for(pilot, gc.isenabled, 60, 0.05)
            assert not app.gc_paused and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.enable()


@sync
async def test_no_counting_child_when_the_cache_has_the_variant_nor_while_a_build_runs(
        tmp_path, profiles_dir):  # noqa: F811
    from workbench.home import resolve_home

    home = resolve_home(tmp_path / "home")
    # what an earlier session counted: the demo's variant at its size, every source
    subprocess.run([sys.executable, "-m", "workbench.tui.count_worker", "64", "64",
                    str(home.cache / "cost.json"), "hrnet_w18_small"], check=True, cwd=REPO,
                   capture_output=True, timeout=600)
    assert (home.cache / "preprocess.json").is_file()
    app = make_app(home, profiles_dir, profile=tiny_profile(tmp_path), mode="thread")
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.pause(0.5)
        pane = app.models_pane
        assert pane._count_proc is None and not pane._counter.running
        info = str(pane.query_one("#model-info").render())
        assert "counting" not in info and "resolving" not in info, info
        # another variant is not cached: it is counted, but not while a build runs
        pane.pause_counting(True)
        app.profile.model.variant = "hrnet_w18"
        pane.show_profile(app.profile, app.profile_path)
        await pilot.pause(0.3)
        assert pane._count_proc is None and not pane._counter.running
        pane.pause_counting(False)
        assert await wait_for(pilot, lambda: pane._counter.running, 10, 0.05)
        pane.stop_counting()

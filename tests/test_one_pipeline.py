"""One lifecycle, one recorder, one pipeline: a sweep row is a run like any other."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.errors import Cancelled
from workbench.home import resolve_home
from workbench.store import Store

ROOT = Path(__file__).resolve().parent.parent


def _sweep_toml(tmp_path: Path, sources: str = '["timm"]', bench: bool = True) -> Path:
    p = tmp_path / "small.toml"
    p.write_text(f"""
name = "small"
[models]
sources = {sources}
variants = ["hrnet_w18_small"]
input_size = [64, 64]
[[builds]]
dtype = "fp32"
[[builds]]
dtype = "int8"
calibration = "minmax"
[calibration]
count = 4
[data]
path = "{ROOT / 'assets'}"
batch_size = 4
[bench]
enabled = {str(bench).lower()}
batch_sizes = [1, 2]
warmup = 1
iterations = 3
rounds = 1
[output]
dir = "{tmp_path / 'sweep'}"
""")
    return p


@pytest.mark.parametrize("exc, status", [(RuntimeError("boom"), "failed"), (Cancelled("stop"), "cancelled")])
def test_a_sweep_row_goes_through_the_one_run_lifecycle(tmp_path, monkeypatch, exc, status):
    """An internal error in a row leaves its traceback beside the run (Store.run), and the
    sweep goes on; a cancel ends the run 'cancelled' and the sweep with it."""
    import workbench.sweep.run as sweep_run
    from workbench.sweep.plan import load_sweep_profile

    def broken(*a, **k):
        raise exc

    monkeypatch.setattr(sweep_run, "compute_row", broken)
    home = resolve_home(tmp_path / "home")
    plan = load_sweep_profile(_sweep_toml(tmp_path))
    if isinstance(exc, Cancelled):
        with pytest.raises(Cancelled):
            sweep_run.run_sweep(plan, home)
    else:
        rec = sweep_run.run_sweep(plan, home)
        assert rec["counts"]["failed"] == 1 and rec["rows"][0]["error"] == "RuntimeError: boom"
    (run,) = Store(home.db).runs()
    assert run.status == status and run.name == "sweep small timm:hrnet_w18_small"
    assert (Path(run.out_dir) / "traceback.txt").is_file() == (status == "failed")

"""Published vs measured: the comparison, its interval, and how the run summary shows it."""

from __future__ import annotations

import io
from types import SimpleNamespace

from rich.console import Console

from workbench.cli.render import leaderboard_table
from workbench.evaluate import wilson_interval
from workbench.records import ResultRow
from workbench.reproduction import looks_like_imagenet_val, reproduction


def result(hit1: int, hit5: int, n: int) -> SimpleNamespace:
    return SimpleNamespace(top1=hit1 / n, top5=hit5 / n, labelled=n,
                           top1_ci95=wilson_interval(hit1, n), top5_ci95=wilson_interval(hit5, n))


def test_subset_inside_and_outside_the_interval():
    # timm hrnet_w18.ms_in1k publishes 76.77 / 93.448
    near = reproduction("timm:hrnet_w18.ms_in1k", result(380, 466, 500))  # 76.0 %
    assert near is not None and near.published_top1 == 76.77 and near.subset
    assert abs(near.delta_top1 - (76.0 - 76.77)) < 1e-9
    lo, hi = near.top1_ci95
    assert lo < 76.77 < hi and near.verdict() == "published inside the interval"
    assert "top-1 76.00 vs 76.77 published (Δ -0.77)" in near.summary()
    assert "on 500 images" in near.summary()

    far = reproduction("timm:hrnet_w18.ms_in1k", result(3500, 4600, 5000))  # 70.0 %: preprocessing?
    assert far.top1_ci95[1] < 76.77 and far.verdict() == "published outside the interval"


def test_full_val_and_unknown_weights():
    full = reproduction("mmcls:hrnet_w18.3rdparty_8xb32_in1k", result(38375, 46720, 50000))
    assert not full.subset and full.verdict() == "matches" and abs(full.delta_top1) < 0.01
    assert reproduction("", result(1, 1, 2)) is None
    assert reproduction("timm:hrnet_w18.nope", result(1, 1, 2)) is None
    assert looks_like_imagenet_val(["x"] * 1000, 13) and not looks_like_imagenet_val(["a", "b"], 13)
    assert not looks_like_imagenet_val(["x"] * 1000, 0)


def render(table) -> str:
    con = Console(width=80, record=True, file=io.StringIO())
    con.print(table)
    return con.export_text()


def test_random_init_run_leads_with_speed_not_zeros():
    rows = [{"run_id": 1, "run": "demo", "status": "ok", "build": "b", "variant": "hrnet_w18_small", "weights": "random-init", "dtype": "int8",
             "backend": "ort-cpu", "top1": 0.0, "top5": 0.0, "p50_ms": 12.3, "throughput": 80.0, "vs_torch": 2.5}]
    text = render(leaderboard_table([ResultRow.from_dict(r) for r in rows], accuracy=False))
    assert "top-1" not in text and "0.00" not in text and "80.0" in text and "random-init" in text
    real = dict(rows[0], weights="/x.pth", top1=75.0, top5=92.0, delta_top1=-0.77, published_top1=75.77)
    text = render(leaderboard_table([ResultRow.from_dict(real)]))
    assert "Δpub" in text and "-0.77" in text and "75.00" in text
    assert max(len(line) for line in text.splitlines()) <= 80

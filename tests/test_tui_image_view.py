"""The Dataset pane's full-size image view (Enter on a row): the original and the crop the
model saw, each run's rank of the true class, Esc closes it."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

os.environ.setdefault("HRNET_WB_IMAGES", "halfcell")

from tui_data import FP32, INT8, REPO, shared_app

from workbench.tui.results import ImageRow
from workbench.tui.screens.image_dialog import rank_text
from workbench.tui.widgets.image_view import CELL_ASPECT


def test_rank_text_says_where_the_truth_ranks():
    row = ImageRow("x", "x.jpg", 5, topk=(1, 5, 2, 3, 4), probs=(0.5, 0.25, 0.1, 0.1, 0.05))
    assert rank_text(row) == "rank 2 of top-5 (25.0%)"
    assert rank_text(ImageRow("x", "x.jpg", 9, topk=(1, 5, 2, 3, 4))) == "not in top-5"
    assert rank_text(ImageRow("x", "x.jpg", None, topk=(1,))) == "no label"
    assert rank_text(ImageRow("x", "x.jpg", 1, skipped=True, error="bad")) == "skipped: bad"
    assert rank_text(None) == "not in this run"


async def _wait(pilot, cond, timeout=60.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout and not cond():
        await pilot.pause(0.05)
    assert cond()


@pytest.fixture
def app(tmp_path_factory, tmp_path, cost_json):
    return shared_app(tmp_path_factory, tmp_path, cost_json)


def _drawn_aspect(image) -> float:
    """Width over height of what the preview draws: its region, clipped to its column."""
    drawn = image.region.intersection(image.parent.content_region)
    return drawn.width / (drawn.height * CELL_ASPECT)


def test_the_first_preview_keeps_the_images_aspect_at_60x20(app):
    """Defect 14: at 60x20 the first image (4:3) was drawn 3:2. It had been sized to its
    column before the pane's first layout settled (the list narrows at 60 columns, and the
    preview column widens after), and nothing sized it again."""
    from PIL import Image

    first = REPO / "assets" / "val" / "ILSVRC2012_val_00000001.JPEG"
    with Image.open(first) as im:
        aspect = im.width / im.height  # 500x375: 4:3

    async def run() -> None:
        async with app.run_test(size=(60, 20)) as pilot:
            await pilot.press("3")  # at once: the pane mounts, lays out and loads in view
            await _wait(pilot, lambda: app._panes.get("dataset") is not None
                        and app._panes["dataset"].is_mounted)
            ds = app.query_one("#dataset-pane")
            image = ds.query_one("#image")
            await _wait(pilot, lambda: not ds.is_loading and ds._shown is not None
                        and ds._shown.path.endswith(first.name) and image.image is not None)
            await pilot.pause(0.3)
            # within one cell of 4:3, and all of it drawn (a 4:3 image cut to 3:2 is 1.5)
            assert abs(_drawn_aspect(image) - aspect) < 0.1, (image.region, image.parent.region)
            # the preview column alone changes width (not the pane, not the list): the image
            # is sized to the new column
            ds.query_one("#ds-top5").styles.width = 22
            await pilot.pause(0.3)
            assert image.parent.content_region.width == 60 - 14 - 22 - 2
            assert image.region.width == image.parent.content_region.width
            assert abs(_drawn_aspect(image) - aspect) < 0.1, (image.region, image.parent.region)

    asyncio.run(run())


def test_top5_names_fit_at_80x24(app):
    """The top-5 column gives class names 18 cells at 80 columns ("shopping bask…" was cut
    at 13): "crossword puzzle" shows whole."""
    async def run() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("3")
            await _wait(pilot, lambda: app._panes.get("dataset") is not None
                        and app._panes["dataset"].is_mounted)
            ds = app.query_one("#dataset-pane")
            await _wait(pilot, lambda: not ds.is_loading and ds._shown is not None)
            await pilot.pause(0.3)
            top5 = str(ds.query_one("#top5-a").render())
            assert "918 crossword puzzle " in top5, top5
            assert all(line.rstrip().endswith("%") for line in top5.splitlines()[1:]), top5

    asyncio.run(run())


@pytest.mark.parametrize("size", [(80, 24), (44, 50)], ids=["side-by-side", "stacked"])
def test_enter_on_a_row_shows_the_image_beside_the_models_crop(app, size):
    from workbench.tui.screens.image_dialog import ImageDialog

    async def run() -> None:
        async with app.run_test(size=size) as pilot:
            await _wait(pilot, lambda: app._panes.get("dataset") is not None
                        and app._panes["dataset"].is_mounted)
            await pilot.press("3")
            app.open_in_dataset(f"1/{INT8}", f"1/{FP32}")
            ds = app.query_one("#dataset-pane")
            await _wait(pilot, lambda: not ds.is_loading and len(ds.ids) == 4)
            await pilot.pause(0.2)
            app.query_one("#images").focus()
            await pilot.press("down", "enter")  # image 9: int8 has the truth second, fp32 first
            await _wait(pilot, lambda: isinstance(app.screen, ImageDialog) and app.screen.crop_done)
            await pilot.pause(0.2)
            dlg = app.screen
            rank = str(dlg.query_one("#view-rank").render())
            assert "A run 1 · ort int8 pct 64: rank 2 of top-5 (25.0%)" in rank
            assert "B run 1 · ort fp32 64: rank 1 of top-5 (61.0%)" in rank
            original, crop = dlg.query_one("#view-original"), dlg.query_one("#view-crop")
            assert original.image is not None and crop.image is not None
            assert crop.image.size == (64, 64)  # the run's input size, not the file's
            assert original.image.size != crop.image.size
            assert "model input 64×64" in str(dlg.query_one("#view-crop-cap").render())
            # both drawn inside the screen: side by side at 80x24, one above the other when
            # the terminal is tall and narrow (whichever draws them larger)
            ro, rc = original.region, crop.region
            assert ro.width > 10 and rc.width > 10
            if size == (80, 24):
                assert ro.y == rc.y and ro.right <= rc.x
            else:
                assert ro.x == rc.x and ro.bottom < rc.y
            assert max(ro.right, rc.right) <= size[0] and max(ro.bottom, rc.bottom) <= size[1]
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, ImageDialog)

    asyncio.run(run())


def test_the_crop_uses_the_preprocessing_the_eval_recorded(tmp_path):
    """eval_report.json beside results.jsonl names the preprocessing: it wins over a guess
    from the artifact (here there is none in the store at all)."""
    import json

    from workbench.data.preprocess import preset_for
    from workbench.store import Store
    from workbench.tui.results import BuildResults
    from workbench.tui.screens.image_dialog import run_preprocessor

    cfg = preset_for(source="official", input_size=(96, 64))
    build = tmp_path / "b"
    build.mkdir()
    (build / "eval_report.json").write_text(json.dumps({"preprocess": cfg.as_dict()}))
    pre = run_preprocessor(BuildResults(1, "b", build / "results.jsonl"), Store(tmp_path / "db.sqlite"))
    assert pre.cfg == cfg and pre.input_size == (96, 64)
    image = pre.load_uint8(REPO / "assets" / "val" / "ILSVRC2012_val_00000001.JPEG")
    assert image.shape == (96, 64, 3)

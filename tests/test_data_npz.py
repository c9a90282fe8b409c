"""hrnet-wb npz: an image2npz-compatible tree (input_0 = uint8 RGB CHW) plus its datalist."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from test_data_fixtures import make_val_folder, save_jpeg
from typer.testing import CliRunner

from workbench.data import open_rgb
from workbench.data.preprocess import Preprocessor, preset_for


def test_npz_tree_matches_decoded_images_and_lists_bad_files(tmp_path):
    from workbench.cli import _load_commands
    from workbench.cli.app import app

    make_val_folder(tmp_path / "d", 3, size=(90, 60))
    (tmp_path / "d" / "val" / "ILSVRC2012_val_00000004.JPEG").write_bytes(b"")
    (tmp_path / "d" / "val_label.txt").write_text(
        (tmp_path / "d" / "val_label.txt").read_text() + "ILSVRC2012_val_00000004.JPEG 1\n")
    _load_commands()
    res = CliRunner().invoke(app, ["npz", str(tmp_path / "d"), "--out", str(tmp_path / "npz"), "--json",
                                   "--home", str(tmp_path / "h")])
    assert res.exit_code == 0, res.output
    rec = json.loads(res.stdout)
    assert rec["written"] == 3 and [Path(f["path"]).name for f in rec["skipped_files"]] == ["ILSVRC2012_val_00000004.JPEG"]
    listed = Path(rec["datalist"]).read_text().splitlines()
    assert listed == [str(tmp_path / "npz" / "val" / f"ILSVRC2012_val_{i:08d}.npz") for i in (1, 2, 3)]
    for i, p in enumerate(listed, 1):
        with np.load(p) as z:
            assert list(z.keys()) == ["input_0"]
            arr = z["input_0"]
        src = np.asarray(open_rgb(tmp_path / "d" / "val" / f"ILSVRC2012_val_{i:08d}.JPEG"))
        assert arr.dtype == np.uint8 and arr.shape == (3, 60, 90)
        assert np.array_equal(arr, src.transpose(2, 0, 1))


def test_npz_with_a_preset_stores_the_cropped_pixels(tmp_path):
    from workbench.data import open_dataset
    from workbench.data.npz import write_npz_tree

    for k, syn in enumerate(("n01440764", "n01443537")):
        save_jpeg(tmp_path / "f" / syn / f"{syn}_{k}.JPEG", seed=k, size=(120, 90))
    ds = open_dataset(tmp_path / "f")
    pre = Preprocessor(preset_for("official", "", "", (64, 64)))
    r = write_npz_tree(ds.samples, ds.root, tmp_path / "o", preprocessor=pre)
    assert r.written == 2
    p = tmp_path / "o" / "n01443537" / "n01443537_1.npz"
    with np.load(p) as z:
        assert np.array_equal(z["input_0"], pre.load_uint8(ds.samples[1].path).transpose(2, 0, 1))

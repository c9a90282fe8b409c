"""Dataset layouts and label files: every layout finds every image with the right class."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_data_fixtures import IMAGENET_SYNSETS, make_val_folder, save_jpeg

from workbench.data import open_dataset
from workbench.data.labels import imagenet, read_class_names
from workbench.errors import BadInput

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def _asset_labels() -> dict[str, int]:
    out = {}
    for line in (ASSETS / "val_label.txt").read_text().splitlines():
        name, idx = line.split()
        out[name] = int(idx)
    return out


@pytest.mark.parametrize("where", [ASSETS, ASSETS / "val"])
def test_bundled_assets_open_from_root_or_val(where):
    ds = open_dataset(where)
    assert ds.layout == "imagenet-val"
    assert ds.root == (ASSETS / "val").resolve()
    assert ds.label_file == (ASSETS / "val_label.txt").resolve()
    assert {s.id: s.label for s in ds.samples} == _asset_labels()
    assert len(ds.class_names) == 1000
    assert ds.class_names[918] == "crossword puzzle, crossword"


def test_imagenet_names_match_timm_imagenetinfo():
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    t = imagenet()
    assert list(t.synsets) == info.label_names()
    assert list(t.names) == info.label_descriptions()
    assert t.index["n01440764"] == 0 and t.names[0] == "tench, Tinca tinca"


def test_imagefolder_of_synsets_maps_to_imagenet_indices(tmp_path):
    for k, syn in enumerate(IMAGENET_SYNSETS):
        for j in range(2):
            save_jpeg(tmp_path / syn / f"{syn}_{j}.JPEG", seed=10 * k + j, size=(64, 48))
    ds = open_dataset(tmp_path)
    assert ds.layout == "imagefolder"
    assert len(ds.samples) == 10
    idx = imagenet().index
    assert {s.id.split("/")[0]: s.label for s in ds.samples} == {syn: idx[syn] for syn in IMAGENET_SYNSETS}
    assert ds.samples[0].id == f"{IMAGENET_SYNSETS[0]}/{IMAGENET_SYNSETS[0]}_0.JPEG"


def test_imagefolder_with_custom_classes_uses_sorted_folders(tmp_path):
    for j, cls in enumerate(("zebra_crossing", "apple", "moth")):
        save_jpeg(tmp_path / cls / "a.jpg", seed=j, size=(40, 40))
    ds = open_dataset(tmp_path)
    assert ds.class_names == ["apple", "moth", "zebra_crossing"]
    assert [(s.id, s.label) for s in ds.samples] == [("apple/a.jpg", 0), ("moth/a.jpg", 1),
                                                      ("zebra_crossing/a.jpg", 2)]


def test_unknown_synset_folder_is_a_clear_error(tmp_path):
    save_jpeg(tmp_path / "n99999999" / "x.JPEG", seed=1, size=(40, 40))
    with pytest.raises(BadInput, match="n99999999 is not one of the 1000 ImageNet-1k synsets"):
        open_dataset(tmp_path)


def test_synset_prefixed_flat_folder(tmp_path):
    for k, syn in enumerate(IMAGENET_SYNSETS[:3]):
        save_jpeg(tmp_path / f"{syn}_{k}.JPEG", seed=k, size=(40, 40))
    ds = open_dataset(tmp_path)
    assert ds.layout == "synset-prefixed"
    assert [s.label for s in ds.samples] == [imagenet().index[s] for s in IMAGENET_SYNSETS[:3]]


def test_file_list_relative_paths_and_labels(tmp_path):
    save_jpeg(tmp_path / "imgs" / "a.jpg", seed=1, size=(40, 40))
    save_jpeg(tmp_path / "imgs" / "b.jpg", seed=2, size=(40, 40))
    save_jpeg(tmp_path / "imgs" / "c.jpg", seed=3, size=(40, 40))
    lst = tmp_path / "list.txt"
    lst.write_text(f"# comment\nimgs/a.jpg 7\nimgs/b.jpg n01443537\n{tmp_path / 'imgs' / 'c.jpg'}\n")
    ds = open_dataset(lst)
    assert ds.layout == "filelist"
    assert [(s.id, s.label) for s in ds.samples] == [("imgs/a.jpg", 7), ("imgs/b.jpg", 1),
                                                      ((tmp_path / "imgs" / "c.jpg").as_posix(), None)]
    assert all(s.path.is_file() for s in ds.samples)


def test_plain_folder_is_unlabelled(tmp_path):
    save_jpeg(tmp_path / "holiday.jpg", seed=1, size=(40, 40))
    ds = open_dataset(tmp_path)
    assert ds.layout == "folder" and ds.samples[0].label is None and ds.labelled == 0


def test_forced_layout_and_explicit_per_image_labels(tmp_path):
    make_val_folder(tmp_path, 3, size=(40, 40))
    other = tmp_path / "labels_elsewhere.txt"
    other.write_text("ILSVRC2012_val_00000001.JPEG 5\nILSVRC2012_val_00000002.JPEG 6\n"
                     "ILSVRC2012_val_00000003.JPEG 7\nILSVRC2012_val_00000999.JPEG 8\n")
    ds = open_dataset(tmp_path / "val", layout="imagenet-val", labels=str(other))
    assert [s.label for s in ds.samples] == [5, 6, 7]
    ds = open_dataset(tmp_path / "val", layout="folder")
    assert ds.layout == "folder" and ds.labelled == 0
    with pytest.raises(BadInput, match="layout 'coco'"):
        open_dataset(tmp_path, layout="coco")


def test_label_txt_of_1000_names_is_accepted_and_dict_dump_too(tmp_path):
    make_val_folder(tmp_path, 2, size=(40, 40))
    names = [f"class {i}, alias" for i in range(1000)]
    (tmp_path / "label.txt").write_text("\n".join(names) + "\n")
    ds = open_dataset(tmp_path, labels=str(tmp_path / "label.txt"))
    assert ds.class_names == names and ds.labelled == 2  # per-image labels still found beside val/
    dump = tmp_path / "imagenet1000_clsidx_to_labels.txt"
    dump.write_text("{" + "\n".join(f" {i}: '{n}'," for i, n in enumerate(names)) + "}\n")
    assert read_class_names(dump) == names


def test_label_txt_with_the_wrong_count_is_rejected(tmp_path):
    make_val_folder(tmp_path, 2, size=(40, 40))
    (tmp_path / "label.txt").write_text("\n".join(f"name {i}" for i in range(999)) + "\n")
    with pytest.raises(BadInput, match="label.txt: has 999 class names, but these labels are ImageNet-1k"):
        open_dataset(tmp_path, labels=str(tmp_path / "label.txt"))


def test_val_label_errors_name_the_file_and_line(tmp_path):
    make_val_folder(tmp_path, 3, size=(40, 40))
    lab = tmp_path / "val_label.txt"
    lab.write_text("ILSVRC2012_val_00000001.JPEG 1\nILSVRC2012_val_00000002.JPEG 1000\n"
                   "ILSVRC2012_val_00000003.JPEG 3\n")
    with pytest.raises(BadInput, match=r"val_label.txt:2: class index 1000 is outside 0..999"):
        open_dataset(tmp_path)
    lab.write_text("ILSVRC2012_val_00000001.JPEG 1\nILSVRC2012_val_00000002.JPEG 2\n")
    with pytest.raises(BadInput, match=r"no label for 1 of 3 images \(first: ILSVRC2012_val_00000003.JPEG\)"):
        open_dataset(tmp_path)
    lab.write_text("ILSVRC2012_val_00000001.JPEG 1\nILSVRC2012_val_00000001.JPEG 2\n")
    with pytest.raises(BadInput, match="labelled twice"):
        open_dataset(tmp_path)


def test_missing_or_empty_paths_are_bad_input(tmp_path):
    with pytest.raises(BadInput, match="not found"):
        open_dataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInput, match="no images found"):
        open_dataset(tmp_path / "empty")
    with pytest.raises(BadInput, match="label file not found"):
        open_dataset(ASSETS, labels=str(tmp_path / "missing.txt"))

"""Robust decode and preprocessing presets, checked against the reference implementations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_data_fixtures import make_odd_and_bad, make_photo, save_jpeg

from workbench.data import DecodeError, open_dataset, open_rgb
from workbench.data.preprocess import PreprocessConfig, Preprocessor, preset_for
from workbench.errors import BadInput

ASSETS = Path(__file__).resolve().parent.parent / "assets"


# -- decode ------------------------------------------------------------------------------


def test_bad_files_raise_decode_error_odd_files_become_rgb(tmp_path):
    kinds = make_odd_and_bad(tmp_path / "val")
    reasons = {}
    for name, kind in kinds.items():
        p = tmp_path / "val" / name
        if kind in ("truncated", "zero-byte", "text"):
            with pytest.raises(DecodeError) as ei:
                open_rgb(p)
            assert ei.value.path == p
            reasons[kind] = ei.value.reason
        else:
            im = open_rgb(p)
            assert im.mode == "RGB"
    assert "truncated" in reasons["truncated"]
    assert "0 bytes" in reasons["zero-byte"]
    assert "not an image" in reasons["text"]


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path):
    from PIL import Image

    grad = np.linspace(0, 65535, 64 * 32).reshape(32, 64).astype(np.uint16)
    Image.fromarray(grad).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode == "I;16"
    a = np.asarray(open_rgb(tmp_path / "g16.png"))
    expected = np.rint(grad / 257.0).astype(np.uint8)
    assert np.array_equal(a[..., 0], expected) and np.array_equal(a[..., 2], expected)
    assert a.min() == 0 and a.max() == 255 and (a == 255).mean() < 0.01  # PIL's convert would give ~99% white


def test_cmyk_gray_rgba_palette_match_their_rgb_source(tmp_path):
    from PIL import Image

    src = make_photo(5, (96, 64))
    Image.fromarray(src).save(tmp_path / "ref.png")
    Image.fromarray(src).convert("CMYK").save(tmp_path / "cmyk.jpg", "JPEG", quality=100)
    cmyk = np.asarray(open_rgb(tmp_path / "cmyk.jpg")).astype(int)
    assert np.abs(cmyk - src.astype(int)).mean() < 4  # JPEG loss only; an un-inverted CMYK would be ~128 off
    rgba = Image.fromarray(src).convert("RGBA")
    rgba.putalpha(0)
    rgba.save(tmp_path / "rgba.png")
    assert np.array_equal(np.asarray(open_rgb(tmp_path / "rgba.png")), src)  # alpha dropped like PIL/cv2 loaders
    pal = Image.fromarray(src).convert("P", palette=Image.Palette.ADAPTIVE)
    pal.info["transparency"] = 0
    pal.save(tmp_path / "pal.png", transparency=0)
    assert np.array_equal(np.asarray(open_rgb(tmp_path / "pal.png")), np.asarray(pal.convert("RGB")))
    Image.fromarray(src).convert("L").save(tmp_path / "gray.png")
    g = np.asarray(open_rgb(tmp_path / "gray.png"))
    assert np.array_equal(g[..., 0], g[..., 1]) and np.array_equal(g[..., 1], g[..., 2])


def test_exif_orientation_only_for_presets_that_apply_it(tmp_path):
    from PIL import Image

    im = Image.fromarray(make_photo(3, (200, 100)))  # landscape pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° CW to display: the photo is really portrait
    im.save(tmp_path / "rot.jpg", "JPEG", exif=exif.tobytes())
    assert open_rgb(tmp_path / "rot.jpg").size == (200, 100)
    assert open_rgb(tmp_path / "rot.jpg", exif_transpose=True).size == (100, 200)
    timm_pre = Preprocessor(preset_for("timm", "hrnet_w18_small", "ms_in1k", (64, 64)))
    mm_pre = Preprocessor(preset_for("mmcls", "hrnet_w18", "", (64, 64)))
    assert not timm_pre.cfg.exif_transpose and mm_pre.cfg.exif_transpose
    a, b = timm_pre.load(tmp_path / "rot.jpg"), mm_pre.load(tmp_path / "rot.jpg")
    assert a.shape == b.shape == (3, 64, 64) and np.abs(a - b).max() > 0.5


# -- presets -----------------------------------------------------------------------------


def test_presets_come_from_timm_pretrained_cfgs():
    ms = preset_for("timm", "hrnet_w18", "ms_in1k", (224, 224))
    assert (ms.name, ms.crop_pct, ms.interpolation, ms.resize_size) == ("timm:hrnet_w18.ms_in1k", 0.875, "bilinear", (256, 256))
    default = preset_for("timm", "hrnet_w18", "", (224, 224))
    assert default.name == "timm:hrnet_w18.ms_aug_in1k" and default.crop_pct == 0.95
    gluon = preset_for("timm", "hrnet_w18_small", "gluon_in1k", (224, 224))
    assert gluon.interpolation == "bicubic"
    ssld = preset_for("timm", "hrnet_w18_ssld", "paddle_in1k", (288, 288))
    assert ssld.crop_pct == 1.0 and ssld.resize_size == (288, 288)  # timm's test size → test crop
    assert preset_for("timm", "hrnet_w18_ssld", "paddle_in1k", (224, 224)).crop_pct == 0.95
    assert preset_for("timm", "hrnet_w18_small", "", (64, 64), name="timm:gluon_in1k").interpolation == "bicubic"


def test_auto_follows_source_and_name_overrides():
    assert preset_for("official", "hrnet_w18").name == "official"
    mm = preset_for("mmcls", "hrnet_w18")
    assert mm.name == "mmcls" and mm.exif_transpose and mm.resize_size == (256, 256)
    assert preset_for("timm", "hrnet_w18", "ms_in1k", name="vastai").resize_mode == "square"
    with pytest.raises(BadInput, match="not a multiple of 32"):
        preset_for("timm", "hrnet_w18", "ms_in1k", (225, 224))
    with pytest.raises(BadInput, match="no pretrained tag 'nope'"):
        preset_for("timm", "hrnet_w18", "nope")
    with pytest.raises(BadInput, match="preprocess preset 'fancy'"):
        preset_for("timm", "hrnet_w18", name="fancy")
    cfg = preset_for("mmcls", "hrnet_w18", "", (64, 96))
    assert PreprocessConfig.from_dict(cfg.as_dict()) == cfg


@pytest.mark.parametrize("variant, tag, size, name", [
    ("hrnet_w18", "ms_in1k", (224, 224), "auto"),
    ("hrnet_w18", "ms_aug_in1k", (224, 224), "auto"),
    ("hrnet_w18_small", "gluon_in1k", (64, 96), "auto"),   # bicubic, non-square: ResizeKeepRatio
    ("hrnet_w18_small", "gluon_in1k", (96, 64), "auto"),
    ("hrnet_w18", "", (224, 224), "vastai"),               # square resize = timm's squash mode
])
def test_numpy_path_equals_timm_create_transform(variant, tag, size, name):
    from PIL import Image

    pre = Preprocessor(preset_for("timm", variant, tag, size, name=name))
    ref = pre.timm_transform()
    samples = open_dataset(ASSETS).samples[:6]
    for s in samples:
        ours = pre.load(s.path)
        theirs = ref(Image.open(s.path).convert("RGB")).numpy()
        assert ours.shape == theirs.shape == (3, *size)
        assert np.abs(ours - theirs).max() <= 1e-6


def test_official_equals_torchvision_valid_py_and_mmcls_equals_0_255_normalisation(tmp_path):
    from PIL import Image
    from torchvision import transforms

    tv = transforms.Compose([transforms.Resize(int(224 / 0.875)), transforms.CenterCrop(224), transforms.ToTensor(),
                             transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    off = Preprocessor(preset_for("official", "hrnet_w18"))
    mm = Preprocessor(preset_for("mmcls", "hrnet_w18"))
    mean = np.array([123.675, 116.28, 103.53], np.float32)[:, None, None]
    std = np.array([58.395, 57.12, 57.375], np.float32)[:, None, None]
    for p in (save_jpeg(tmp_path / "tall.jpg", 1, (375, 500)), save_jpeg(tmp_path / "wide.jpg", 2, (500, 333))):
        ref = tv(Image.open(p).convert("RGB")).numpy()
        assert np.abs(off.load(p) - ref).max() <= 1e-6
        u8 = mm.load_uint8(p).transpose(2, 0, 1).astype(np.float32)
        assert np.abs(mm.load(p) - (u8 - mean) / std).max() <= 1e-5
        assert np.abs(mm.load(p) - ref).max() <= 1e-5  # no EXIF here: mmcls == official (FACTS §2)


def test_vastai_square_resize_differs_from_short_side(tmp_path):
    p = save_jpeg(tmp_path / "wide.jpg", 4, (500, 250))
    sq = Preprocessor(preset_for("timm", "hrnet_w18", name="vastai"))
    short = Preprocessor(preset_for("official", "hrnet_w18"))
    assert sq.resized_size(500, 250) == (256, 256) and short.resized_size(500, 250) == (512, 256)
    assert np.abs(sq.load(p) - short.load(p)).mean() > 0.05


def _resize_then_crop(pre: Preprocessor, im):
    """The reference geometry: full resize, then torchvision's CenterCrop rounding."""
    w, h = im.size
    nw, nh = pre.resized_size(w, h)
    im = im.resize((nw, nh), pre._resample)
    ch, cw = pre.cfg.input_size
    top = int(round((nh - ch) / 2.0)) if nh >= ch else -((ch - nh) // 2)
    left = int(round((nw - cw) / 2.0)) if nw >= cw else -((cw - nw) // 2)
    return im.crop((left, top, left + cw, top + ch))


@pytest.mark.parametrize("name, tag, size", [
    ("timm", "ms_in1k", (224, 224)), ("timm", "ms_aug_in1k", (224, 224)), ("official", "", (224, 224)),
    ("vastai", "", (224, 224)), ("timm", "gluon_in1k", (64, 96)), ("mmcls", "", (96, 64)),
])
def test_cropping_while_resizing_gives_the_pixels_of_resize_then_crop(name, tag, size):
    from PIL import Image

    from workbench.data.resize import _exact_box, box_shortcut_ok

    # the common case does take the short cut: 375 rows → 256, rows 16..240 kept
    assert box_shortcut_ok() and _exact_box(375, 256, 16, 224) == (23.4375, 351.5625)
    assert _exact_box(500, 341, 58, 224) is None  # 500/341 is no binary fraction
    variant = "hrnet_w18_small" if tag == "gluon_in1k" else "hrnet_w18"
    pre = Preprocessor(preset_for("timm", variant, tag, size, name=name if name != "timm" else "auto"))
    rng = np.random.default_rng(7)
    sizes = [(500, 375), (375, 500), (333, 500), (500, 333), (640, 480), (256, 256), (300, 300),
             (1024, 683), (257, 511), (100, 80), (224, 160), (4000, 3000), (63, 97)]
    for w, h in sizes:  # noise: the worst case for a rounding difference
        im = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")
        ours = np.asarray(pre.transform_image(im))
        assert np.array_equal(ours, np.asarray(_resize_then_crop(pre, im))), (name, tag, w, h)


def test_a_pillow_with_another_pass_order_turns_the_shortcut_off(monkeypatch):
    """The once-per-process self-check notices when the pass-order rule it assumes is not
    the installed Pillow's (here: faked as 'always rows first'), and disables the shortcut."""
    from workbench.data import resize

    resize.box_shortcut_ok.cache_clear()
    monkeypatch.setattr(resize, "_horizontal_first", lambda w, h, ow, oh: True)
    try:
        assert resize.box_shortcut_ok() is False
    finally:
        resize.box_shortcut_ok.cache_clear()

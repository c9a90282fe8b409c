"""The fast JPEG path (simplejpeg / libjpeg-turbo) gives PIL's pixels.

Every reference pipeline decodes with PIL, so a faster decoder is only allowed if the
model sees the same uint8 pixels: max abs <= 1 (in practice 0) over the bundled images and
the awkward cases — grayscale, CMYK, PNG, EXIF-rotated, tiny, progressive, 4:4:4/4:2:2.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from workbench.data.decode import _pil_decode, decode_rgb, fast_decoder, jpeg_rgb
from workbench.data.preprocess import Preprocessor, preset_for

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "val"


def _photo(w: int, h: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([127 + 90 * np.sin(0.03 * xx + 0.02 * yy + c) for c in range(3)], axis=-1)
    img += rng.normal(0, 10, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def edge_cases(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("decode-edge")
    rgb = Image.fromarray(_photo(120, 90))
    files: dict[str, Path] = {}

    def save(name: str, im: Image.Image, fmt: str, **kw) -> None:
        files[name] = d / name
        im.save(files[name], fmt, **kw)

    save("gray.jpg", rgb.convert("L"), "JPEG", quality=90)
    save("cmyk.jpg", rgb.convert("CMYK"), "JPEG", quality=90)
    save("rgb.png", rgb, "PNG")
    save("rgba.png", rgb.convert("RGBA"), "PNG")
    save("tiny_1x1.jpg", rgb.resize((1, 1)), "JPEG")
    save("tiny_3x5.jpg", rgb.resize((3, 5)), "JPEG")
    save("progressive.jpg", rgb, "JPEG", quality=85, progressive=True)
    save("s444.jpg", rgb, "JPEG", quality=95, subsampling=0)
    save("s422.jpg", rgb, "JPEG", quality=95, subsampling=1)
    save("odd_size.jpg", Image.fromarray(_photo(333, 127, 1)), "JPEG", quality=80)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    save("exif_rot6.jpg", rgb, "JPEG", quality=90, exif=exif.tobytes())
    exif[0x0112] = 3
    save("exif_rot3.jpg", rgb, "JPEG", quality=90, exif=exif.tobytes())
    return files


def _all_files(edge_cases: dict[str, Path]) -> list[Path]:
    bundled = sorted(ASSETS.glob("*.JPEG"))
    assert len(bundled) >= 10
    return bundled + list(edge_cases.values())


@pytest.mark.parametrize("exif_transpose", [False, True])
def test_fast_decode_matches_pil_pixel_for_pixel(edge_cases, exif_transpose):
    assert fast_decoder().startswith("simplejpeg")
    fast_used = 0
    worst = 0
    for f in _all_files(edge_cases):
        data = f.read_bytes()
        if jpeg_rgb(data) is not None:
            fast_used += 1
        a = np.asarray(decode_rgb(data, f, exif_transpose), dtype=np.int16)
        b = np.asarray(_pil_decode(data, f, exif_transpose), dtype=np.int16)
        assert a.shape == b.shape, f.name
        worst = max(worst, int(np.abs(a - b).max()))
    print(f"fast path on {fast_used} files, max abs {worst}")
    assert worst <= 1
    # the fast path really ran: bundled JPEGs, gray, tiny, progressive, subsampled, EXIF
    assert fast_used >= len(_all_files(edge_cases)) - 3
    assert jpeg_rgb(edge_cases["cmyk.jpg"].read_bytes()) is None  # CMYK stays on PIL's path
    assert jpeg_rgb(edge_cases["rgb.png"].read_bytes()) is None


def test_exif_orientation_is_applied_only_when_asked(edge_cases):
    f = edge_cases["exif_rot6.jpg"]
    plain = decode_rgb(f.read_bytes(), f, exif_transpose=False)
    turned = decode_rgb(f.read_bytes(), f, exif_transpose=True)
    assert plain.size == (120, 90) and turned.size == (90, 120)


@pytest.mark.parametrize("preset", ["official", "mmcls", "vastai"])
def test_preprocessed_arrays_equal_with_the_pil_decoder(edge_cases, preset, monkeypatch):
    pre = Preprocessor(preset_for(source="official", input_size=(64, 96), name=preset))
    files = _all_files(edge_cases)
    fast = [pre.load(f) for f in files]
    monkeypatch.setenv("HRNET_WB_DECODER", "pil")
    assert fast_decoder() == "pil"
    for f, x in zip(files, fast, strict=True):
        y = pre.load(f)
        assert np.array_equal(x, y), f.name


def test_broken_jpeg_falls_back_to_pils_error(tmp_path):
    good = io.BytesIO()
    Image.fromarray(_photo(64, 64)).save(good, "JPEG")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
    assert jpeg_rgb(cut.read_bytes()) is None  # libjpeg's warning is an error here
    from workbench.data.decode import DecodeError, open_rgb

    with pytest.raises(DecodeError, match="truncated"):
        open_rgb(cut)

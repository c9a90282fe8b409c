"""Resize then centre-crop, computing only the pixels the crop keeps where that is exact.

Reference pipelines (torchvision ``Resize`` + ``CenterCrop``, timm's eval transform) resize
the whole image with PIL and then crop. On the short side resized to 256, the 32 rows (or
columns) the crop drops are resampled for nothing: Pillow's ``resize(box=…)`` can skip them,
and does so with the very same arithmetic when the conditions of :func:`_exact_box` and the
same pass order (:func:`_horizontal_first`) hold. :func:`box_shortcut_ok` checks that once
per process against the installed Pillow, so a Pillow that computes differently turns the
shortcut off instead of changing any pixel.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image as PILImage


@functools.lru_cache(maxsize=4096)
def _exact_box(src: int, dst: int, off: int, n: int) -> tuple[float, float] | None:
    """The source interval whose resize to ``n`` pixels gives output pixels ``[off, off + n)``
    of the full ``src`` → ``dst`` resize bit for bit, or None where it might not.

    Pillow takes the box as float32 and recomputes the scale and every filter centre from
    it in double precision. The taps then equal the full resize's exactly when the scale
    ``src / dst`` is a binary fraction and the box edges are exact in float32: all the
    arithmetic is exact, so both paths compute the same numbers. A short side resized to
    256 (any height: 375/256) qualifies, so its 32 cropped rows are never computed.
    ``tests/test_data_preprocess.py`` checks equality with resize-then-crop."""
    from fractions import Fraction

    if src == dst or off < 0 or off + n > dst:
        return None
    scale = Fraction(src, dst)
    if scale.denominator & (scale.denominator - 1) or src >= 1 << 20:
        return None  # not a binary fraction (or too large to stay exact)
    lo, hi = off * scale, (off + n) * scale
    if any(Fraction(float(np.float32(v))) != v for v in (lo, hi, hi - lo)):
        return None
    return float(lo), float(hi)


def _horizontal_first(w: int, h: int, ow: int, oh: int) -> bool:
    """Whether Pillow resamples rows before columns for a ``w×h → ow×oh`` resize. The
    intermediate image is rounded to 8 bits, so the order decides the last bit. Pillow 13
    goes vertical first when the height shrinks by more than twice the width's shrink;
    earlier releases always go horizontal first."""
    import PIL

    if int(PIL.__version__.split(".")[0]) < 13:
        return True
    return not (h - oh > 0 and h - oh > (w - ow) * 2)


def resize_crop(im: PILImage.Image, size: tuple[int, int], crop: tuple[int, int, int, int],
                 resample: int, shortcut: bool) -> PILImage.Image:
    """``im.resize(size).crop(crop)``. With ``shortcut``, an axis whose crop Pillow can apply
    while resampling with the very same arithmetic (:func:`_exact_box`, same pass order)
    is cropped there, so its dropped rows or columns are never computed."""
    (w, h), (nw, nh) = im.size, size
    left, top, right, bottom = crop
    if (nw, nh) != (w, h):
        bx = _exact_box(w, nw, left, right - left) if shortcut else None
        by = _exact_box(h, nh, top, bottom - top) if shortcut else None
        ow, oh = (right - left if bx else nw), (bottom - top if by else nh)
        if (bx or by) and _horizontal_first(w, h, nw, nh) != _horizontal_first(w, h, ow, oh):
            bx = by = None  # Pillow would run its two passes in the other order
            ow, oh = nw, nh
        x0, x1 = bx or (0.0, float(w))
        y0, y1 = by or (0.0, float(h))
        im = im.resize((ow, oh), resample, box=(x0, y0, x1, y1))
        if bx:
            left, right, nw = 0, ow, ow
        if by:
            top, bottom, nh = 0, oh, oh
    if (left, top, right, bottom) != (0, 0, nw, nh):
        im = im.crop((left, top, right, bottom))
    return im


@functools.cache
def box_shortcut_ok() -> bool:
    """Check once per process that the crop-while-resizing shortcut gives resize-then-crop's
    very pixels under the installed Pillow: a release that changes its arithmetic or its
    pass-order rule turns the shortcut off instead of changing any result."""
    from PIL import Image

    rng = np.random.default_rng(0)
    cases = (((375, 500), (256, 256), (16, 16)),  # both axes cropped, vertical pass first
             ((500, 375), (341, 256), (58, 16)),  # rows only
             ((375, 500), (256, 341), (16, 58)))  # columns only
    for (w, h), size, (left, top) in cases:
        im = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")
        crop = (left, top, left + 224, top + 224)
        for resample in (Image.Resampling.BILINEAR, Image.Resampling.BICUBIC):
            fast = resize_crop(im, size, crop, resample, shortcut=True)
            if not np.array_equal(np.asarray(fast), np.asarray(im.resize(size, resample).crop(crop))):
                return False
    return True

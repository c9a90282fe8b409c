"""Robust image decode: any file PIL can read becomes 8-bit RGB, anything else a DecodeError.

A 40-minute evaluation must not die on one broken file, so every failure a file can
cause (zero bytes, not an image, truncated data, a decompression bomb) is turned into
one :class:`DecodeError` carrying the path and a short reason, which the evaluator
counts, lists and skips.

Odd-but-valid images are converted the way the reference tools see them, so that our
numbers stay comparable with theirs:

* gray, palette, CMYK, YCbCr, bilevel → ``convert("RGB")`` (what timm's, torchvision's and
  the official repo's PIL loaders do);
* alpha (RGBA, LA, PA, palette + transparency) is dropped, not composited: the reference
  loaders drop it too (PIL ``convert("RGB")``; cv2 ``IMREAD_COLOR``);
* 16-bit and 32-bit integer images are scaled to 8 bits (PIL's own ``convert`` would
  clip them to 255, turning most 16-bit photos white);
* EXIF orientation is applied only when the preprocessing preset asks (mmcv does it,
  torchvision and timm do not).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from workbench.errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image as PILImage

IMAGE_SUFFIXES = frozenset({".jpeg", ".jpg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm",
                            ".pgm", ".pbm"})


class DecodeError(BadInput):
    """One image file could not be decoded. Evaluation skips and lists it; never fatal there."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _to_rgb(im: PILImage.Image) -> PILImage.Image:
    from PIL import Image

    mode = im.mode
    if mode == "RGB":
        return im
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(im)
        if mode == "F":
            hi = float(np.nanmax(a)) if a.size else 1.0
            a8 = np.clip(np.nan_to_num(a) * (255.0 if hi <= 1.0 else 1.0), 0, 255)
        elif mode == "I" and a.size and int(a.max()) <= 255:
            a8 = a  # 8-bit data stored in a 32-bit container
        else:
            # 16-bit: 0..65535 → 0..255 (mode "I" from a 16-bit source holds the same range)
            a8 = np.clip(np.rint(a.astype(np.float64) / 257.0), 0, 255)
        return Image.fromarray(a8.astype(np.uint8), "L").convert("RGB")
    if mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")  # avoids PIL's "palette with transparency" warning path
    return im.convert("RGB")


def open_rgb(path: str | Path, exif_transpose: bool = False) -> PILImage.Image:
    """Decode ``path`` fully into an 8-bit RGB PIL image, or raise :class:`DecodeError`."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise DecodeError(path, "file not found") from None
    except OSError as exc:
        raise DecodeError(path, f"cannot read: {exc.strerror or exc}") from None
    if size == 0:
        raise DecodeError(path, "empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # EXIF/palette chatter is not the user's problem here
            # Our own handle: closing it leaves the decoded pixels alive (closing a PIL image
            # opened from a path frees them, which would cost a copy of every RGB image).
            with open(path, "rb") as fh:
                im = Image.open(fh)
                im.load()  # decode now: a truncated file fails here, not later in a worker
            oriented: PILImage.Image = (ImageOps.exif_transpose(im) or im) if exif_transpose else im
            rgb = _to_rgb(oriented)
    except UnidentifiedImageError:
        raise DecodeError(path, "not an image PIL can read") from None
    except Image.DecompressionBombError as exc:
        raise DecodeError(path, f"refused, too many pixels ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        msg = str(exc) or type(exc).__name__
        if "truncated" in msg:
            msg = f"truncated image data ({msg})"
        raise DecodeError(path, msg) from None
    return rgb

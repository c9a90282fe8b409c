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

import io
import os
import stat
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
        self.content_hash = ""  # set when the bytes were read (the evaluator records it)
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


def read_image_bytes(path: str | Path) -> bytes:
    """The file's bytes, or :class:`DecodeError` (missing, unreadable, empty)."""
    path = Path(path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block the read forever
            raise DecodeError(path, "not a regular file (a FIFO, socket or device)")
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise DecodeError(path, "file not found") from None
    except IsADirectoryError:
        raise DecodeError(path, "is a folder, not an image") from None
    except OSError as exc:
        raise DecodeError(path, f"cannot read: {exc.strerror or exc}") from None
    if not data:
        raise DecodeError(path, "empty file (0 bytes)")
    return data


def open_rgb(path: str | Path, exif_transpose: bool = False) -> PILImage.Image:
    """Decode ``path`` fully into an 8-bit RGB PIL image, or raise :class:`DecodeError`."""
    return decode_rgb(read_image_bytes(path), path, exif_transpose)


def decode_rgb(data: bytes, path: str | Path, exif_transpose: bool = False) -> PILImage.Image:
    """Decode image bytes into an 8-bit RGB PIL image, or raise :class:`DecodeError`.

    Baseline/progressive YCbCr and grayscale JPEGs go through libjpeg-turbo via
    ``simplejpeg`` with the accurate DCT and fancy upsampling (what PIL's decoder uses),
    which gives the very pixels of PIL's ``convert("RGB")`` about 1.5x faster; anything else
    (CMYK, PNG, a JPEG that simplejpeg refuses) takes PIL's path.
    ``tests/test_decode_parity.py`` checks the two paths agree. ``HRNET_WB_DECODER=pil``
    forces PIL everywhere.
    """
    fast = jpeg_rgb(data)
    if fast is not None:
        from PIL import Image

        im = Image.fromarray(fast, "RGB")
        if exif_transpose:
            im = _exif_oriented(data, im)
        return im
    return _pil_decode(data, Path(path), exif_transpose)


_FAST_COLORSPACES = frozenset({"YCbCr", "Gray"})


def fast_decoder() -> str:
    """Which JPEG decoder :func:`decode_rgb` uses here: ``simplejpeg <version>`` or ``pil``."""
    if os.environ.get("HRNET_WB_DECODER", "").strip().lower() == "pil":
        return "pil"
    try:
        import simplejpeg
    except ImportError:  # pragma: no cover - a declared dependency
        return "pil"
    return f"simplejpeg {simplejpeg.__version__}"


def jpeg_rgb(data: bytes) -> np.ndarray | None:
    """HWC uint8 RGB of a YCbCr or grayscale JPEG through libjpeg-turbo; None when the file
    is not such a JPEG, is larger than PIL would accept, or libjpeg reports any problem
    (PIL's path then decides, with its own error message)."""
    if data[:3] != b"\xff\xd8\xff" or fast_decoder() == "pil":
        return None
    import simplejpeg
    from PIL import Image

    try:
        h, w, colorspace, _sub = simplejpeg.decode_jpeg_header(data)
        if colorspace not in _FAST_COLORSPACES:
            return None
        limit = Image.MAX_IMAGE_PIXELS
        if limit is not None and h * w > limit:
            return None  # PIL warns or refuses (decompression bomb); let it
        return np.asarray(simplejpeg.decode_jpeg(data, colorspace="RGB", fastdct=False,
                                                 fastupsample=False, strict=True))
    except (ValueError, OSError):
        return None


def _exif_oriented(data: bytes, im: PILImage.Image) -> PILImage.Image:
    """Apply the EXIF orientation of ``data`` to ``im`` as ``ImageOps.exif_transpose`` does."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            orientation = Image.open(io.BytesIO(data)).getexif().get(0x0112, 1)
    except Exception:  # unreadable EXIF: PIL's exif_transpose ignores it too
        return im
    method = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
              4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
              6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}.get(orientation)
    return im if method is None else im.transpose(method)


def _pil_decode(data: bytes, path: Path, exif_transpose: bool) -> PILImage.Image:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # EXIF/palette chatter is not the user's problem here
            im = Image.open(io.BytesIO(data))
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

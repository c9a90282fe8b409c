"""The one module that wraps textual-image.

textual-image picks the terminal's graphics protocol (kitty's TGP or sixel) and falls
back to half-cell blocks. It must be imported before ``App.run()`` because it queries the
terminal, which is impossible once Textual owns stdin: :func:`prepare` does that, and
``workbench.tui.launch`` calls it first. Half-cell is forced under textual-serve
(``TERM_PROGRAM=textual``, where the browser terminal has no graphics protocol) and
whenever ``HRNET_WB_IMAGES=halfcell`` (the snapshot tests), so snapshots are deterministic.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

CELL_ASPECT = 2.0  # a terminal cell is about twice as tall as it is wide
PROTOCOLS = ("auto", "halfcell", "sixel", "tgp", "unicode")
_chosen: Any = None


def wanted_protocol() -> str:
    forced = os.environ.get("HRNET_WB_IMAGES", "").strip().lower()
    if forced in PROTOCOLS:
        return forced
    if os.environ.get("TERM_PROGRAM") == "textual":
        return "halfcell"
    if os.environ.get("TMUX") or os.environ.get("TERM", "").startswith(("screen", "tmux")):
        # tmux/screen do not pass kitty graphics through; half-cell needs no terminal query.
        # HRNET_WB_IMAGES=auto probes anyway (e.g. a sixel-enabled tmux).
        return "halfcell"
    return "auto"


def needs_terminal_query() -> bool:
    """Only protocol detection must run before Textual owns stdin; half-cell can load late."""
    return wanted_protocol() != "halfcell"


def prepare() -> Any:
    """Import textual-image (querying the terminal once) and choose the widget class."""
    global _chosen
    if _chosen is not None:
        return _chosen
    want = wanted_protocol()
    if want == "halfcell":
        chosen = _import_halfcell_without_probing()
    else:
        import textual_image.widget as tw

        chosen = {"auto": tw.Image, "sixel": tw.SixelImage, "tgp": tw.TGPImage,
                  "unicode": tw.UnicodeImage}[want]
    _chosen = chosen
    return chosen


def _import_halfcell_without_probing() -> Any:
    """textual-image probes the terminal when its package is imported and stdout is a TTY
    (DA1 ``ESC[c``, cell size ``ESC[16t``), even for the half-cell widget. This import
    happens late, while Textual owns stdin, so the reply arrived as key presses
    (``[?1;2c``: ``?`` opened the help, ``c`` would cancel a build). Half-cell needs no
    probe, so the import sees a non-TTY stdout. Textual writes to ``sys.__stderr__``."""
    import io
    import sys

    real = sys.__stdout__
    setattr(sys, "__stdout__", io.StringIO())  # noqa: B010 (a Final name to mypy)
    try:
        from textual_image.widget import HalfcellImage
    finally:
        setattr(sys, "__stdout__", real)  # noqa: B010
    return HalfcellImage


def protocol_name() -> str:
    cls = prepare()
    name = cls.__name__.lower()
    for p in ("halfcell", "sixel", "tgp", "unicode"):
        if p in name:
            return p
    renderable = getattr(cls, "_Renderable", None)
    mod = getattr(renderable, "__module__", "")
    return mod.rsplit(".", 1)[-1] or "auto"


def image_widget(path: str | Path | None, *, id: str | None = None) -> Any:
    """A textual-image widget for ``path`` (None: empty)."""
    return prepare()(str(path) if path else None, id=id)


def load_pil(path: str | Path) -> Any:
    """Open an image for display, RGB, EXIF-orientation applied; raises OSError when it
    cannot be decoded (a skipped image shows its error instead)."""
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        im.load()
        out = ImageOps.exif_transpose(im)
        return out.convert("RGB")


def fit_image(img_w: int, img_h: int, cols: int, rows: int) -> tuple[int, int]:
    """The largest (columns, rows) inside ``cols`` × ``rows`` that keeps the image's aspect
    ratio on cells ``CELL_ASPECT`` times taller than wide."""
    if img_w <= 0 or img_h <= 0 or cols <= 0 or rows <= 0:
        return 0, 0
    ratio = img_h / img_w / CELL_ASPECT  # rows per column
    w = min(cols, int(rows / ratio))
    h = max(1, round(w * ratio))
    if h > rows:
        h = rows
        w = max(1, int(h / ratio))
    return max(w, 1), h

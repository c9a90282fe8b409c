"""The Dataset pane's full-size view (Enter on a row): the original image beside the crop
the model saw, and where the true class ranks in each run's top-5.

The crop is made by the data package's own preprocessing, the one the build's eval
recorded in ``eval_report.json`` beside its results.jsonl (else the one evaluate resolves
for its artifact), so it is the model's input exactly, at its input size. Resolving a timm
preset imports timm, so the crop is made on a daemon thread and arrives as a message.
Side by side or stacked: whichever draws the two images larger in the terminal.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Resize
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from workbench.tui.background import Background
from workbench.tui.commands import bindings
from workbench.tui.results import BuildResults, ImageRow
from workbench.tui.screens.dataset import short_name
from workbench.tui.widgets.image_view import fit_image, image_widget, load_pil

if TYPE_CHECKING:  # pragma: no cover
    from workbench.data.preprocess import Preprocessor
    from workbench.store import Store


def rank_text(row: ImageRow | None) -> str:
    """``rank 2 of top-5 (25.0%)``, ``not in top-5``, or why there is no rank."""
    if row is None:
        return "not in this run"
    if row.skipped:
        return f"skipped: {row.error}"
    if row.label is None:
        return "no label"
    if row.label in row.topk[:5]:
        k = row.topk.index(row.label)
        p = f" ({100 * row.probs[k]:.1f}%)" if k < len(row.probs) else ""
        return f"rank {k + 1} of top-5{p}"
    return "not in top-5"


def run_preprocessor(results: BuildResults, store: Store) -> Preprocessor:
    """The preprocessing the build's eval used: as its eval_report.json recorded it, else
    as evaluate resolves it for the build's artifact (source, variant, input size)."""
    from workbench.data.preprocess import PreprocessConfig, Preprocessor, resolve_preprocessor
    from workbench.evaluate.formats import REPORT_JSON
    from workbench.input_size import parse_input_size

    try:
        recorded = json.loads((results.path.parent / REPORT_JSON).read_text()).get("preprocess")
    except (OSError, ValueError, AttributeError):
        recorded = None
    if isinstance(recorded, dict) and "resize_mode" in recorded:
        return Preprocessor(PreprocessConfig.from_dict(recorded))
    art = build_artifact(store, results)
    meta = art.get("meta") or {}
    size = meta.get("input_size") or parse_input_size(art.get("input_size") or "224x224")
    return resolve_preprocessor(
        source=str(art.get("source") or meta.get("source") or ""),
        variant=str(art.get("variant") or meta.get("variant") or ""), input_size=size,
        recorded=meta.get("preprocess") or (meta.get("calibration") or {}).get("preprocess"),
        unknown_source="official")


def build_artifact(store: Store, results: BuildResults) -> dict[str, Any]:
    """The artifact a run's build ran: by the key its summary recorded, else by its name
    (the newest of that name when several builds share it)."""
    rec = store.run_record(results.run_id) or {}
    keys = [b.get("key") for b in (rec.get("summary") or {}).get("builds") or []
            if isinstance(b, dict) and b.get("name") == results.build]
    for key in [*keys, results.build]:
        art = store.artifact(key, newest=True) if key else None
        if art:
            return art
    return {}


class CropReady(Message):
    def __init__(self, image: Any, caption: str) -> None:
        super().__init__()
        self.image, self.caption = image, caption


class ImageDialog(ModalScreen[None]):
    """One image of the Dataset pane, full size, with the model's view of it."""

    BINDINGS = bindings("dialog")

    def __init__(self, image_id: str, a: BuildResults, b: BuildResults | None,
                 names: list[str], store: Store) -> None:
        super().__init__()
        self.a, self.b, self.names, self.store = a, b, names, store
        self.rows = [(r, r.rows.get(image_id)) for r in (a, b) if r is not None]
        self.row = next(row for _r, row in self.rows if row is not None)
        self.crop_done = False  # set once the crop (or why there is none) is shown
        self._worker = Background("hrnet-wb-crop")

    def compose(self) -> ComposeResult:
        row = self.row
        truth = "no label" if row.label is None else f"truth {row.label} {short_name(self.names, row.label)}"
        with Vertical(id="view-box", classes="dialog-box"):
            yield Label(f"{Path(row.path).name} · {truth}", classes="dialog-title", markup=False)
            yield Static(Text("\n".join(f"{'AB'[i]} {r.label}: {rank_text(x)}"
                                        for i, (r, x) in enumerate(self.rows))), id="view-rank")
            with VerticalScroll(id="view-scroll"), Horizontal(id="view-pair"):
                with Vertical(classes="view-side"):
                    yield Static("original", id="view-original-cap", markup=False)
                    yield image_widget(None, id="view-original")
                with Vertical(classes="view-side"):
                    yield Static("model input: preparing…", id="view-crop-cap", markup=False)
                    yield image_widget(None, id="view-crop")

    def on_mount(self) -> None:
        try:
            pil = load_pil(self.row.path)
        except (OSError, ValueError) as exc:
            self._caption("original", f"original: cannot decode ({exc})")
        else:
            img: Any = self.query_one("#view-original")
            img.image = pil
            self._caption("original", f"original {pil.width}×{pil.height}")
        source = self.a if self.a.rows.get(self.row.id) is not None else self.b
        assert source is not None
        self._worker.start(self._make_crop, source)
        self.call_after_refresh(self._layout)

    def on_unmount(self) -> None:
        self._worker.cancel()

    def _make_crop(self, cancelled: Callable[[], bool], source: BuildResults) -> None:
        """The crop the model saw, by the build's own preprocessing (a daemon thread)."""
        try:
            pre = run_preprocessor(source, self.store)
            from PIL import Image

            image = Image.fromarray(pre.load_uint8(self.row.path))
            h, w = pre.input_size
            caption = f"model input {w}×{h} · {pre.cfg.name}"
        except Exception as exc:  # noqa: BLE001 - shown in the dialog: a view, not a failure
            image, caption = None, f"model input: {exc}"
        if not cancelled():
            self.post_message(CropReady(image, caption))

    def on_crop_ready(self, message: CropReady) -> None:
        self._caption("crop", message.caption)
        img: Any = self.query_one("#view-crop")
        img.image = message.image
        self.crop_done = True
        self._layout()

    def _caption(self, side: str, text: str) -> None:  # the .tcss cuts it with an ellipsis
        self.query_one(f"#view-{side}-cap", Static).update(text)

    def on_resize(self, _event: Resize) -> None:
        self.call_after_refresh(self._layout)

    def _layout(self) -> None:
        """Side by side or stacked, whichever draws the images larger; each image at its
        own aspect ratio (one line of each side is its caption)."""
        area = self.query_one("#view-scroll", VerticalScroll).content_size
        cols, rows = area.width, area.height
        imgs: list[Any] = [self.query_one(f"#view-{n}") for n in ("original", "crop")]
        sizes = [(i.image.width, i.image.height) if getattr(i, "image", None) is not None
                 else (1, 1) for i in imgs]
        side = [fit_image(w, h, cols // 2 - 1, rows - 1) for w, h in sizes]
        stack = [fit_image(w, h, cols, (rows - 2) // 2) for w, h in sizes]
        stacked = sum(w * h for w, h in stack) > sum(w * h for w, h in side)
        self.query_one("#view-pair").set_class(stacked, "-stacked")
        for img, (w, h) in zip(imgs, stack if stacked else side, strict=True):
            img.styles.width, img.styles.height = max(w, 1), max(h, 1)

    def action_close(self) -> None:
        self.dismiss(None)

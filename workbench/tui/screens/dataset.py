"""Dataset pane: a run's images with top-5 against the ground truth, one run or two.

Runs and their builds come from the store (``Store.run_record(id)["out_dir"]`` holds one folder
per build with its ``results.jsonl``). The list filters all / wrong / flipped between run
A and run B / skipped; the image is drawn by textual-image (kitty or sixel when the
terminal has one, half-cell blocks otherwise).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from workbench.tui.board import short_build
from workbench.tui.commands import bindings
from workbench.tui.results import FILTERS, BuildResults, ImageRow, builds_in, filter_ids, mark

if TYPE_CHECKING:  # pragma: no cover
    from workbench.tui.app import WorkbenchApp

LIST_WIDTH = 21  # the image list's width in the .tcss, minus the scrollbar


def class_names() -> list[str]:
    """ImageNet-1k names (read from timm's shipped tables, without importing timm)."""
    from workbench.data.labels import imagenet

    return list(imagenet().names)


def short_name(names: list[str], cid: int | None) -> str:
    if cid is None:
        return "no label"
    if 0 <= cid < len(names):
        return names[cid].split(",")[0]
    return f"class {cid}"


def top5_text(title: str, row: ImageRow | None, names: list[str]) -> Text:
    """``A run 3 · int8`` then five ``✓ 409 analog clock  41.2%`` lines."""
    t = Text(title + "\n", style="bold")
    if row is None:
        t.append("not in this run\n", style="dim")
        return t
    if row.skipped:
        t.append(f"skipped: {row.error}\n", style="yellow")
        return t
    for k, (cid, p) in enumerate(zip(row.topk, row.probs, strict=False)):
        hit = row.label is not None and cid == row.label
        line = f"{'✓' if hit else ' '} {cid:>4} {short_name(names, cid)[:16]:<16} {100 * p:5.1f}%\n"
        t.append(line, style="bold green" if hit else ("red" if k == 0 and row.label is not None else ""))
    return t


class DatasetPane(Vertical):
    BINDINGS = bindings("dataset")

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.a: BuildResults | None = None
        self.b: BuildResults | None = None
        self.filter = "all"
        self.ids: list[str] = []
        self.names: list[str] = []
        self._choices: list[tuple[str, str]] = []
        self._syncing = False

    @property
    def wb(self) -> WorkbenchApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        from workbench.tui.widgets.image_view import image_widget

        with Horizontal(classes="field-row"):
            yield Label("A", classes="field-label-s")
            yield Select([], prompt="(no runs yet)", id="run-a", compact=True, type_to_search=False)
            yield Label("B", classes="field-label-s")
            yield Select([], prompt="(none)", id="run-b", compact=True, type_to_search=False)
            yield Label("", id="ds-filter")
        with Horizontal(id="ds-body"):
            yield OptionList(id="images")
            with Vertical(id="ds-view"):
                yield image_widget(None, id="image")
                yield Static("", id="caption", markup=False)
            with Vertical(id="ds-top5"):
                yield Static("", id="top5-a")
                yield Static("", id="top5-b")

    def on_mount(self) -> None:
        self._show_filter()
        self.reload()

    # -- choosing runs -----------------------------------------------------------------
    def choices(self) -> list[tuple[str, str]]:
        """(label, "run_id/build") for every run build that has results, newest first."""
        out: list[tuple[str, str]] = []
        for r in self.wb.store.runs(200):
            for build in builds_in(r.out_dir):
                out.append((f"r{r.id} {short_build(build)}", f"{r.id}/{build}"))
        return out

    def action_reload(self) -> None:
        self.reload()

    def reload(self, a: str | None = None, b: str | None = None) -> None:
        """Re-read the run list; keep (or set) the chosen A and B."""
        self._choices = self.choices()
        sa, sb = self.query_one("#run-a", Select), self.query_one("#run-b", Select)
        keep_a = a or (str(sa.value) if sa.value != Select.NULL else None)
        if a is not None:  # an explicit choice: B is exactly what was asked (maybe none)
            keep_b = b
        else:
            keep_b = b or (str(sb.value) if sb.value != Select.NULL else None)
        values = {v for _l, v in self._choices}
        self._syncing = True
        try:
            options = [(Text(label, no_wrap=True, overflow="ellipsis"), v) for label, v in self._choices]
            sa.set_options(options)
            sb.set_options(options)
            if keep_a in values:
                sa.value = keep_a
            elif self._choices:
                sa.value = self._choices[0][1]
            if keep_b in values:
                sb.value = keep_b
            elif sb.value != Select.NULL:
                sb.clear()
        finally:
            self._syncing = False
        va = str(sa.value) if sa.value != Select.NULL else None
        vb = str(sb.value) if sb.value != Select.NULL else None
        self.load_results(va, vb)

    def on_select_changed(self, event: Select.Changed) -> None:
        if self._syncing or event.select.id not in ("run-a", "run-b"):
            return
        sa, sb = self.query_one("#run-a", Select), self.query_one("#run-b", Select)
        self.load_results(str(sa.value) if sa.value != Select.NULL else None,
                          str(sb.value) if sb.value != Select.NULL else None)

    @work(thread=True, group="dataset-load", exclusive=True, exit_on_error=False)
    def load_results(self, a: str | None, b: str | None) -> None:
        """Read the chosen builds' results.jsonl off the UI thread."""
        names = self.names or class_names()
        ra = self._read(a)
        rb = self._read(b) if b and b != a else None
        self.app.call_from_thread(self._loaded, names, ra, rb)

    def _read(self, value: str | None) -> BuildResults | None:
        from workbench.tui.results import read_results, results_path

        if not value:
            return None
        run_s, build = value.split("/", 1)
        row = self.wb.store.run_record(int(run_s))
        if row is None:
            return None
        return read_results(results_path(row["out_dir"], build), int(run_s), build)

    def _loaded(self, names: list[str], a: BuildResults | None, b: BuildResults | None) -> None:
        self.names, self.a, self.b = names, a, b
        self.refresh_list()

    # -- the list --------------------------------------------------------------------------
    def refresh_list(self) -> None:
        ol = self.query_one("#images", OptionList)
        ol.clear_options()
        if self.a is None:
            self.ids = []
            ol.add_option(Option(Text("no results yet: run a profile that sets [data].path"),
                                 disabled=True))
            self.show_image(None)
            return
        self.ids = filter_ids(self.a, self.b, self.filter)
        for i in self.ids:
            ra, rb = self.a.rows.get(i), self.b.rows.get(i) if self.b else None
            label = ra.label if ra else (rb.label if rb else None)
            text = f"{mark(ra, rb)} {_short_id(i)} {short_name(self.names, label)}"
            ol.add_option(Option(Text(text[:LIST_WIDTH], no_wrap=True), id=i))
        if not self.ids:
            ol.add_option(Option(Text(f"no images match '{self.filter}'"), disabled=True))
            self.show_image(None)
        else:
            ol.highlighted = 0
            self.show_image(self.ids[0])

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_list.id == "images" and event.option.id:
            self.show_image(event.option.id)

    def show_image(self, image_id: str | None) -> None:
        ra = self.a.rows.get(image_id) if (self.a and image_id) else None
        rb = self.b.rows.get(image_id) if (self.b and image_id) else None
        row = ra or rb
        img = self.query_one("#image")
        caption = self.query_one("#caption", Static)
        if row is None:
            img.image = None  # type: ignore[attr-defined]
            caption.update("")
            self.query_one("#top5-a", Static).update("")
            self.query_one("#top5-b", Static).update("")
            return
        self._set_image(img, row)
        gt = "no label" if row.label is None else f"gt {row.label} {short_name(self.names, row.label)}"
        caption.update(f"{gt}\n{Path(row.path).name}")  # the label first: names get cut
        assert self.a is not None
        self.query_one("#top5-a", Static).update(top5_text(f"A {self.a.label}", ra, self.names))
        self.query_one("#top5-b", Static).update(
            top5_text(f"B {self.b.label}", rb, self.names) if self.b else Text(""))

    def _set_image(self, img: Any, row: ImageRow) -> None:
        from workbench.tui.widgets.image_view import load_pil

        try:
            img.image = load_pil(row.path)
        except (OSError, ValueError):
            img.image = None

    # -- actions ---------------------------------------------------------------------------
    def action_cycle_filter(self) -> None:
        self.filter = FILTERS[(FILTERS.index(self.filter) + 1) % len(FILTERS)]
        self._show_filter()
        self.refresh_list()

    def _show_filter(self) -> None:
        self.query_one("#ds-filter", Label).update(f"filter: {self.filter} (f)")

    def action_swap_runs(self) -> None:
        sa, sb = self.query_one("#run-a", Select), self.query_one("#run-b", Select)
        va, vb = sa.value, sb.value
        if vb == Select.NULL:
            return
        self._syncing = True
        try:
            sa.value, sb.value = vb, va
        finally:
            self._syncing = False
        self.load_results(str(vb), str(va) if va != Select.NULL else None)

    def open_runs(self, a: str, b: str | None = None) -> None:
        """Show run builds ``a`` (and ``b``): values are "run_id/build"."""
        self.reload(a, b)


def _short_id(image_id: str) -> str:
    stem = Path(image_id).stem
    return stem.removeprefix("ILSVRC2012_val_")[-10:]

"""Dataset pane: a run's images with top-5 against the ground truth, one run or two.

Runs and their builds come from the store (``Store.run_record(id)["out_dir"]`` holds one folder
per build with its ``results.jsonl``); the pickers follow the store while the pane is
open (a run finished in another terminal appears within seconds) and start on the newest
*ok* run. The list filters all / wrong / flipped between run A and run B / skipped; the
image is drawn by textual-image (kitty or sixel when the terminal has one, half-cell
blocks otherwise) at the image's own aspect ratio, from the cell shape (a cell is twice
as tall as wide; a half-cell block is square).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Resize
from textual.message import Message
from textual.widgets import Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from workbench.tui.background import Background
from workbench.tui.board import recipe
from workbench.tui.commands import bindings
from workbench.tui.messages import BackgroundFailed
from workbench.tui.results import FILTERS, BuildResults, ImageRow, builds_in, filter_ids, mark
from workbench.tui.widgets.fit_list import FitList, SizedColumn
from workbench.tui.widgets.image_view import fit_image

if TYPE_CHECKING:  # pragma: no cover
    from workbench.store import Store

LIST_WIDTH = 17  # the image list's width in the .tcss, minus the scrollbar
POLL_S = 2.0  # how often the pickers look for new runs in the store


class ResultsLoaded(Message):
    def __init__(self, names: list[str], a: BuildResults | None, b: BuildResults | None) -> None:
        super().__init__()
        self.names, self.a, self.b = names, a, b


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


def top5_text(title: str, row: ImageRow | None, names: list[str], name_width: int = 13) -> Text:
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
        line = f"{'✓' if hit else ' '}{cid:>4} {fit_text(short_name(names, cid), name_width):<{name_width}} {100 * p:5.1f}%\n"  # noqa: E501
        t.append(line, style="bold green" if hit else ("red" if k == 0 and row.label is not None else ""))
    return t


class DatasetPane(Vertical):
    BINDINGS = bindings("dataset")

    def __init__(self, store: Store, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.store = store
        self.a: BuildResults | None = None
        self.b: BuildResults | None = None
        self.filter = "all"
        self.ids: list[str] = []
        self.names: list[str] = []
        self._choices: list[tuple[str, str]] = []
        self._recipes: dict[str, str] = {}
        self._runs_seen: tuple[tuple[int, str], ...] = ()
        self._syncing = False
        self._loader = Background("hrnet-wb-results")
        self._shown: ImageRow | None = None

    def compose(self) -> ComposeResult:
        from workbench.tui.widgets.image_view import image_widget

        with Horizontal(classes="field-row"):
            yield Label("A", classes="field-label-s")
            yield Select([], prompt="(no runs yet)", id="run-a", compact=True, type_to_search=False)
            yield Label("B", classes="field-label-s")
            yield Select([], prompt="(none)", id="run-b", compact=True, type_to_search=False)
            yield Label("", id="ds-filter")
        with Horizontal(id="ds-body"):
            yield FitList(id="images")  # names cut to its width: refilled on a new one
            with SizedColumn(id="ds-view"):  # the image is sized to it
                yield image_widget(None, id="image")
                yield Static("", id="caption", markup=False)
            with VerticalScroll(id="ds-top5"):
                yield Static("", id="ds-gt", markup=False)
                yield Static("", id="top5-a")
                yield Static("", id="top5-b")

    def on_mount(self) -> None:
        self._show_filter()
        self.reload()
        self.set_interval(POLL_S, self._poll_store)

    def on_unmount(self) -> None:
        self._loader.cancel()

    # -- choosing runs -----------------------------------------------------------------
    def _recipe(self, build: str) -> str:
        if build not in self._recipes:
            art = self.store.artifact(build, newest=True)
            self._recipes[build] = recipe(art) if art else build
        return self._recipes[build]

    def choices(self) -> list[tuple[str, str]]:
        """(label, "run_id/build") for every run build that has results; the newest ok
        run first, then the others newest first (a cancelled run's partial results stay
        reachable, but are never the default)."""
        ok: list[tuple[str, str]] = []
        other: list[tuple[str, str]] = []
        runs = self.store.runs(200)
        self._runs_seen = tuple((r.id, r.status) for r in runs)
        for r in runs:
            for build in builds_in(r.out_dir):
                tag = "" if r.status == "ok" else f" ({r.status})"
                entry = (f"r{r.id} {self._recipe(build)}{tag}", f"{r.id}/{build}")
                (ok if r.status == "ok" else other).append(entry)
        return ok + other

    def _poll_store(self) -> None:
        """Follow the store: a new run, or a run that changed status, refreshes the pickers."""
        seen = tuple((r.id, r.status) for r in self.store.runs(200))
        if seen != self._runs_seen:
            self.reload()

    def action_reload(self) -> None:
        self.a = self.b = None  # re-read the files even when the same runs stay chosen
        self._recipes.clear()
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
            sa.prompt = "(pick run A)" if self._choices else "(no runs yet)"
            sb.prompt = "(none)"
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
        if (va, vb) != ((f"{self.a.run_id}/{self.a.build}" if self.a else None),
                        (f"{self.b.run_id}/{self.b.build}" if self.b else None)):
            self.load_results(va, vb)

    def on_select_changed(self, event: Select.Changed) -> None:
        if self._syncing or event.select.id not in ("run-a", "run-b"):
            return
        sa, sb = self.query_one("#run-a", Select), self.query_one("#run-b", Select)
        self.load_results(str(sa.value) if sa.value != Select.NULL else None,
                          str(sb.value) if sb.value != Select.NULL else None)

    def load_results(self, a: str | None, b: str | None) -> None:
        """Read the chosen builds' results.jsonl on a daemon thread (quitting never waits)."""
        self._loader.start(self._load, a, b)

    def _load(self, cancelled: Callable[[], bool], a: str | None, b: str | None) -> None:
        try:
            names = self.names or class_names()
            ra = self._read(a)
            rb = self._read(b) if b and b != a else None
        except Exception as exc:  # noqa: BLE001 - the one error modal shows it
            self.post_message(BackgroundFailed(exc))
            return
        if not cancelled():
            self.post_message(ResultsLoaded(names, ra, rb))

    @property
    def is_loading(self) -> bool:
        return self._loader.running

    def _read(self, value: str | None) -> BuildResults | None:
        from workbench.tui.results import read_results, results_path

        if not value:
            return None
        run_s, build = value.split("/", 1)
        row = self.store.run_record(int(run_s))
        if row is None:
            return None
        out = read_results(results_path(row["out_dir"], build), int(run_s), build)
        out.recipe = self._recipe(build)
        return out

    def on_results_loaded(self, message: ResultsLoaded) -> None:
        self.names, self.a, self.b = message.names, message.a, message.b
        self.refresh_list()

    # -- the list --------------------------------------------------------------------------
    def refresh_list(self) -> None:
        ol = self.query_one("#images", OptionList)
        before = ol.highlighted_option.id if ol.highlighted_option is not None else None
        ol.clear_options()
        if self.a is None:
            self.ids = []
            ol.add_option(Option(Text("no results yet: run a profile that sets [data].path"),
                                 disabled=True))
            self.show_image(None)
            return
        self.ids = filter_ids(self.a, self.b, self.filter)
        width = (ol.content_size.width - 1) if ol.content_size.width > 4 else LIST_WIDTH
        for i in self.ids:
            ra, rb = self.a.rows.get(i), self.b.rows.get(i) if self.b else None
            label = ra.label if ra else (rb.label if rb else None)
            text = f"{mark(ra, rb)} {_short_id(i)}"
            name = short_name(self.names, label)
            if len(text) + 1 + min(len(name), 4) <= width:  # a name cut to 1-2 letters says nothing
                text = fit_text(f"{text} {name}", width)
            ol.add_option(Option(Text(fit_text(text, width), no_wrap=True), id=i))
        if not self.ids:
            why = "pick run B to compare" if self.filter == "flipped" and self.b is None \
                else f"no images match '{self.filter}'"
            ol.add_option(Option(Text(why), disabled=True))
            self.show_image(None)
        else:  # the image the list was on stays (a resize re-lays the list out)
            at = self.ids.index(before) if before in self.ids else 0
            ol.highlighted = at
            self.show_image(self.ids[at])

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_list.id == "images" and event.option.id:
            self.show_image(event.option.id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option_list.id == "images" and event.option.id:
            self.action_view_image()

    def action_view_image(self) -> None:  # the registry's dataset.view says what it shows
        from workbench.tui.screens.image_dialog import ImageDialog

        if self._shown is not None and self.a is not None:
            self.app.push_screen(ImageDialog(self._shown.id, self.a, self.b, self.names, self.store))

    def show_image(self, image_id: str | None) -> None:
        ra = self.a.rows.get(image_id) if (self.a and image_id) else None
        rb = self.b.rows.get(image_id) if (self.b and image_id) else None
        row = ra or rb
        img: Any = self.query_one("#image")
        caption = self.query_one("#caption", Static)
        gt_line = self.query_one("#ds-gt", Static)
        if row is None:
            img.image = None
            self._shown = None
            caption.update("")
            gt_line.update("")
            self.query_one("#top5-a", Static).update("")
            self.query_one("#top5-b", Static).update("")
            return
        self._set_image(img, row)
        self._caption()
        # The ground truth heads the top-5 column, on its own line, so it is never read
        # as one of the predictions.
        gt_line.update(Text("no label" if row.label is None else
                            f"truth {row.label} {short_name(self.names, row.label)}",
                            style="bold"))
        assert self.a is not None
        nw = max(13, self.query_one("#top5-a", Static).container_size.width - 14)
        self.query_one("#top5-a", Static).update(top5_text(f"A {self.a.label}", ra, self.names, nw))
        self.query_one("#top5-b", Static).update(
            top5_text(f"B {self.b.label}", rb, self.names, nw) if self.b else Text(""))

    def _set_image(self, img: Any, row: ImageRow) -> None:
        from workbench.tui.widgets.image_view import load_pil

        self._shown = row
        try:
            pil = load_pil(row.path)
        except (OSError, ValueError):
            img.image = None
            return
        self._size_image(img, pil.width, pil.height)
        img.image = pil

    def _size_image(self, img: Any, width: int, height: int) -> None:
        view = self.query_one("#ds-view")
        cols, rows = view.content_size.width, view.content_size.height - 1  # the caption
        w, h = fit_image(width, height, cols, rows)
        img.styles.width, img.styles.height = max(w, 1), max(h, 1)

    def on_fit_list_resized(self, _message: FitList.Resized) -> None:  # names, top-5: refit
        self.refresh_list()
        self.call_after_refresh(self.show_image, self._shown.id if self._shown else None)

    def on_sized_column_resized(self) -> None:  # the preview's room: image, caption, top-5
        self.show_image(self._shown.id if self._shown else None)

    def on_resize(self, event: Resize) -> None:
        self.set_class(event.size.width < 76, "-narrow")
        self.set_class(event.size.width >= 110, "-wide")  # room for class names in the list
        self._show_filter()

    def _caption(self) -> None:
        """The image's file name under it; when too long, its start gives way (the end
        tells images apart)."""
        row = self._shown
        width = self.query_one("#ds-view").content_size.width
        name = Path(row.path).name if row is not None else ""
        self.query_one("#caption", Static).update(fit_text(name, width, keep="end") if width else name)

    # -- actions ---------------------------------------------------------------------------
    def action_cycle_filter(self) -> None:
        self.filter = FILTERS[(FILTERS.index(self.filter) + 1) % len(FILTERS)]
        self._show_filter()
        self.refresh_list()
        if self.filter == "flipped" and self.b is None and self.a is not None:
            # flipped compares A with B: ask for B rather than show an empty list
            sb = self.query_one("#run-b", Select)
            sb.focus()
            sb.expanded = True
            self.app.notify("flipped compares run A with run B: pick B", timeout=3)

    def _show_filter(self) -> None:
        # at narrow widths the run pickers need the room (their labels are the recipes)
        text = f"f {self.filter}" if self.has_class("-narrow") else f"filter: {self.filter} (f)"
        self.query_one("#ds-filter", Label).update(text)

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
        self.a = self.b = None  # load even when the same pair is asked again
        self.reload(a, b)


def fit_text(text: str, width: int, keep: str = "start") -> str:
    """``text`` in ``width`` cells; a cut shows as ``…`` (at the end, or at the start with
    ``keep="end"``), so a clipped label never reads as a whole one."""
    if width <= 0 or len(text) <= width:
        return text
    if width == 1:
        return "…"
    return "…" + text[-(width - 1):] if keep == "end" else text[:width - 1] + "…"


def _short_id(image_id: str) -> str:
    stem = Path(image_id).stem
    return stem.removeprefix("ILSVRC2012_val_")[-10:]

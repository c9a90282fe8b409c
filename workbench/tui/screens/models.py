"""Models pane: source × variant (params, GMACs, default preprocessing), weights, profile.

The first frame never waits for torch: the variant table is filled from the name
registry (``workbench.sources.variants``, no torch) and from the counts already cached in
``<home>/cache/cost.json``. What is missing is counted in a child process
(:mod:`workbench.tui.count_worker`: it imports torch/timm, which would hold this
process's GIL for seconds), the highlighted variant first, with a spinner in the variant
column's header while it runs; quitting ends it at once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Input, Label, Select, Static

from workbench.errors import BadInput
from workbench.input_size import check_input_size, parse_input_size
from workbench.tui.background import Background
from workbench.tui.commands import bindings
from workbench.tui.messages import LoadProfile, ProfileEdited, QueueRun, SaveProfileRequested

if TYPE_CHECKING:  # pragma: no cover
    from workbench.home import Home
    from workbench.profile import Profile

SOURCES = ("timm", "official", "mmcls")
FIRST_DETAILS_DELAY_S = 0.5
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
# Counted once per process (the counts depend only on the code, not on the session).
_COSTS: dict[tuple[str, str, tuple[int, int]], tuple[str, str, str]] = {}
_PREPROCESS: dict[tuple[str, str, tuple[int, int]], str] = {}
WEIGHT_KINDS = (("random-init", "random-init"), ("local file…", "file"), ("hub cache", "hub"))


class CostCounted(Message):
    """Posted by the counting thread: one variant's (params, compute, compute name)."""

    def __init__(self, source: str, variant: str, size: tuple[int, int],
                 cost: tuple[str, str, str] | None, preprocess: str | None) -> None:
        super().__init__()
        self.source, self.variant, self.size = source, variant, size
        self.cost, self.preprocess = cost, preprocess


class ModelsPane(Vertical):
    BINDINGS = bindings("models")

    def __init__(self, home: Home, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.home = home
        self.costs = _COSTS
        self.preprocess = _PREPROCESS
        self.profile: Profile | None = None
        self.profile_path = ""
        self._profile_options: list[tuple[str, str]] = []
        self._table_source: tuple[str, tuple[int, int]] | None = None
        self._syncing = False
        self._synced = False  # widget events before the first sync are the widgets' defaults
        self._started = False
        self._paused = False  # a build is running: no counting until it ends
        self._counter = Background("hrnet-wb-count")
        self._count_proc: Any = None
        self._count_size: tuple[int, int] | None = None
        self._spin = 0

    def compose(self) -> ComposeResult:
        from workbench.sources.variants import VARIANTS

        with Horizontal(id="models-body"):
            with Vertical(id="models-left"):
                with Horizontal(classes="field"):
                    yield Label("Source", classes="field-label")
                    yield Select([(s, s) for s in SOURCES], value="timm", allow_blank=False,
                                 id="source", compact=True, type_to_search=False)
                table: DataTable[str] = DataTable(id="variants", cursor_type="row")
                table.add_column("variant", key="variant", width=18)
                table.add_column("M par", key="params", width=6)
                table.add_column("G cost", key="gmacs", width=6)
                for name in VARIANTS:
                    table.add_row(name, "", "", key=name)
                yield table
            # The details column mounts with the first profile (``show_profile``): it
            # shows nothing before it, and the first frame is quicker without it.
            yield VerticalScroll(id="models-right")

    def _details(self, profile: Profile, path: str) -> list[Widget]:
        """The details column, built with the first profile's values."""
        known = bool(path) and any(v == path for _l, v in self._profile_options)
        return [
            Static("", id="model-info", markup=False),
            Horizontal(Label("Weights", classes="field-label"),
                       Select(list(WEIGHT_KINDS), value=_weights_kind(profile.model.weights),
                              allow_blank=False, id="weights-kind", compact=True,
                              type_to_search=False), classes="field"),
            Static("", id="weights-path", markup=False),
            Horizontal(Label("Size", classes="field-label"),
                       Input(_size_text(profile), id="input-size", compact=True,
                             restrict=r"[0-9x ,]*", max_length=11), classes="field"),
            Horizontal(Label("Profile", classes="field-label"),
                       Select(self._profile_options, prompt="(current choices)",
                              value=path if known else Select.NULL, id="profile-select",
                              compact=True, type_to_search=False), classes="field"),
            Static("", id="models-hint", markup=False),
        ]

    def on_mount(self) -> None:
        self._started = False
        self.set_interval(0.25, self._tick_spinner)
        # Counting imports torch and timm (seconds, and it holds the GIL while importing):
        # start it only once the first frame is on screen.
        self.call_after_refresh(self.set_timer, FIRST_DETAILS_DELAY_S, self._start_details)

    def on_unmount(self) -> None:
        self.stop_counting()

    def _start_details(self) -> None:
        self._started = True
        if self.profile is not None:
            self.show_info()

    # -- the app's profile → widgets ---------------------------------------------------
    def show_profile(self, profile: Profile, path: str) -> None:
        """Show the app's current profile (after loading one, or at start)."""
        self.profile, self.profile_path = profile, path
        right = self.query_one("#models-right", VerticalScroll)
        first = not right.children
        if first:
            right.mount_all(self._details(profile, path))
        elif not self.query_one("#weights-kind", Select).is_mounted:
            # a second profile while the first one's details still mount: a Select's value
            # set before its overlay is composed raises inside Textual (NoMatches)
            self.call_after_refresh(self.show_profile, profile, path)
            return
        self._syncing = True
        try:
            self.query_one("#source", Select).value = profile.model.source
            table = self.query_one("#variants", DataTable)
            variant = self._variant_name(profile.model.variant)
            if variant in table.rows:
                table.move_cursor(row=table.get_row_index(variant))
            if not first:
                self.query_one("#input-size", Input).value = _size_text(profile)
                self.query_one("#weights-kind", Select).value = _weights_kind(profile.model.weights)
                sel = self.query_one("#profile-select", Select)
                if path and any(v == path for _l, v in self._profile_options):
                    sel.value = path
        finally:
            self._syncing = False
            self._synced = True
        self.show_info()

    @staticmethod
    def _variant_name(name: str) -> str:
        from workbench.sources.variants import resolve_variant

        try:
            return resolve_variant(name)
        except BadInput:
            return name

    def show_profiles(self, options: list[tuple[str, str]]) -> None:
        """The profile files the app found: (label, path)."""
        self._profile_options = options
        self._syncing = True
        try:
            for sel in self.query("#profile-select").results(Select):  # once mounted
                sel.set_options(options)
                if self.profile_path and any(v == self.profile_path for _l, v in options):
                    sel.value = self.profile_path
        finally:
            self._syncing = False

    def _edit(self, field: str, value: Any) -> None:
        """Ask the app to change its profile (it owns it); the pane shows the result."""
        self.post_message(ProfileEdited(field, value))

    # -- widgets → the app's profile --------------------------------------------------
    def on_select_changed(self, event: Select.Changed) -> None:
        if self._syncing or not self._synced or self.profile is None \
                or event.value != event.select.value:  # a stale message, not the user's
            return
        sid = event.select.id
        prof = self.profile
        # Select.Changed is a message, so it also arrives after our own programmatic
        # updates: act only on a value that differs from the profile.
        if sid == "source" and event.value != Select.NULL and event.value != prof.model.source:
            self._edit("model.source", str(event.value))
        elif sid == "weights-kind" and event.value != _weights_kind(prof.model.weights):
            if event.value in ("random-init", "hub"):
                self._edit("model.weights", str(event.value))
            elif event.value == "file" and not Path(prof.model.weights).is_file():
                self.action_pick_weights()
        elif sid == "profile-select" and event.value not in (Select.NULL, self.profile_path):
            self.post_message(LoadProfile(str(event.value)))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id != "variants" or event.row_key.value is None or not self._synced:
            return
        if not self._syncing and self.profile is not None \
                and event.row_key.value != self.profile.model.variant:
            self._edit("model.variant", event.row_key.value)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "input-size" or self._syncing or not self._synced:
            return
        hint = self.query_one("#models-hint", Static)
        try:
            size = check_input_size(parse_input_size(event.value))
        except BadInput as exc:
            hint.update(str(exc))
            return
        hint.update("")
        if self.profile is not None and tuple(self.profile.model.input_size) != tuple(size):
            self._edit("model.input_size", size)

    # -- details --------------------------------------------------------------------
    def show_info(self) -> None:
        """Render the details and the table; count what is missing on a daemon thread."""
        if self.profile is None:
            return
        m = self.profile.model
        name = self._variant_name(m.variant)
        size: tuple[int, int] = (int(m.input_size[0]), int(m.input_size[1]))
        if self._table_source != (m.source, size):  # what is known for this source and size
            self._table_source = (m.source, size)
            self._fill_from_cache(m.source, size)
        missing = self._render_info()
        if missing and self._started and not self._paused \
                and not (self._counter.running and self._count_size == size):
            # One child counts every source for this size; a change of source needs none.
            table = self.query_one("#variants", DataTable)
            todo = [str(k.value) for k in table.rows
                    if any((s, str(k.value), size) not in self.costs for s in SOURCES)]
            if name in todo:
                todo.remove(name)
            self.stop_counting()
            self._count_size = size
            self._counter.start(self._count, size, [name, *todo])

    def _fill_from_cache(self, source: str, size: tuple[int, int]) -> None:
        from workbench.sources.cost import CONVENTIONS, cached_costs
        from workbench.tui.count_worker import cached_preprocess

        table = self.query_one("#variants", DataTable)
        names = tuple(str(k.value) for k in table.rows)
        try:
            cached = cached_costs(source, self.home.cache / "cost.json", size, names)
        except (OSError, ValueError, BadInput):
            cached = {}
        for name, row in cached.items():
            self.costs.setdefault((source, name, size),
                                  (row.params_m, row.cost, CONVENTIONS[source].cost_name))
        for (src, name), line in cached_preprocess(self.home.cache / "cost.json", size,
                                                   list(names), SOURCES).items():
            self.preprocess.setdefault((src, name, size), line)
        for name in names:
            cost = self.costs.get((source, name, size))
            table.update_cell(name, "params", cost[0] if cost else "")
            table.update_cell(name, "gmacs", cost[1] if cost else "")

    def _count(self, cancelled: Callable[[], bool], size: tuple[int, int],
               names: list[str]) -> None:
        """On a daemon thread: the counting child's figures (the highlighted variant
        first), posted per source as they arrive; quitting ends the child."""
        from workbench.tui.count_worker import run_child

        def started(proc: Any) -> None:
            self._count_proc = proc

        try:
            for rec in run_child(self.home.cache / "cost.json", size, names, cancelled, started):
                for source in SOURCES:
                    cost = rec.get("costs", {}).get(source)
                    error = rec.get("errors", {}).get(source)
                    pre = rec.get("preprocess", {}).get(source) or (
                        f"(not counted: {error})" if error else None)
                    self.post_message(CostCounted(source, str(rec["variant"]), size,
                                                  tuple(cost) if cost else None, pre))
        except OSError as exc:
            self.post_message(CostCounted("", names[0], size, None, f"(not counted: {exc})"))

    def pause_counting(self, paused: bool) -> None:
        """While a build runs the count waits (it would take the build's CPU)."""
        self._paused = paused
        if paused:
            self.stop_counting()
        elif self._started:
            self.show_info()

    def stop_counting(self) -> None:
        """End the counting child now (quitting, or a newer request)."""
        self._counter.cancel()
        proc = self._count_proc
        if proc is not None and proc.poll() is None:
            proc.kill()

    def on_cost_counted(self, message: CostCounted) -> None:
        key = (message.source, message.variant, message.size)
        if message.cost is not None:
            self.costs[key] = message.cost
        if message.preprocess is not None:
            self.preprocess[key] = message.preprocess
        if self._table_source == (message.source, message.size) and message.cost is not None:
            table = self.query_one("#variants", DataTable)
            if message.variant in table.rows:
                table.update_cell(message.variant, "params", message.cost[0])
                table.update_cell(message.variant, "gmacs", message.cost[1])
        self._render_info()

    def _tick_spinner(self) -> None:
        table = self.query_one("#variants", DataTable)
        column = next((c for k, c in table.columns.items() if k.value == "variant"), None)
        if column is None:
            return
        if self._counter.running and self._table_source is not None:
            src, size = self._table_source
            done = sum(1 for k in table.rows if (src, str(k.value), size) in self.costs)
            self._spin = (self._spin + 1) % len(SPINNER)
            label = Text(f"variant {SPINNER[self._spin]} {done}/{table.row_count}")
        else:
            label = Text("variant")
        if column.label != label:
            column.label = label
            table.refresh()

    def _render_info(self) -> bool:
        """Draw the details pane; True when params/compute or preprocessing are missing."""
        from workbench.sources.variants import VARIANTS

        if self.profile is None:
            return False
        m = self.profile.model
        name = self._variant_name(m.variant)
        v = VARIANTS.get(name)
        size: tuple[int, int] = (int(m.input_size[0]), int(m.input_size[1]))
        cost = self.costs.get((m.source, name, size))
        pre = self.preprocess.get((m.source, name, size))
        lines = [f"{m.source}:{name}" + (f"  ({v.official})" if v and v.official else ""),
                 f"input {size[0]}×{size[1]}"]
        if v is not None and m.source == "mmcls" and not v.mmcls:
            lines.append("(mmcls publishes no checkpoint for this width)")
        if cost:
            lines.append(f"params {cost[0]} M · {cost[1]} {cost[2]} ({m.source} count)")
        else:
            lines.append("params … · compute … (counting)")
        lines.append(f"preprocess {pre}" if pre else "preprocess … (resolving)")
        self.query_one("#model-info", Static).update("\n".join(lines))
        self.query_one("#weights-path", Static).update(
            f"weights: {m.weights}" + ("  ← accuracy meaningless" if m.weights == "random-init" else ""))
        return v is not None and (cost is None or pre is None)

    # -- actions --------------------------------------------------------------------
    def action_queue_run(self) -> None:
        self.post_message(QueueRun())

    def action_pick_weights(self) -> None:
        from workbench.tui.screens.file_picker import FilePicker

        def chosen(path: Path | None) -> None:
            if path is not None:
                self._edit("model.weights", str(path))
            elif self.profile is not None:  # cancelled: the drop-down shows the profile again
                self._syncing = True
                self.query_one("#weights-kind", Select).value = _weights_kind(self.profile.model.weights)
                self._syncing = False

        weights = Path(self.profile.model.weights) if self.profile else Path.cwd()
        start = weights.parent if weights.is_file() else Path.cwd()
        self.app.push_screen(FilePicker(start), chosen)

    def action_save_profile(self) -> None:
        self.post_message(SaveProfileRequested())


def _size_text(profile: Profile) -> str:
    h, w = profile.model.input_size
    return str(h) if h == w else f"{h}x{w}"


def _weights_kind(weights: str) -> str:
    if weights == "random-init":
        return "random-init"
    return "hub" if weights.startswith("hub") else "file"

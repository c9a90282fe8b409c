"""Models pane: source × variant (params, GMACs, default preprocessing), weights, profile.

The first frame never waits for torch: the variant table is filled from the name
registry (``workbench.sources.variants``, no torch), and params/GMACs and the
preprocessing preset are computed for the highlighted variant in a worker (they import
torch/timm) and cached for the session.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Label, Select, Static

from workbench.errors import BadInput
from workbench.input_size import parse_input_size
from workbench.tui.commands import bindings

if TYPE_CHECKING:  # pragma: no cover
    from workbench.tui.app import WorkbenchApp

SOURCES = ("timm", "official", "mmcls")
FIRST_DETAILS_DELAY_S = 0.5
# Counted once per process (the counts depend only on the code, not on the session).
_COSTS: dict[tuple[str, str, tuple[int, int]], tuple[str, str, str]] = {}
_PREPROCESS: dict[tuple[str, str, tuple[int, int]], str] = {}
WEIGHT_KINDS = (("random-init", "random-init"), ("local file…", "file"), ("hub cache", "hub"))


def variant_cost(source: str, variant: str, input_size: tuple[int, int],
                 cache_file: Path | None) -> tuple[str, str, str]:
    """(params in M, compute, the compute's name) as ``source`` itself counts and prints
    them (NOTES §3: official GFLOPs = MACs/2^30, mmcls mmcv "Flops (G)", timm fvcore
    GMACs). The sources package counts on the meta device and caches per torch/timm."""
    from workbench.sources.cost import CONVENTIONS, cost_table

    row = cost_table(source, cache_file, input_size, (variant,))[0]
    return row.params_m, row.cost, CONVENTIONS[source].cost_name


def default_preprocess(source: str, variant: str, input_size: tuple[int, int]) -> str:
    """One line describing the preprocessing a run of this model would use by default."""
    from workbench.data.preprocess import preset_for

    tag = ""
    if source == "timm":
        from workbench.sources.timm_source import default_tag

        tag = default_tag(variant)
    cfg = preset_for(source=source, variant=variant, pretrained_tag=tag, input_size=input_size)
    rh, rw = cfg.resize_size
    h, w = cfg.input_size
    resize = f"short side {rh}" if cfg.resize_mode == "short" else f"{rh}×{rw} {cfg.resize_mode}"
    mean = ",".join(f"{m:.3f}" for m in cfg.mean)
    std = ",".join(f"{s:.3f}" for s in cfg.std)
    return (f"{cfg.name}: resize {resize} {cfg.interpolation} → crop {h}×{w} "
            f"(crop_pct {cfg.crop_pct:.3f}); mean {mean} std {std}")


class ModelsPane(Vertical):
    BINDINGS = bindings("models")

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.costs = _COSTS
        self.preprocess = _PREPROCESS
        self._syncing = False
        self._synced = False  # widget events before the first sync are the widgets' defaults
        self._started = False

    @property
    def wb(self) -> WorkbenchApp:
        return self.app  # type: ignore[return-value]

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
                    table.add_row(name, "…", "…", key=name)
                yield table
            with Vertical(id="models-right"):
                yield Static("", id="model-info", markup=False)
                with Horizontal(classes="field"):
                    yield Label("Weights", classes="field-label")
                    yield Select(list(WEIGHT_KINDS), value="random-init", allow_blank=False,
                                 id="weights-kind", compact=True, type_to_search=False)
                yield Static("", id="weights-path", markup=False)
                with Horizontal(classes="field"):
                    yield Label("Size", classes="field-label")
                    yield Input("224", id="input-size", compact=True, restrict=r"[0-9x ,]*",
                                max_length=11)
                with Horizontal(classes="field"):
                    yield Label("Profile", classes="field-label")
                    yield Select([], prompt="(current choices)", id="profile-select", compact=True, type_to_search=False)
                yield Static("", id="models-hint", markup=False)

    def on_mount(self) -> None:
        self.reload_profiles()
        self._started = False
        # The profile (pydantic, ~0.25 s) is shown once the first frame is out: the app
        # calls sync_from_profile on Ready.
        # The first count imports torch and timm (seconds, and it holds the GIL while
        # importing): start it only once the first frame is on screen.
        self.call_after_refresh(self.set_timer, FIRST_DETAILS_DELAY_S, self._start_details)

    def _start_details(self) -> None:
        self._started = True
        self.show_info()

    # -- the app's profile → widgets ---------------------------------------------------
    def sync_from_profile(self) -> None:
        """Show the app's current profile (after loading one, or at start)."""
        prof = self.wb.profile
        self._syncing = True
        try:
            self.query_one("#source", Select).value = prof.model.source
            table = self.query_one("#variants", DataTable)
            variant = self._variant_name(prof.model.variant)
            if variant in table.rows:
                table.move_cursor(row=table.get_row_index(variant))
            h, w = prof.model.input_size
            self.query_one("#input-size", Input).value = str(h) if h == w else f"{h}x{w}"
            self.query_one("#weights-kind", Select).value = _weights_kind(prof.model.weights)
            if self.wb.profile_path:
                sel = self.query_one("#profile-select", Select)
                if any(v == self.wb.profile_path for _l, v in self._profile_options):
                    sel.value = self.wb.profile_path
        finally:
            self._syncing = False
            self._synced = True
        self.show_info()

    @staticmethod
    def _variant_name(name: str) -> str:
        from workbench.errors import BadInput
        from workbench.sources.variants import resolve_variant

        try:
            return resolve_variant(name)
        except BadInput:
            return name

    _profile_options: list[tuple[str, str]] = []

    def reload_profiles(self) -> None:
        d = self.wb.profiles_dir
        files = sorted(d.glob("*.toml")) if d.is_dir() else []
        self._profile_options = [(p.stem, str(p)) for p in files]
        self.query_one("#profile-select", Select).set_options(self._profile_options)

    # -- widgets → the app's profile --------------------------------------------------
    def on_select_changed(self, event: Select.Changed) -> None:
        if self._syncing or not self._synced:
            return
        sid = event.select.id
        prof = self.wb.profile
        # Select.Changed is a message, so it also arrives after our own programmatic
        # updates: act only on a value that differs from the profile.
        if sid == "source" and event.value != Select.NULL and event.value != prof.model.source:
            prof.model.source = str(event.value)  # type: ignore[assignment]
            self.show_info()
        elif sid == "weights-kind" and event.value != _weights_kind(prof.model.weights):
            if event.value == "random-init":
                prof.model.weights = "random-init"
            elif event.value == "hub":
                prof.model.weights = "hub"
            elif event.value == "file" and not Path(prof.model.weights).is_file():
                self.action_pick_weights()
            self.show_info()
        elif sid == "profile-select" and event.value not in (Select.NULL, self.wb.profile_path):
            self.wb.load_profile_file(str(event.value))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id != "variants" or event.row_key.value is None or not self._synced:
            return
        if not self._syncing:
            self.wb.profile.model.variant = event.row_key.value
        self.show_info()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "input-size" or self._syncing or not self._synced:
            return
        hint = self.query_one("#models-hint", Static)
        try:
            size = parse_input_size(event.value)
        except BadInput as exc:
            hint.update(str(exc))
            return
        from pydantic import ValidationError

        try:
            self.wb.profile.model.input_size = size
        except ValidationError as exc:
            hint.update(str(exc.errors()[0]["msg"]).removeprefix("Value error, "))
            return
        hint.update("")
        self.show_info()

    # -- details --------------------------------------------------------------------
    def show_info(self) -> None:
        """Render the details and, if anything is missing, count it in a worker."""
        m = self.wb.profile.model
        name = self._variant_name(m.variant)
        size: tuple[int, int] = (int(m.input_size[0]), int(m.input_size[1]))
        missing = self._render_info()
        if self._table_source != (m.source, size):  # show what is known for this source
            self._table_source = (m.source, size)
            table = self.query_one("#variants", DataTable)
            for row_key in list(table.rows):
                key = str(row_key.value)
                cost = self.costs.get((m.source, key, size))
                table.update_cell(key, "params", cost[0] if cost else "…")
                table.update_cell(key, "gmacs", cost[1] if cost else "…")
        if missing and self._started:
            self.compute_details(m.source, name, size)

    def _render_info(self) -> bool:
        """Draw the details pane; True when params/compute or preprocessing are missing."""
        from workbench.sources.variants import VARIANTS

        m = self.wb.profile.model
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

    _table_source: tuple[str, tuple[int, int]] | None = None

    @work(thread=True, group="model-details", exclusive=True, exit_on_error=False)
    def compute_details(self, source: str, variant: str, size: tuple[int, int]) -> None:
        """Count params/compute and resolve the preprocessing of the highlighted variant off
        the UI thread (torch, timm). Only what the user looks at is counted, so a build
        running beside the TUI is not slowed by a table nobody reads."""
        cache_file = self.wb.home.cache / "cost.json"
        if (source, variant, size) not in self.costs:
            self.costs[(source, variant, size)] = variant_cost(source, variant, size, cache_file)
        self.app.call_from_thread(self._show_cost, source, variant, size)
        if (source, variant, size) not in self.preprocess:
            self.preprocess[(source, variant, size)] = default_preprocess(source, variant, size)
        self.app.call_from_thread(self._render_info)

    def _show_cost(self, source: str, variant: str, size: tuple[int, int]) -> None:
        m = self.wb.profile.model
        if (source, tuple(m.input_size)) != (m.source, size):
            return
        cost = self.costs[(source, variant, size)]
        table = self.query_one("#variants", DataTable)
        if variant in table.rows:
            table.update_cell(variant, "params", cost[0])
            table.update_cell(variant, "gmacs", cost[1])
        if variant == self._variant_name(m.variant):
            self._render_info()

    # -- actions --------------------------------------------------------------------
    def action_queue_run(self) -> None:
        self.wb.queue_current()

    def action_pick_weights(self) -> None:
        from workbench.tui.screens.file_picker import FilePicker

        def chosen(path: Path | None) -> None:
            if path is not None:
                self.wb.profile.model.weights = str(path)
                self._syncing = True
                self.query_one("#weights-kind", Select).value = "file"
                self._syncing = False
            self.show_info()

        start = Path(self.wb.profile.model.weights).parent if Path(self.wb.profile.model.weights).is_file() \
            else Path.cwd()
        self.app.push_screen(FilePicker(start), chosen)

    def action_save_profile(self) -> None:
        from workbench.tui.screens.dialogs import ProfileNameDialog

        def chosen(name: str | None) -> None:
            if name:
                self.wb.save_profile_as(name)

        self.app.push_screen(ProfileNameDialog(self.wb.profile.name or ""), chosen)


def _weights_kind(weights: str) -> str:
    if weights == "random-init":
        return "random-init"
    return "hub" if weights.startswith("hub") else "file"

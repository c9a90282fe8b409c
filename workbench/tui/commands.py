"""One command registry: it drives the key bindings, the command palette and the help screen.

Each entry is declared once here; :func:`bindings` turns the entries of one scope into
Textual ``Binding`` objects (each with an ``id`` and a ``tooltip``), the app yields every
entry to the command palette, and the help screen lists them by scope. A key therefore
cannot appear in the footer without also being in the palette and in the help.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType

# Scopes are where a binding lives: "app" on the App, the others on the pane of that id.
SCOPES = ("app", "models", "build", "dataset", "leaderboard", "dialog")
# The tab labels; the help screen and the palette use the same names.
PANE_NAMES = {"models": "Models", "build": "Build", "dataset": "Dataset", "leaderboard": "Leaderboard"}
PANE_TITLES = {k: f"{i} {v}" for i, (k, v) in enumerate(PANE_NAMES.items(), start=1)}
SCOPE_TITLES = {"app": "Everywhere", "models": "Models pane", "build": "Build pane",
                "dataset": "Dataset pane", "leaderboard": "Leaderboard pane",
                "dialog": "Dialogs (error, help, file picker, compare, image)"}
# The four pane keys share one footer slot ("1234 Panes"), so F1 and the pane's own keys
# stay visible at 80 columns.
PANES_GROUP = Binding.Group("Panes", compact=True)


@dataclass(frozen=True)
class Command:
    id: str
    scope: str
    key: str
    action: str
    title: str  # short: the footer label and palette title
    tooltip: str  # one sentence: the footer tooltip, palette help and help screen text
    show: bool = True
    priority: bool = False
    key_display: str | None = None
    group: Binding.Group | None = None

    def binding(self) -> Binding:
        return Binding(self.key, self.action, self.title, show=self.show, priority=self.priority,
                       tooltip=self.tooltip, id=self.id, key_display=self.key_display,
                       group=self.group)


COMMANDS: tuple[Command, ...] = (
    # Everywhere
    Command("app.models", "app", "1", "show_pane('models')", "Models",
            "Show the Models pane: source, variant, weights and profile.", group=PANES_GROUP),
    Command("app.build", "app", "2", "show_pane('build')", "Build",
            "Show the Build pane: export settings, recipe, queue, live log.", group=PANES_GROUP),
    Command("app.dataset", "app", "3", "show_pane('dataset')", "Dataset",
            "Show the Dataset pane: images with top-5 against the ground truth.",
            group=PANES_GROUP),
    Command("app.leaderboard", "app", "4", "show_pane('leaderboard')", "Leaderboard",
            "Show the Leaderboard pane: every recorded run, sortable, with plots.",
            group=PANES_GROUP),
    Command("app.help", "app", "f1", "help", "Help",
            "List every key, grouped by pane, with those the footer has no room for "
            "(also on '?').", key_display="F1"),
    Command("app.help_q", "app", "question_mark", "help", "Help",
            "List every key, grouped by pane.", show=False),
    Command("app.palette", "app", "ctrl+p", "command_palette", "Palette",
            "Open the command palette: every command by name.", priority=True, show=False),
    Command("app.quit", "app", "ctrl+q", "quit", "Quit",
            "Quit; a running build is cancelled first and recorded as cancelled.", priority=True),
    Command("app.help_quit", "app", "ctrl+c", "help_quit", "Quit?",
            "Ctrl+C does not quit (it would kill a build mid-write); use Ctrl+Q.", show=False),
    Command("app.leave_field", "app", "escape", "leave_field", "Leave field",
            "In a text field: leave it, so single-letter keys act again.", show=False,
            key_display="Esc"),
    # Models
    Command("models.queue", "models", "r", "queue_run", "Run",
            "Queue a run of the current choices and switch to the Build pane."),
    Command("models.weights_file", "models", "w", "pick_weights", "Weights",
            "Pick a local checkpoint (.pth, .pth.tar, .safetensors) with the file picker."),
    Command("models.save", "models", "s", "save_profile", "Save",
            "Save the current choices as a new profile in $HRNET_WB_HOME/profiles/ "
            "(the dialog shows the full path)."),
    # Build
    Command("build.run", "build", "r", "queue_run", "Run",
            "Queue a run with these export and build settings; queued runs go one after another."),
    Command("build.cancel", "build", "c", "cancel_run", "Cancel",
            "Cancel the running build: stops within 2 s, recorded as cancelled, no partial files."),
    Command("build.clear", "build", "x", "clear_queue", "Clear",
            "Drop the runs that are queued but not started."),
    # Dataset
    Command("dataset.filter", "dataset", "f", "cycle_filter", "Filter",
            "Cycle the image filter: all, wrong, flipped between runs A and B (asks for B "
            "when none is chosen), skipped."),
    Command("dataset.view", "dataset", "enter", "view_image", "View",
            "Show the image full size beside the crop the model saw (the run's preprocessing "
            "at its input size), with the true class's rank in each run's top-5.",
            key_display="Enter"),
    Command("dataset.swap", "dataset", "v", "swap_runs", "Swap",
            "Swap run A and run B."),
    Command("dataset.reload", "dataset", "ctrl+r", "reload", "Reload",
            "Re-read the runs and their results from the store and disk (the pane follows "
            "the store by itself, so the footer leaves this key to the help).", show=False),
    # Leaderboard
    Command("leaderboard.sort", "leaderboard", "o", "cycle_sort", "Sort",
            "Sort by the next column (top-1, img/s, p50, run); press again to move on."),
    Command("leaderboard.reverse", "leaderboard", "O", "reverse_sort", "Reverse",
            "Reverse the sort order.", show=False),
    Command("leaderboard.filter", "leaderboard", "slash", "focus_filter", "Filter",
            "Filter rows: words match any column; col=value matches one column exactly "
            "(an unknown column is an error line); Esc leaves the field.", key_display="/"),
    Command("leaderboard.all", "leaderboard", "a", "toggle_all", "All",
            "Show or hide cancelled and failed runs (hidden by default; ok rows always first).",
            show=False),
    Command("leaderboard.mark", "leaderboard", "m", "toggle_mark", "Mark",
            "Mark or unmark the row under the cursor; two marked rows can be compared."),
    Command("leaderboard.detail", "leaderboard", "i", "show_detail", "Detail",
            "Where the row's figures come from (also Enter): the eval behind the accuracy "
            "(images, data, --limit), the precision each figure ran in, the runtime's "
            "settings and the CPU.", show=False),
    Command("leaderboard.compare", "leaderboard", "c", "compare", "Compare",
            "Compare the two marked rows side by side, with the difference of each metric."),
    Command("leaderboard.plot", "leaderboard", "p", "cycle_plot", "Plot",
            "Switch the plot: accuracy vs throughput per build, or the latency distribution."),
    Command("leaderboard.open", "leaderboard", "d", "open_in_dataset", "Images",
            "Open the marked runs (or the row's run) in the Dataset pane."),
    Command("leaderboard.report", "leaderboard", "e", "write_report", "Report",
            "Write an HTML report (as hrnet-wb report) of the rows shown to <home>/reports/ "
            "and show its path.", show=False),
    Command("leaderboard.reload", "leaderboard", "ctrl+r", "reload", "Reload",
            "Re-read the store.", show=False),
    # Dialogs
    Command("dialog.close", "dialog", "escape", "close", "Close",
            "Close this dialog without choosing anything.", key_display="Esc"),
)


def commands_for(scope: str) -> list[Command]:
    return [c for c in COMMANDS if c.scope == scope]


def bindings(scope: str) -> list[BindingType]:
    """The Textual bindings of one scope, built from the registry."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    return [c.binding() for c in commands_for(scope)]


def key_label(cmd: Command) -> str:
    if cmd.key_display:
        return cmd.key_display
    names = {"question_mark": "?", "slash": "/"}
    key = names.get(cmd.key, cmd.key)
    return "+".join(p.capitalize() if p in ("ctrl", "shift", "alt") else p for p in key.split("+"))

"""Help that reads at 80 columns: paragraphs that reflow, examples that never break inside
a flag, and on/off flags without a ``<bool>`` type.

typer's rich help keeps every newline of a docstring paragraph, so a docstring wrapped
at 100 columns breaks mid-sentence at 80 ("(verified, / cached;"), and rich wraps an
example wherever a space falls, between ``--set`` and its value. Applied once to every
command before click parses, so command modules keep plain docstrings and epilogs.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

#: An example line longer than this continues on the next line after " \", so it fits
#: 80 columns inside the help's padding.
EXAMPLE_WIDTH = 74
_LIST_ITEM = re.compile(r"^\s*(?:[-*•]\s|\d+[.)]\s)")


def reflow(text: str) -> str:
    """Join the lines of each paragraph into one, except list items and indented blocks."""
    paras = []
    for para in inspect.cleandoc(text).split("\n\n"):
        lines: list[str] = []
        for line in para.split("\n"):
            if lines and not _LIST_ITEM.match(line) and not line.startswith("    "):
                glue = "" if lines[-1].endswith("/") else " "  # a path-like "a/b/" wrapped
                lines[-1] = f"{lines[-1].rstrip()}{glue}{line.strip()}"
            else:
                lines.append(line)
        paras.append("\n".join(lines))
    return "\n\n".join(paras)


def _units(command: str) -> list[str]:
    """``--flag value`` (and ``> file``) stay together: a wrap between them breaks a paste."""
    out: list[str] = []
    for tok in command.split():
        takes_value = out and out[-1].split()[-1] in (">", "|", "<") or (
            out and out[-1].startswith("-") and len(out[-1].split()) == 1 and not tok.startswith("-"))
        if takes_value:
            out[-1] = f"{out[-1]} {tok}"
        else:
            out.append(tok)
    return out


def fit_example(command: str, width: int = EXAMPLE_WIDTH) -> str:
    """One shell command as lines of at most ``width``, continued with `` \\``."""
    lines: list[str] = []
    cur = ""
    for unit in _units(command):
        if cur and len(cur) + 1 + len(unit) + 2 > width:
            lines.append(cur + " \\")
            cur = "    " + unit
        else:
            cur = f"{cur} {unit}" if cur else unit
    lines.append(cur)
    return "\n".join(lines)


def wrap_prose(text: str, width: int) -> str:
    """Wrap a sentence at ``width`` between words, never between a flag and its value, so
    ``--set model.weights=pretrained`` stays one piece to copy."""
    lines: list[str] = []
    cur = ""
    for unit in _units(text):
        if cur and len(cur) + 1 + len(unit) > width:
            lines.append(cur)
            cur = unit
        else:
            cur = f"{cur} {unit}" if cur else unit
    return "\n".join([*lines, cur])


def fit_epilog(epilog: str) -> str:
    paras = []
    for para in epilog.split("\n\n"):
        p = para.strip()
        # "\b" keeps click from rewrapping the example (help is plain click text)
        paras.append("\b\n" + fit_example(p) if p.startswith("hrnet-wb ") else para)
    return "\n\n".join(paras)


def _short_type(param: Any) -> None:
    """No ``<bool>`` after a flag (the flag and its --no- twin say it all); ``<int>`` rather
    than ``<int range>`` (the range follows in brackets anyway)."""
    if getattr(param, "metavar", None) is not None:
        return
    if getattr(param, "is_flag", False):
        param.metavar = ""
    else:
        td = getattr(param, "type_descriptor", None)
        if td is not None and getattr(td, "is_ranged", False):
            param.metavar = f"<{td.ranged_type_name}>"


def tidy(command: Any) -> None:
    """Reflow ``command``'s help, fit its examples, drop ``<bool>``; recurse into groups."""
    if getattr(command, "_wb_tidy", False):
        return
    command._wb_tidy = True
    if command.help:
        command.help = reflow(command.help)
    if command.epilog:
        command.epilog = fit_epilog(command.epilog)
    for param in getattr(command, "params", []):
        _short_type(param)
    if hasattr(command, "get_help_option"):
        made = command.get_help_option

        def get_help_option(ctx: Any) -> Any:
            opt = made(ctx)
            if opt is not None:
                _short_type(opt)
            return opt

        command.get_help_option = get_help_option
    for sub in getattr(command, "commands", {}).values():
        tidy(sub)

"""Where the TUI finds and saves profiles, and how it edits the one it holds (no textual).

Saved profiles go to ``<home>/profiles/`` (``$HRNET_WB_HOME/profiles``), never beside the
package's code; the picker lists that folder and ``./profiles`` of the working directory.
A save writes a new file only (an existing name is refused, the dialog says so and stays
open), atomically, mode 0644, with a description of what it holds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    from workbench.home import Home
    from workbench.profile import Profile

FILE_MODE = 0o644


def home_profiles(home: Home) -> Path:
    return Path(home.root) / "profiles"


def _checkout_profiles() -> Path:
    return Path(__file__).resolve().parents[2] / "profiles"


def demo_candidates(save_dir: Path, cwd_dir: Path) -> list[Path]:
    """Where the start-up profile comes from when none is named (the first that exists)."""
    return [save_dir / "demo.toml", cwd_dir / "demo.toml", _checkout_profiles() / "demo.toml"]


def options(save_dir: Path, cwd_dir: Path) -> list[tuple[str, str]]:
    """(label, path) for the picker: the home's profiles, then ./profiles' (marked)."""
    out: list[tuple[str, str]] = []
    seen: set[Path] = set()
    for folder, mark in ((save_dir, ""), (cwd_dir, " (./profiles)")):
        if not folder.is_dir():
            continue
        for p in sorted(folder.glob("*.toml")):
            if p.resolve() in seen:
                continue
            seen.add(p.resolve())
            out.append((f"{p.stem}{mark}", str(p)))
    return out


def set_field(profile: Profile, field: str, value: Any) -> None:
    """``set_field(p, "build.calibration.count", 8)``: validated by the profile's model."""
    *parents, last = field.split(".")
    obj: Any = profile
    for part in parents:
        obj = getattr(obj, part)
    if not hasattr(obj, last):
        raise AttributeError(f"no field {field!r}")
    setattr(obj, last, value)


def first_error(exc: BaseException) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            return str(errors()[0]["msg"]).removeprefix("Value error, ")
        except (IndexError, KeyError, TypeError):
            pass
    return str(exc)


def describe(profile: Profile) -> str:
    m, b = profile.model, profile.build
    h, w = m.input_size
    size = str(h) if h == w else f"{h}x{w}"
    recipe = f"{b.dtype} on {b.backend}"
    if b.dtype == "int8":
        recipe += f" ({b.calibration.method}, {b.calibration.count} calibration images)"
    ref = ", with an fp32 reference" if b.reference and b.dtype != "fp32" else ""
    return f"{m.source}:{m.variant} {size}, {m.weights} weights, {recipe}{ref}"


def suggest_name(profile: Profile, folder: Path) -> str:
    """A name from the choices (``w18_small_int8_ort-cpu``) that no file in ``folder`` has."""
    m, b = profile.model, profile.build
    base = f"{m.variant.removeprefix('hrnet_')}_{b.dtype}_{b.backend}"
    name, n = base, 2
    while (folder / f"{name}.toml").exists():
        name, n = f"{base}-{n}", n + 1
    return name


def save(profile: Profile, folder: Path, name: str) -> Path:
    """Write ``profile`` as ``folder/<name>.toml``; BadInput if that file exists."""
    from workbench.atomic import atomic_path
    from workbench.tui.profile_toml import profile_to_toml

    target = folder / f"{name}.toml"
    if target.exists():
        raise BadInput(f"{target} exists; pick another name")
    prof = profile.model_copy(deep=True)
    prof.name = name
    prof.description = describe(prof)
    text = profile_to_toml(prof, f"Saved from the hrnet-wb TUI.\n  hrnet-wb run --profile {target}")
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, FILE_MODE)
    return target

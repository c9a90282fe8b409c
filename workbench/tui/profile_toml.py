"""Write a :class:`workbench.profile.Profile` back to TOML ("save the current choices").

The standard library reads TOML but does not write it; profiles are flat sections of
strings, numbers, booleans and lists, so a small writer suffices and round-trips through
:func:`workbench.profile.load_profile` (tested).
"""

from __future__ import annotations

import json
from typing import Any

from workbench.profile import Profile


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a TOML basic string is a JSON string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _section(out: list[str], name: str, data: dict[str, Any]) -> None:
    # TOML has no null: an unset optional key is written by leaving it out.
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict) and v is not None}
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    if name and scalars:
        out.append(f"\n[{name}]")
    for k, v in scalars.items():
        out.append(f"{k} = {_value(v)}")
    for k, v in tables.items():
        _section(out, f"{name}.{k}" if name else k, v)


def profile_to_toml(profile: Profile, header: str = "") -> str:
    out: list[str] = [f"# {line}" for line in header.splitlines()]
    _section(out, "", profile.model_dump(mode="json"))
    return "\n".join(out).lstrip("\n") + "\n"

"""The profile's JSON Schema is generated from the pydantic model; the committed copy and the
README's profile table must not drift from it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from workbench.profile import Profile

ROOT = Path(__file__).resolve().parents[1]


def schema_keys(schema: dict[str, Any]) -> dict[str, Any]:
    """``"[section] key"`` (or ``"key"`` at the top) → default, for every leaf setting of
    the schema (defaults from the model itself: factories have none in the schema)."""
    defs = schema["$defs"]
    defaults = Profile().model_dump(mode="json")
    out: dict[str, Any] = {}

    def walk(props: dict[str, Any], section: str, values: dict[str, Any]) -> None:
        for key, spec in props.items():
            ref = spec.get("$ref")
            if ref:
                name = ref.rsplit("/", 1)[-1]
                walk(defs[name]["properties"], f"{section}.{key}" if section else key, values[key])
                continue
            out[f"[{section}] {key}" if section else key] = values[key]

    walk(schema["properties"], "", defaults)
    return out


def readme_keys() -> dict[str, str]:
    """``"[section] key"`` → the default cell, from the README's profile table. A row
    naming several keys (``a`` / ``b``) with several defaults gives each its own."""
    text = (ROOT / "README.md").read_text()
    table = text[text.index("| key | default | meaning |"):]
    table = table[: table.index("\n\n")]
    out: dict[str, str] = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        m = re.fullmatch(r"(?:`\[(?P<sec>[\w.]+)\]\s*(?P<first>\w+)`|`(?P<top>\w+)`)(?P<more>.*)", cells[0])
        assert m, f"README profile row not understood: {line}"
        keys = [m["first"] or m["top"]] + re.findall(r"`(\w+)`", m["more"])
        defaults = [d.strip() for d in cells[1].split(" / ")]
        if len(defaults) != len(keys):
            defaults = [cells[1]] * len(keys)
        for k, d in zip(keys, defaults, strict=True):
            out[f"[{m['sec']}] {k}" if m["sec"] else k] = d
    return out


def test_committed_schema_is_the_generated_one():
    committed = json.loads((ROOT / "docs" / "profile.schema.json").read_text())
    assert committed == Profile.json_schema(), (
        "docs/profile.schema.json is stale: regenerate it with "
        "python -c 'import json; from workbench.profile import Profile; "
        "print(json.dumps(Profile.json_schema(), indent=2, sort_keys=True))'")


def test_readme_profile_table_lists_every_key_once_with_its_default():
    schema = schema_keys(Profile.json_schema())
    readme = readme_keys()
    assert sorted(readme) == sorted(schema), (
        f"in the schema, not the README: {sorted(set(schema) - set(readme))}; "
        f"in the README, not the schema: {sorted(set(readme) - set(schema))}")
    for key, default in schema.items():
        cell = readme[key]
        if default is None:
            assert cell in ("unset", "file stem"), (key, cell)
        elif isinstance(default, (int, float)) and not isinstance(default, bool):
            assert float(cell.strip("`")) == default, (key, cell, default)
        elif isinstance(default, (bool, list)):
            assert cell == f"`{json.dumps(default)}`" or cell == f"`{default}`", (key, cell, default)
        elif default == "":
            assert cell in ('`""`', "file stem"), (key, cell)
        else:
            assert cell == f"`{default}`", (key, cell, default)


def test_drift_is_caught():
    """The check can fail: a key the schema lacks, or a wrong default, is reported."""
    schema = schema_keys(Profile.json_schema())
    assert "[data] threads" in schema and schema["[bench] rounds"] == 3
    assert "[build.calibration] method" in schema
    readme = readme_keys()
    assert readme["[bench] rounds"] == "`3`"
    assert readme["[bench] threads"] == "`[0]`" and readme["[bench] streams"] == "`[1]`"

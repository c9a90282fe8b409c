"""The command line that reproduces a row, from what its runs recorded (the profile, or the
eval / bench spec the command stored as the run's profile)."""

from __future__ import annotations

import json
import shlex
from typing import Any

from workbench.records import ResultRow


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v), ensure_ascii=False)  # a TOML basic string


def profile_toml(profile: dict[str, Any], prefix: str = "") -> str:
    """A recorded profile (``Profile.canonical_json``) back as TOML that ``run --profile``
    reads: the exact settings that ran, overrides included (unset values are left out)."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in profile.items()
             if v is not None and not isinstance(v, dict)]
    for k, v in profile.items():
        if isinstance(v, dict):
            lines += ["", f"[{prefix}{k}]", profile_toml(v, f"{prefix}{k}.")]
    return "\n".join(lines).replace("\n\n\n", "\n\n")


def _is_profile(prof: dict[str, Any]) -> bool:
    return isinstance(prof.get("model"), dict) and "build" in prof


def _join(args: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in args)


def run_command(rec: dict[str, Any]) -> str:
    """``hrnet-wb …`` for one run record (``Store.run_record``), or a comment saying why not."""
    prof: dict[str, Any] = rec.get("profile") or {}
    name = str(rec.get("name", ""))
    path = str(rec.get("profile_path") or "")
    if "eval" in prof:
        ev = prof["eval"]
        args = ["hrnet-wb", "eval", str(ev.get("target", "")), "--data", str(ev.get("data", "")),
                "--layout", str(ev.get("layout", "auto")), "-b", str(ev.get("batch_size", 8))]
        if ev.get("limit"):
            args += ["--limit", str(ev["limit"])]
        if ev.get("include_calibration"):
            args.append("--include-calibration")
        return _join(args)
    if "bench" in prof and "target" in prof:
        b = prof["bench"]
        args = ["hrnet-wb", "bench", str(prof["target"]), "--backend", str(prof.get("backend", ""))]
        for flag, key in (("--batch", "batch_sizes"), ("--streams", "streams"), ("--threads", "threads")):
            if b.get(key):
                args += [flag, ",".join(str(x) for x in b[key])]
        for flag, key in (("--warmup", "warmup"), ("--iterations", "iterations"), ("--rounds", "rounds"),
                          ("--duration", "duration_s"), ("--inputs", "inputs")):
            if b.get(key) is not None:
                args += [flag, str(b[key])]
        return _join(args)
    verb = "sweep" if name.startswith("sweep ") else "bench" if name.startswith("bench ") else "run"
    if _is_profile(prof) and verb != "sweep":
        note = f"recorded from {path}" if path else "recorded in the store"
        return (_join(["hrnet-wb", verb, "--profile", f"run-{rec.get('id', 'N')}.toml"])
                + f"  # run {rec.get('id', '?')}'s profile, below ({note})")
    if path:
        return _join(["hrnet-wb", verb, "--profile", path]) + (
            f"  # profile hash {str(rec.get('profile_hash', ''))[:12]}" if rec.get("profile_hash") else "")
    return f"# run {rec.get('id', '?')} ({name}): no command recorded"


def profiles_behind(records: dict[int, dict[str, Any]], command: str) -> dict[int, str]:
    """The TOML of each profile run a command names (``run-N.toml``)."""
    import re

    out = {}
    for rid in (int(m) for m in re.findall(r"run-(\d+)\.toml", command)):
        prof = (records.get(rid) or {}).get("profile") or {}
        if _is_profile(prof):
            out[rid] = profile_toml(prof)
    return out


def reproduce_command(records: dict[int, dict[str, Any]], row: ResultRow,
                      bench_run: int | None = None) -> str:
    """One line per distinct command among the runs behind ``row``: the eval run whose
    accuracy it shows and the run whose speed it shows (often one ``run --profile``)."""
    eval_run = row.get("eval_run")
    wanted = [int(eval_run)] if eval_run is not None else []
    if bench_run is not None:
        wanted.append(bench_run)
    if not wanted:
        wanted = [row.run_id]
    lines: list[str] = []
    for rid in wanted:
        rec = records.get(rid)
        line = run_command(rec) if rec else f"# run {rid}: not in the store"
        if line not in lines:
            lines.append(line)
    return "\n".join(lines)

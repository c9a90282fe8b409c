"""The leaderboard: headline metrics pivoted per (run, build) or per artifact, the eval an
artifact's accuracy comes from, the effective runtime columns and the mixed-machine note."""

from __future__ import annotations

import json
from typing import Any

from workbench.records import ResultRow
from workbench.store.connection import StoreBase
from workbench.store.runs import live_status

# Headline metrics, as the leaderboard shows them (higher is better unless listed).
LOWER_IS_BETTER = {"p50_ms", "p90_ms", "p99_ms", "mean_ms", "size_mb", "peak_rss_mb"}

#: The one unit rule: these are fractions (0..1) in every row, JSON and CSV; only human
#: tables show them as percent, with % in the header.
FRACTION_METRICS = frozenset({"top1", "top5", "published_top1", "published_top5", "delta_top1",
                              "delta_top5", "top1_ci_lo", "top1_ci_hi", "top1_agreement"})
#: Counts are ints in every row.
COUNT_FIELDS = frozenset({"images", "skipped", "eval_limit", "calibration_excluded", "eval_run",
                          "best_batch", "best_streams", "streams_eff", "threads_eff"})
#: What a leaderboard row's accuracy comes from: these travel together.
EVAL_FIELDS = ("top1", "top5", "images", "skipped", "eval_img_s", "eval_run", "data_root",
               "data_layout", "data_hash", "eval_limit", "calibration_excluded",
               "includes_calibration")


class Leaderboard(StoreBase):
    """Reading the store back as leaderboard rows."""

    def results(self, group: str = "run") -> list[ResultRow]:
        """:meth:`leaderboard` as typed rows."""
        return [ResultRow.from_dict(d) for d in self.leaderboard(group)]

    def leaderboard(self, group: str = "run") -> list[dict[str, Any]]:
        """One row per (run, build): headline metrics pivoted, joined with the build config.

        ``group="artifact"``: one row per artifact across runs (the latest run's value of
        each metric wins), so accuracy from an eval run and speed from a later bench run of
        the same build appear side by side. Accuracy is the exception: it comes from one
        chosen eval (see :func:`choose_eval`), with its image count and data identity.

        Units: top1/top5 are fractions (stores written before this rule held percent;
        they are converted on read); counts are ints.
        """
        if group not in ("run", "artifact"):
            raise ValueError(f"group {group!r}: expected 'run' or 'artifact'")
        if self.readonly and not self.exists:
            return []
        with self._connect() as con:
            cols = {r[1] for r in con.execute("PRAGMA table_info(runs)")}
            live = "r.pid, r.pid_start, r.host" if "pid" in cols else "NULL AS pid, '' AS pid_start, '' AS host"
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            # a read-only store of an older schema has no evals table: it is read as it is
            evals = ({(e["run_id"], e["build"]): dict(e) for e in con.execute("SELECT * FROM evals")}
                     if "evals" in tables else {})
            rows = con.execute(
                "SELECT m.run_id, m.build, m.artifact_key, m.name, m.value, m.unit, r.name AS run_name,"
                f" r.status, r.started_at, {live}, a.source, a.variant, a.weights, a.backend, a.dtype,"
                " a.calibration, a.input_size"
                " FROM metrics m JOIN runs r ON r.id = m.run_id"
                " LEFT JOIN artifacts a ON a.key = m.artifact_key"
                " WHERE m.params_json = '' ORDER BY m.run_id, m.id").fetchall()
            machines = {int(r["run_id"]): r["fingerprint"] for r in con.execute(
                "SELECT run_id, fingerprint FROM run_machine").fetchall()} if "run_machine" in tables else {}
            settings: dict[tuple[int, str], dict[str, dict[str, Any]]] = {}
            for r in (con.execute("SELECT run_id, build, stage, settings_json FROM runtime_settings")
                      if "runtime_settings" in tables else []):
                settings.setdefault((int(r["run_id"]), r["build"]), {})[r["stage"]] = json.loads(
                    r["settings_json"] or "{}")
        board: dict[tuple[int, str], dict[str, Any]] = {}
        for r in rows:
            key = (r["run_id"], r["build"])
            row = board.get(key)
            if row is None:
                row = board[key] = {
                    "run_id": r["run_id"], "run": r["run_name"],
                    "status": live_status(r["status"], r["pid"], r["pid_start"], r["host"]),
                    "build": r["build"], "artifact_key": r["artifact_key"],
                    "source": r["source"] or "", "variant": r["variant"] or "",
                    "weights": r["weights"] or "", "backend": r["backend"] or "",
                    "dtype": r["dtype"] or "", "calibration": r["calibration"] or "",
                    "input_size": r["input_size"] or "", "started_at": r["started_at"],
                    "fingerprint": machines.get(int(r["run_id"]), ""),
                }
                ev = evals.get(key)
                if ev is not None:
                    row.update({k: ev[k] for k in ("data_root", "data_layout", "data_hash",
                                                   "eval_limit", "calibration_excluded")})
                    row["includes_calibration"] = bool(ev["includes_calibration"])
                row.update(_runtime_columns(settings.get(key, {})))
            value = r["value"]
            if r["name"] in FRACTION_METRICS and r["unit"] == "%":
                value = value / 100.0  # written before the unit rule
            row[r["name"]] = int(value) if r["name"] in COUNT_FIELDS else value
        for row in board.values():
            if "top1" in row or "top5" in row:
                row["eval_run"] = row["run_id"]
        out = list(board.values())
        if group == "artifact":
            out = _merge_by_artifact(out)
        mark_mixed_machines(out)
        return out


#: Columns the leaderboard takes from the effective runtime settings.
RUNTIME_COLUMNS = ("precision", "eval_precision", "runtime", "streams_eff", "threads_eff", "hint")


def _runtime_columns(by_stage: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``precision`` is what the speed figures ran in (bench), ``eval_precision`` what the
    accuracy figures ran in (eval); the rest describe the bench's runtime."""
    bench = by_stage.get("bench") or {}
    ev = by_stage.get("eval") or {}
    main = bench or ev
    out: dict[str, Any] = {
        "precision": bench.get("compute_precision", "") or ev.get("compute_precision", ""),
        "eval_precision": ev.get("compute_precision", ""),
        "runtime": (f"{main.get('runtime', '')} {main.get('version', '')}".strip()) if main else "",
        "hint": main.get("hint", ""),
    }
    for col, key in (("streams_eff", "streams"), ("threads_eff", "threads")):
        if main.get(key) is not None:  # figures only when the runtime reported them
            out[col] = int(main[key])
    return out


SPEED_COLUMNS = ("p50_ms", "throughput")


def mark_mixed_machines(rows: list[dict[str, Any]]) -> list[str]:
    """When speed rows come from more than one CPU, say so on each of them (``speed_note``)
    and return the fingerprints; speed is only comparable within one fingerprint."""
    fps = sorted({str(r.get("fingerprint") or "unknown") for r in rows
                  if any(r.get(c) is not None for c in SPEED_COLUMNS)})
    for r in rows:
        r["speed_note"] = ""
        if len(fps) > 1 and any(r.get(c) is not None for c in SPEED_COLUMNS):
            others = [f for f in fps if f != (r.get("fingerprint") or "unknown")]
            r["speed_note"] = (f"speed measured on {r.get('fingerprint') or 'an unrecorded CPU'}; "
                               f"other rows on {', '.join(others)}: not comparable")
    return fps if len(fps) > 1 else []


_ROW_FIELDS = ("run_id", "run", "status", "build", "artifact_key", "source", "variant", "weights",
               "backend", "dtype", "calibration", "input_size", "started_at", "fingerprint",
               *RUNTIME_COLUMNS)


def _identity(row: dict[str, Any]) -> tuple[str, str, str]:
    return (str(row.get("data_root") or ""), str(row.get("data_layout") or ""),
            str(row.get("data_hash") or ""))


def choose_eval(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The eval whose accuracy an artifact's row shows, from its per-run rows (run order).

    A ``--limit`` smoke test never outranks a full eval, and an eval that includes the
    calibration images never outranks a held-out one: such figures flatter an int8 build.
    Among what is left, the most recent data identity (root, layout, listing hash) wins, and
    on it the eval with the most images (the later one on a tie). :func:`eval_choice_reason`
    says which of these rules decided."""
    evals = [r for r in rows if r.get("top1") is not None or r.get("images") is not None]
    if not evals:
        return None
    pool = [r for r in evals if not r.get("eval_limit")] or evals
    pool = [r for r in pool if not r.get("includes_calibration")] or pool
    latest = _identity(max(pool, key=lambda r: r["run_id"]))
    same = [r for r in pool if _identity(r) == latest]
    return max(same, key=lambda r: (r.get("images") or 0, r["run_id"]))


def eval_choice_reason(chosen: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """Why :func:`choose_eval` took ``chosen`` over the other evals in ``rows``."""
    evals = [r for r in rows if r.get("top1") is not None or r.get("images") is not None]
    why = []
    if chosen.get("eval_limit"):
        why.append("only smoke tests (--limit) so far")
    else:
        why.append("the largest full eval on the latest data")
    if chosen.get("includes_calibration"):
        why.append("no held-out eval yet: rerun eval without --include-calibration")
    elif any(r.get("includes_calibration") for r in evals):
        n = sum(1 for r in evals if r.get("includes_calibration"))
        why.append(f"held out from calibration (passed over {n} eval(s) that include "
                   "calibration images)")
    return "; ".join(why)


def describe_eval(row: dict[str, Any]) -> str:
    """'run 3: 900 images, imagenet-val /data/val (data 1a2b3c4d5e6f)' for a leaderboard row."""
    if row.get("eval_run") is None:
        return ""
    text = f"run {row['eval_run']}: {row.get('images', '?')} images"
    if row.get("data_root"):
        text += f", {row.get('data_layout')} {row['data_root']} (data {str(row.get('data_hash'))[:12]})"
    if row.get("eval_limit"):
        text += f", --limit {row['eval_limit']}"
    if row.get("includes_calibration"):
        text += ", INCLUDES calibration images"
    elif row.get("calibration_excluded"):
        text += f", {row['calibration_excluded']} calibration images left out"
    return text


def _merge_by_artifact(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fold per-run rows (in run order) into one per artifact key (or build name without one);
    accuracy and its eval identity come from :func:`choose_eval`."""
    merged: dict[str, dict[str, Any]] = {}
    per_key: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        key = row["artifact_key"] or f"build:{row['build']}"
        per_key.setdefault(key, []).append(row)
        into = merged.get(key)
        if into is None:
            merged[key] = dict(row, runs=str(row["run_id"]))
            continue
        runs = into["runs"]
        into.update({k: v for k, v in row.items() if k not in _ROW_FIELDS or k in (
            "run_id", "run", "status", "started_at", "build")})
        if row.get("throughput") is not None or row.get("p50_ms") is not None:
            # speed and its machine and runtime travel together: the latest speed run's
            into.update({k: row[k] for k in ("fingerprint", *RUNTIME_COLUMNS)
                         if k != "eval_precision" and k in row})
        if row.get("eval_precision"):
            into["eval_precision"] = row["eval_precision"]
        into["runs"] = f"{runs},{row['run_id']}"
    for key, into in merged.items():
        for k in EVAL_FIELDS:
            into.pop(k, None)
        chosen = choose_eval(per_key[key])
        if chosen is not None:
            into.update({k: chosen[k] for k in EVAL_FIELDS if k in chosen})
            into["eval_choice"] = (f"{describe_eval(chosen)}; "
                                   f"{eval_choice_reason(chosen, per_key[key])}")
    return list(merged.values())

"""An eval's output folder before any image is classified: its config and identity
checked against the run continuing it, the results a ``--resume`` keeps, the images left.

Images are known by content (``sha256`` of the file's bytes), so a run resumes across
dataset layouts: the same 1000 JPEGs as flat ``val/`` or as synset folders continue each
other. What may change between a run and its resume, and how it is checked:

* **the model file**: never (its sha256 must match);
* **preprocessing and class count**: never;
* **the data root or the image list**: only when every image already classified is, by
  content, among the images of the new run, with the same label. The new root and list
  then become the folder's identity, and the old ones are kept in ``identity_history``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.atomic import write_json
from workbench.data.identity import HASH_FIELD, hash_samples
from workbench.data.layouts import Sample
from workbench.errors import BadInput
from workbench.evaluate.formats import CONFIG_JSON, RESULTS_JSONL, read_results
from workbench.events import Reporter

#: What a resumed folder must share with the run continuing it, in the words the refusal uses.
IDENTITY_KEYS = {"artifact_sha256": "model file (sha256)", "data_root": "data root",
                 "manifest": "image manifest"}
#: The identity keys a resume may change when the images already done are found by content.
MOVABLE_KEYS = ("data_root", "manifest")


def eval_identity(model_path: Path, data_root: Path, samples: Sequence[Sample]) -> dict[str, str]:
    """What must not change between a run and its ``--resume``: the model file's bytes, the
    dataset root and the list of images (ids and labels) being evaluated."""
    from workbench.build.cache import file_sha256

    h = hashlib.sha256(file_sha256(model_path).encode())
    side = model_path.with_suffix(".bin")
    if model_path.suffix == ".xml" and side.is_file():
        h.update(file_sha256(side).encode())
    m = hashlib.sha256()
    for s in samples:
        m.update(f"{s.id}\t{s.label}\n".encode())
    return {"artifact_sha256": h.hexdigest(), "data_root": str(data_root), "manifest": m.hexdigest()}


def _read_config(out_dir: Path) -> dict[str, Any]:
    from workbench.paths import regular_file

    cfg_path = out_dir / CONFIG_JSON
    try:
        old = json.loads(regular_file(cfg_path, CONFIG_JSON).read_text(encoding="utf-8"))
        if not isinstance(old, dict):
            raise ValueError("not a JSON object")
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadInput(f"{cfg_path}: damaged ({type(exc).__name__}); cannot resume this folder, "
                       "use another --out") from None
    return old


def _data_moved(out_dir: Path, old: dict[str, Any], config: dict[str, Any]) -> bool:
    """Refuse a resume of results made with another model file, preprocessing or class count;
    True when only the data root or image list differs."""
    new_id, old_id = config.get("identity") or {}, old.get("identity") or {}
    for key, words in IDENTITY_KEYS.items():
        if key not in MOVABLE_KEYS and key in new_id and old_id.get(key) != new_id[key]:
            raise BadInput(f"{out_dir}: cannot resume, its results were made with a different "
                           f"{words} ({str(old_id.get(key))[:12]} vs now {new_id[key][:12]}); "
                           "use another --out")
    for key in ("preprocess", "classes"):
        if old.get(key) != config.get(key):
            raise BadInput(f"{out_dir}: cannot resume, its results were made with a different "
                           f"{key} ({old.get(key)!r} vs now {config.get(key)!r}); use another --out")
    return any(k in new_id and old_id.get(k) != new_id[k] for k in MOVABLE_KEYS)


def _check_config(out_dir: Path, config: dict[str, Any], resume: bool, jsonl: Path) -> dict[str, Any] | None:
    """Check (or write) ``out_dir``'s config.json. On a resume, return the old config when
    its data root or image list differs from ``config``'s (the caller then checks the
    results against the new images by content); None when nothing moved."""
    cfg_path = out_dir / CONFIG_JSON
    has_results = jsonl.exists() and jsonl.stat().st_size > 0
    if resume and has_results and not cfg_path.exists():
        raise BadInput(f"{out_dir}: holds results but no {CONFIG_JSON}; cannot tell what made them, "
                       "so it cannot be resumed; use another --out")
    if resume and jsonl.exists() and cfg_path.exists():
        old = _read_config(out_dir)
        if config.get("identity") and not old.get("identity"):
            raise BadInput(f"{out_dir}: its {CONFIG_JSON} records no model/data identity; "
                           "cannot verify it is the same run, use another --out")
        moved = _data_moved(out_dir, old, config)
        if moved and not has_results:  # nothing kept: the folder simply takes the new identity
            write_json(cfg_path, config)
        return old if moved and has_results else None
    if not resume and has_results:
        raise BadInput(f"{jsonl}: already holds results; resume it (--resume) or choose another output folder")
    write_json(cfg_path, config)
    return None


def check_resumable(out_dir: Path, config: dict[str, Any], samples: Sequence[Sample],
                    rep: Reporter) -> None:
    """The refusals of a ``--resume`` (another model, preprocessing or class count; moved
    data whose done images are not here), checked before the model is loaded or a run is
    recorded: a refused resume costs nothing."""
    jsonl = out_dir / RESULTS_JSONL
    if (out_dir / CONFIG_JSON).exists() or (jsonl.exists() and jsonl.stat().st_size > 0):
        old = _read_config(out_dir) if (out_dir / CONFIG_JSON).exists() else None
        if old is None:
            raise BadInput(f"{out_dir}: holds results but no {CONFIG_JSON}; cannot tell what made "
                           "them, so it cannot be resumed; use another --out")
        if not old.get("identity"):
            raise BadInput(f"{out_dir}: its {CONFIG_JSON} records no model/data identity; "
                           "cannot verify it is the same run, use another --out")
        if _data_moved(out_dir, old, config) and jsonl.exists():
            existing = read_results(jsonl)
            if existing:
                _check_moved(out_dir, old, config, existing, samples,
                             hash_samples(samples, reporter=rep), rep, adopt=False)


def _check_moved(out_dir: Path, old: dict[str, Any], config: dict[str, Any],
                 existing: Sequence[dict[str, Any]], samples: Sequence[Sample],
                 digests: dict[str, str], rep: Reporter, adopt: bool = True) -> None:
    """Accept a resume whose data root or image list changed only when every result kept
    is, by content, one of ``samples`` with the same label; then (``adopt``) take on the new
    identity."""
    old_id, new_id = old.get("identity") or {}, config.get("identity") or {}
    changed = [k for k in MOVABLE_KEYS if k in new_id and old_id.get(k) != new_id[k]]
    what = " and ".join(IDENTITY_KEYS[k] for k in changed)
    if "data_root" in changed:
        what += f" ({old_id.get('data_root')} vs now {new_id['data_root']})"
    label_of = {digests[s.id]: s.label for s in samples if digests.get(s.id)}
    unknown = [r for r in existing if not r.get(HASH_FIELD) or str(r[HASH_FIELD]) not in label_of]
    if unknown:
        raise BadInput(f"{out_dir}: cannot resume, its results were made with a different {what}, and "
                       f"{len(unknown)} of its {len(existing)} images are not among the images here "
                       f"(first: {unknown[0].get('path') or unknown[0]['id']}); use another --out")
    relabelled = [r for r in existing if r.get("gt") != label_of[str(r[HASH_FIELD])]]
    if relabelled:
        r = relabelled[0]
        raise BadInput(f"{out_dir}: cannot resume, {len(relabelled)} image(s) already classified carry "
                       f"another label here (first: {r.get('path') or r['id']}, was {r.get('gt')}, now "
                       f"{label_of[str(r[HASH_FIELD])]}); use another --out")
    if not adopt:
        return
    history = list(old.get("identity_history") or []) + [old_id]
    write_json(out_dir / CONFIG_JSON, {**config, "identity_history": history})
    rep.log(f"resume: the {what} changed; all {len(existing)} images already classified are found "
            "here by content, with the same labels")


def _already_done(existing: Sequence[dict[str, Any]], samples: Sequence[Sample], rep: Reporter,
                  digests: dict[str, str] | None = None) -> set[str]:
    """Ids of ``samples`` already classified in ``existing``: by id, and by content hash for
    the rest (the same images resumed under another layout). Files are hashed only when some
    existing records match no sample id (and ``digests`` does not already hold them), so a
    same-layout resume reads nothing twice."""
    sample_ids = {s.id for s in samples}
    ids = {str(r["id"]) for r in existing}
    done = sample_ids & ids
    hashed = {str(r[HASH_FIELD]) for r in existing
              if r.get(HASH_FIELD) and str(r["id"]) not in sample_ids}
    rest = [s for s in samples if s.id not in done]
    if hashed and rest:
        known = digests if digests is not None else hash_samples(rest, reporter=rep)
        done |= {s.id for s in rest if known.get(s.id) in hashed}
    return done


@dataclass
class PreparedOutput:
    """An eval's output folder, checked and read: what is already done and what is left."""

    out: Path
    jsonl: Path
    existing: list[dict[str, Any]]  # records already in results.jsonl (a resume)
    done: set[str]  # ids of the samples those records cover (by id or content hash)
    todo: list[Sample]


def prepare_output(out_dir: str | Path, config: dict[str, Any], resume: bool,
                   samples: Sequence[Sample], rep: Reporter) -> PreparedOutput:
    """What every engine does before classifying: create ``out_dir``, check (or write) its
    config.json against ``config``, read the results a resume continues (repairing a line
    torn by ``kill -9``) and list the samples still to do."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jsonl = out / RESULTS_JSONL
    moved_from = _check_config(out, config, resume, jsonl)
    existing = read_results(jsonl, repair=True) if resume else []
    digests = None
    if moved_from is not None:
        rep.log(f"resume: hashing {len(samples)} images to find the {len(existing)} already classified")
        digests = hash_samples(samples, reporter=rep)
        _check_moved(out, moved_from, config, existing, samples, digests, rep)
    done = _already_done(existing, samples, rep, digests)
    todo = [s for s in samples if s.id not in done]
    if resume:
        rep.log(f"resume: {len(existing)} images already in {jsonl.name}, {len(todo)} to go")
    return PreparedOutput(out, jsonl, existing, done, todo)

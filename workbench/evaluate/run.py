"""``hrnet-wb eval``: resolve the model and its preprocessing, evaluate it on one dataset,
record it as a run."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.build.resolve import ResolvedTarget, resolve_artifact
from workbench.data.identity import (
    calibration_manifest_of,
    dataset_identity,
    hash_samples,
    read_calibration_images,
)
from workbench.data.layouts import Sample
from workbench.errors import BadInput, WorkbenchError
from workbench.evaluate.formats import RESULTS_JSONL
from workbench.evaluate.metrics import EvalResult
from workbench.evaluate.resume import eval_identity
from workbench.evaluate.stream import evaluate
from workbench.events import Reporter


def choose_preprocessor(t: ResolvedTarget, preprocess: str = "auto", input_size: tuple[int, int] | None = None) -> Any:
    """The preprocessing for a target: an explicit preset, else the one the artifact was
    calibrated with, else the preset of its source (timm defaults for a bare file)."""
    from workbench.data.preprocess import resolve_preprocessor

    # a bare file: HRNet's reference preprocessing (= timm ms_in1k), not timm's generic bicubic
    return resolve_preprocessor(source=t.source, variant=t.variant, input_size=input_size or t.size,
                                name=preprocess, recorded=t.preprocess, unknown_source="official")


def open_streams(path: Path, backend: str, threads: int, streams: int, rep: Reporter,
                 shape: tuple[int, int, int, int], images: int = 0) -> list[Any]:
    """``streams`` predictors of one model sharing ``threads`` (0 = physical cores): what
    :func:`evaluate` runs as that many streams (one predictor = the usual loop). A runtime
    that shares one compiled model between streams (OpenVINO: ``NUM_STREAMS``, compiled for
    the batch ``shape``) gets that, as bench measures it; the others get one session each.

    ``streams=0`` picks: 2 for a CPU runtime given 2+ threads and at least 8 batches of
    ``images`` to run (0 = not known), else 1: each session's first batch pays the runtime's
    warm-up, which a smoke test of 3 batches does not earn back (NOTES §7)."""
    from workbench.backends import get_backend, open_predictor
    from workbench.boundary import runtime_reason
    from workbench.runtime import resolve_threads, threads_per_stream

    if streams < 0:
        raise BadInput(f"streams {streams}: must be 0 (auto) or more")
    total = resolve_threads(threads)
    b = get_backend(backend)
    if streams == 0:  # auto: two streams wherever inference runs on this CPU's threads
        enough = images == 0 or images >= 8 * shape[0]
        streams = 2 if b.runs_on_cpu and not b.eager and total >= 2 and enough else 1
    if streams == 1:
        return [open_predictor(path, backend, threads)]
    group = b.stream_group(Path(path))
    if group is None:
        per = threads_per_stream(threads, streams)
        rep.log(f"{streams} streams x {per} inference thread(s), each decoding its own batches")
        return [open_predictor(path, backend, per) for _ in range(streams)]
    rep.log(f"{streams} streams of one compiled model on {total} threads, each decoding its own batches")
    try:
        return list(group(streams, total, shape))
    except (WorkbenchError, KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:
        raise BadInput(f"{path}: {backend} cannot load this model ({runtime_reason(exc)})") from None


def run_eval(target: str, data: str, *, home: Any, backend: str = "", layout: str = "auto",
             labels: str = "", limit: int = 0, batch_size: int = 8, resume: bool = False,
             out: str = "", preprocess: str = "auto", input_size: tuple[int, int] | None = None,
             threads: int = 0, workers: int = 0, include_calibration: bool = False,
             streams: int = 0, reporter: Reporter | None = None,
             sharded: Callable[..., EvalResult] | None = None) -> dict[str, Any]:
    """``hrnet-wb eval``: evaluate one model on one dataset and record it as a run.

    An int8 artifact's own calibration images (its ``calibration_manifest.tsv``) are left
    out, matched by content hash so another layout or copy of the same images is caught;
    ``include_calibration`` keeps them and marks the run. ``sharded`` (from
    :func:`workbench.engines.sharded_eval`, passed in by the front end so this layer never
    imports the engines above it) runs the classification elsewhere, e.g. on a Ray cluster,
    with records identical to the local loop's. ``streams`` (0 = auto, see
    :func:`open_streams`) run at once, sharing ``threads``, each decoding and running its
    own batches."""
    from workbench.data import open_dataset
    from workbench.store import Store

    rep = reporter or Reporter()
    from workbench.paths import file_or_folder, regular_file

    # user paths first: a FIFO or a typo is refused before any model or library loads
    file_or_folder(data, "dataset folder or file list")
    if labels:
        regular_file(labels, "label file")
    if backend:  # before the model is looked at: a bad name is the problem, not the model
        from workbench.backends import backend_names

        if backend not in backend_names():
            raise BadInput(f"--backend {backend!r}: unknown backend; expected one of "
                           f"{', '.join(backend_names())}")
    if resume and not out:
        raise BadInput("--resume needs --out DIR: the folder of the run to continue")
    if out and not resume:
        existing = Path(out).expanduser() / RESULTS_JSONL
        if existing.is_file() and existing.stat().st_size > 0:
            raise BadInput(f"{existing}: already holds results; resume it (--resume) or choose another --out")
    t = resolve_artifact(target, home, input_size=input_size)
    assert t.path is not None
    t.backend = backend or t.backend
    from workbench.data.device_decode import SUFFIX, for_predictor

    on_device = preprocess.endswith(SUFFIX)  # decode on the predictor's device (nvJPEG)
    streams = 1 if on_device and streams == 0 else streams  # auto: one device stream
    pre = choose_preprocessor(t, preprocess.removesuffix(SUFFIX) or "auto", input_size)
    if t.static_batch and t.static_batch != batch_size:
        rep.log(f"{t.path.name} has a fixed batch of {t.static_batch}: using --batch-size {t.static_batch}",
                "warning")
        batch_size = t.static_batch
    ds = open_dataset(data, layout=layout, labels=labels)
    for note in ds.notes:
        rep.log(note, "warning")
    identity = dataset_identity(ds.root, ds.layout, ds.samples)
    samples, calib = _leave_out_calibration(t.path, ds.samples, include_calibration, rep)
    kept = len(samples)
    samples = samples[:limit] if limit else samples
    why = [f"{calib['excluded']} calibration images left out"] if calib.get("excluded") else []
    if len(samples) < kept:
        why.append(f"--limit {limit}")
    rep.log(f"{ds.describe()}; evaluating {len(samples)}{' (' + ', '.join(why) + ')' if why else ''}; "
            f"preprocess {pre.cfg.name} at {pre.cfg.input_size[0]}x{pre.cfg.input_size[1]}")
    resume_identity = eval_identity(t.path, ds.root, samples)
    if resume:  # refuse a folder made by another model before loading it or recording a run
        from workbench.evaluate.resume import check_resumable

        check_resumable(Path(out).expanduser(), {"preprocess": pre.describe(),
                                                 "classes": len(ds.class_names),
                                                 "identity": resume_identity}, samples, rep)
    if sharded is not None and streams > 1:
        raise BadInput("--streams is for the local engine; on Ray, size the work with --actors and --threads")
    shape = (batch_size, 3, *pre.cfg.input_size)
    predictors = (open_streams(t.path, t.backend, threads, streams, rep, shape, len(samples))
                  if sharded is None else None)
    if on_device:
        pre = for_predictor(pre, predictors)
    store = Store(home.db)
    spec = {"eval": {"target": str(target), "data": str(data), "layout": ds.layout, "limit": limit,
                     "batch_size": batch_size, "preprocess": pre.describe(),
                     "include_calibration": include_calibration}}
    given_out = Path(out).expanduser().resolve() if out else None
    marked = " (includes calibration images)" if calib.get("included") else ""
    with store.run(f"eval {t.label}{marked}", profile_json=json.dumps(spec),
                   out_dir=lambda rid: given_out or home.runs / str(rid),
                   cancelled=lambda: rep.cancelled) as run:
        assert run.out_dir is not None
        meta = {"model": str(t.path), "backend": t.backend, "artifact": t.label,
                "artifact_key": t.artifact_key, "data": str(ds.root), "layout": ds.layout,
                **identity, "limit": limit, "calibration": calib}
        if predictors is None:
            assert sharded is not None
            res = sharded(t.path, t.backend, samples, pre, ds.class_names, run.out_dir,
                          data_root=str(ds.root), threads=threads or 1, batch_size=batch_size,
                          resume=resume, reporter=rep, meta=meta, identity=resume_identity)
        else:
            res = evaluate(predictors, samples, pre, ds.class_names, run.out_dir, batch_size=batch_size,
                           resume=resume, reporter=rep, workers=workers, identity=resume_identity,
                           meta=meta, label=t.label)
        build = t.label
        settings = record_eval(store, run.id, build, t.artifact_key, res, identity, limit=limit,
                               calibration=calib, predictors=predictors)
        record = {"ok": True, "run_id": run.id, "out_dir": str(run.out_dir), "model": str(t.path),
                  "backend": t.backend, "build": build,
                  "dataset": {"root": str(ds.root), "layout": ds.layout, "images": len(samples),
                              "data_hash": identity["data_hash"]},
                  "calibration": calib,
                  "runtime": settings, "precision": (settings or {}).get("compute_precision"),
                  "fingerprint": (store.machine(run.id) or {}).get("fingerprint", ""),
                  **res.as_dict()}
        run.summary = {k: record[k] for k in ("top1", "top5", "n", "skipped")}
    return record


def _leave_out_calibration(model_path: Path, samples: list[Sample], include: bool,
                           rep: Reporter) -> tuple[list[Sample], dict[str, Any]]:
    """Drop the artifact's calibration images from ``samples`` (by content hash) unless
    ``include``; return the samples kept and what was done, for the record."""
    manifest = calibration_manifest_of(model_path)
    if manifest is None:
        return samples, {}
    cal = read_calibration_images(manifest)
    hashes = hash_samples(samples, reporter=rep)
    hits = [s for s in samples if hashes.get(s.id) in cal.hashes]
    info: dict[str, Any] = {"manifest": str(manifest), "listed": cal.listed, "matched": len(hits),
                            "excluded": 0, "included": bool(include and hits),
                            "matched_by": "content (sha256)"}
    if cal.unhashed:
        rep.log(f"{cal.unhashed} of the {cal.listed} calibration images in {manifest.name} have no "
                "content hash and are no longer on disk: they cannot be matched", "warning")
    if not hits:
        rep.log(f"none of the {cal.listed} calibration images of this artifact are in the data")
        return samples, info
    if include:
        rep.log(f"--include-calibration: {len(hits)} of the data's images are this artifact's own "
                "calibration images; its accuracy is not a held-out figure", "warning")
        return samples, info
    drop = {s.id for s in hits}
    info["excluded"] = len(hits)
    rep.log(f"left out {len(hits)} calibration images of this artifact (matched by content); "
            "--include-calibration keeps them")
    return [s for s in samples if s.id not in drop], info


def eval_figures(res: EvalResult) -> dict[str, tuple[float | None, str]]:
    """An eval's figures as the store keeps them: (value, unit) by metric name."""
    vs = res.decode.get("vs_exact_cpu_path") or {}  # device decode (+nvjpeg) vs the exact CPU path
    return {"top1": (res.top1, "fraction"), "top5": (res.top5, "fraction"),
            "images": (res.n, "count"), "skipped": (res.skipped, "count"),
            "eval_img_s": (res.images_per_s, "img/s"),
            **({"decode_top1_agreement": (vs.get("top1_agreement"), "fraction"),
                "decode_max_pixel_diff": (vs.get("max_abs_pixel_diff"), "px")} if vs else {})}


def record_eval(store: Any, run_id: int, build: str, artifact_key: str, res: EvalResult,
                identity: dict[str, str], *, limit: int = 0,
                calibration: dict[str, Any] | None = None, predictors: Any = None) -> dict[str, Any] | None:
    """The one recorder of an eval, whichever command ran it: its figures (top-1/top-5 as
    fractions, counts as ints), what they were measured on (data identity, limit,
    calibration images left out or included), so the leaderboard can say which eval it
    shows, and what the runtime says it ran (read back from ``predictors``; a Ray eval's
    live on the workers). Returns those runtime settings."""
    from workbench.runtime_settings import settings_of

    for name, (value, unit) in eval_figures(res).items():
        if value is not None:
            store.add_metric(run_id, build, name, float(value), unit, artifact_key)
    cal = calibration or {}
    store.add_eval(run_id, build, artifact_key=artifact_key, images=res.n,
                   data_root=identity.get("data_root", ""), data_layout=identity.get("data_layout", ""),
                   data_hash=identity.get("data_hash", ""), eval_limit=limit,
                   calibration_excluded=int(cal.get("excluded", 0)),
                   includes_calibration=bool(cal.get("included")))
    ran = settings_of(predictors) if predictors is not None else None
    settings = ran.as_dict() if ran is not None else (res.ran or None)
    store.add_runtime(run_id, build, settings, artifact_key, "eval")
    return settings

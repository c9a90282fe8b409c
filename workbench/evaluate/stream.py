"""The resumable streaming loop: decode ahead in a small pool, predict in batches, append
and flush ``results.jsonl`` after every batch."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from workbench.atomic import write_json
from workbench.data.decode import DecodeError
from workbench.data.layouts import Sample
from workbench.errors import BadInput
from workbench.evaluate.formats import (
    CONFIG_JSON,
    REPORT_JSON,
    RESULTS_JSONL,
    RESULTS_TXT,
    _record_line,
    read_results,
    write_vastai_txt,
)
from workbench.evaluate.metrics import TOPK, EvalResult, _topk, metrics_from_records
from workbench.events import Reporter


class BatchPredictor(Protocol):
    backend: str

    def predict(self, batch: np.ndarray) -> np.ndarray: ...


class ImageLoader(Protocol):
    @property
    def input_size(self) -> tuple[int, int]: ...

    def load(self, path: str | Path) -> np.ndarray: ...


def _decode(loader: ImageLoader, path: Path) -> np.ndarray:
    try:
        return loader.load(path)
    except DecodeError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # a decoder bug must not end a 40-minute run
        raise DecodeError(path, f"{type(exc).__name__}: {exc}") from None


def _default_workers() -> int:
    from workbench.runtime import usable_cpus

    return max(1, min(4, usable_cpus()))


def _check_config(out_dir: Path, config: dict[str, Any], resume: bool, jsonl: Path) -> None:
    cfg_path = out_dir / CONFIG_JSON
    if resume and jsonl.exists() and cfg_path.exists():
        old = json.loads(cfg_path.read_text(encoding="utf-8"))
        for key in ("preprocess", "classes"):
            if old.get(key) != config.get(key):
                raise BadInput(f"{out_dir}: cannot resume, its results were made with a different "
                               f"{key} ({old.get(key)!r} vs now {config.get(key)!r}); use another --out")
        return
    if not resume and jsonl.exists() and jsonl.stat().st_size > 0:
        raise BadInput(f"{jsonl}: already holds results; resume it (--resume) or choose another output folder")
    write_json(cfg_path, config)


def evaluate(
    predictor: BatchPredictor,
    samples: Sequence[Sample],
    preprocessor: ImageLoader,
    class_names: Sequence[str],
    out_dir: str | Path,
    *,
    batch_size: int = 8,
    resume: bool = False,
    reporter: Reporter | None = None,
    vastai_txt: bool = True,
    workers: int = 0,
    prefetch_batches: int = 2,
    meta: dict[str, Any] | None = None,
) -> EvalResult:
    """Classify ``samples`` with ``predictor``; stream results to ``out_dir``; return metrics.

    Files that cannot be decoded are skipped, recorded and listed, never fatal. Labels
    may be None (unlabelled data): every image still gets its top-5, metrics are None.
    ``workers`` decode threads (0 = one per CPU, at most 4) run at most
    ``prefetch_batches`` batches ahead of the model.
    """
    if batch_size < 1:
        raise BadInput(f"batch size {batch_size}: must be at least 1")
    rep = reporter or Reporter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jsonl = out / RESULTS_JSONL
    describe = getattr(preprocessor, "describe", None)
    pre_desc = describe() if callable(describe) else {"loader": type(preprocessor).__name__}
    _check_config(out, {"preprocess": pre_desc, "classes": len(class_names),
                        "backend": getattr(predictor, "backend", ""), "meta": meta or {}}, resume, jsonl)

    existing = read_results(jsonl, repair=True) if resume else []
    done = {str(r["id"]) for r in existing}
    todo = [s for s in samples if s.id not in done]
    if resume:
        rep.log(f"resume: {len(done)} images already in {jsonl.name}, {len(todo)} to go")
    total = len(samples)
    h, w = preprocessor.input_size
    k = min(TOPK, len(class_names))
    n_workers = workers if workers > 0 else _default_workers()
    window = max(batch_size * max(1, prefetch_batches), 2 * n_workers)

    t0 = time.perf_counter()
    new_images = 0
    done_count = len([s for s in samples if s.id in done])
    pending: deque[tuple[Sample, Future[np.ndarray]]] = deque()
    batch = np.empty((batch_size, 3, h, w), dtype=np.float32)
    kept: list[Sample] = []
    lines: list[str] = []
    first_batch = True
    todo_iter = iter(todo)

    pool = ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="wb-decode")
    mode = "a" if resume else "w"
    try:
        with open(jsonl, mode, encoding="utf-8") as fh:

            def refill() -> None:
                while len(pending) < window:
                    s = next(todo_iter, None)
                    if s is None:
                        return
                    pending.append((s, pool.submit(_decode, preprocessor, Path(s.path))))

            def flush_batch() -> None:
                nonlocal first_batch, new_images, done_count
                if kept:
                    x = batch[: len(kept)]
                    try:
                        logits = np.asarray(predictor.predict(x))
                    except Exception as exc:
                        if not first_batch:
                            raise
                        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                        raise BadInput(f"the model rejected a {tuple(x.shape)} float32 batch "
                                       f"(preprocess {pre_desc.get('name', '?')}; a model with a fixed "
                                       f"batch or input size needs matching --batch-size/--input-size): "
                                       f"{msg}") from None
                    if first_batch and (logits.ndim != 2 or logits.shape[1] != len(class_names)):
                        raise BadInput(f"the model outputs {tuple(logits.shape)} logits but there are "
                                       f"{len(class_names)} class names; pass a matching label file")
                    first_batch = False
                    ids, probs = _topk(logits, k)
                    for i, s in enumerate(kept):
                        lines.append(_record_line({
                            "id": s.id, "path": str(s.path), "gt": s.label,
                            "top5": [int(c) for c in ids[i]],
                            "prob5": [round(float(p), 8) for p in probs[i]],
                        }))
                    new_images += len(kept)
                if lines:
                    fh.write("".join(lines))
                    fh.flush()
                    done_count += len(lines)
                    lines.clear()
                    kept.clear()
                    rep.progress(done_count, total, "img")
                rep.check_cancelled()

            refill()
            while pending:
                s, fut = pending.popleft()
                refill()
                try:
                    arr = fut.result()
                except DecodeError as exc:
                    rep.log(f"skipped {s.path}: {exc.reason}", "warning")
                    lines.append(_record_line({"id": s.id, "path": str(s.path), "gt": s.label,
                                               "skipped": exc.reason}))
                else:
                    batch[len(kept)] = arr
                    kept.append(s)
                if len(kept) == batch_size or not pending:
                    flush_batch()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    seconds = time.perf_counter() - t0

    return _finish(out, jsonl, samples, class_names, vastai_txt, pre_desc, seconds, new_images,
                   len(done), meta, rep)


def _finish(out: Path, jsonl: Path, samples: Sequence[Sample], class_names: Sequence[str],
            vastai_txt: bool, pre_desc: dict[str, Any], seconds: float, new_images: int,
            resumed: int, meta: dict[str, Any] | None, rep: Reporter) -> EvalResult:
    records = read_results(jsonl)
    order = {s.id: i for i, s in enumerate(samples)}
    records.sort(key=lambda r: (order.get(str(r["id"]), len(order)), str(r["id"])))
    m = metrics_from_records(records)
    txt = None
    if vastai_txt:
        txt = out / RESULTS_TXT
        write_vastai_txt(txt, records, class_names)
        rep.artifact("results", str(txt), "vastai-txt")
    report = out / REPORT_JSON
    res = EvalResult(
        top1=m["top1"], top5=m["top5"], n=m["n"], labelled=m["labelled"], skipped=m["skipped"],
        skipped_files=m["skipped_files"], top1_ci95=m["top1_ci95"], top5_ci95=m["top5_ci95"],
        seconds=round(seconds, 3), images_per_s=round(new_images / seconds, 3) if seconds > 0 else 0.0,
        new_images=new_images, resumed=resumed, results_jsonl=jsonl, results_txt=txt,
        report_json=report, preprocess=pre_desc,
    )
    write_json(report, {**res.as_dict(), "meta": meta or {}})
    rep.artifact("results", str(jsonl), "results-jsonl")
    rep.artifact("report", str(report), "eval-report")
    if res.skipped:
        rep.log(f"{res.skipped} file(s) skipped: " + ", ".join(Path(f["path"]).name for f in res.skipped_files[:10])
                + (" ..." if res.skipped > 10 else ""), "warning")
    if res.top1 is not None:
        rep.log(f"top-1 {100 * res.top1:.2f}%  top-5 {100 * (res.top5 or 0):.2f}%  "
                f"on {res.labelled} labelled images")
    return res

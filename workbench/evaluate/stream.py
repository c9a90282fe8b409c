"""The resumable streaming loop: decode ahead in a small pool, predict in batches, append
and flush ``results.jsonl`` after every batch."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import numpy as np

from workbench.atomic import write_json
from workbench.data.decode import DecodeError, fast_decoder
from workbench.data.identity import content_hash
from workbench.data.layouts import Sample
from workbench.decode_pool import DecodePool, decode_schedule
from workbench.errors import BadInput
from workbench.evaluate.formats import (
    REPORT_JSON,
    RESULTS_TXT,
    ResultWriter,
    read_results,
    write_vastai_txt,
)
from workbench.evaluate.metrics import TOPK, EvalResult, device_topk, metrics_from_records
from workbench.evaluate.resume import prepare_output
from workbench.events import Reporter
from workbench.runtime import Predictor, takes_uint8

T = TypeVar("T")


class ImageLoader(Protocol):
    @property
    def input_size(self) -> tuple[int, int]: ...

    def load(self, path: str | Path) -> np.ndarray: ...


def _guarded(path: Path, work: Callable[[], T]) -> T:
    """Run one file's decode; any failure becomes a DecodeError carrying the file's hash."""
    try:
        return work()
    except DecodeError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # a decoder bug must not end a 40-minute run
        err = DecodeError(path, f"{type(exc).__name__}: {exc}")
        err.content_hash = content_hash(path)
        raise err from None


def decode_sample(loader: ImageLoader, path: Path, dtype: Any = np.float32) -> tuple[np.ndarray, str]:
    """(float32 CHW, content hash) for one file; the hash comes from the bytes decoded
    (``dtype=np.uint8``: the pixels, for a predictor that normalises them itself)."""
    if dtype != np.float32:
        out = np.empty((3, *loader.input_size), dtype=dtype)
        return out, _decode_into(loader, path, out)

    def work() -> tuple[np.ndarray, str]:
        load_identified = getattr(loader, "load_identified", None)
        if callable(load_identified):
            arr, digest = load_identified(path)
            return arr, digest
        return loader.load(path), content_hash(path)

    return _guarded(path, work)


def _decode_into(loader: ImageLoader, path: Path, out: np.ndarray) -> str:
    """Decode one file straight into ``out`` (a batch slot); return its content hash."""
    into = getattr(loader, "load_identified_into", None)
    if callable(into):
        return _guarded(path, lambda: str(into(path, out)))
    arr, digest = decode_sample(loader, path)
    out[...] = arr
    return digest


def _default_workers() -> int:
    from workbench.runtime import usable_cpus

    return max(1, min(4, usable_cpus()))


def _model_rejected(exc: Exception, x: Any, pre_desc: dict[str, Any]) -> BadInput:
    """The one line for a first batch ``x`` the model refuses (a fixed batch or input size)."""
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return BadInput(f"the model rejected a {tuple(x.shape)} {x.dtype} batch (preprocess {pre_desc.get('name', '?')}; "
                    f"a model with a fixed batch or input size needs matching --batch-size/--input-size): {msg}")


def batch_dtype(predictors: Sequence[Predictor], loader: Any) -> Any:
    """uint8 where every predictor normalises where it runs (the GPU backends; see
    :func:`workbench.runtime.takes_uint8`) and the loader writes pixels into a batch slot:
    the predictors get the loader's mean/std, and only bytes cross to the device. float32,
    normalised here, for the rest."""
    cfg = getattr(loader, "cfg", None)
    if cfg is None or not callable(getattr(loader, "load_identified_into", None)) \
            or not all(takes_uint8(p) for p in predictors):
        return np.float32
    for p in predictors:
        p.set_normalization(cfg.mean, cfg.std)  # type: ignore[attr-defined]
    return np.uint8


def _check_logits(logits: np.ndarray, n_classes: int) -> None:
    if logits.ndim != 2 or logits.shape[1] != n_classes:
        raise BadInput(f"the model outputs {tuple(logits.shape)} logits but there are "
                       f"{n_classes} class names; pass a matching label file")


def evaluate(
    predictor: Predictor | Sequence[Predictor],
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
    identity: dict[str, str] | None = None,
    label: str = "",
) -> EvalResult:
    """Classify ``samples`` with ``predictor``; stream results to ``out_dir``; return metrics.

    Undecodable files are skipped, recorded and listed, never fatal; unlabelled images still
    get their top-5 (metrics None). ``workers`` decode threads (0 = one per CPU, at most 4)
    run at most ``prefetch_batches`` batches ahead. ``identity`` (:func:`eval_identity`) is
    recorded; a ``resume`` by another model, or over data where the images already done are
    not all found by content, is refused (:mod:`workbench.evaluate.resume`). Records carry
    the image's content hash (``sha256``), which resume and ``compare`` pair by.

    A predictor that normalises where it runs (the GPU backends) gets uint8 batches, the
    others float32 ones normalised by the decode threads (:func:`batch_dtype`).

    Given several predictors (``--streams N``), each stream decodes and runs its own batch,
    results written in order (:func:`_run_streams`); a preprocessor that decodes on the
    device (``load_batch``) runs :func:`~workbench.evaluate.device_stream.run_device_batches`.
    """
    if batch_size < 1:
        raise BadInput(f"batch size {batch_size}: must be at least 1")
    rep = reporter or Reporter()
    predictors: list[Predictor] = (list(predictor) if isinstance(predictor, list | tuple)
                                        else [cast(Predictor, predictor)])
    if not predictors:
        raise BadInput("evaluate needs at least one predictor")
    one = predictors[0]
    describe = getattr(preprocessor, "describe", None)
    pre_desc = describe() if callable(describe) else {"loader": type(preprocessor).__name__}
    prep = prepare_output(out_dir, {"preprocess": pre_desc, "classes": len(class_names),
                                    "backend": getattr(one, "backend", ""), "meta": meta or {},
                                    "identity": identity or {}}, resume, samples, rep)
    out, jsonl, existing, done, todo = prep.out, prep.jsonl, prep.existing, prep.done, prep.todo

    total = len(samples)
    h, w = preprocessor.input_size
    k = min(TOPK, len(class_names))
    on_device = callable(getattr(preprocessor, "load_batch", None))  # the +nvjpeg preset
    dtype = np.float32 if on_device else batch_dtype(predictors, preprocessor)
    if len(predictors) > 1 or on_device:
        from workbench.evaluate.device_stream import run_device_batches
        t0 = time.perf_counter()
        with open(jsonl, "a" if resume else "w", encoding="utf-8") as sink:
            writer = ResultWriter(sink, k, rep, total - len(todo), total)
            info = (run_device_batches(one, todo, preprocessor, writer, batch_size=batch_size)
                    if on_device else _run_streams(predictors, todo, preprocessor, writer, batch_size=batch_size,
                                                   n_classes=len(class_names), pre_desc=pre_desc, dtype=dtype))
        return finish_eval(out, jsonl, samples, class_names, vastai_txt, pre_desc, time.perf_counter() - t0,
                           writer.new_images, len(existing), meta, rep, label, info)
    from workbench.runtime import usable_cpus

    cpus = usable_cpus()
    # burst: decode the next batch on every core between two inference calls (inference
    # keeps all cores busy, so overlapping would only steal from it); overlap: decode ahead
    # in the background, below inference's priority (see workbench.decode_pool)
    schedule = decode_schedule(int(getattr(one, "cpu_threads", 0) or 0), cpus)
    burst = schedule == "burst"
    n_workers = workers if workers > 0 else (max(1, cpus) if burst else _default_workers())
    window = batch_size if burst else max(batch_size * max(1, prefetch_batches), 2 * n_workers)

    t0 = time.perf_counter()
    pending: deque[tuple[Sample, int, Future[Any]]] = deque()
    batch = np.empty((batch_size, 3, h, w), dtype=dtype)  # uint8: normalised where inference runs
    kept: list[Sample] = []
    slots: list[int] = []  # burst: the batch slot each kept image was decoded into
    hashes: list[str] = []
    skipped: list[tuple[Sample, DecodeError]] = []
    first_batch = True
    todo_iter = iter(todo)

    pool = DecodePool(n_workers, nice=0 if burst else None)
    infer_s = 0.0
    infer_images = 0
    mode = "a" if resume else "w"
    try:
        with open(jsonl, mode, encoding="utf-8") as fh:
            writer = ResultWriter(fh, k, rep, len([s for s in samples if s.id in done]), total)

            def refill() -> None:
                while len(pending) < window:
                    s = next(todo_iter, None)
                    if s is None:
                        return
                    if burst:  # straight into its slot: the batch is idle while a burst decodes
                        slot = len(pending)
                        pending.append((s, slot, pool.submit(_decode_into, preprocessor, Path(s.path),
                                                             batch[slot])))
                    else:
                        pending.append((s, -1, pool.submit(decode_sample, preprocessor, Path(s.path), dtype)))

            def flush_batch() -> None:
                nonlocal first_batch, infer_s, infer_images
                logits: Any = None
                if kept:
                    contiguous = not burst or slots == list(range(len(slots)))
                    x = batch[: len(kept)] if contiguous else batch[slots]  # a skipped file left a gap
                    try:
                        t_infer = time.perf_counter()
                        top = device_topk(one, x, k)  # only k ids/probs cross back
                        logits = top if top is not None else np.asarray(one.predict(x))
                        if not first_batch:  # the first batch pays the runtime's warm-up
                            infer_s += time.perf_counter() - t_infer
                            infer_images += len(kept)
                            if not burst and not pool.sized and infer_images >= 2 * batch_size:
                                n = pool.size_for(infer_s / infer_images)
                                rep.log(f"decode {pool.sized['decode_ms_per_image']:.1f} ms CPU/image, "
                                        f"inference {pool.sized['inference_ms_per_image']:.1f} ms/image: "
                                        f"{n} of {n_workers} decode thread(s)", "debug")
                    except Exception as exc:
                        if not first_batch:
                            raise
                        raise _model_rejected(exc, x, pre_desc) from None
                    if first_batch and not isinstance(logits, tuple):
                        _check_logits(logits, len(class_names))
                    first_batch = False
                    if burst:  # the batch buffer is free again: decode the next batch into it
                        refill()  # while this one's top-5 and records are made below
                writer.write(kept, hashes, logits, skipped)
                for held in (kept, hashes, slots, skipped):
                    held.clear()

            refill()
            while pending:
                s, slot, fut = pending.popleft()
                if not burst:
                    refill()
                try:
                    got = fut.result()
                except DecodeError as exc:
                    skipped.append((s, exc))
                else:
                    if burst:
                        digest = got
                        slots.append(slot)
                    else:
                        arr, digest = got
                        batch[len(kept)] = arr
                    kept.append(s)
                    hashes.append(digest)
                if len(kept) == batch_size or not pending:
                    flush_batch()
                    if burst:
                        refill()
    finally:
        pool.shutdown()
    seconds = time.perf_counter() - t0
    new_images = writer.new_images
    decode_info: dict[str, Any] = {"schedule": schedule, **pool.sized}
    if burst and pool.tasks:
        decode_info.update(decode_ms_per_image=round(1000 * pool.cpu_per_task_s, 3), decode_threads=n_workers)
    return finish_eval(out, jsonl, samples, class_names, vastai_txt, pre_desc, seconds, new_images,
                   len(existing), meta, rep, label, decode_info)


def _run_streams(predictors: Sequence[Predictor], todo: Sequence[Sample], loader: ImageLoader,
                 writer: ResultWriter, *, batch_size: int, n_classes: int, pre_desc: dict[str, Any],
                 dtype: Any = np.float32) -> dict[str, Any]:
    """N streams: each batch is decoded and run by one worker thread with a free predictor
    (one session per stream, so no session is shared), two batches per stream in flight;
    the main thread writes each batch's records in order. Returns the decode info.

    On a CPU where a multi-threaded session loses time at its barriers (ORT int8 hrnet_w18
    on 2 cores: two 1-thread sessions infer 1.10-1.16x faster than one 2-thread session),
    streams win; a stream decodes its own batch between its own inference calls."""
    import queue
    import threading
    from concurrent.futures import ThreadPoolExecutor

    free: queue.Queue[Predictor] = queue.Queue()
    for p in predictors:
        free.put(p)
    h, w = loader.input_size
    local = threading.local()
    first_ok = threading.Event()

    def job(chunk: Sequence[Sample]) -> tuple[list[Sample], list[str], np.ndarray | None,
                                              list[tuple[Sample, DecodeError]]]:
        buf = getattr(local, "buf", None)
        if buf is None:
            buf = local.buf = np.empty((batch_size, 3, h, w), dtype=dtype)
        kept: list[Sample] = []
        hashes: list[str] = []
        skipped: list[tuple[Sample, DecodeError]] = []
        for s in chunk:
            try:
                hashes.append(_decode_into(loader, Path(s.path), buf[len(kept)]))
                kept.append(s)
            except DecodeError as exc:
                skipped.append((s, exc))
        if not kept:
            return kept, hashes, None, skipped
        predictor = free.get()
        try:
            logits = np.asarray(predictor.predict(buf[: len(kept)]))
        except Exception as exc:
            if first_ok.is_set():
                raise
            raise _model_rejected(exc, buf[: len(kept)], pre_desc) from None
        finally:
            free.put(predictor)
        if not first_ok.is_set():
            _check_logits(logits, n_classes)
            first_ok.set()
        return kept, hashes, logits, skipped

    chunks = iter([todo[i:i + batch_size] for i in range(0, len(todo), batch_size)])
    pending: deque[Future[Any]] = deque()
    with ThreadPoolExecutor(len(predictors), thread_name_prefix="wb-stream") as pool:
        try:
            while True:
                while len(pending) < 2 * len(predictors) and (chunk := next(chunks, None)) is not None:
                    pending.append(pool.submit(job, chunk))
                if not pending:
                    break
                writer.write(*pending.popleft().result())
        finally:
            for fut in pending:
                fut.cancel()
    return {"schedule": "streams", "streams": len(predictors)}


def finish_eval(out: Path, jsonl: Path, samples: Sequence[Sample], class_names: Sequence[str],
            vastai_txt: bool, pre_desc: dict[str, Any], seconds: float, new_images: int,
            resumed: int, meta: dict[str, Any] | None, rep: Reporter, label: str = "",
            decode: dict[str, Any] | None = None) -> EvalResult:
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
        report_json=report, preprocess=pre_desc, decode={"decoder": fast_decoder(), **(decode or {})},
    )
    write_json(report, {**res.as_dict(), "meta": meta or {}})
    rep.artifact("results", str(jsonl), "results-jsonl")
    rep.artifact("report", str(report), "eval-report")
    if res.skipped:
        rep.log(f"{res.skipped} file(s) skipped: " + ", ".join(Path(f["path"]).name for f in res.skipped_files[:10])
                + (" ..." if res.skipped > 10 else ""), "warning")
    if res.top1 is not None:
        who = f"{label}: " if label else ""
        rep.log(f"{who}top-1 {100 * res.top1:.2f}%  top-5 {100 * (res.top5 or 0):.2f}%  "
                f"on {res.labelled} labelled images")
    return res

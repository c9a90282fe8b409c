"""Streaming evaluation, the seed's result formats, and paired comparison of two runs.

Why it is shaped this way (FACTS §2, §6):

* On 2 cores, decoding competes with inference for the same CPUs. Decode and preprocess
  run in a small thread pool (PIL and numpy release the GIL) a bounded number of images
  ahead of the model, so memory stays flat on 50,000 images and the model never waits
  on a file it could have had.
* ``results.jsonl`` is the source of truth: one line per image (id, path, ground truth,
  top-5 ids and probabilities, or the reason it was skipped), appended and flushed after
  every batch. A killed run loses at most the batch in flight; ``resume=True`` reads the
  ids already there (cutting off a line torn by ``kill -9``), skips them and appends the
  rest. Metrics are always computed from the whole file.
* The VastAI result txt (5 lines per image) is written from the JSONL at the end, so the
  seed's ``eval_topk.py`` flow still works; :func:`topk_from_vastai_txt` scores such a file
  matching by class **id** (``crane`` is two different ImageNet classes).
* :func:`compare_results` pairs two runs image by image (fp32 vs int8): agreement, the
  images whose top-1 flipped with the ground truth's rank in each, and McNemar's exact
  test on correctness — implemented here, scipy is not a dependency.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from workbench.atomic import atomic_path, write_json
from workbench.data.decode import DecodeError
from workbench.data.layouts import Sample
from workbench.errors import BadInput, Cancelled
from workbench.events import Reporter
from workbench.input_size import parse_input_size

RESULTS_JSONL = "results.jsonl"
RESULTS_TXT = "results.txt"
REPORT_JSON = "eval_report.json"
CONFIG_JSON = "eval_config.json"
TOPK = 5
Z95 = 1.959963984540054


class BatchPredictor(Protocol):
    backend: str

    def predict(self, batch: np.ndarray) -> np.ndarray: ...


class ImageLoader(Protocol):
    @property
    def input_size(self) -> tuple[int, int]: ...

    def load(self, path: str | Path) -> np.ndarray: ...


# -- results ---------------------------------------------------------------------------


@dataclass
class EvalResult:
    """What one evaluation produced. Fractions (0..1), not percent; None without labels."""

    top1: float | None
    top5: float | None
    n: int  # images classified (whole results file)
    labelled: int  # of those, images with a ground truth
    skipped: int
    skipped_files: list[dict[str, str]]
    top1_ci95: tuple[float, float] | None
    top5_ci95: tuple[float, float] | None
    seconds: float  # this call's wall time
    images_per_s: float  # images classified by this call / seconds
    new_images: int  # classified by this call (the rest came from a resumed file)
    resumed: int  # results already in the file when this call started
    results_jsonl: Path
    results_txt: Path | None
    report_json: Path
    preprocess: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        for k in ("results_jsonl", "results_txt", "report_json"):
            d[k] = None if d[k] is None else str(d[k])
        for k in ("top1_ci95", "top5_ci95"):
            d[k] = None if d[k] is None else list(d[k])
        return d


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """95% Wilson score interval for k successes in n: honest near 0 and 1, unlike k/n ± 2σ."""
    if n <= 0:
        return None
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


# -- results.jsonl ---------------------------------------------------------------------


def read_results(path: Path, repair: bool = False) -> list[dict[str, Any]]:
    """Read a results.jsonl. A torn last line (``kill -9`` mid-write) is ignored, and with
    ``repair=True`` cut off the file so that appending continues on a clean line."""
    if not path.exists():
        return []
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1  # everything after the last newline is a torn write
    if repair and end < len(data):
        with open(path, "r+b") as fh:
            fh.truncate(end)
    records: dict[str, dict[str, Any]] = {}
    for lineno, raw in enumerate(data[:end].splitlines(), 1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
        except json.JSONDecodeError:
            raise BadInput(f"{path}:{lineno}: not a JSON line; the results file is damaged") from None
        if not isinstance(rec, dict) or "id" not in rec:
            raise BadInput(f"{path}:{lineno}: not a result record (no 'id')")
        records[str(rec["id"])] = rec  # a later line for the same id wins
    return list(records.values())


def _record_line(rec: dict[str, Any]) -> str:
    return json.dumps(rec, separators=(",", ":"), ensure_ascii=False) + "\n"


def metrics_from_records(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Top-1/top-5 (with 95% CIs) and skip counts over result records."""
    n = labelled = hit1 = hit5 = 0
    skipped: list[dict[str, str]] = []
    for r in records:
        if r.get("skipped"):
            skipped.append({"id": r["id"], "path": r.get("path", ""), "reason": r["skipped"]})
            continue
        n += 1
        gt = r.get("gt")
        if gt is None:
            continue
        labelled += 1
        top = r["top5"]
        hit1 += int(bool(top) and top[0] == gt)
        hit5 += int(gt in top[:TOPK])
    return {
        "n": n, "labelled": labelled, "skipped": len(skipped), "skipped_files": skipped,
        "top1": hit1 / labelled if labelled else None,
        "top5": hit5 / labelled if labelled else None,
        "top1_ci95": wilson_interval(hit1, labelled),
        "top5_ci95": wilson_interval(hit5, labelled),
        "top1_correct": hit1, "top5_correct": hit5,
    }


# -- VastAI txt ------------------------------------------------------------------------

_VASTAI_RE = re.compile(
    r"^(?P<path>.*): Relay top-(?P<k>\d+) id: (?P<id>-?\d+), prob: (?P<p>[-+0-9.eEnaif]+), "
    r"class name: (?P<name>.*)$"
)


def vastai_lines(rec: dict[str, Any], class_names: Sequence[str]) -> str:
    """The seed's 5 lines for one image: ``{path}: Relay top-{k} id: ..., prob: ..., class name: ...``."""
    out = []
    for k, (cid, p) in enumerate(zip(rec["top5"], rec["prob5"], strict=True)):
        name = class_names[cid] if 0 <= cid < len(class_names) else str(cid)
        out.append(f"{rec['path']}: Relay top-{k} id: {cid}, prob: {p:.8f}, class name: {name}\n")
    return "".join(out)


def write_vastai_txt(target: Path, records: Sequence[dict[str, Any]], class_names: Sequence[str]) -> None:
    with atomic_path(target) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for r in records:
            if not r.get("skipped"):
                fh.write(vastai_lines(r, class_names))


def parse_vastai_txt(path: Path) -> list[tuple[str, list[int], list[float]]]:
    """(image path, top-k ids, top-k probs) per image, in file order."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise BadInput(f"{path}: result file not found") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path}: not a UTF-8 text file") from None
    out: list[tuple[str, list[int], list[float]]] = []
    for lineno, ln in enumerate(lines, 1):
        if not ln.strip():
            continue
        m = _VASTAI_RE.match(ln.rstrip("\r"))
        if not m:
            raise BadInput(f"{path}:{lineno}: not a VastAI result line "
                           "(`PATH: Relay top-K id: ID, prob: P, class name: NAME`)")
        k, img = int(m.group("k")), m.group("path")
        if k == 0:
            out.append((img, [], []))
        elif not out or out[-1][0] != img or len(out[-1][1]) != k:
            raise BadInput(f"{path}:{lineno}: top-{k} line for {img} does not follow its top-{k - 1} line")
        out[-1][1].append(int(m.group("id")))
        out[-1][2].append(float(m.group("p")))
    if not out:
        raise BadInput(f"{path}: no result lines")
    return out


class GroundTruth:
    """Where an image's class comes from when only its path is known (the seed's way, plus
    ours): an explicit per-image label file, a synset parent folder, an ``nXXXXXXXX_``
    file-name prefix, or a ``val_label.txt`` beside or above the image's folder."""

    def __init__(self, labels: Path | None = None) -> None:
        from workbench.data.labels import read_image_labels

        self.explicit = read_image_labels(labels) if labels else None
        self._folder_tables: dict[Path, dict[str, int] | None] = {}

    def _folder_table(self, folder: Path) -> dict[str, int] | None:
        if folder not in self._folder_tables:
            from workbench.data.labels import read_image_labels
            from workbench.data.layouts import LABEL_FILE_NAMES

            table = None
            for d in (folder, folder.parent):
                for name in LABEL_FILE_NAMES:
                    if (d / name).is_file():
                        table = read_image_labels(d / name)
                        break
                if table is not None:
                    break
            self._folder_tables[folder] = table
        return self._folder_tables[folder]

    def __call__(self, image: str) -> int | None:
        from workbench.data.labels import SYNSET_RE, imagenet
        from workbench.data.layouts import PREFIX_RE

        p = Path(image)
        if self.explicit is not None:
            return self.explicit.get(p.name)
        if SYNSET_RE.match(p.parent.name):
            return imagenet().index.get(p.parent.name)
        m = PREFIX_RE.match(p.name)
        if m:
            return imagenet().index.get(m.group(1))
        table = self._folder_table(p.parent)
        return None if table is None else table.get(p.name)


def topk_from_vastai_txt(path: Path, labels: Path | None = None) -> dict[str, Any]:
    """Score a VastAI result txt by class id (not name): top-1/top-5 with 95% CIs."""
    entries = parse_vastai_txt(Path(path))
    gt = GroundTruth(labels)
    records = [{"id": img, "path": img, "gt": gt(img), "top5": ids, "prob5": probs}
               for img, ids, probs in entries]
    m = metrics_from_records(records)
    if not m["labelled"]:
        raise BadInput(f"{path}: no ground truth found for any of its {len(records)} images; "
                       "pass --labels val_label.txt (or keep images in synset folders)")
    m.pop("skipped_files")
    m.pop("skipped")
    m["unlabelled"] = m["n"] - m["labelled"]
    m["file"] = str(path)
    return m


# -- streaming evaluation ----------------------------------------------------------------


def _decode(loader: ImageLoader, path: Path) -> np.ndarray:
    try:
        return loader.load(path)
    except DecodeError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # a decoder bug must not end a 40-minute run
        raise DecodeError(path, f"{type(exc).__name__}: {exc}") from None


def _topk(logits: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k ids (ties broken by lower id, so reruns match) and softmax probabilities."""
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    probs = e / e.sum(axis=1, keepdims=True)
    ids = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    return ids, np.take_along_axis(probs, ids, axis=1)


def _default_workers() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus))


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


# -- compare ---------------------------------------------------------------------------


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: P(X ≤ min(b, c)) × 2 for X ~ Binomial(b + c, ½).

    Exact in integers up to 2,000 discordant pairs; beyond, the same sum in log space
    (relative error ~1e-12, far below anything that changes a decision).
    """
    n, m = b + c, min(b, c)
    if n == 0:
        return 1.0
    if n <= 2000:
        from fractions import Fraction

        tail = sum(math.comb(n, i) for i in range(m + 1))
        return float(min(Fraction(1), Fraction(2 * tail, 2**n)))
    log_terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2)
                 for i in range(m + 1)]
    top = max(log_terms)
    log_tail = top + math.log(math.fsum(math.exp(t - top) for t in log_terms))
    return min(1.0, 2 * math.exp(log_tail))


@dataclass
class Flip:
    """One image whose top-1 differs between the two runs."""

    id: str
    gt: int | None
    a_top1: int
    b_top1: int
    a_gt_rank: int | None  # 1..5, None if the ground truth is outside the top-5 (or unknown)
    b_gt_rank: int | None


def _gt_rank(rec: dict[str, Any]) -> int | None:
    gt = rec.get("gt")
    if gt is None or gt not in rec["top5"]:
        return None
    return int(rec["top5"].index(gt)) + 1


def compare_results(a: Path, b: Path) -> dict[str, Any]:
    """Pair two results.jsonl files by image id: agreement, flips, McNemar on top-1 correctness."""
    ra = {str(r["id"]): r for r in read_results(Path(a)) if not r.get("skipped")}
    rb = {str(r["id"]): r for r in read_results(Path(b)) if not r.get("skipped")}
    if not ra:
        raise BadInput(f"{a}: no classified images")
    if not rb:
        raise BadInput(f"{b}: no classified images")
    common = [i for i in ra if i in rb]
    if not common:
        raise BadInput(f"{a} and {b} share no image ids; were they run on the same data?")
    agree = 0
    flips: list[Flip] = []
    a_only = b_only = both = neither = 0
    labelled = 0
    for i in common:
        x, y = ra[i], rb[i]
        if x["top5"][0] == y["top5"][0]:
            agree += 1
        else:
            flips.append(Flip(i, x.get("gt"), x["top5"][0], y["top5"][0], _gt_rank(x), _gt_rank(y)))
        gt = x.get("gt") if x.get("gt") is not None else y.get("gt")
        if gt is None:
            continue
        labelled += 1
        ca, cb = x["top5"][0] == gt, y["top5"][0] == gt
        both += ca and cb
        neither += (not ca) and (not cb)
        a_only += ca and not cb
        b_only += cb and not ca
    n = len(common)
    result: dict[str, Any] = {
        "a": str(a), "b": str(b), "images": n,
        "only_in_a": len(ra) - n, "only_in_b": len(rb) - n,
        "agreement": agree / n, "agree": agree, "flips": [f.__dict__ for f in flips],
        "labelled": labelled,
    }
    if labelled:
        discordant = a_only + b_only
        result.update({
            "top1_a": (both + a_only) / labelled, "top1_b": (both + b_only) / labelled,
            "table": {"both_right": both, "a_right_b_wrong": a_only, "a_wrong_b_right": b_only,
                      "both_wrong": neither},
            "mcnemar_p": mcnemar_exact(a_only, b_only),
            "mcnemar_method": "exact binomial, two-sided",
            "mcnemar_chi2_cc": (max(0, abs(a_only - b_only) - 1) ** 2 / discordant) if discordant else 0.0,
        })
    else:
        result.update({"top1_a": None, "top1_b": None, "table": None, "mcnemar_p": None,
                       "mcnemar_method": "no ground truth: correctness cannot be paired"})
    return result


# -- the `hrnet-wb eval` / `compare` services ----------------------------------------------


@dataclass
class EvalTarget:
    """A model to evaluate: a stored artifact, or a bare .onnx/.xml file and a backend."""

    path: Path
    backend: str
    name: str
    key: str = ""
    source: str = ""
    variant: str = ""
    input_size: tuple[int, int] | None = None
    preprocess: dict[str, Any] | None = None  # the description the artifact was calibrated with
    fixed_batch: int | None = None  # an ONNX exported with a static batch dimension


def onnx_input_shape(path: Path) -> tuple[int | None, int | None, int | None] | None:
    """(N, H, W) of an ONNX model's first input; None where a dimension is dynamic."""
    if path.suffix.lower() != ".onnx":
        return None
    from workbench.export import read_onnx_input

    info = read_onnx_input(path)
    if info.rank != 4:
        return None
    return info.batch, info.height, info.width


def resolve_target(target: str, backend: str, home: Any) -> EvalTarget:
    """An existing file is used as is (with ``backend``); anything else is looked up in the
    store by artifact name or key."""
    p = Path(target).expanduser()
    if p.is_file():
        shape = onnx_input_shape(p)
        hw = None if shape is None or shape[1] is None or shape[2] is None else (shape[1], shape[2])
        return EvalTarget(path=p.resolve(), backend=backend or "ort-cpu", name=p.stem, input_size=hw,
                          fixed_batch=None if shape is None else shape[0])
    if p.is_dir() and (p / "meta.json").is_file():  # an artifact folder
        meta = json.loads((p / "meta.json").read_text(encoding="utf-8"))
        return _target_from_meta(meta, p / meta["file"], backend)
    from workbench.store import Store

    row = Store(home.db).artifact(target)
    if row is None:
        raise BadInput(f"{target}: neither a model file nor an artifact name/key in {home.db} "
                       "(see `hrnet-wb leaderboard`, or pass an .onnx path with --backend)")
    meta = dict(row.get("meta") or {})
    for k in ("key", "name", "source", "variant", "backend"):
        meta[k] = meta.get(k) or row.get(k) or ""  # the store row fills what meta.json left empty
    if "input_size" not in meta and row.get("input_size"):
        meta["input_size"] = list(parse_input_size(row["input_size"]))
    return _target_from_meta(meta, Path(row["path"]), backend)


def _target_from_meta(meta: dict[str, Any], path: Path, backend: str) -> EvalTarget:
    size = meta.get("input_size")
    return EvalTarget(
        path=path, backend=backend or meta.get("backend") or "ort-cpu", name=str(meta.get("name", path.stem)),
        key=str(meta.get("key", "")), source=str(meta.get("source", "")),
        variant=str(meta.get("variant") or meta.get("model") or ""),
        input_size=(int(size[0]), int(size[1])) if size else None,
        # int8 builds record the preprocessing their calibration used; evaluate with the same
        preprocess=meta.get("preprocess") or (meta.get("calibration") or {}).get("preprocess") or None,
    )


def choose_preprocessor(t: EvalTarget, preprocess: str = "auto", input_size: tuple[int, int] | None = None) -> Any:
    """The preprocessing for a target: an explicit preset, else the one the artifact was
    calibrated with, else the preset of its source (timm defaults for a bare file)."""
    from workbench.data.preprocess import PreprocessConfig, Preprocessor, preset_for

    size = input_size or t.input_size or (224, 224)
    if t.input_size and input_size and tuple(input_size) != tuple(t.input_size):
        raise BadInput(f"{t.path.name}: the model takes {t.input_size[0]}x{t.input_size[1]} input, "
                       f"not {size[0]}x{size[1]}")
    if preprocess == "auto" and t.preprocess and "resize_mode" in t.preprocess:
        cfg = PreprocessConfig.from_dict(t.preprocess)
        if tuple(cfg.input_size) == tuple(size):
            return Preprocessor(cfg)
    if t.source in ("timm", "official", "mmcls"):
        source = t.source
    else:  # a bare file: HRNet's reference preprocessing (= timm ms_in1k), not timm's generic bicubic
        source = "official"
    return Preprocessor(preset_for(source=source, variant=t.variant, pretrained_tag="",
                                   input_size=size, name=preprocess))


def run_eval(target: str, data: str, *, home: Any, backend: str = "", layout: str = "auto",
             labels: str = "", limit: int = 0, batch_size: int = 8, resume: bool = False,
             out: str = "", preprocess: str = "auto", input_size: tuple[int, int] | None = None,
             threads: int = 0, workers: int = 0, reporter: Reporter | None = None) -> dict[str, Any]:
    """``hrnet-wb eval``: evaluate one model on one dataset and record it as a run."""
    from workbench.data import open_dataset
    from workbench.runtime import open_predictor
    from workbench.store import Store

    rep = reporter or Reporter()
    if resume and not out:
        raise BadInput("--resume needs --out DIR: the folder of the run to continue")
    if out and not resume:
        existing = Path(out).expanduser() / RESULTS_JSONL
        if existing.is_file() and existing.stat().st_size > 0:
            raise BadInput(f"{existing}: already holds results; resume it (--resume) or choose another --out")
    t = resolve_target(target, backend, home)
    pre = choose_preprocessor(t, preprocess, input_size)
    if t.fixed_batch and t.fixed_batch != batch_size:
        rep.log(f"{t.path.name} has a fixed batch of {t.fixed_batch}: using --batch-size {t.fixed_batch}",
                "warning")
        batch_size = t.fixed_batch
    ds = open_dataset(data, layout=layout, labels=labels)
    for note in ds.notes:
        rep.log(note, "warning")
    samples = ds.samples[:limit] if limit else ds.samples
    rep.log(f"{ds.describe()}; preprocess {pre.cfg.name} at {pre.cfg.input_size[0]}x{pre.cfg.input_size[1]}")
    predictor = open_predictor(t.path, t.backend, threads)
    store = Store(home.db)
    run_id = store.start_run(f"eval {t.name}", profile_json=json.dumps(
        {"eval": {"target": str(target), "data": str(data), "layout": ds.layout, "limit": limit,
                  "batch_size": batch_size, "preprocess": pre.describe()}}))
    out_dir = Path(out).expanduser().resolve() if out else home.runs / str(run_id)
    store.set_out_dir(run_id, str(out_dir))
    try:
        res = evaluate(predictor, samples, pre, ds.class_names, out_dir, batch_size=batch_size,
                       resume=resume, reporter=rep, workers=workers,
                       meta={"model": str(t.path), "backend": t.backend, "artifact": t.name,
                             "artifact_key": t.key, "data": str(ds.root), "layout": ds.layout})
    except BaseException as exc:
        status = ("interrupted" if isinstance(exc, KeyboardInterrupt)
                  else "cancelled" if isinstance(exc, Cancelled) else "failed")
        store.finish_run(run_id, status, str(exc))
        raise
    build = t.name
    from workbench.runtime_settings import effective_settings

    settings = effective_settings(predictor)
    store.add_runtime(run_id, build, settings, t.key, "eval")
    for name, value, unit in (("top1", res.top1, "%"), ("top5", res.top5, "%"), ("images", res.n, ""),
                              ("skipped", res.skipped, ""), ("eval_img_s", res.images_per_s, "img/s")):
        if value is None:
            continue
        v = 100 * value if unit == "%" else value
        store.add_metric(run_id, build, name, float(v), unit, t.key)
    record = {"ok": True, "run_id": run_id, "out_dir": str(out_dir), "model": str(t.path),
              "backend": t.backend, "build": build, "dataset": {"root": str(ds.root), "layout": ds.layout,
                                                              "images": len(samples)},
              "runtime": settings, "precision": (settings or {}).get("compute_precision"),
              "fingerprint": (store.machine(run_id) or {}).get("fingerprint", ""),
              **res.as_dict()}
    store.finish_run(run_id, "ok", summary={k: record[k] for k in ("top1", "top5", "n", "skipped")})
    return record


def find_results(ref: str, home: Any) -> Path:
    """A results.jsonl from a run id (``7`` or ``7:BUILD``), a run folder or a file path."""
    p = Path(ref).expanduser()
    if p.is_file():
        return p
    if p.is_dir():
        return _results_in(p, "", ref)
    m = re.fullmatch(r"(\d+)(?:[:/](.+))?", ref.strip())
    if not m:
        raise BadInput(f"{ref}: not a run id (e.g. 7 or 7:BUILD), a run folder or a results.jsonl")
    from workbench.store import Store

    run = Store(home.db).run(int(m.group(1)))
    if run is None:
        raise BadInput(f"run {m.group(1)} is not in {home.db} (see `hrnet-wb runs`)")
    if not run.get("out_dir"):
        raise BadInput(f"run {m.group(1)} has no output folder")
    return _results_in(Path(run["out_dir"]), m.group(2) or "", ref)


def _results_in(d: Path, build: str, ref: str) -> Path:
    if build:
        f = d / build / RESULTS_JSONL
        if not f.is_file():
            raise BadInput(f"{ref}: no results for build {build!r} in {d}")
        return f
    if (d / RESULTS_JSONL).is_file():
        return d / RESULTS_JSONL
    found = sorted(p.parent.name for p in d.glob(f"*/{RESULTS_JSONL}"))
    if len(found) == 1:
        return d / found[0] / RESULTS_JSONL
    if not found:
        raise BadInput(f"{ref}: no {RESULTS_JSONL} in {d}")
    raise BadInput(f"{ref}: holds {len(found)} builds ({', '.join(found)}); pick one as "
                   f"{ref}:{found[0]}")

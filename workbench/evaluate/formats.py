"""The result files: ``results.jsonl`` (the source of truth, one line per image) and the
seed's VastAI txt (5 lines per image), with the scorer for such a txt."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.atomic import atomic_path
from workbench.errors import BadInput
from workbench.evaluate.metrics import metrics_from_records, topk

if TYPE_CHECKING:  # pragma: no cover
    from workbench.data.decode import DecodeError
    from workbench.data.layouts import Sample
    from workbench.events import Reporter

RESULTS_JSONL = "results.jsonl"
RESULTS_TXT = "results.txt"
REPORT_JSON = "eval_report.json"
CONFIG_JSON = "eval_config.json"


def read_results(path: Path, repair: bool = False) -> list[dict[str, Any]]:
    """Read a results.jsonl. A torn last line (``kill -9`` mid-write) is ignored, and with
    ``repair=True`` cut off the file so that appending continues on a clean line."""
    if not path.exists():
        return []
    from workbench.paths import regular_file

    regular_file(path, "results file")
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
        except (json.JSONDecodeError, UnicodeDecodeError):  # a binary file is no JSON either
            raise BadInput(f"{path}:{lineno}: not a JSON line; the results file is damaged") from None
        if not isinstance(rec, dict) or "id" not in rec:
            raise BadInput(f"{path}:{lineno}: not a result record (no 'id')")
        records[str(rec["id"])] = rec  # a later line for the same id wins
    return list(records.values())


def record_line(rec: dict[str, Any]) -> str:
    return json.dumps(rec, separators=(",", ":"), ensure_ascii=False) + "\n"


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


def class_names_in_txt(path: Path) -> dict[int, str]:
    """Class id → name as an eval wrote them into its VastAI txt (empty when there is none):
    the names of the eval's own dataset, whatever its classes."""
    names: dict[int, str] = {}
    if not path.is_file():
        return names
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            m = _VASTAI_RE.match(line.rstrip("\n"))
            if m:
                names.setdefault(int(m.group("id")), m.group("name"))
    return names


def parse_vastai_txt(path: Path, num_classes: int = 1000) -> list[tuple[str, list[int], list[float]]]:
    """(image path, top-k ids, top-k probs) per image, in file order.

    A file cut mid-image (fewer than five lines for the last one) or an id outside the
    1000 ImageNet classes is refused: it would silently score a different set."""
    from workbench.paths import regular_file

    regular_file(path, "result file", max_bytes=4 * 2**30)
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
        cid, prob = int(m.group("id")), float(m.group("p"))
        if not 0 <= cid < num_classes:
            raise BadInput(f"{path}:{lineno}: class id {cid} is outside 0..{num_classes - 1}")
        if not 0.0 <= prob <= 1.0:
            raise BadInput(f"{path}:{lineno}: probability {prob} is outside 0..1")
        out[-1][1].append(cid)
        out[-1][2].append(prob)
    if not out:
        raise BadInput(f"{path}: no result lines")
    ks = {len(ids) for _, ids, _ in out}
    if len(out[-1][1]) < max(ks) or len(ks) > 1:
        short = next(img for img, ids, _ in out if len(ids) < max(ks))
        raise BadInput(f"{path}: {short} has {min(ks)} of {max(ks)} top-k lines; "
                       "the file is cut short or damaged")
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


def result_lines(kept: Sequence[Sample], hashes: Sequence[str], logits: Any, k: int) -> list[str]:
    """One results.jsonl line per image: from logits, or from (ids, probs) taken on a device."""
    from workbench.data.identity import HASH_FIELD

    ids, probs = logits if isinstance(logits, tuple) else topk(logits, k)
    return [record_line({"id": s.id, "path": str(s.path), HASH_FIELD: hashes[i], "gt": s.label,
                          "top5": [int(c) for c in ids[i]], "prob5": [round(float(p), 8) for p in probs[i]]})
            for i, s in enumerate(kept)]


def skip_line(s: Sample, exc: DecodeError, rep: Reporter) -> str:
    from workbench.data.identity import HASH_FIELD

    rep.log(f"skipped {s.path}: {exc.reason}", "warning")
    return record_line({"id": s.id, "path": str(s.path), HASH_FIELD: exc.content_hash, "gt": s.label,
                         "skipped": exc.reason})


class ResultWriter:
    """Appends each batch's records to ``results.jsonl`` (flushed, so a kill loses at most
    the batch in flight) and reports progress: the one writer of every eval loop."""

    def __init__(self, fh: Any, k: int, rep: Reporter, done: int, total: int) -> None:
        self.fh, self.k, self.rep, self.done, self.total = fh, k, rep, done, total
        self.new_images = 0  # classified by this call

    def write(self, kept: Sequence[Sample], hashes: Sequence[str], top: Any,
              skipped: Sequence[tuple[Sample, DecodeError]] = ()) -> None:
        """One batch: the skipped files' lines, then the kept images' (``top``: logits or
        (ids, probs); None when nothing was kept)."""
        lines = [skip_line(s, exc, self.rep) for s, exc in skipped]
        if top is not None and kept:
            lines.extend(result_lines(kept, hashes, top, self.k))
            self.new_images += len(kept)
        if lines:
            self.fh.write("".join(lines))
            self.fh.flush()
            self.done += len(lines)
            self.rep.progress(self.done, self.total, "img")
        self.rep.check_cancelled()

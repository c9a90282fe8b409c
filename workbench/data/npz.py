"""An image2npz-compatible tree, for the VastAI ``vamp`` flow (NOTES §6).

The seed's ``image2npz.py`` stores each image as ``np.savez(path, input_0=arr)`` with
``arr`` uint8 RGB CHW, at ``{target}/{subfolder}/{stem}.npz``, plus a datalist with one
npz path per line. Its device-side build yaml does the resize and crop, so by default
the arrays hold the decoded image at its own size; pass a preprocessor to store the
resized, centre-cropped uint8 pixels instead (the same geometry evaluation uses).

Bad files are skipped and listed, like in evaluation. Each npz is written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workbench.atomic import atomic_path, write_text
from workbench.data.decode import DecodeError, open_rgb
from workbench.data.layouts import Sample
from workbench.data.preprocess import Preprocessor
from workbench.errors import BadInput
from workbench.events import Reporter

DATALIST = "npz_datalist.txt"


@dataclass
class NpzResult:
    out: Path
    datalist: Path
    written: int
    skipped_files: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"out": str(self.out), "datalist": str(self.datalist), "written": self.written,
                "skipped": len(self.skipped_files), "skipped_files": self.skipped_files}


def npz_target(out: Path, root: Path, sample: Sample) -> Path:
    """``{out}/{subfolder}/{stem}.npz``: the class folder, or the image folder's own name."""
    rel = Path(sample.id)
    sub = rel.parent if str(rel.parent) not in ("", ".") else Path(root.name or "images")
    return out / sub / f"{rel.stem}.npz"


def _image_chw(path: Path, pre: Preprocessor | None) -> np.ndarray:
    if pre is not None:
        hwc = pre.load_uint8(path)
    else:
        hwc = np.asarray(open_rgb(path), dtype=np.uint8)
    return np.ascontiguousarray(hwc.transpose(2, 0, 1))


def _write_one(path: Path, target: Path, pre: Preprocessor | None) -> None:
    arr = _image_chw(path, pre)
    with atomic_path(target, suffix=".npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, input_0=arr)


def write_npz_tree(samples: Sequence[Sample], root: Path, out: str | Path, *,
                   preprocessor: Preprocessor | None = None, datalist: str | Path | None = None,
                   reporter: Reporter | None = None, workers: int = 2) -> NpzResult:
    """Write one npz per decodable sample and a datalist of their paths (in sample order)."""
    rep = reporter or Reporter()
    out = Path(out).expanduser().resolve()
    targets = [npz_target(out, root, s) for s in samples]
    seen: dict[Path, str] = {}
    for s, t in zip(samples, targets, strict=True):
        if t in seen:
            raise BadInput(f"{s.path}: would overwrite {t}, also written for {seen[t]} (same folder and stem)")
        seen[t] = s.id
    written: list[Path] = []
    skipped: list[dict[str, str]] = []
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="wb-npz") as pool:
        futures = [pool.submit(_write_one, Path(s.path), t, preprocessor) for s, t in zip(samples, targets, strict=True)]
        for i, (s, t, fut) in enumerate(zip(samples, targets, futures, strict=True)):
            try:
                fut.result()
            except DecodeError as exc:
                skipped.append({"id": s.id, "path": str(s.path), "reason": exc.reason})
                rep.log(f"skipped {s.path}: {exc.reason}", "warning")
            else:
                written.append(t)
            if (i + 1) % 64 == 0 or i + 1 == len(samples):
                rep.progress(i + 1, len(samples), "img")
                if rep.cancelled:
                    for f in futures:
                        f.cancel()
                    rep.check_cancelled()
    dl = Path(datalist) if datalist else out / DATALIST
    write_text(dl, "".join(f"{p}\n" for p in written))
    rep.artifact("npz", str(out))
    return NpzResult(out=out, datalist=dl, written=len(written), skipped_files=skipped)

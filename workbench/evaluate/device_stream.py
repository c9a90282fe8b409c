"""The eval loop when the preprocessing decodes on the device (the ``+nvjpeg`` preset):
each batch of files is read on the host, decoded, resized and normalised where inference
runs, and only the top-k ids and probabilities come back. A file neither the device nor the
CPU can read is skipped and recorded, as in the CPU loop."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from workbench.data.decode import DecodeError
from workbench.evaluate.metrics import device_topk
from workbench.evaluate.stream import _result_lines, _skip_line
from workbench.events import Reporter


def run_device_batches(predictors: Sequence[Any], todo: Sequence[Any], loader: Any, fh: Any, *,
                       batch_size: int, k: int, n_classes: int, pre_desc: dict[str, Any],
                       rep: Reporter, done: int, total: int) -> int:
    """Classify ``todo`` in batches decoded by ``loader.load_batch``; returns images done."""
    import torch

    pred = predictors[0]
    new_images = 0
    for i in range(0, len(todo), batch_size):
        chunk = list(todo[i:i + batch_size])
        lines: list[str] = []
        try:
            x, hashes = loader.load_batch([Path(s.path) for s in chunk])
            kept = chunk
        except DecodeError:  # a broken file: decode the batch one by one, skip the broken
            parts, kept, hashes = [], [], []
            for s in chunk:
                try:
                    xi, hi = loader.load_batch([Path(s.path)])
                except DecodeError as exc:
                    lines.append(_skip_line(s, exc, rep))
                    continue
                parts.append(xi)
                kept.append(s)
                hashes += hi
            x = torch.cat(parts) if parts else None
        if x is not None and kept:
            top = device_topk(pred, x, k)
            assert top is not None
            lines.extend(_result_lines(kept, hashes, top, k))
            new_images += len(kept)
        fh.write("".join(lines))
        fh.flush()
        done += len(lines)
        rep.progress(done, total, "img")
        rep.check_cancelled()
    return new_images

"""The eval loop when the preprocessing decodes on the device (the ``+nvjpeg`` preset):
each batch of files is read on the host, decoded, resized and normalised where inference
runs, and only the top-k ids and probabilities come back. One helper thread decodes the
next batch while this one infers (on a GPU, on a side stream). A file neither the device
nor the CPU can read is skipped and recorded, as in the CPU loop."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from workbench.data.decode import DecodeError
from workbench.evaluate.formats import result_lines, skip_line
from workbench.evaluate.metrics import device_topk
from workbench.events import Reporter


def _decode_chunk(loader: Any, chunk: list[Any]) -> tuple[Any, list[Any], list[str], list[Any]]:
    """(batch or None, samples kept, their hashes, [(sample, DecodeError)] skipped)."""
    try:
        x, hashes, done = loader.load_ahead([Path(s.path) for s in chunk])
        return (x, done), chunk, hashes, []
    except DecodeError:  # a broken file: decode the batch one by one, skip the broken
        import torch

        parts, kept, hashes, skipped = [], [], [], []
        for s in chunk:
            try:
                xi, hi = loader.load_batch([Path(s.path)])
            except DecodeError as exc:
                skipped.append((s, exc))
                continue
            parts.append(xi)
            kept.append(s)
            hashes += hi
        return ((torch.cat(parts), None) if parts else None), kept, hashes, skipped


def run_device_batches(predictors: Sequence[Any], todo: Sequence[Any], loader: Any, fh: Any, *,
                       batch_size: int, k: int, n_classes: int, pre_desc: dict[str, Any],
                       rep: Reporter, done: int, total: int) -> int:
    """Classify ``todo`` in batches decoded by ``loader`` one batch ahead; returns images done."""
    pred = predictors[0]
    chunks = [list(todo[i:i + batch_size]) for i in range(0, len(todo), batch_size)]
    new_images = 0
    with ThreadPoolExecutor(1, thread_name_prefix="wb-device-decode") as pool:
        ahead = pool.submit(_decode_chunk, loader, chunks[0]) if chunks else None
        for n in range(len(chunks)):
            assert ahead is not None
            batch, kept, hashes, skipped = ahead.result()
            ahead = pool.submit(_decode_chunk, loader, chunks[n + 1]) if n + 1 < len(chunks) else None
            lines = [skip_line(s, exc, rep) for s, exc in skipped]
            if batch is not None and kept:
                top = device_topk(pred, loader.ready(*batch), k)
                assert top is not None
                lines.extend(result_lines(kept, hashes, top, k))
                new_images += len(kept)
            fh.write("".join(lines))
            fh.flush()
            done += len(lines)
            rep.progress(done, total, "img")
            rep.check_cancelled()
    return new_images

"""The eval loop when the preprocessing decodes on the device (the ``+nvjpeg`` preset):
each batch of files is read on the host, decoded, resized and cropped where inference
runs (uint8, normalised by the predictor there), and only the top-k ids and probabilities
come back. One helper thread decodes the next batch while this one infers (on a GPU, on a
side stream). A file neither the device nor the CPU can read is skipped and recorded, as
in the CPU loop. The first images of the first batch are also decoded the exact CPU way,
and the pixel difference and top-1 agreement between the two go into the eval's report."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from workbench.data.decode import DecodeError
from workbench.evaluate.formats import ResultWriter
from workbench.evaluate.metrics import device_topk

#: images of an eval's first batch also decoded the exact CPU way (pixel difference and
#: top-1 agreement, kept in the eval's report): a fixed cost of ~0.1 s per eval
CHECK_IMAGES = 16


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


def run_device_batches(pred: Any, todo: Sequence[Any], loader: Any, writer: ResultWriter, *,
                       batch_size: int) -> dict[str, Any]:
    """Classify ``todo`` in batches decoded by ``loader`` one batch ahead; returns the
    decode info for the report (fallbacks, and the first batch against the CPU path)."""
    from workbench.data.device_decode import compare_with_cpu

    chunks = [list(todo[i:i + batch_size]) for i in range(0, len(todo), batch_size)]
    info: dict[str, Any] = {"schedule": "device decode"}
    with ThreadPoolExecutor(1, thread_name_prefix="wb-device-decode") as pool:
        ahead = pool.submit(_decode_chunk, loader, chunks[0]) if chunks else None
        for n in range(len(chunks)):
            assert ahead is not None
            batch, kept, hashes, skipped = ahead.result()
            ahead = pool.submit(_decode_chunk, loader, chunks[n + 1]) if n + 1 < len(chunks) else None
            top = None
            if batch is not None and kept:
                x = loader.ready(*batch)
                top = device_topk(pred, x, writer.k)
                if "vs_exact_cpu_path" not in info:
                    info["vs_exact_cpu_path"] = compare_with_cpu(
                        loader, [Path(s.path) for s in kept[:CHECK_IMAGES]], pred, device_batch=x)
            writer.write(kept, hashes, top, skipped)
    info["fallbacks"] = len(loader.fallbacks)
    return info

"""What the Ray eval's driver can write: rows/s into results.jsonl, then the final pass.

The driver is the only serial part of ``eval --engine ray``: every actor's results come
back to it, and it alone appends ``results.jsonl`` and writes the store. This feeds
``--rows`` synthetic top-5 results through the very code the driver runs:

1. **streaming**: result batches shaped exactly as the actors return them (chunk index,
   kept mask, skip reasons, content hashes, top-5 ids and probabilities, node) go through
   :class:`workbench.engines.ray_eval.ChunkWriter` into a real ``results.jsonl``, flushed
   per delivery, as in :func:`~workbench.engines.ray_eval.evaluate_ray`;
2. **final pass**: ``evaluate.stream.finish_eval`` (read the JSONL back, sort, metrics, the
   VastAI txt, report.json) and ``evaluate.run.record_eval`` into a real SQLite store
   inside a run, as ``hrnet-wb eval`` does.

For the eval not to be bound by its driver, (1) must be far above the cluster's img/s.
::

    python benchmarks/driver_write.py --rows 1000000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=8, help="images per evaluation batch (a chunk)")
    ap.add_argument("--chunks-per-delivery", type=int, default=8,
                    help="chunks per result batch the driver receives (Ray Data block)")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "hrnet-wb-bench-driver"))
    args = ap.parse_args()

    from workbench.data.layouts import Sample
    from workbench.engines.ray_eval import ChunkWriter
    from workbench.evaluate import RESULTS_JSONL, record_eval
    from workbench.evaluate.stream import finish_eval
    from workbench.events import Reporter
    from workbench.home import resolve_home
    from workbench.store import Store

    work = Path(tempfile.mkdtemp(dir=Path(args.work).mkdir(parents=True, exist_ok=True) or args.work))
    rng = np.random.default_rng(0)
    b, per = args.batch, args.chunks_per_delivery
    samples = [Sample(Path(f"/data/imagenet/val/ILSVRC2012_val_{i + 1:08d}.JPEG"), int(i % 1000),
                      f"ILSVRC2012_val_{i + 1:08d}.JPEG") for i in range(args.rows)]
    chunks = [samples[i: i + b] for i in range(0, len(samples), b)]
    # one template delivery: what ChunkPredictor returns for `per` chunks
    top = rng.integers(0, 1000, size=(per, b, 5))
    prob = np.sort(rng.random((per, b, 5)), axis=-1)[..., ::-1].copy()
    hashes = json.dumps([hashlib.sha256(str(j).encode()).hexdigest() for j in range(b)])
    template = {"kept": np.ones((per, b), dtype=bool), "reasons": np.array(["{}"] * per, dtype=object),
                "hashes": np.array([hashes] * per, dtype=object), "top": top, "prob": prob,
                "node": np.array(["node-0"] * per, dtype=object)}
    deliveries = []
    for first in range(0, len(chunks), per):
        idx = np.arange(first, min(first + per, len(chunks)))
        n = len(idx)
        deliveries.append({"chunk": idx, **{k: v[:n] for k, v in template.items()}})
    if args.rows % b:  # the last chunk is short: the actors pad it, kept marks the real images
        deliveries[-1]["kept"] = deliveries[-1]["kept"].copy()
        deliveries[-1]["kept"][-1, args.rows % b:] = False

    home = resolve_home(work / "home")
    out = work / "eval"
    out.mkdir()
    jsonl = out / RESULTS_JSONL
    print(f"{args.rows:,} rows in {len(chunks):,} chunks of {b}, {len(deliveries):,} deliveries; "
          f"load average {'/'.join(f'{x:.2f}' for x in os.getloadavg())} (shared machine)", flush=True)

    t = time.perf_counter()
    with open(jsonl, "w", encoding="utf-8") as fh:
        writer = ChunkWriter(fh, chunks)
        for d in deliveries:
            writer.write(d)
    stream_s = time.perf_counter() - t
    assert writer.complete and writer.images == args.rows

    store = Store(home.db)
    names = [f"class{i}" for i in range(1000)]
    t = time.perf_counter()
    with store.run("driver_write benchmark", out_dir=lambda rid: out) as run:
        res = finish_eval(out, jsonl, samples, names, True, {}, stream_s, args.rows, 0, None, Reporter())
        record_eval(store, run.id, "synthetic", "", res,
                    {"data_root": "/data/imagenet", "data_layout": "imagenet-val", "data_hash": "0" * 64})
    final_s = time.perf_counter() - t
    assert res.n == args.rows
    mb = jsonl.stat().st_size / 2**20
    print(f"streaming (ChunkWriter → results.jsonl, {mb:,.0f} MiB): {stream_s:.1f} s = "
          f"{args.rows / stream_s:,.0f} rows/s")
    print(f"final pass (read back, sort, metrics, VastAI txt, report, store): {final_s:.1f} s = "
          f"{args.rows / final_s:,.0f} rows/s")
    print(f"load average after: {'/'.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

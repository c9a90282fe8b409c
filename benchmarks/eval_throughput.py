"""Full eval pipeline (files → results.jsonl/txt) vs pure inference, same int8 build, same batch.

The issue's target: on 2 cores, over ≥ 200 real-size JPEGs (~500×375), the full pipeline
runs at ≥ 0.93× the pure-inference throughput of the same int8 hrnet_w18 build at the same
batch size. Pure inference here means ``predict`` on batches that were decoded and
preprocessed beforehand (the same images), in the eval's own configuration (``--streams``:
with N streams, N threads each run the next batch on their own session), so the ratio is
exactly what decoding, preprocessing and writing results cost the eval.

Everything is made here: random-init hrnet_w18 (no weights can be downloaded; speed does
not depend on weight values), its ONNX export, generated photo-like JPEGs, and the int8
build through ``workbench.build.build_artifact`` (ORT QDQ U8S8, per-channel,
reduce_range only without VNNI; calibrated on separate images). Files are cached under --work so reruns
only measure.

Run it under the shared lock, e.g.::

    flock /tmp/hrnet-bench.lock python benchmarks/eval_throughput.py --images 256 --batch 8

It also runs the evaluator with decoding taken out (a loader serving the arrays decoded
beforehand), which isolates what batching, top-5 and writing results cost, and prints the
per-image CPU cost of decode + preprocess for our numpy path and for timm's
``create_transform`` (single thread). On a CPU where inference keeps every core busy, the
eval can reach at most inference CPU / (inference CPU + decode CPU) of pure inference; the
last line prints that bound.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    from _common import add_setup_args

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_setup_args(ap, images=256)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--backend", default="ort-cpu", choices=["ort-cpu", "openvino-cpu"])
    ap.add_argument("--threads", type=int, default=0, help="inference threads (0 = physical cores)")
    ap.add_argument("--workers", type=int, default=0, help="decode threads (0 = evaluate's default)")
    ap.add_argument("--streams", type=int, default=0,
                    help="streams at once, sharing --threads (eval --streams; 0 = eval's auto choice); "
                         "pure inference runs the same streams")
    ap.add_argument("--rounds", type=int, default=2, help="alternating inference/eval rounds")
    args = ap.parse_args()

    from _common import int8_w18

    from workbench.evaluate import evaluate
    from workbench.evaluate.run import open_streams
    from workbench.events import Reporter
    from workbench.runtime import resolve_threads

    work = Path(args.work)
    setup = int8_w18(work, args.images, args.calib, args.size, args.backend)
    ds, pre, art = setup.ds, setup.pre, setup.art
    threads = resolve_threads(args.threads)
    predictors = open_streams(art.path, art.backend, threads, args.streams, Reporter(),
                              (args.batch, 3, args.size, args.size))
    predictor = predictors if len(predictors) > 1 else predictors[0]

    # the same images, decoded once, for pure inference
    arrays = np.stack([pre.load(s.path) for s in ds.samples])
    bs = args.batch
    batches = [arrays[i:i + bs] for i in range(0, len(arrays), bs)]
    for p in predictors:
        for b in batches[:2]:
            p.predict(b)  # warm-up

    # Each phase records wall time and this process's CPU time (all threads). On a shared
    # machine the wall figure drifts with other people's load; CPU-seconds per image show
    # what decoding and writing add, independent of that load.
    def pure() -> tuple[float, float]:
        """Inference alone, in the eval's configuration: with N streams, N threads each
        take the next batch and run it on their own session."""
        import queue
        from concurrent.futures import ThreadPoolExecutor

        free: queue.Queue = queue.Queue()
        for p in predictors:
            free.put(p)

        def run(b: np.ndarray) -> None:
            p = free.get()
            try:
                p.predict(b)
            finally:
                free.put(p)

        t, c = time.perf_counter(), time.process_time()
        if len(predictors) == 1:
            for b in batches:
                predictors[0].predict(b)
        else:
            with ThreadPoolExecutor(len(predictors)) as ex:
                list(ex.map(run, batches))
        return len(arrays) / (time.perf_counter() - t), len(arrays) / (time.process_time() - c)

    def full(k: int) -> tuple[float, float]:
        with tempfile.TemporaryDirectory(dir=work) as out:
            t, c = time.perf_counter(), time.process_time()
            res = evaluate(predictor, ds.samples, pre, ds.class_names, Path(out) / f"r{k}", batch_size=bs,
                           workers=args.workers)
            dt, dc = time.perf_counter() - t, time.process_time() - c
            assert res.n == len(ds.samples) and res.skipped == 0
            decode_seen.update(res.decode)
        return res.n / dt, res.n / dc

    # The evaluator with decoding taken out: a loader that copies the arrays decoded above
    # into the batch slots. What it loses against pure inference is everything the eval
    # does besides decoding (batching, top-5, results.jsonl, reports).
    from workbench.data.identity import content_hash

    decoded = {str(s.path): (a, content_hash(s.path)) for s, a in zip(ds.samples, arrays, strict=True)}

    class Predecoded:
        input_size = pre.input_size

        def describe(self) -> dict:
            return {**pre.describe(), "name": "predecoded"}

        def load(self, path) -> np.ndarray:
            return decoded[str(path)][0]

        def load_identified_into(self, path, out: np.ndarray) -> str:
            a, digest = decoded[str(path)]
            out[...] = a
            return digest

    def no_decode(k: int) -> tuple[float, float]:
        with tempfile.TemporaryDirectory(dir=work) as out:
            t, c = time.perf_counter(), time.process_time()
            res = evaluate(predictor, ds.samples, Predecoded(), ds.class_names, Path(out) / f"n{k}",
                           batch_size=bs, workers=args.workers)
            return res.n / (time.perf_counter() - t), res.n / (time.process_time() - c)

    decode_seen: dict = {}
    pure_runs, full_runs, bare_runs, ratios, bare_ratios = [], [], [], [], []
    for k in range(args.rounds):  # pure, full, pure, no-decode, pure, ...: each between two pures
        pure_runs.append(pure())
        full_runs.append(full(k))
        pure_runs.append(pure())
        bare_runs.append(no_decode(k))
    pure_runs.append(pure())
    for k in range(args.rounds):
        ratios.append(full_runs[k][0] / ((pure_runs[2 * k][0] + pure_runs[2 * k + 1][0]) / 2))
        bare_ratios.append(bare_runs[k][0] / ((pure_runs[2 * k + 1][0] + pure_runs[2 * k + 2][0]) / 2))

    # per-image CPU cost of read + hash + decode + preprocess (CPU time, single thread, best of
    # 3 passes): our libjpeg-turbo path, our path forced to PIL's decoder, timm create_transform
    from PIL import Image

    from workbench.data.decode import fast_decoder

    sub = ds.samples[:64]

    def cpu_ms(fn) -> float:
        best = float("inf")
        for _ in range(3):
            c = time.process_time()
            for s in sub:
                fn(s.path)
            best = min(best, 1000 * (time.process_time() - c) / len(sub))
        return best

    decoder = fast_decoder()
    ours_ms = cpu_ms(pre.load_identified)
    os.environ["HRNET_WB_DECODER"] = "pil"
    pil_ms = cpu_ms(pre.load_identified)
    del os.environ["HRNET_WB_DECODER"]
    tf = pre.timm_transform()
    import torch

    torch.set_num_threads(1)
    timm_ms = cpu_ms(lambda p: tf(Image.open(p).convert("RGB")).numpy())

    p = statistics.median(x[0] for x in pure_runs)
    f = statistics.median(x[0] for x in full_runs)
    pc = statistics.median(x[1] for x in pure_runs)
    fc = statistics.median(x[1] for x in full_runs)
    print(f"host: {os.cpu_count()} CPUs, inference threads {threads} in {len(predictors)} stream(s), "
          f"loadavg {os.getloadavg()[0]:.1f}")
    print(f"images: {len(ds.samples)} JPEGs {Image.open(ds.samples[0].path).size[0]}x"
          f"{Image.open(ds.samples[0].path).size[1]}, batch {bs}, {art.backend} int8, preprocess {pre.cfg.name}")
    print(f"pure inference  : {p:7.2f} img/s wall  {pc:7.2f} img/CPU-s   runs "
          + ", ".join(f"{x[0]:.2f}" for x in pure_runs))
    print(f"full eval       : {f:7.2f} img/s wall  {fc:7.2f} img/CPU-s   runs "
          + ", ".join(f"{x[0]:.2f}" for x in full_runs))
    print(f"ratio full/pure : {statistics.median(ratios):.3f} wall (each eval vs the mean of the inference "
          f"runs around it: {', '.join(f'{r:.3f}' for r in ratios)}), {fc / pc:.3f} CPU   (target >= 0.93)")
    print(f"eval, no decoding: {statistics.median(x[0] for x in bare_runs):7.2f} img/s wall, ratio to pure "
          f"{statistics.median(bare_ratios):.3f} ({', '.join(f'{r:.3f}' for r in bare_ratios)}): the cost of "
          "everything but decoding")
    print("eval decode: " + ", ".join(f"{k} {v}" for k, v in decode_seen.items())
          + "   (HRNET_WB_DECODE_SCHEDULE=burst|overlap overrides the schedule)")
    infer_ms = 1000 / pc  # CPU milliseconds (all threads) per image of pure inference
    print(f"decode+preprocess CPU, 1 thread: ours ({decoder}) {ours_ms:.2f} ms/img, ours with PIL's "
          f"decoder {pil_ms:.2f}, timm create_transform {timm_ms:.2f}")
    print(f"inference CPU {infer_ms:.1f} ms/img; decode/inference cost ratio {ours_ms / infer_ms:.3f} "
          f"-> bound on full/pure from decode alone {infer_ms / (infer_ms + ours_ms):.3f}")


if __name__ == "__main__":
    main()

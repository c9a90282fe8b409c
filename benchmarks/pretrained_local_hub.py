"""`--weights pretrained` end to end with a local server standing in for the Hugging Face hub.

    python benchmarks/pretrained_local_hub.py                       # w18_int8 profile, assets/, small counts
    python benchmarks/pretrained_local_hub.py --variant hrnet_w18_small --json

Starts tests/hubserver.py on 127.0.0.1 (HF_ENDPOINT points at it), serving a hrnet_w18
checkpoint written here (seeded random-init weights in the shape of
``timm/hrnet_w18.ms_aug_in1k``: no real weights can be downloaded here), then runs

    hrnet-wb run --profile profiles/w18_int8.toml --set model.weights=pretrained
                 --set data.path=assets --set build.calibration.count=4 ...

twice with a fresh HF cache and home, and prints what each run asked of the server. The
first run downloads once (a HEAD on /resolve, a GET of the file, plus huggingface_hub's own
agent-registry lookup); the second run must make 0 requests.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from hubserver import LocalHub  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", default="hrnet_w18")
    ap.add_argument("--profile", default=str(ROOT / "profiles" / "w18_int8.toml"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from workbench.sources import ModelSpec, load_model
    from workbench.sources.checkpoint import save_state_dict
    from workbench.sources.weights_catalogue import find_weights

    entry = find_weights("timm", args.variant)
    work = Path(tempfile.mkdtemp(prefix="hrnet-wb-pretrained-"))
    # the workbench's own seeded random-init (timm init + BN statistics): logits O(1), so the
    # export parity gate (1e-4) holds at 224 as it does for the demo
    model = load_model(ModelSpec("timm", args.variant, "random-init")).model
    ckpt = save_state_dict(model.state_dict(), work / "model.safetensors")
    sets = ["model.weights=pretrained", f"model.variant={args.variant}", f"data.path={ROOT / 'assets'}",
            "build.calibration.count=4", "bench.batch_sizes=[1]", "bench.iterations=5", "bench.warmup=1"]
    out: dict = {"variant": args.variant, "hub_repo": entry.hf_repo, "file_bytes": ckpt.stat().st_size,
                 "runs": []}
    with LocalHub() as hub:
        hub.add_hub_file(entry.hf_repo, entry.hf_file, ckpt.read_bytes())
        env = {**os.environ, "HF_HOME": str(work / "hf"), "HF_ENDPOINT": hub.endpoint,
               "HRNET_WB_HOME": str(work / "home"), "NO_PROXY": "127.0.0.1,localhost"}
        for var in ("HF_HUB_CACHE", "HF_HUB_OFFLINE", "HRNET_WB_OFFLINE"):
            env.pop(var, None)
        for i in (1, 2):
            before = len(hub.requests)
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "workbench", "run", "--profile", args.profile,
                                   *[a for s in sets for a in ("--set", s)], "--json"],
                                  capture_output=True, text=True, env=env)
            seconds = time.perf_counter() - t0
            if proc.returncode != 0 or not proc.stdout.strip():
                print(f"run {i} failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}\n{proc.stdout[-3000:]}", file=sys.stderr)
                return proc.returncode or 1
            rec = json.loads(proc.stdout)
            reqs = hub.requests[before:]
            print(f"run {i}: {len(reqs)} requests, {seconds:.1f} s wall", file=sys.stderr, flush=True)
            out["runs"].append({
                "run": i, "wall_s": round(seconds, 1), "requests": len(reqs),
                "request_lines": [" ".join(r[:3]) + (f" Range: {r[3]}" if r[3] else "") for r in reqs],
                "weights": rec["weights"], "catalogue_key": rec["model"]["catalogue_key"],
                "builds": [b["name"] for b in rec["builds"]], "reproduction": rec["reproduction"],
            })
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"{args.variant}: served {entry.hf_repo} ({out['file_bytes'] / 2**20:.1f} MiB) from {hub.endpoint}")
    for r in out["runs"]:
        print(f"run {r['run']}: {r['requests']} requests, {r['wall_s']} s wall")
        for line in r["request_lines"]:
            print(f"    {line}")
        for name, rep in r["reproduction"].items():
            print(f"    {name}: measured top-1 {rep['measured_top1']:.2f} vs published {rep['published_top1']:.2f} "
                  f"(95% CI {rep['top1_ci95'][0]:.1f}-{rep['top1_ci95'][1]:.1f} on {rep['images']} images)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

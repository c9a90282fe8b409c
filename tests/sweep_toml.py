"""A small sweep profile (hrnet_w18_small-class rows at 64x64, fp32 + int8 minmax, the
bundled images, a short bench) for the sweep tests on either engine."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def sweep_toml(tmp_path: Path, variants: list[str], sources: tuple[str, ...] = ("timm",),
               bench: bool = True) -> Path:
    p = tmp_path / "small.toml"
    p.write_text(f"""
name = "small"
[models]
sources = {json.dumps(list(sources))}
variants = {json.dumps(variants)}
input_size = [64, 64]
[[builds]]
dtype = "fp32"
[[builds]]
dtype = "int8"
calibration = "minmax"
[calibration]
count = 4
[data]
path = "{ROOT / 'assets'}"
batch_size = 4
[bench]
enabled = {str(bench).lower()}
batch_sizes = [1, 2]
warmup = 1
iterations = 3
rounds = 1
[output]
dir = "{tmp_path / 'sweep'}"
""")
    return p

"""``bench --inputs real``: decoded, preprocessed images instead of seeded random tensors.

Random tensors are the default because they need no data and every runtime sees the same
bytes. Real images matter where the data changes the work: a quantized model's activations
saturate differently, and denormals or sparsity can change a kernel's speed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.errors import BadInput
from workbench.events import Reporter


def real_inputs(data: str, input_size: tuple[int, int], *, variant: str = "", source: str = "timm",
                count: int = 8, reporter: Reporter | None = None) -> np.ndarray:
    """The first ``count`` decodable images of ``data`` (any layout workbench.data reads),
    preprocessed with the variant's default preset at ``input_size``: (N, 3, H, W) float32."""
    from workbench.data import DecodeError, open_dataset
    from workbench.data.preprocess import Preprocessor, preset_for

    ds = open_dataset(data)
    pre = Preprocessor(preset_for(source, variant, "", input_size))
    out: list[np.ndarray] = []
    skipped = 0
    for s in ds.samples:
        if len(out) >= count:
            break
        try:
            out.append(pre.load(s.path))
        except DecodeError:
            skipped += 1
    if not out:
        raise BadInput(f"{data}: no decodable images for --inputs real")
    if reporter is not None:
        reporter.log(f"bench inputs: {len(out)} real image(s) from {ds.describe()}"
                     + (f" ({skipped} undecodable skipped)" if skipped else ""))
    arr: Any = np.stack(out).astype(np.float32)
    return arr

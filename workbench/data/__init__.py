"""Data: dataset layouts, labels, robust decode, preprocessing presets, npz export.

``open_dataset`` turns whatever folder the user has into a list of :class:`Sample`;
``workbench.data.preprocess`` turns one file into the float32 CHW array a model expects.
Nothing here imports torch or timm at module level.
"""

from __future__ import annotations

from workbench.data.decode import DecodeError, open_rgb
from workbench.data.layouts import LAYOUTS, Dataset, Sample, detect_layout, open_dataset

__all__ = ["LAYOUTS", "Dataset", "DecodeError", "Sample", "detect_layout", "open_dataset", "open_rgb"]

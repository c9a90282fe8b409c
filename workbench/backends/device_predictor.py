"""The part every predictor that runs on a device shares (torch-cuda, ort-gpu, tensorrt).

Such a predictor takes a host array or an input already on its device (``to_device``);
given uint8 pixels it normalises them where it runs, gathering from the CPU path's own
table (:func:`workbench.runtime.uint8_table`), so only bytes cross to the device and the
values equal the CPU path's float32 batch bit for bit; ``predict_topk`` ranks on the
device and copies back only k ids and probabilities per image; ``run`` keeps the logits
there (bench). A runtime fills in four steps: ``_upload`` (host or device input → its
device, uint8 kept), ``_normalise`` (uint8 → float with the table), ``_infer`` (logits on
the device) and ``_topk`` (the k best ids and their softmax probabilities, host arrays).

Ranking is by logit, ties to the lower class id, as the host's
:func:`workbench.evaluate.metrics.topk` does; the probabilities are the runtime's float32
softmax (the host's is float64, so they can differ in the 8th decimal).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from workbench.runtime import uint8_table


class DevicePredictor:
    """Base of the GPU backends' predictors (see the module's docstring)."""

    #: the Predictor capability (workbench.runtime): uint8 batches are normalised here
    normalizes_uint8 = True
    #: the device inference runs on ("cuda", "cuda:0", "cpu")
    device: Any = "cpu"
    _table: np.ndarray | None = None

    @property
    def on_gpu(self) -> bool:
        return str(self.device).startswith("cuda")

    # -- the uint8 normalisation --------------------------------------------------------------

    def set_normalization(self, mean: Sequence[float], std: Sequence[float]) -> None:
        """Normalise uint8 batches with the preprocessing's mean/std (0..1 scale)."""
        self._table = uint8_table(mean, std)
        self._load_table(self._table.reshape(-1))

    def _load_table(self, table: np.ndarray) -> None:
        """Put the (768,) table (channel c's value for pixel v at ``256 * c + v``) on the
        device, once per normalisation."""

    def _check_table(self) -> None:
        if self._table is None:
            raise ValueError("a uint8 batch needs the preprocessing's mean/std: call "
                             "set_normalization(mean, std) or open with mean/std")

    # -- running ------------------------------------------------------------------------------

    def to_device(self, batch: Any) -> Any:
        """A host array or an input already on the device → the model's input there; uint8
        pixels are normalised on the device."""
        x = self._upload(batch)
        if self._is_uint8(x):
            self._check_table()
            x = self._normalise(x)
        return self._as_model_input(x)

    def run(self, batch: Any) -> Any:
        """Logits on the device."""
        return self._infer(self.to_device(batch))

    def predict(self, batch: Any) -> np.ndarray:
        return np.asarray(self._host(self.run(batch)), dtype=np.float32)

    def predict_topk(self, batch: Any, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """(ids, softmax probabilities), each (N, k), ranked on the device; only they come back."""
        ids, probs = self._topk(self.run(batch), k)
        return np.asarray(ids, dtype=np.int64), np.asarray(probs, dtype=np.float32)

    def time_run(self, batch: Any) -> float:
        """One request's milliseconds, the device finished (a runtime with device events
        overrides this)."""
        t0 = time.perf_counter()
        self.run(batch)
        self._synchronize()
        return (time.perf_counter() - t0) * 1e3

    def reset_device_peak(self) -> None:
        """Start a new device-memory peak (where the runtime reports one)."""

    def device_peak_mb(self) -> float | None:
        """Peak device memory since :meth:`reset_device_peak` (None: not reported)."""
        return None

    # -- what a runtime fills in ----------------------------------------------------------------

    def _upload(self, batch: Any) -> Any:
        raise NotImplementedError

    def _is_uint8(self, x: Any) -> bool:
        raise NotImplementedError

    def _normalise(self, x: Any) -> Any:
        raise NotImplementedError

    def _as_model_input(self, x: Any) -> Any:
        return x

    def _infer(self, x: Any) -> Any:
        raise NotImplementedError

    def _topk(self, logits: Any, k: int) -> tuple[Any, Any]:
        raise NotImplementedError

    def _host(self, x: Any) -> Any:
        raise NotImplementedError

    def _synchronize(self) -> None:
        """Wait for the device (run-to-completion runtimes need nothing)."""

"""A device-aware torch predictor: eager, CUDA graphs or ``torch.compile``.

It takes a host array (float32, or uint8 that it normalises where it runs) or a tensor
already on its device. ``predict`` returns host logits (the Predictor protocol);
``predict_topk`` takes the top-k on the device and copies back only k ids and
probabilities per image; ``run`` keeps the output on the device (bench). ``time_run``
times one request with CUDA events around a synchronised stream on a GPU, and with the
wall clock on the CPU. Out of device memory is one :class:`DeviceOutOfMemory` line that
names the batch and the memory.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.backends.base import DeviceOutOfMemory
from workbench.backends.torch_cuda.device import cuda_reason, is_cuda
from workbench.runtime import resolve_threads

if TYPE_CHECKING:  # pragma: no cover
    import torch

NAME = "torch-cuda"
GRAPH_WARMUP = 3


class TorchCudaPredictor:
    backend = NAME

    def __init__(self, model: torch.nn.Module, *, device: str, dtype: str, mode: str = "eager",
                 channels_last: bool = True, threads: int = 0, folded_bn: int = 0,
                 mean: tuple[float, ...] | None = None, std: tuple[float, ...] | None = None,
                 recipe: dict[str, Any] | None = None) -> None:
        import torch

        from workbench.backends.torch_cuda.model import torch_dtype

        self.model, self.device, self.dtype = model, torch.device(device), dtype
        self.tdtype = torch_dtype(dtype)
        self.channels_last, self.folded_bn, self.recipe = channels_last, folded_bn, recipe or {}
        self.threads = threads
        self.mode_asked = mode
        self.mode, self.mode_note = self._choose_mode(mode)
        self.compile_s: dict[str, float] = {}
        self._graphs: dict[tuple[int, ...], tuple[Any, Any, Any]] = {}
        self._compiled: Any = None
        self._norm: tuple[Any, Any] | None = None
        if mean is not None and std is not None:
            m = torch.tensor(mean, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
            s = torch.tensor(std, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
            self._norm = (m * 255.0, s * 255.0)
        if not self.on_gpu:
            torch.set_num_threads(resolve_threads(threads))

    # -- what runs ----------------------------------------------------------------------------

    @property
    def on_gpu(self) -> bool:
        return is_cuda(self.device)

    @property
    def cpu_threads(self) -> int:
        return 0 if self.on_gpu else resolve_threads(self.threads)

    def _choose_mode(self, mode: str) -> tuple[str, str]:
        """auto: CUDA graphs on a GPU (bs1 launch-bound, no compile wait), eager on a CPU.
        graphs without CUDA steps aside to eager, with the reason recorded."""
        if mode == "auto":
            return ("graphs", "auto: CUDA graphs on a GPU") if self.on_gpu else (
                "eager", "auto: eager on the CPU")
        if mode == "graphs" and not self.on_gpu:
            return "eager", f"CUDA graphs need a GPU ({cuda_reason() or 'device is cpu'}): ran eager"
        return mode, ""

    def runtime_settings(self) -> Any:
        from workbench.backends.torch_cuda.settings import torch_cuda_settings

        return torch_cuda_settings(self)

    # -- inputs -------------------------------------------------------------------------------

    def to_device(self, batch: Any) -> torch.Tensor:
        """A host array or a tensor → this device, this dtype and memory format; uint8 is
        normalised here (mean/std given at open) so only bytes cross the bus."""
        import torch

        x = batch if isinstance(batch, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(batch))
        if x.device != self.device:
            x = x.pin_memory().to(self.device, non_blocking=True) if self.on_gpu else x.to(self.device)
        if x.dtype == torch.uint8:
            if self._norm is None:
                raise ValueError("a uint8 batch needs the preprocessing's mean/std at open")
            x = (x.float() - self._norm[0]) / self._norm[1]
        x = x.to(self.tdtype)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    # -- running ------------------------------------------------------------------------------

    def run(self, batch: Any) -> torch.Tensor:
        """Logits on the device (a CUDA graph's output buffer is reused: consume it before
        the next call)."""
        import torch

        x = self.to_device(batch)
        self._tf32()
        try:
            with torch.inference_mode():
                if self.mode == "graphs":
                    return self._graph_run(x)
                if self.mode == "compile":
                    return self._compile_run(x)
                return self.model(x)
        except torch.cuda.OutOfMemoryError as exc:
            raise DeviceOutOfMemory(int(x.shape[0]), self._memory_line(), str(exc)) from None

    def predict(self, batch: Any) -> np.ndarray:
        return self.run(batch).float().cpu().numpy()

    def predict_topk(self, batch: Any, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """(ids, softmax probabilities), each (N, k), taken on the device."""
        import torch

        logits = self.run(batch).float()
        probs = torch.softmax(logits, dim=1)
        top, ids = torch.topk(probs, k, dim=1)
        return ids.cpu().numpy(), top.cpu().numpy()

    def time_run(self, batch: Any) -> float:
        """One request's milliseconds: CUDA events with synchronisation on a GPU."""
        if not self.on_gpu:
            t0 = time.perf_counter()
            self.run(batch)
            return (time.perf_counter() - t0) * 1e3
        import torch

        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        self.run(batch)
        end.record()
        end.synchronize()
        return float(start.elapsed_time(end))

    def reset_device_peak(self) -> None:
        if self.on_gpu:
            import torch

            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)

    def device_peak_mb(self) -> float | None:
        """``torch.cuda.max_memory_allocated`` since the last reset (None on the CPU)."""
        if not self.on_gpu:
            return None
        import torch

        return float(torch.cuda.max_memory_allocated(self.device)) / 2**20

    def close(self) -> None:
        self._graphs.clear()
        self._compiled = None
        if self.on_gpu:
            import torch

            torch.cuda.empty_cache()

    # -- modes --------------------------------------------------------------------------------

    def _tf32(self) -> None:
        import torch

        on = self.dtype == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = on
        torch.backends.cudnn.allow_tf32 = on

    def _graph_run(self, x: torch.Tensor) -> torch.Tensor:
        """One CUDA graph per static input shape, captured on first use."""
        import torch

        key = tuple(x.shape)
        if key not in self._graphs:
            t0 = time.perf_counter()
            static_in = x.clone()
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                for _ in range(GRAPH_WARMUP):
                    self.model(static_in)
            torch.cuda.current_stream(self.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_out = self.model(static_in)
            self._graphs[key] = (graph, static_in, static_out)
            self.compile_s["x".join(map(str, key))] = time.perf_counter() - t0
        graph, static_in, static_out = self._graphs[key]
        static_in.copy_(x)
        graph.replay()
        return static_out

    def _compile_run(self, x: torch.Tensor) -> torch.Tensor:
        """``torch.compile``: reduce-overhead (CUDA graphs inside) with inductor freezing on
        a GPU, the default mode on the CPU; the first call per shape is timed as compile.
        Inductor's own FX-graph cache keeps compiled kernels per graph, shape and device on
        disk (``TORCHINDUCTOR_CACHE_DIR``), so a second process compiles from it."""
        import torch

        if self._compiled is None:
            import torch._inductor.config as inductor_config

            inductor_config.freezing = True
            mode = "reduce-overhead" if self.on_gpu else "default"
            self._compiled = torch.compile(self.model, mode=mode, dynamic=False)
            self.compile_mode = mode
        key = "x".join(map(str, x.shape))
        if key not in self.compile_s:
            t0 = time.perf_counter()
            out = self._compiled(x)
            if self.on_gpu:
                torch.cuda.synchronize(self.device)
            self.compile_s[key] = time.perf_counter() - t0
            return out
        return self._compiled(x)

    def _memory_line(self) -> str:
        if not self.on_gpu:
            return "host memory"
        import torch

        free, total = torch.cuda.mem_get_info(self.device)
        return (f"{torch.cuda.memory_allocated(self.device) / 2**20:.0f} MiB allocated, "
                f"{free / 2**20:.0f} of {total / 2**20:.0f} MiB free")

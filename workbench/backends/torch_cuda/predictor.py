"""A device-aware torch predictor: eager, CUDA graphs or ``torch.compile``.

The shared device path (host or device input, uint8 normalised where it runs, top-k on
the device) is :class:`~workbench.backends.device_predictor.DevicePredictor`'s; here are
torch's steps. ``time_run`` times one request with CUDA events around a synchronised
stream on a GPU, and with the wall clock on the CPU. Out of device memory is one
:class:`DeviceOutOfMemory` line that names the batch and the memory.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.backends.base import DeviceOutOfMemory
from workbench.backends.device_predictor import DevicePredictor
from workbench.backends.torch_cuda.device import cuda_reason
from workbench.runtime import resolve_threads

if TYPE_CHECKING:  # pragma: no cover
    import torch

NAME = "torch-cuda"
GRAPH_WARMUP = 3


class TorchCudaPredictor(DevicePredictor):
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
        if mean is not None and std is not None:
            self.set_normalization(mean, std)
        if not self.on_gpu:
            torch.set_num_threads(resolve_threads(threads))

    # -- what runs ----------------------------------------------------------------------------

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

    # -- the device path's steps (DevicePredictor) --------------------------------------------

    def _upload(self, batch: Any) -> torch.Tensor:
        import torch

        x = batch if isinstance(batch, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(batch))
        if x.device != self.device:
            x = x.pin_memory().to(self.device, non_blocking=True) if self.on_gpu else x.to(self.device)
        return x

    def _is_uint8(self, x: torch.Tensor) -> bool:
        import torch

        return x.dtype == torch.uint8

    def _load_table(self, table: np.ndarray) -> None:
        import torch

        self._table_t = torch.from_numpy(table).to(self.device)
        self._offsets = torch.tensor([0, 256, 512], dtype=torch.int32, device=self.device).view(1, 3, 1, 1)

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        """Gather each pixel's value from the table: the CPU path's float32, exactly."""
        import torch

        idx = (x.to(torch.int32) + self._offsets).reshape(-1)
        return torch.index_select(self._table_t, 0, idx).view(x.shape)

    def _as_model_input(self, x: torch.Tensor) -> torch.Tensor:
        import torch

        x = x.to(self.tdtype)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def _infer(self, x: torch.Tensor) -> torch.Tensor:
        """Logits on the device (a CUDA graph's output buffer is reused: consume it before
        the next call)."""
        import torch

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

    def _topk(self, logits: torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
        """A stable descending sort (ties to the lower id, as the host's), the softmax
        probabilities of the k kept."""
        import torch

        z = logits.float()
        ids = torch.sort(z, dim=1, descending=True, stable=True).indices[:, :k]
        probs = torch.softmax(z, dim=1).gather(1, ids)
        return ids.cpu().numpy(), probs.cpu().numpy()

    def _host(self, x: torch.Tensor) -> np.ndarray:
        return x.float().cpu().numpy()

    def time_run(self, batch: Any) -> float:
        """One request's milliseconds: CUDA events with synchronisation on a GPU."""
        if not self.on_gpu:
            return super().time_run(batch)
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

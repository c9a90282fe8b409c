"""Decoding on the device: nvJPEG, then resize, crop and normalise where inference runs.

On a GPU the CPU's JPEG decode caps an eval well below the model's rate, so a batch of
files is read on the host (bytes only), decoded by ``torchvision.io.decode_jpeg`` on the
device (nvJPEG on CUDA), resized with antialiased bilinear interpolation and
centre-cropped there, as uint8 pixels that the predictor normalises where it runs (the
CPU path's table, :func:`workbench.runtime.uint8_table`). The resize is not bit-exact with Pillow's, so this is its own
preset, named ``<preset>+nvjpeg``; :func:`compare_with_cpu` measures its pixel difference
and top-1 agreement against the exact CPU path, and the exact path stays the default.

A file the device decoder refuses (CMYK, some progressive or corrupt files) falls back to
the exact CPU path, one file at a time; every such file is counted with its reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.data.decode import DecodeError, read_image_bytes
from workbench.data.identity import content_hash_bytes
from workbench.data.preprocess import Preprocessor

if TYPE_CHECKING:  # pragma: no cover
    import torch

SUFFIX = "+nvjpeg"
#: decode(list of uint8 byte tensors, device) -> list of (3, H, W) uint8 tensors on device
DecodeFn = Callable[[list[Any], str], list[Any]]


def torchvision_decode(datas: list[Any], device: str) -> list[Any]:
    """``torchvision.io.decode_jpeg`` on ``device`` (nvJPEG on CUDA), RGB out."""
    from torchvision.io import ImageReadMode, decode_jpeg

    out = decode_jpeg(datas, mode=ImageReadMode.RGB, device=device)
    return list(out) if isinstance(out, list | tuple) else [out]


class DeviceDecoder:
    """Batches of files → uint8 NCHW pixels on ``device``, plus content hashes."""

    def __init__(self, pre: Preprocessor, device: str = "cuda", decode: DecodeFn | None = None):
        self.pre, self.device = pre, device
        self._decode = decode or torchvision_decode
        self.fallbacks: list[tuple[str, str]] = []  # (path, why the device refused it)
        self.decoded_on_device = 0
        self._side: Any = None  # the side CUDA stream of load_ahead

    @property
    def name(self) -> str:
        return f"{self.pre.cfg.name}{SUFFIX}"

    @property
    def cfg(self) -> Any:
        return self.pre.cfg

    @property
    def input_size(self) -> tuple[int, int]:
        return self.pre.input_size

    def describe(self) -> dict[str, Any]:
        d = dict(self.pre.describe())
        d.update(name=self.name, decode=f"torchvision.io.decode_jpeg on {self.device}",
                 resize=f"{self.pre.cfg.interpolation}, antialias, on the device", exact=False,
                 fallback="exact CPU path, per file")
        return d

    def load_batch(self, paths: Sequence[str | Path]) -> tuple[torch.Tensor, list[str]]:
        """Decode ``paths`` into one batch on the device; raises DecodeError for a file
        neither the device nor the CPU can read."""
        import torch

        datas = [read_image_bytes(p) for p in paths]
        hashes = [content_hash_bytes(d) for d in datas]
        tensors = [torch.frombuffer(bytearray(d), dtype=torch.uint8) for d in datas]
        try:
            images: list[Any] = self._decode(tensors, self.device)
        except Exception:  # one bad file fails the batched call: retry one by one
            images = [self._one(t) for t in tensors]
        out = torch.empty((len(paths), 3, *self.pre.input_size), dtype=torch.uint8,
                          device=self.device)
        for i, (p, img) in enumerate(zip(paths, images, strict=True)):
            if img is None or img.ndim != 3 or img.shape[0] != 3:
                out[i] = self._cpu(p, datas[i])
            else:
                out[i] = self._resize_crop(img)
                self.decoded_on_device += 1
        return out, hashes

    def load_ahead(self, paths: Sequence[str | Path]) -> tuple[torch.Tensor, list[str], Any]:
        """:meth:`load_batch` for a helper thread: on a GPU it runs on a side stream, so the
        next batch decodes while this one infers; pass the result through :meth:`ready` on
        the thread that uses it. (x, hashes, the event marking it done or None)."""
        if not str(self.device).startswith("cuda"):
            return (*self.load_batch(paths), None)
        import torch

        if self._side is None:
            self._side = torch.cuda.Stream(self.device)
        with torch.cuda.stream(self._side):
            x, hashes = self.load_batch(paths)
            done = torch.cuda.Event()
            done.record(self._side)
        return x, hashes, done

    def ready(self, x: torch.Tensor, done: Any) -> torch.Tensor:
        """Make the consuming stream wait for a batch decoded ahead (a no-op on a CPU)."""
        if done is not None:
            import torch

            cur = torch.cuda.current_stream(self.device)
            cur.wait_event(done)
            x.record_stream(cur)  # its memory is not reused before this stream is done
        return x

    def _one(self, data: Any) -> Any:
        try:
            return self._decode([data], self.device)[0]
        except Exception:
            return None

    def _cpu(self, path: str | Path, data: bytes) -> torch.Tensor:
        import torch

        try:
            hwc = self.pre.uint8_from_bytes(data, path)
        except DecodeError as exc:  # neither the device nor the CPU can read it
            exc.content_hash = content_hash_bytes(data)
            raise
        self.fallbacks.append((str(path), "the device decoder refused it"))
        return torch.from_numpy(hwc.copy()).permute(2, 0, 1).to(self.device)

    def _resize_crop(self, img: torch.Tensor) -> torch.Tensor:
        """The CPU path's geometry (resized size, centre crop), torch's antialiased filter."""
        import torch
        import torch.nn.functional as F

        _c, h, w = img.shape
        nw, nh = self.pre.resized_size(int(w), int(h))
        mode = "bicubic" if self.pre.cfg.interpolation == "bicubic" else "bilinear"
        x = F.interpolate(img[None].float(), size=(nh, nw), mode=mode, antialias=True,
                          align_corners=False)[0]
        ch, cw = self.pre.input_size
        top, left = max(0, int(round((nh - ch) / 2.0))), max(0, int(round((nw - cw) / 2.0)))
        x = x[:, top:top + ch, left:left + cw]
        if x.shape[1:] != (ch, cw):  # smaller than the crop: zero-pad like the CPU path
            x = F.pad(x, (0, cw - x.shape[2], 0, ch - x.shape[1]))
        return x.round().clamp(0, 255).to(torch.uint8)


def for_predictor(pre: Preprocessor, predictors: Sequence[Any] | None) -> DeviceDecoder:
    """The ``+nvjpeg`` preset for an eval: one torch-cuda predictor (it takes a tensor on
    its device, normalises uint8 and takes top-k there), decoding on that predictor's device."""
    from workbench.backends.torch_cuda import TorchCudaPredictor
    from workbench.errors import BadInput

    preds = list(predictors or [])
    if len(preds) != 1 or not isinstance(preds[0], TorchCudaPredictor):
        raise BadInput(f"preprocess {pre.cfg.name}{SUFFIX} decodes on the device of one torch-cuda "
                       "predictor: use --backend torch-cuda, one stream, the local engine")
    preds[0].set_normalization(pre.cfg.mean, pre.cfg.std)
    return DeviceDecoder(pre, device=str(preds[0].device))


def compare_with_cpu(decoder: DeviceDecoder, paths: Sequence[str | Path], predictor: Any = None,
                     device_batch: Any = None) -> dict[str, Any]:
    """The device's pixels against the exact CPU path's for ``paths``: max and mean abs
    difference in 0..255 units, and the top-1 agreement of ``predictor`` (normalising uint8
    itself) on both, when given. ``device_batch``: a batch already decoded on the device
    whose first ``len(paths)`` images are ``paths``; the CPU's pixels replace those rows in
    a copy, so the predictor runs the batch's own shape (no new graph or compile)."""
    import numpy as np
    import torch

    dev = decoder.load_batch(paths)[0] if device_batch is None else device_batch
    m = len(paths)
    cpu = torch.from_numpy(np.stack([decoder.pre.load_uint8(p).transpose(2, 0, 1) for p in paths]))
    diff = (dev[:m].cpu().to(torch.int16) - cpu.to(torch.int16)).abs()
    out: dict[str, Any] = {"images": m, "max_abs_pixel_diff": int(diff.max()),
                           "mean_abs_pixel_diff": round(float(diff.float().mean()), 4),
                           "fallbacks": len(decoder.fallbacks)}
    if predictor is not None:
        exact = dev.clone()
        exact[:m] = cpu.to(dev.device)
        a = predictor.predict_topk(dev, 1)[0][:m, 0]
        b = predictor.predict_topk(exact, 1)[0][:m, 0]
        out["top1_agreement"] = round(float((a == b).mean()), 6)
    return out

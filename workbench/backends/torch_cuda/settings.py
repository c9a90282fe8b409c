"""What a torch-cuda predictor ran, read back from torch: the dtype the weights are in,
whether TF32 was allowed, the mode that ran (and why, when it is not the one asked), the
device and its description, the BatchNorms folded and the compile/capture seconds."""

from __future__ import annotations

from typing import Any

from workbench.runtime_settings import RuntimeSettings

_COMPUTE = {"torch.float32": "f32", "torch.float16": "f16", "torch.bfloat16": "bf16"}


def torch_cuda_settings(pred: Any) -> RuntimeSettings:
    import torch

    from workbench.backends.torch_cuda.device import gpu_info

    weight = next(iter(pred.model.parameters()), None)
    compute = _COMPUTE.get(str(weight.dtype if weight is not None else pred.tdtype), "f32")
    if compute == "f32" and pred.on_gpu and torch.backends.cuda.matmul.allow_tf32 \
            and torch.backends.cudnn.allow_tf32:
        compute = "tf32"
    info = gpu_info(str(pred.device)) if pred.on_gpu else {}
    details: dict[str, Any] = {
        "device": str(pred.device), "dtype": pred.dtype, "mode": pred.mode,
        "mode_asked": pred.mode_asked, "mode_note": pred.mode_note,
        "channels_last": pred.channels_last, "folded_bn": pred.folded_bn,
        "compile_s": {k: round(v, 3) for k, v in pred.compile_s.items()},
        "recipe": pred.recipe,
    }
    if info:
        details["gpu"] = info
    return RuntimeSettings(runtime="torch", version=str(torch.__version__).split("+")[0],
                           inference_precision=compute, compute_precision=compute,
                           threads=pred.cpu_threads or None, streams=1, hint=pred.mode,
                           details=details)

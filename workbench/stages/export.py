"""Stage 2: export ONNX once per (weights, opset, batch mode, size), parity-checked."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.events import StageTimer
from workbench.stages.context import RunContext, ensure_preprocessor

if TYPE_CHECKING:  # pragma: no cover
    from workbench.export import ExportResult


def stage_export(ctx: RunContext) -> ExportResult:
    """Export once per (weights, opset, batch mode, size); a later run reuses the checked file."""

    from workbench.export import (
        default_parity_inputs,
        export_cache_path,
        export_onnx,
        read_export_metadata,
    )

    assert ctx.loaded is not None
    e, size = ctx.profile.export, ctx.profile.model.input_size
    rep = ctx.reporter.stage("export")
    if ctx.loaded.model is None:  # the profile gave the .onnx (stage_model checked it)
        from workbench.export import ExportResult

        ctx.exported = ExportResult(Path(ctx.loaded.weights), e.opset, e.dynamic_batch, size,
                                    float("nan"), float("nan"), 0, 0.0)
        rep.artifact("onnx", ctx.loaded.weights, cached=True)
        return ctx.exported
    with StageTimer(rep, f"ONNX opset {e.opset}") as st:
        path = export_cache_path(ctx.home.cache, ctx.loaded.variant, ctx.loaded.weights_id,
                                 e.opset, e.dynamic_batch, size)
        cached = read_export_metadata(path)
        if (cached is not None and cached.opset == e.opset and cached.dynamic_batch == e.dynamic_batch
                and tuple(cached.input_size) == tuple(size) and cached.parity_rel <= e.parity_tolerance):
            ctx.exported = cached
            rep.artifact("onnx", str(path), cached=True)
            rep.log(f"reusing {path.name} (parity max abs {cached.parity_max_abs:.2e}, "
                    f"{cached.parity_rel:.2e} of the logits' scale)")
        else:
            parity = _parity_inputs(ctx, e.parity_images)
            if parity is None:
                parity = default_parity_inputs(e.parity_images, size)
            ctx.exported = export_onnx(
                ctx.loaded.model, path, size, opset=e.opset, dynamic_batch=e.dynamic_batch,
                parity_inputs=parity, tolerance=e.parity_tolerance, reporter=rep,
            )
        st.summary = {"parity_max_abs": ctx.exported.parity_max_abs,
                      "parity_cosine": ctx.exported.parity_cosine}
    return ctx.exported


def _parity_inputs(ctx: RunContext, n: int) -> Any:
    """Real images for the parity check when the profile has data; else None."""
    if not ctx.profile.data.path:
        return None
    import numpy as np

    from workbench.data import DecodeError, open_dataset

    pre = ensure_preprocessor(ctx)
    d = ctx.profile.data
    ds = open_dataset(d.path, layout=d.layout, labels=d.labels)
    arrays = []
    for s in ds.samples:
        try:
            arrays.append(pre.load(s.path))
        except DecodeError:
            continue
        if len(arrays) >= n:
            break
    return np.stack(arrays) if arrays else None

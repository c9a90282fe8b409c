"""Stage 1: load the model (timm / official / mmcls) as one canonical timm HRNet, or take
the exported .onnx the profile names (``model.onnx``: nothing to load or export)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from workbench.errors import BadInput
from workbench.events import StageTimer
from workbench.stages.context import RunContext

if TYPE_CHECKING:  # pragma: no cover
    from workbench.sources import LoadedModel


def onnx_input(path: str) -> tuple[Path, tuple[int, int] | None]:
    """A given .onnx checked as a classifier (one float NCHW input, one (N, classes) output),
    and its static input size (None where H or W is dynamic)."""
    from workbench.export import read_onnx_input
    from workbench.onnx_check import check_classifier

    p = Path(path).expanduser().resolve()
    if p.suffix.lower() != ".onnx":
        raise BadInput(f"{path}: expected an .onnx file (hrnet-wb export writes one)")
    check_classifier(p)
    info = read_onnx_input(p)
    return p, (info.height, info.width) if info.height and info.width else None


def stage_model(ctx: RunContext) -> LoadedModel:
    from workbench.sources import LoadedModel, ModelSpec, load_model

    m = ctx.profile.model
    rep = ctx.reporter.stage("model")
    if m.onnx:  # checked before the stage starts: a bad file is one line, nothing else
        path, size = onnx_input(m.onnx)
        if size is not None and size != tuple(m.input_size):
            if "input_size" in m.model_fields_set:
                raise BadInput(f"{path}: the model's input is fixed at {size[0]}x{size[1]}, "
                               f"not {m.input_size[0]}x{m.input_size[1]}")
            m = m.model_copy(update={"input_size": size})  # unset: the file's own size
            ctx.profile = ctx.profile.model_copy(update={"model": m})
        if ctx.profile.bench.enabled and ctx.profile.bench.baseline:
            raise BadInput("[bench].baseline measures the torch model; model.onnx has none")
    with StageTimer(rep, f"load {m.onnx or f'{m.source}:{m.variant}'}") as st:
        if m.onnx:  # identified by the file's bytes; source and variant only name it
            from workbench.build.cache import file_sha256

            ctx.loaded = LoadedModel(None, m.source, m.variant or path.stem, str(path),
                                     f"onnx:{file_sha256(path)}", "", "")
        else:
            ctx.loaded = load_model(
                ModelSpec(source=m.source, variant=m.variant, weights=m.weights, config=m.config, ema=m.ema),
                rep)
        st.summary = {"variant": ctx.loaded.variant, "weights": ctx.loaded.weights}
    return ctx.loaded

"""Stage 5: evaluate every build on the evaluation images, one results folder per build."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.events import StageTimer
from workbench.stages.context import RunContext

if TYPE_CHECKING:  # pragma: no cover
    from workbench.evaluate import EvalResult


def stage_eval(ctx: RunContext) -> dict[str, EvalResult]:
    from workbench.backends import open_predictor
    from workbench.evaluate import evaluate
    from workbench.runtime_settings import effective_settings

    out: dict[str, EvalResult] = {}
    if not ctx.eval_samples:
        return out
    assert ctx.dataset is not None and ctx.preprocessor is not None
    rep = ctx.reporter.stage("eval")
    d = ctx.profile.data
    with StageTimer(rep, f"{len(ctx.eval_samples)} images × {len(ctx.artifacts)} build(s)") as st:
        for art in ctx.artifacts:
            rep.check_cancelled()
            predictor = open_predictor(art.path, art.backend, d.threads)
            res = evaluate(
                predictor, ctx.eval_samples, ctx.preprocessor, ctx.dataset.class_names,
                ctx.out_dir / art.name, batch_size=d.batch_size, resume=False, reporter=rep,
                vastai_txt=ctx.profile.output.vastai_txt,
            )
            ctx.record_metric(art.name, "top1", None if res.top1 is None else 100 * res.top1, "%", art.key)
            ctx.record_metric(art.name, "top5", None if res.top5 is None else 100 * res.top5, "%", art.key)
            ctx.record_metric(art.name, "images", res.n, "", art.key)
            ctx.record_metric(art.name, "skipped", res.skipped, "", art.key)
            ctx.record_metric(art.name, "eval_img_s", res.images_per_s, "img/s", art.key)
            settings = effective_settings(predictor)
            ctx.store.add_runtime(ctx.run_id, art.name, settings, art.key, "eval")
            st.summary[art.name] = {"top1": res.top1, "top5": res.top5, "skipped": res.skipped,
                                    "precision": (settings or {}).get("compute_precision")}
            out[art.name] = res
    return out

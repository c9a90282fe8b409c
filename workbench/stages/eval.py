"""Stage 5: evaluate every build on the evaluation images, one results folder per build."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.events import StageTimer
from workbench.stages.context import RunContext

if TYPE_CHECKING:  # pragma: no cover
    from workbench.evaluate import EvalResult


def stage_eval(ctx: RunContext) -> dict[str, EvalResult]:
    from workbench.backends import open_predictor
    from workbench.evaluate import evaluate, record_eval

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
                vastai_txt=ctx.profile.output.vastai_txt, label=art.name,
                meta={"artifact": art.name, **ctx.data_identity, "limit": d.limit},
            )
            excluded = ctx.calibration_excluded if art.dtype == "int8" else 0
            record_eval(ctx.store, ctx.run_id, art.name, art.key, res, ctx.data_identity,
                        limit=d.limit, calibration={"excluded": excluded})
            figures = {"top1": (res.top1, "fraction"), "top5": (res.top5, "fraction"),
                       "images": (res.n, "count"), "skipped": (res.skipped, "count"),
                       "eval_img_s": (res.images_per_s, "img/s")}
            for name, (value, unit) in figures.items():
                if value is not None:
                    ctx.results.setdefault(art.name, {})[name] = value
                    rep.metric(art.name, name, float(value), unit)
            st.summary[art.name] = {"top1": res.top1, "top5": res.top5, "skipped": res.skipped}
            out[art.name] = res
    return out

"""Stage 5: evaluate every build on the evaluation images, one results folder per build."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workbench.events import Reporter, StageTimer
from workbench.stages.context import RunContext

if TYPE_CHECKING:  # pragma: no cover
    from workbench.evaluate import EvalResult


def stage_eval(ctx: RunContext) -> dict[str, EvalResult]:
    from workbench.evaluate import eval_figures, evaluate, record_eval
    from workbench.evaluate.run import open_streams

    out: dict[str, EvalResult] = {}
    if not ctx.eval_samples:
        return out
    assert ctx.dataset is not None and ctx.preprocessor is not None
    rep = ctx.reporter.stage("eval")
    d = ctx.profile.data
    with StageTimer(rep, f"{len(ctx.eval_samples)} images × {len(ctx.artifacts)} build(s)") as st:
        for art in ctx.artifacts:
            rep.check_cancelled()
            predictors = open_streams(art.path, art.backend, d.threads, d.streams, rep,
                                      (d.batch_size, 3, *ctx.preprocessor.input_size),
                                      len(ctx.eval_samples))
            res = evaluate(
                predictors, ctx.eval_samples, ctx.preprocessor, ctx.dataset.class_names,
                ctx.out_dir / art.name, batch_size=d.batch_size, resume=False, reporter=rep,
                vastai_txt=ctx.profile.output.vastai_txt, label=art.name,
                meta={"artifact": art.name, **ctx.data_identity, "limit": d.limit},
            )
            excluded = ctx.calibration_excluded if art.dtype == "int8" else 0
            settings = record_eval(ctx.store, ctx.run_id, art.name, art.key, res, ctx.data_identity,
                                   limit=d.limit, calibration={"excluded": excluded},
                                   predictors=predictors)
            ctx.show(art.name, eval_figures(res), as_float=False)
            st.summary[art.name] = {"top1": res.top1, "top5": res.top5, "skipped": res.skipped,
                                    "precision": (settings or {}).get("compute_precision")}
            out[art.name] = res
            check_reproduction(ctx, art, res, rep)
    return out


def check_reproduction(ctx: RunContext, art: Any, res: EvalResult, rep: Reporter) -> None:
    """Published vs measured, when catalogue weights meet ImageNet-labelled data."""
    from workbench.reproduction import looks_like_imagenet_val, reproduction

    assert ctx.loaded is not None and ctx.dataset is not None
    if ctx.loaded.is_random or not looks_like_imagenet_val(ctx.dataset.class_names, res.labelled):
        return
    r = reproduction(ctx.loaded.catalogue_key, res)
    if r is None:
        return
    ctx.reproduction[art.name] = r.as_dict()
    for name, value in (("published_top1", r.published_top1), ("published_top5", r.published_top5),
                        ("delta_top1", r.delta_top1), ("delta_top5", r.delta_top5),
                        ("top1_ci_lo", r.top1_ci95[0] if r.top1_ci95 else None),
                        ("top1_ci_hi", r.top1_ci95[1] if r.top1_ci95 else None)):
        # fractions, as every accuracy in the store (the unit rule)
        ctx.record_metric(art.name, name, None if value is None else value / 100.0, "fraction",
                          art.key)
    rep.log(f"{art.name}: {r.summary()}")

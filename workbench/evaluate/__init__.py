"""Evaluation: ``stream`` (the resumable loop), ``formats`` (JSONL, VastAI txt),
``metrics`` (top-k, Wilson), ``paired`` (``compare``, McNemar), ``run`` (``hrnet-wb eval``).

Why it is shaped this way (NOTES §2, §6):

* On 2 cores, decoding competes with inference for the same CPUs. Decode and preprocess
  run in a small thread pool (PIL and numpy release the GIL) a bounded number of images
  ahead of the model, so memory stays flat on 50,000 images and the model never waits
  on a file it could have had.
* ``results.jsonl`` is the source of truth: one line per image (id, path, ground truth,
  top-5 ids and probabilities, or the reason it was skipped), appended and flushed after
  every batch. A killed run loses at most the batch in flight; ``resume=True`` reads the
  ids already there (cutting off a line torn by ``kill -9``), skips them and appends the
  rest. Metrics are always computed from the whole file.
* The VastAI result txt (5 lines per image) is written from the JSONL at the end, so the
  seed's ``eval_topk.py`` flow still works; :func:`topk_from_vastai_txt` scores such a file
  matching by class **id** (``crane`` is two different ImageNet classes).
* :func:`compare_results` pairs two runs image by image (fp32 vs int8): agreement, the
  images whose top-1 flipped with the ground truth's rank in each, and McNemar's exact
  test on correctness — implemented here, scipy is not a dependency.
"""

from workbench.evaluate.formats import (
    CONFIG_JSON,
    REPORT_JSON,
    RESULTS_JSONL,
    RESULTS_TXT,
    GroundTruth,
    parse_vastai_txt,
    read_results,
    topk_from_vastai_txt,
    vastai_lines,
    write_vastai_txt,
)
from workbench.evaluate.metrics import TOPK, Z95, EvalResult, metrics_from_records, wilson_interval
from workbench.evaluate.paired import Flip, compare_results, find_results, mcnemar_exact
from workbench.evaluate.resume import IDENTITY_KEYS, eval_identity
from workbench.evaluate.run import (
    choose_preprocessor,
    eval_figures,
    record_eval,
    run_eval,
)
from workbench.evaluate.stream import ImageLoader, evaluate
from workbench.runtime import Predictor as BatchPredictor  # the one protocol, old name

__all__ = [
    "CONFIG_JSON", "REPORT_JSON", "RESULTS_JSONL", "RESULTS_TXT", "TOPK", "Z95",
    "BatchPredictor", "EvalResult", "Flip", "GroundTruth", "ImageLoader",
    "IDENTITY_KEYS", "eval_identity",
    "choose_preprocessor", "compare_results", "eval_figures", "evaluate", "find_results", "mcnemar_exact",
    "metrics_from_records", "parse_vastai_txt", "read_results", "record_eval",
    "run_eval", "topk_from_vastai_txt", "vastai_lines", "wilson_interval",
    "write_vastai_txt",
]

"""``eval --engine ray``: sharded evaluation with Ray Data's offline batch inference pattern.

Why it is shaped this way:

* **One ``map_batches`` step over an actor pool.** Each actor opens the artifact once
  (``ActorPoolStrategy``, one predictor per actor) and, per dataset row, decodes and
  preprocesses one evaluation batch and classifies it. A row is ``batch_size`` consecutive
  images, the same composition as a local eval, so per-image results are identical to the
  local engine. Decoding inside the actor keeps float32 crops out of the object store and
  starts no decode worker processes (a separate decode step halves throughput: NOTES §7).
* **The driver alone writes.** Results stream back with ``iter_batches``; only the driver
  appends to ``results.jsonl`` (:class:`ChunkWriter`) and the caller writes the store, with
  the same output preparation, record format and finishing code as
  :func:`workbench.evaluate.evaluate`. A chunk delivered twice (a retried task after an
  actor died) is written once: every image appears exactly once.
* **Faults.** Ray restarts a dead actor and retries its batch (``max_restarts``,
  ``max_task_retries``); a killed driver resumes with ``--resume`` from the JSONL, skipping
  images already classified by id or content hash, as local eval does.

Ray is imported inside the functions only: this module is cheap to import.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

import numpy as np

from workbench.engines.ray_cluster import (
    RaySession,
    artifact_payload,
    check_nodes,
    materialise,
    ray_session,
    task_error,
)
from workbench.errors import BadInput
from workbench.events import Reporter

#: At most this many evaluation batches per Ray Data block: small blocks balance the actors
#: and bound what a retry repeats; a block per batch costs a few ms of scheduling.
MAX_CHUNKS_PER_BLOCK = 8


class ChunkPredictor:
    """The map step, one per actor: open the artifact once; per row, decode a batch of
    files and classify it."""

    def __init__(self, payload_ref: list[Any], backend: str, threads: int, pre_cfg: dict[str, Any],
                 batch_size: int, k: int, classes: int, fault_marker: str = "") -> None:
        import ray

        from workbench.backends import open_predictor
        from workbench.data.preprocess import PreprocessConfig, Preprocessor

        payload = ray.get(payload_ref[0])
        self._dir = tempfile.TemporaryDirectory(prefix="hrnet-wb-actor-")
        model = materialise(payload, Path(self._dir.name))
        self.predictor = open_predictor(model, backend, threads)
        ran = getattr(self.predictor, "runtime_settings", None)  # what ran, for the record
        self.ran = json.dumps(ran().as_dict() if ran is not None else {})
        self.pre = Preprocessor(PreprocessConfig.from_dict(pre_cfg))
        h, w = self.pre.input_size
        self.x = np.empty((batch_size, 3, h, w), dtype=np.float32)
        # decode on the actor's own threads: with more than one, PIL and numpy run in parallel
        self.decoders = ThreadPoolExecutor(threads, thread_name_prefix="decode") if threads > 1 else None
        self.batch_size, self.k, self.classes = batch_size, k, classes
        self.node = ray.get_runtime_context().get_node_id()
        self.fault_marker = fault_marker
        self.calls = 0

    def _maybe_die(self) -> None:
        """Test hook: the first actor to reach its second batch is killed with ``ray.kill``
        (once per marker file), so the fault path is exercised for real."""
        if not self.fault_marker or self.calls < 2:
            return
        try:
            fd = os.open(self.fault_marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.close(fd)
        import ray

        ray.kill(ray.get_runtime_context().current_actor, no_restart=False)
        time.sleep(60)  # pragma: no cover - the kill lands first

    def _decode_one(self, path: str) -> tuple[np.ndarray | None, str, str]:
        from workbench.data.decode import DecodeError
        from workbench.evaluate.stream import decode_sample

        try:
            arr, digest = decode_sample(self.pre, Path(path))
        except DecodeError as exc:
            return None, exc.content_hash, exc.reason
        return arr, digest, ""

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        from workbench.evaluate.metrics import topk

        self.calls += 1
        self._maybe_die()
        n, b = len(batch["chunk"]), self.batch_size
        kept = np.zeros((n, b), dtype=bool)
        top = np.full((n, b, self.k), -1, dtype=np.int64)
        prob = np.zeros((n, b, self.k), dtype=np.float64)
        reasons, hashes = [], []
        for i in range(n):
            paths = json.loads(str(batch["paths"][i]))
            decoded = (self.decoders.map(self._decode_one, paths) if self.decoders
                       else map(self._decode_one, paths))
            why: dict[str, str] = {}
            digests: list[str] = []
            slot = 0
            for j, (arr, digest, reason) in enumerate(decoded):
                digests.append(digest)
                if arr is None:
                    why[str(j)] = reason
                    continue
                self.x[slot] = arr  # kept images fill the batch in order, as in local eval
                kept[i, j] = True
                slot += 1
            reasons.append(json.dumps(why))
            hashes.append(json.dumps(digests))
            if not slot:
                continue
            logits = np.asarray(self.predictor.predict(self.x[:slot]))
            if logits.ndim != 2 or logits.shape[1] != self.classes:
                raise ValueError(f"the model outputs {tuple(logits.shape)} logits but there are "
                                 f"{self.classes} class names")
            top[i, :slot], prob[i, :slot] = topk(logits, self.k)
        return {"chunk": batch["chunk"], "kept": kept, "reasons": np.array(reasons, dtype=object),
                "hashes": np.array(hashes, dtype=object), "top": top, "prob": prob,
                "node": np.array([self.node] * n, dtype=object),
                "ran": np.array([self.ran] * n, dtype=object)}


def chunk_records(samples: Sequence[Any], kept: np.ndarray, reasons: dict[str, str],
                  top: np.ndarray, prob: np.ndarray,
                  hashes: Sequence[str] = ()) -> list[str]:
    """One chunk's JSONL lines, in the same form (and key order) as the local engine's,
    content hash (``sha256``) included.

    Kept images fill the batch in order (a skipped image takes no slot), as in local eval.
    """
    from workbench.data.identity import HASH_FIELD
    from workbench.evaluate.formats import record_line

    lines, slot = [], 0
    top_l, prob_l = top.tolist(), prob.tolist()  # Python ints and floats, as int()/float() gives
    for j, s in enumerate(samples):
        digest = hashes[j] if j < len(hashes) else ""
        if not kept[j]:
            lines.append(record_line({"id": s.id, "path": str(s.path), HASH_FIELD: digest,
                                       "gt": s.label,
                                       "skipped": reasons.get(str(j), "could not be decoded")}))
            continue
        lines.append(record_line({
            "id": s.id, "path": str(s.path), HASH_FIELD: digest, "gt": s.label,
            "top5": top_l[slot], "prob5": [round(p, 8) for p in prob_l[slot]],
        }))
        slot += 1
    return lines


class ChunkWriter:
    """The driver's serial part: the actors' result batches → ``results.jsonl`` lines,
    each chunk once (a retried task may deliver one again), flushed per delivery."""

    def __init__(self, fh: IO[str], chunks: Sequence[Sequence[Any]]) -> None:
        self.fh, self.chunks = fh, chunks
        self.seen: set[int] = set()
        self.images = 0  # lines written (classified or skipped)
        self.new_images = 0  # images classified
        self.per_node: Counter[str] = Counter()  # chunks each node classified
        self.ran: dict[str, Any] = {}  # the runtime settings an actor reported

    def write(self, batch: dict[str, np.ndarray]) -> None:
        out: list[str] = []
        for i in range(len(batch["chunk"])):
            c = int(batch["chunk"][i])
            if c in self.seen:
                continue
            self.seen.add(c)
            kept = batch["kept"][i]
            lines = chunk_records(self.chunks[c], kept, json.loads(str(batch["reasons"][i])),
                                  batch["top"][i], batch["prob"][i], json.loads(str(batch["hashes"][i])))
            out.extend(lines)
            self.new_images += int(kept.sum())
            self.images += len(lines)
            self.per_node[str(batch["node"][i])] += 1
            if not self.ran and "ran" in batch:
                self.ran = json.loads(str(batch["ran"][i]))
        if out:
            self.fh.write("".join(out))
            self.fh.flush()

    @property
    def complete(self) -> bool:
        return len(self.seen) == len(self.chunks)


def blocks_for(chunks: int, actors: int) -> int:
    """How many Ray Data blocks ``chunks`` evaluation batches go in: about eight blocks per
    actor or more, at most :data:`MAX_CHUNKS_PER_BLOCK` batches each."""
    per_block = max(1, min(MAX_CHUNKS_PER_BLOCK, chunks // (8 * max(1, actors))))
    return max(1, -(-chunks // per_block))


def evaluate_ray(
    artifact_path: Path,
    backend: str,
    samples: Sequence[Any],
    preprocessor: Any,
    class_names: Sequence[str],
    out_dir: str | Path,
    *,
    session: RaySession,
    batch_size: int = 8,
    actors: int = 0,
    threads: int = 1,
    resume: bool = False,
    reporter: Reporter | None = None,
    vastai_txt: bool = True,
    meta: dict[str, Any] | None = None,
    fault_marker: str = "",
    identity: dict[str, str] | None = None,
) -> Any:
    """:func:`workbench.evaluate.evaluate` on a Ray cluster; same files, same records.

    ``actors`` predictors (0 = one per ``threads`` CPUs in the cluster) of ``threads``
    threads each. Returns an :class:`~workbench.evaluate.EvalResult`.
    """
    from workbench.evaluate import TOPK
    from workbench.evaluate.resume import prepare_output
    from workbench.evaluate.stream import finish_eval

    ray = session.ray
    from ray.data import ActorPoolStrategy

    if batch_size < 1:
        raise BadInput(f"batch size {batch_size}: must be at least 1")
    rep = reporter or Reporter()
    pre_desc = preprocessor.describe()
    prep = prepare_output(out_dir, {"preprocess": pre_desc, "classes": len(class_names), "backend": backend,
                                    "meta": meta or {}, "identity": identity or {}}, resume, samples, rep)
    todo = prep.todo
    chunks = [todo[i: i + batch_size] for i in range(0, len(todo), batch_size)]
    n_actors = actors if actors > 0 else max(1, session.total_cpus // max(1, threads))
    n_actors = max(1, min(n_actors, len(chunks) or 1))
    k = min(TOPK, len(class_names))
    rep.log(f"Ray Data: {len(todo)} images in {len(chunks)} batches of {batch_size}, "
            f"{n_actors} actor(s) × {threads} thread(s)")

    t0 = time.perf_counter()
    new_images = 0
    if chunks:
        payload_ref = ray.put(artifact_payload(Path(artifact_path)))
        items = [{"chunk": i, "paths": json.dumps([str(s.path) for s in c])} for i, c in enumerate(chunks)]
        ds = ray.data.from_items(items, override_num_blocks=blocks_for(len(items), n_actors))
        ds = ds.map_batches(
            ChunkPredictor, batch_size=1, batch_format="numpy", num_cpus=threads,
            compute=ActorPoolStrategy(size=n_actors),
            fn_constructor_kwargs={"payload_ref": [payload_ref], "backend": backend, "threads": threads,
                                   "pre_cfg": pre_desc, "batch_size": batch_size, "k": k,
                                   "classes": len(class_names), "fault_marker": fault_marker},
        )  # actors restart and their tasks retry by Ray Data's own defaults (no deprecated args)
        with open(prep.jsonl, "a" if resume else "w", encoding="utf-8") as fh:
            writer = ChunkWriter(fh, chunks)
            try:
                for batch in ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=2):
                    writer.write(batch)
                    rep.progress(len(prep.done) + writer.images, len(samples), "img")
                    rep.check_cancelled()
            except Exception as exc:
                if isinstance(exc, BadInput | KeyboardInterrupt):
                    raise
                raise task_error(exc) from None
        if not writer.complete:
            raise BadInput(f"Ray returned {len(writer.seen)} of {len(chunks)} batches; rerun with --resume")
        new_images = writer.new_images
        rep.log("Ray: batches per node: " + ", ".join(f"{node[:8]} {n}" for node, n in
                                                       sorted(writer.per_node.items())), "debug")
    seconds = time.perf_counter() - t0
    res = finish_eval(prep.out, prep.jsonl, samples, class_names, vastai_txt, pre_desc, seconds,
                      new_images, len(prep.existing), meta, rep)
    res.ran = writer.ran if chunks else {}
    return res


def evaluate_on_ray(artifact_path: Path, backend: str, samples: Sequence[Any], preprocessor: Any,
                    class_names: Sequence[str], out_dir: str | Path, *, address: str = "",
                    data_root: str = "", actors: int = 0, threads: int = 1, batch_size: int = 8,
                    resume: bool = False, reporter: Reporter | None = None, vastai_txt: bool = True,
                    meta: dict[str, Any] | None = None,
                    identity: dict[str, str] | None = None) -> Any:
    """``hrnet-wb eval --engine ray``: connect (or start a local Ray), check every node, evaluate."""
    rep = reporter or Reporter()
    with ray_session(address, reporter=rep, log_path=Path(out_dir) / "ray.log") as session:
        nodes = check_nodes(session, data_root)
        rep.log(f"Ray: {len(nodes)} node(s), {session.total_cpus} CPU(s)")
        return evaluate_ray(artifact_path, backend, samples, preprocessor, class_names, out_dir,
                            session=session, batch_size=batch_size, actors=actors,
                            threads=max(1, threads), resume=resume, reporter=rep,
                            vastai_txt=vastai_txt, meta=meta, identity=identity)

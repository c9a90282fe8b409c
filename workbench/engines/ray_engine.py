"""The Ray engine: sharded evaluation with Ray Data, sweep rows as Ray tasks.

Why it is shaped this way:

* **Ray Data's offline batch inference pattern.** Decoding and preprocessing run as one
  ``map_batches`` step (plain tasks); inference runs in an ``ActorPoolStrategy`` with one
  predictor per actor, so each session is opened once per actor, not per batch. One
  dataset row is one evaluation batch (``batch_size`` consecutive images, the same
  composition as a local eval), so per-image results are identical to the local engine.
* **The driver alone writes.** Results stream back with ``iter_batches``; only the driver
  appends to ``results.jsonl`` and writes the store, through the same record format and
  finishing code as :func:`workbench.evaluate.evaluate`. A chunk delivered twice (a retried
  task after an actor died) is written once: every image appears exactly once.
* **No shared filesystem for artifacts.** The artifact's files travel through Ray's
  object store (``ray.put``) and each actor writes them to its own temp folder. The
  *data* path is read where the decode task runs, so it must be readable on every node;
  that is checked on every node before any work starts.
* **Faults.** Ray restarts a dead actor and retries its batch (``max_restarts``,
  ``max_task_retries``); a killed driver resumes with ``--resume`` from the JSONL, as local
  eval does. No Ray, an unreachable address, or a node that cannot import the workbench
  is one line and exit 2 saying how to fix it.

Ray is imported inside the functions only: this module is cheap to import.
"""

from __future__ import annotations

import json
import os
import re
import socket
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench.errors import BadInput, WorkbenchError
from workbench.events import Reporter

INSTALL_HINT = "pip install 'hrnet-wb[ray]' (in a clone: pip install -e '.[ray]')"
DATA_NOTE = ("the data path must be readable at the same path on every Ray node "
             "(a shared filesystem or a copy on each node)")
#: Python packages every node needs for a sweep / eval (import name → pip name).
NODE_PACKAGES = {"workbench": "hrnet-wb", "onnxruntime": "onnxruntime", "numpy": "numpy",
                 "PIL": "pillow", "ray.data": "ray[data]", "pyarrow": "pyarrow"}
_ADDRESS_RE = re.compile(r"^(?:ray://)?(?P<host>\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.\-]+):(?P<port>\d{1,5})$")
CONNECT_TIMEOUT_S = 3.0
PROBE_TIMEOUT_S = 120.0


def import_ray() -> Any:
    """``import ray`` or one line saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401  (the [data] part of the extra)
    except ImportError as exc:
        raise BadInput(f"--engine ray needs Ray ({exc.name or 'ray'} is not installed): "
                       f"{INSTALL_HINT}") from None
    return ray


def check_address(address: str) -> None:
    """Reject a malformed or unreachable ``--ray-address`` in seconds (``ray.init`` itself
    waits minutes on an address nobody answers)."""
    if not address or address == "auto":
        return
    m = _ADDRESS_RE.match(address.strip())
    if not m:
        raise BadInput(f"--ray-address {address!r}: expected 'auto', HOST:PORT or ray://HOST:PORT "
                       "(the address `ray start --head` printed)")
    host, port = m.group("host").strip("[]"), int(m.group("port"))
    if not 0 < port < 65536:
        raise BadInput(f"--ray-address {address!r}: port {port} is out of range")
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise BadInput(f"--ray-address {address}: cannot connect ({exc.strerror or exc}); start the "
                       "head with `ray start --head` and pass the address it prints, or --ray-address "
                       "auto on a node of the cluster") from None


@dataclass
class RaySession:
    """A connected Ray: the module, whether we started it, and what the nodes are."""

    ray: Any
    address: str
    started_here: bool
    nodes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total_cpus(self) -> int:
        return int(sum(n.get("cpus", 0) for n in self.nodes))


@contextmanager
def ray_session(address: str = "", *, num_cpus: int | None = None,
                reporter: Reporter | None = None) -> Iterator[RaySession]:
    """Connect to ``address`` (``auto`` = the cluster this machine belongs to), or start a
    local Ray when it is empty; an already initialised Ray (tests, notebooks) is reused.
    Only a Ray started here is shut down on exit."""
    ray = import_ray()
    rep = reporter or Reporter()
    started = False
    if not ray.is_initialized():
        check_address(address)
        kwargs: dict[str, Any] = {"logging_level": "ERROR", "log_to_driver": False,
                                  "include_dashboard": False}
        try:
            if address:
                ray.init(address=address, **{k: v for k, v in kwargs.items() if k != "include_dashboard"})
            else:
                local = {"address": "local", "num_cpus": num_cpus, "_node_ip_address": "127.0.0.1", **kwargs}
                try:
                    ray.init(**local)
                except Exception as exc:  # Ray's fixed 30 s raylet start-up wait, missed under load
                    if "timed out during startup" not in str(exc):
                        raise
                    ray.shutdown()
                    ray.init(**local)
        except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            where = f"at {address}" if address else "locally"
            raise BadInput(f"cannot start or reach Ray {where}: {first}; start a cluster with "
                           "`ray start --head` (others: `ray start --address HEAD:6379`) and pass "
                           "--ray-address auto") from None
        started = True
        rep.log(f"Ray {'connected to ' + address if address else 'started locally'}")
    try:
        nodes = [{"node_id": n["NodeID"], "address": n.get("NodeManagerAddress", ""),
                  "cpus": float(n.get("Resources", {}).get("CPU", 0))}
                 for n in ray.nodes() if n.get("Alive")]
        yield RaySession(ray, address or "local", started, nodes)
    finally:
        if started:
            ray.shutdown()


# -- node checks -----------------------------------------------------------------------


def _probe(data_root: str) -> dict[str, Any]:
    """Runs on one node: which needed packages are missing, is the data there, what CPU."""
    import importlib

    from workbench.engines.node import node_fingerprint

    missing = []
    for mod, pip_name in NODE_PACKAGES.items():
        try:
            importlib.import_module(mod)
        except ImportError:
            missing.append(pip_name)
    return {"missing": missing, "data_ok": (not data_root) or os.access(data_root, os.R_OK),
            "fingerprint": node_fingerprint()}


def check_nodes(session: RaySession, data_root: str = "") -> list[dict[str, Any]]:
    """Probe every alive node with CPUs: packages, the data path, the CPU fingerprint.

    A node that cannot even load this module (no workbench installed there) fails the
    probe's deserialisation; both cases become one BadInput naming the node and the fix.
    """
    ray = session.ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe = ray.remote(num_cpus=0, max_retries=0)(_probe)
    refs = {}
    for n in session.nodes:
        if n["cpus"] <= 0:
            continue
        refs[n["node_id"]] = probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
            n["node_id"], soft=False)).remote(data_root)
    out = []
    for n in session.nodes:
        ref = refs.get(n["node_id"])
        if ref is None:
            continue
        try:
            info = ray.get(ref, timeout=PROBE_TIMEOUT_S)
        except Exception as exc:  # deserialisation, worker start, timeout: all the same fix
            first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise BadInput(f"Ray node {n['address']} cannot run the workbench ({first[:200]}); install "
                           f"it on every node: {INSTALL_HINT}") from None
        if info["missing"]:
            raise BadInput(f"Ray node {n['address']} lacks {', '.join(info['missing'])}; install on "
                           f"every node: {INSTALL_HINT}")
        if not info["data_ok"]:
            raise BadInput(f"{data_root}: not readable on Ray node {n['address']}; {DATA_NOTE}")
        out.append({**n, **info["fingerprint"]})
    return out


# -- artifacts through the object store ---------------------------------------------------


def artifact_payload(path: Path) -> dict[str, Any]:
    """The files a predictor needs (the model file, its .bin, meta.json), as bytes."""
    path = Path(path)
    files = [path]
    if path.suffix == ".xml" and path.with_suffix(".bin").is_file():
        files.append(path.with_suffix(".bin"))
    if (path.parent / "meta.json").is_file():
        files.append(path.parent / "meta.json")
    return {"main": path.name, "files": {f.name: f.read_bytes() for f in files}}


def materialise(payload: dict[str, Any], folder: Path) -> Path:
    """Write a payload's files into ``folder``; return the model file's path."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in payload["files"].items():
        (folder / name).write_bytes(data)
    return folder / payload["main"]


# -- sharded evaluation --------------------------------------------------------------------


def _decode_chunks(batch: dict[str, np.ndarray], pre_cfg: dict[str, Any], batch_size: int) -> dict[str, Any]:
    """Ray Data step 1 (tasks): decode + preprocess each chunk into one padded batch."""
    from workbench.data.decode import DecodeError
    from workbench.data.preprocess import PreprocessConfig, Preprocessor
    from workbench.evaluate.stream import _decode

    pre = Preprocessor(PreprocessConfig.from_dict(pre_cfg))
    h, w = pre.input_size
    n = len(batch["chunk"])
    x = np.zeros((n, batch_size, 3, h, w), dtype=np.float32)
    kept = np.zeros((n, batch_size), dtype=bool)
    reasons, digests = [], []
    for i in range(n):
        paths = json.loads(str(batch["paths"][i]))
        why: dict[str, str] = {}
        hashes: list[str] = []
        for j, p in enumerate(paths):
            try:
                x[i, j], digest = _decode(pre, Path(p))
                kept[i, j] = True
            except DecodeError as exc:
                why[str(j)] = exc.reason
                digest = exc.content_hash
            hashes.append(digest)
        reasons.append(json.dumps(why))
        digests.append(json.dumps(hashes))
    return {"chunk": batch["chunk"], "x": x, "kept": kept, "reasons": np.array(reasons, dtype=object),
            "hashes": np.array(digests, dtype=object)}


class ChunkPredictor:
    """Ray Data step 2 (one per actor): open the artifact once, classify chunks."""

    def __init__(self, payload_ref: list[Any], backend: str, threads: int, k: int, classes: int,
                 fault_marker: str = "") -> None:
        import ray

        from workbench.backends import open_predictor

        payload = ray.get(payload_ref[0])
        self._dir = tempfile.TemporaryDirectory(prefix="hrnet-wb-actor-")
        model = materialise(payload, Path(self._dir.name))
        self.predictor = open_predictor(model, backend, threads)
        self.k, self.classes = k, classes
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

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        from workbench.evaluate.metrics import _topk

        self.calls += 1
        self._maybe_die()
        n, b = batch["kept"].shape
        top = np.full((n, b, self.k), -1, dtype=np.int64)
        prob = np.zeros((n, b, self.k), dtype=np.float64)
        for i in range(n):
            kept = np.flatnonzero(batch["kept"][i])
            if not len(kept):
                continue
            logits = np.asarray(self.predictor.predict(np.ascontiguousarray(batch["x"][i][: len(kept)])))
            if logits.ndim != 2 or logits.shape[1] != self.classes:
                raise ValueError(f"the model outputs {tuple(logits.shape)} logits but there are "
                                 f"{self.classes} class names")
            ids, probs = _topk(logits, self.k)
            top[i, : len(kept)] = ids
            prob[i, : len(kept)] = probs
        return {"chunk": batch["chunk"], "kept": batch["kept"], "reasons": batch["reasons"],
                "hashes": batch["hashes"], "top": top, "prob": prob}


def chunk_records(samples: Sequence[Any], kept: np.ndarray, reasons: dict[str, str],
                  top: np.ndarray, prob: np.ndarray,
                  hashes: Sequence[str] = ()) -> list[str]:
    """One chunk's JSONL lines, in the same form (and key order) as the local engine's,
    content hash (``sha256``) included.

    Kept images fill the batch in order (a skipped image takes no slot), as in local eval.
    """
    from workbench.data.identity import HASH_FIELD
    from workbench.evaluate.formats import _record_line

    lines, slot = [], 0
    for j, s in enumerate(samples):
        digest = hashes[j] if j < len(hashes) else ""
        if not kept[j]:
            lines.append(_record_line({"id": s.id, "path": str(s.path), HASH_FIELD: digest,
                                       "gt": s.label,
                                       "skipped": reasons.get(str(j), "could not be decoded")}))
            continue
        lines.append(_record_line({
            "id": s.id, "path": str(s.path), HASH_FIELD: digest, "gt": s.label,
            "top5": [int(c) for c in top[slot]],
            "prob5": [round(float(p), 8) for p in prob[slot]],
        }))
        slot += 1
    return lines


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
    from workbench.evaluate import RESULTS_JSONL, TOPK, read_results
    from workbench.evaluate.stream import _check_config, _finish

    ray = session.ray
    from ray.data import ActorPoolStrategy

    if batch_size < 1:
        raise BadInput(f"batch size {batch_size}: must be at least 1")
    rep = reporter or Reporter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jsonl = out / RESULTS_JSONL
    pre_desc = preprocessor.describe()
    _check_config(out, {"preprocess": pre_desc, "classes": len(class_names), "backend": backend,
                        "meta": meta or {}, "identity": identity or {}}, resume, jsonl)
    existing = read_results(jsonl, repair=True) if resume else []
    done = {str(r["id"]) for r in existing}
    todo = [s for s in samples if s.id not in done]
    if resume:
        rep.log(f"resume: {len(done)} images already in {jsonl.name}, {len(todo)} to go")
    chunks = [todo[i: i + batch_size] for i in range(0, len(todo), batch_size)]
    n_actors = actors if actors > 0 else max(1, session.total_cpus // max(1, threads))
    n_actors = max(1, min(n_actors, len(chunks) or 1))
    k = min(TOPK, len(class_names))
    rep.log(f"Ray Data: {len(todo)} images in {len(chunks)} batches of {batch_size}, "
            f"{n_actors} actor(s) × {threads} thread(s)")

    t0 = time.perf_counter()
    new_images = 0
    done_count = len(done.intersection(s.id for s in samples))
    total = len(samples)
    if chunks:
        payload_ref = ray.put(artifact_payload(Path(artifact_path)))
        items = [{"chunk": i, "paths": json.dumps([str(s.path) for s in c])} for i, c in enumerate(chunks)]
        ds = ray.data.from_items(items, override_num_blocks=min(len(items), 4 * n_actors + 4))
        ds = ds.map_batches(_decode_chunks, batch_size=1, batch_format="numpy", num_cpus=0,
                            fn_kwargs={"pre_cfg": pre_desc, "batch_size": batch_size})
        ds = ds.map_batches(
            ChunkPredictor, batch_size=1, batch_format="numpy", num_cpus=threads,
            compute=ActorPoolStrategy(size=n_actors),
            fn_constructor_kwargs={"payload_ref": [payload_ref], "backend": backend, "threads": threads,
                                   "k": k, "classes": len(class_names), "fault_marker": fault_marker},
            max_restarts=-1, max_task_retries=3,
        )
        seen: set[int] = set()
        mode = "a" if resume else "w"
        with open(jsonl, mode, encoding="utf-8") as fh:
            try:
                for batch in ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=2):
                    for i in range(len(batch["chunk"])):
                        c = int(batch["chunk"][i])
                        if c in seen:  # a retried task delivered the same chunk again
                            continue
                        seen.add(c)
                        lines = chunk_records(chunks[c], batch["kept"][i], json.loads(str(batch["reasons"][i])),
                                              batch["top"][i], batch["prob"][i],
                                              json.loads(str(batch["hashes"][i])))
                        fh.write("".join(lines))
                        fh.flush()
                        new_images += int(batch["kept"][i].sum())
                        done_count += len(lines)
                    rep.progress(done_count, total, "img")
                    rep.check_cancelled()
            except Exception as exc:
                if isinstance(exc, BadInput | KeyboardInterrupt):
                    raise
                raise _task_error(exc) from None
        if len(seen) != len(chunks):
            raise BadInput(f"Ray returned {len(seen)} of {len(chunks)} batches; rerun with --resume")
    seconds = time.perf_counter() - t0
    return _finish(out, jsonl, samples, class_names, vastai_txt, pre_desc, seconds, new_images,
                   len(done), meta, rep)


def _task_error(exc: BaseException) -> WorkbenchError:
    """A failure inside a Ray task, as one line (the last line of the remote traceback)."""
    text = str(exc).strip().splitlines()
    last = next((ln for ln in reversed(text) if ln.strip()), type(exc).__name__)
    if "ModuleNotFoundError" in last or "No module named" in last:
        return BadInput(f"a Ray worker cannot import a needed package ({last.strip()[:200]}); "
                        f"install on every node: {INSTALL_HINT}")
    if "FileNotFoundError" in last or "No such file" in last:
        return BadInput(f"a Ray worker cannot read a file ({last.strip()[:200]}); {DATA_NOTE}")
    return WorkbenchError(f"Ray evaluation failed: {last.strip()[:300]}")


def evaluate_on_ray(artifact_path: Path, backend: str, samples: Sequence[Any], preprocessor: Any,
                    class_names: Sequence[str], out_dir: str | Path, *, address: str = "",
                    data_root: str = "", actors: int = 0, threads: int = 1, batch_size: int = 8,
                    resume: bool = False, reporter: Reporter | None = None, vastai_txt: bool = True,
                    meta: dict[str, Any] | None = None,
                    identity: dict[str, str] | None = None) -> Any:
    """``hrnet-wb eval --engine ray``: connect (or start a local Ray), check every node, evaluate."""
    rep = reporter or Reporter()
    with ray_session(address, reporter=rep) as session:
        nodes = check_nodes(session, data_root)
        rep.log(f"Ray: {len(nodes)} node(s), {session.total_cpus} CPU(s)")
        return evaluate_ray(artifact_path, backend, samples, preprocessor, class_names, out_dir,
                            session=session, batch_size=batch_size, actors=actors,
                            threads=max(1, threads), resume=resume, reporter=rep,
                            vastai_txt=vastai_txt, meta=meta, identity=identity)

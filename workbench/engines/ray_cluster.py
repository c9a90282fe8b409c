"""The Ray cluster as the workbench sees it: connecting, checking nodes, carrying artifacts.

* **Connect or start.** ``--ray-address`` is checked in seconds before ``ray.init`` (which
  waits minutes on an address nobody answers); an empty address starts a local Ray on
  127.0.0.1, an already initialised Ray (tests, notebooks) is reused, and only a Ray
  started here is shut down.
* **Every node is probed before work starts**: the packages the workbench needs, the data
  path (read where the work runs, so it must be readable on every node) and the CPU
  fingerprint that sweep rows record. No Ray, an unreachable address, or a node without
  the packages is one line and exit 2 saying how to fix it.
* **Ray's own stderr goes to a log file.** While a session is open, what Ray writes to this
  process's stderr (Ray Data's progress lines, the core worker's C++ log) goes to
  ``log_path``; the workbench's own lines still reach the terminal, and ``--json`` runs keep
  a clean stderr. Error lines in that log are counted in one warning naming the file.
* **No shared filesystem for artifacts.** A model's files travel as bytes through Ray's
  object store (:func:`artifact_payload`) and are written into a worker's own temp folder
  (:func:`materialise`).

Ray is imported inside the functions only: this module is cheap to import.
"""

from __future__ import annotations

import io
import logging
import os
import re
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


#: Ray Data logs this at error level for every actor pool (ray-project/ray#57733); our
#: constructor's object ref is held by the driver for the whole eval, so it is not an error here.
_KNOWN_BENIGN = ("has constructor arguments in the object store and max_restarts > 0",)
_ERROR_LINE = re.compile(r"^\[[^\]]* E \d+ \d+\]|\b(ERROR|CRITICAL)\b|^Traceback ")


@contextmanager
def stderr_to(log_path: Path | None, rep: Reporter) -> Iterator[None]:
    """Send this process's file descriptor 2 (where C++ libraries and early logging handlers
    write) to ``log_path``, keeping ``sys.stderr`` on the terminal. Afterwards, one warning
    counts the error lines that are not known to be benign."""
    if log_path is None:
        yield
        return
    try:
        real = sys.stderr.fileno() == 2
    except (AttributeError, ValueError, OSError):
        real = False
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = log_path.stat().st_size if log_path.exists() else 0
    sys.stderr.flush()
    saved, old_stderr = os.dup(2), sys.stderr
    with open(log_path, "ab") as log:
        os.dup2(log.fileno(), 2)
    if real:
        sys.stderr = io.TextIOWrapper(open(saved, "wb", buffering=0, closefd=False),  # noqa: SIM115
                                      encoding=old_stderr.encoding, errors="backslashreplace",
                                      line_buffering=True)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        sys.stderr = old_stderr
        with open(log_path, "rb") as fh:
            fh.seek(start)
            lines = fh.read().decode("utf-8", "replace").splitlines()
        errors = [x for x in lines if _ERROR_LINE.search(x) and not any(b in x for b in _KNOWN_BENIGN)]
        if errors:
            rep.log(f"Ray logged {len(errors)} error line(s), the first: {errors[0].strip()[:160]} "
                    f"(all in {log_path})", "warning")


@contextmanager
def ray_session(address: str = "", *, num_cpus: int | None = None,
                reporter: Reporter | None = None, log_path: Path | None = None) -> Iterator[RaySession]:
    """Connect to ``address`` (``auto`` = the cluster this machine belongs to), or start a
    local Ray when it is empty; an already initialised Ray (tests, notebooks) is reused.
    Only a Ray started here is shut down on exit. Ray's own stderr goes to ``log_path``."""
    rep = reporter or Reporter()
    with stderr_to(log_path, rep), _session(address, num_cpus, rep) as session:
        yield session


@contextmanager
def _session(address: str, num_cpus: int | None, rep: Reporter) -> Iterator[RaySession]:
    ray = import_ray()
    # Ray Data's console handler repeats its execution plan and progress at INFO; the same
    # lines stay in its own ray-data.log, and the workbench reports progress itself.
    consoles = [h for h in logging.getLogger("ray.data").handlers
                if not isinstance(h, logging.FileHandler) and h.level < logging.WARNING]
    for h in consoles:
        h.setLevel(logging.WARNING)
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
        for h in consoles:
            h.setLevel(logging.INFO)


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
        out.append({**info["fingerprint"], **n})  # "cpus": what Ray schedules on, not the OS count
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


def task_error(exc: BaseException) -> WorkbenchError:
    """A failure inside a Ray task, as one line (the last line of the remote traceback)."""
    text = str(exc).strip().splitlines()
    last = next((ln for ln in reversed(text) if ln.strip()), type(exc).__name__)
    if "ModuleNotFoundError" in last or "No module named" in last:
        return BadInput(f"a Ray worker cannot import a needed package ({last.strip()[:200]}); "
                        f"install on every node: {INSTALL_HINT}")
    if "FileNotFoundError" in last or "No such file" in last:
        return BadInput(f"a Ray worker cannot read a file ({last.strip()[:200]}); {DATA_NOTE}")
    return WorkbenchError(f"Ray evaluation failed: {last.strip()[:300]}")

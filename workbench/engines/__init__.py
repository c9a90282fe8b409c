"""Where work runs: the local process (the default) or a Ray cluster (the ``[ray]`` extra).

``local`` is the embedded default and needs nothing. ``ray`` lives in
:mod:`workbench.engines.ray_cluster` (connect, node checks), :mod:`~workbench.engines.ray_eval`
(sharded eval) and :mod:`~workbench.sweep.ray_engine`; they import Ray only when called, so
the base install and ``hrnet-wb --help`` never load it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workbench.errors import BadInput

ENGINES = ("local", "ray")


def check_engine(engine: str, ray_address: str = "") -> str:
    """Validate ``--engine`` / ``--ray-address`` together; return the engine name."""
    if engine not in ENGINES:
        raise BadInput(f"--engine {engine!r}: expected one of {', '.join(ENGINES)}")
    if ray_address and engine != "ray":
        raise BadInput("--ray-address only applies with --engine ray")
    return engine


def prepare_engine(engine: str, ray_address: str = "") -> str:
    """Everything about the engine that can fail before work starts: the name, the address,
    Ray being installed and the address answering. Cheap for ``local``."""
    check_engine(engine, ray_address)
    if engine == "ray":
        from workbench.engines.ray_cluster import check_address, import_ray

        import_ray()
        check_address(ray_address)
    return engine


def sharded_eval(engine: str, ray_address: str = "", actors: int = 0) -> Callable[..., Any] | None:
    """What ``run_eval`` classifies with instead of its local loop: None for ``local``, the
    Ray Data eval bound to ``ray_address`` and ``actors`` for ``ray``. The front end passes it
    in, so :mod:`workbench.evaluate` never imports the engines that build on it."""
    if engine != "ray":
        return None
    from functools import partial

    from workbench.engines.ray_eval import evaluate_on_ray

    return partial(evaluate_on_ray, address=ray_address, actors=actors)

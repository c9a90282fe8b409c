"""Where work runs: the local process (the default) or a Ray cluster (the ``[ray]`` extra).

``local`` is the embedded default and needs nothing. ``ray`` lives in
:mod:`workbench.engines.ray_engine` and imports Ray only when called, so the base
install and ``hrnet-wb --help`` never load it.
"""

from __future__ import annotations

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
        from workbench.engines.ray_engine import check_address, import_ray

        import_ray()
        check_address(ray_address)
    return engine

"""``--engine`` / ``--ray-address`` / ``--actors``: the options ``eval`` and ``sweep`` share."""

from typing import Annotated

import typer

EngineOpt = Annotated[str, typer.Option(
    "--engine", help="local (this process) | ray (a Ray cluster; needs the [ray] extra: "
    "pip install 'hrnet-wb[ray]'). With ray, the data path must be readable at the same path "
    "on every node; artifacts travel through Ray's object store.")]
RayAddressOpt = Annotated[str, typer.Option(
    "--ray-address", help="Ray cluster to join: auto (this machine's cluster), HOST:PORT or "
    "ray://HOST:PORT. Empty: start a local Ray for this command.")]
ActorsOpt = Annotated[int, typer.Option(
    "--actors", help="Ray predictors (actors) for evaluation, each with --threads threads "
    "(0 = one per CPU of the cluster).", min=0)]

"""The weights catalogue: where each source's pretrained checkpoints live, and their
published accuracy.

The facts are data (``weights_catalogue.toml`` beside this module, with the sources it
was read from); this module only loads them into typed entries and answers "which
weights does ``pretrained`` / ``pretrained:<tag>`` mean for this source and variant".
Importing it is cheap: no torch, no network.

    entry = find_weights("mmcls", "w18")          # the default mmcls weights of hrnet_w18
    entry.url, entry.sha256_prefix, entry.top1     # where from, what to verify, what to expect
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from workbench.errors import BadInput
from workbench.sources.variants import resolve_variant

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CATALOGUE_FILE = Path(__file__).with_name("weights_catalogue.toml")
PRETRAINED = "pretrained"

#: Environment variables that point a download at another server (a mirror, or the
#: tests' local server); each replaces the named prefix of the catalogue's URLs.
BASE_URL_ENV: dict[str, tuple[str, str]] = {
    "mmcls": ("HRNET_WB_MMCLS_BASE_URL", "https://download.openmmlab.com"),
    "official": ("HRNET_WB_OFFICIAL_BASE_URL",
                 "https://github.com/HRNet/HRNet-Image-Classification/releases/download"),
}


@dataclass(frozen=True)
class WeightsEntry:
    """One set of published weights for one source × variant (or the fact that none exist)."""

    source: str
    variant: str  # timm model name
    tag: str = ""
    default: bool = False
    name: str = ""  # the source's own name (mmcls model name, official README row)
    hf_repo: str = ""
    hf_file: str = ""
    url: str = ""
    sha256_prefix: str = ""
    manual: bool = False
    link: str = ""
    alt_link: str = ""
    filename: str = ""
    top1: float | None = None
    top5: float | None = None
    evaluated: str = ""
    none: str = ""  # reason no weights are published; the entry is a placeholder

    @property
    def published(self) -> bool:
        return not self.none

    @property
    def kind(self) -> str:
        """How the file is obtained: ``hf`` (huggingface_hub), ``url``, ``manual`` or ``none``."""
        if self.none:
            return "none"
        if self.hf_repo:
            return "hf"
        if self.url:
            return "url"
        return "manual"

    @property
    def key(self) -> str:
        """``source:variant.tag``: how the catalogue, the CLI and the store name these weights."""
        return f"{self.source}:{self.variant}.{self.tag}" if self.tag else f"{self.source}:{self.variant}"

    def download_url(self) -> str:
        """The URL to fetch, with the source's base replaced when its env variable is set."""
        if not self.url:
            return ""
        env, base = BASE_URL_ENV.get(self.source, ("", ""))
        override = os.environ.get(env, "").rstrip("/") if env else ""
        if override and self.url.startswith(base):
            return override + self.url[len(base):]
        return self.url

    @property
    def file_name(self) -> str:
        return self.filename or (self.url.rsplit("/", 1)[-1] if self.url else self.hf_file)

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if v not in ("", None, False) or k == "default"}
        d["kind"] = self.kind
        d["key"] = self.key
        if self.url:
            d["download_url"] = self.download_url()
        return d


_FIELDS = set(WeightsEntry.__dataclass_fields__)


CATALOGUE_ENV = "HRNET_WB_WEIGHTS_CATALOGUE"


def load_catalogue(path: str = "") -> tuple[WeightsEntry, ...]:
    """Every entry of the catalogue, in file order.

    ``$HRNET_WB_WEIGHTS_CATALOGUE`` replaces the packaged file (a site's own mirror, or
    the tests' local server with checksums of the files it serves).
    """
    return _load(str(Path(path or os.environ.get(CATALOGUE_ENV, "") or CATALOGUE_FILE).expanduser()))


@lru_cache(maxsize=4)
def _load(path: str) -> tuple[WeightsEntry, ...]:
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BadInput(f"{p}: cannot read the weights catalogue ({type(exc).__name__}: {exc})") from None
    out = []
    for i, raw in enumerate(data.get("weights", [])):
        unknown = set(raw) - _FIELDS
        if unknown or not {"source", "variant"} <= set(raw):
            raise BadInput(f"{p}: [[weights]] entry {i} has unknown keys {sorted(unknown)} or lacks source/variant")
        out.append(WeightsEntry(**raw))
    return tuple(out)


def entries_for(source: str, variant: str = "") -> list[WeightsEntry]:
    """The entries of one source (and one variant, any accepted spelling), default first."""
    name = resolve_variant(variant) if variant else ""
    rows = [e for e in load_catalogue() if e.source == source and (not name or e.variant == name)]
    return sorted(rows, key=lambda e: (e.variant, not e.default)) if not name else \
        sorted(rows, key=lambda e: not e.default)


def parse_pretrained(weights: str) -> str | None:
    """``pretrained`` → "" (the default tag), ``pretrained:<tag>`` → tag, anything else → None."""
    w = (weights or "").strip()
    if w == PRETRAINED:
        return ""
    if w.startswith(PRETRAINED + ":"):
        return w.split(":", 1)[1].strip()
    return None


def find_weights(source: str, variant: str, tag: str = "") -> WeightsEntry:
    """The catalogue entry ``pretrained[:tag]`` means; BadInput naming what exists otherwise."""
    name = resolve_variant(variant)
    rows = entries_for(source, name)
    if not rows:
        raise BadInput(f"weights = \"pretrained\": the catalogue has no {source} entry for {name}")
    if rows[0].none:
        raise BadInput(f"weights = \"pretrained\": no {source} weights are published for {name} "
                       f"({rows[0].none})")
    if not tag:
        return rows[0]
    for e in rows:
        if e.tag == tag:
            return e
    tags = ", ".join(f"pretrained:{e.tag}" for e in rows)
    raise BadInput(f"weights = \"pretrained:{tag}\": {source} has no such tag for {name}; known: {tags}")


def published_for(source: str, variant: str, tag: str = "") -> WeightsEntry | None:
    """The entry whose published accuracy applies to weights loaded as ``tag`` (or None)."""
    try:
        e = find_weights(source, variant, tag)
    except BadInput:
        return None
    return e if e.top1 is not None else None

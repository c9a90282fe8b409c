"""The sweep profile: which rows (source × variant), which builds, which data and weights.

A sweep profile is TOML validated by a strict schema, like a run profile, and reuses its
sections (``[export]``, ``[data]``, ``[bench]``, ``[calibration]``) so a key means the same
thing in both. The rows default to the model zoo's 25: the official README's 9, the mmcls
metafile's 7 and timm's 9 widths (the two ``_ssld`` models can be added by name).

Weights come from one folder, a file per row matched by the names the sources publish
(:func:`match_weights`); a row without a file runs with random-init weights and says so.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from workbench.backends import DEFAULT_BACKEND
from workbench.errors import BadInput
from workbench.profile import (
    BenchSection,
    CalibMethod,
    CalibrationSection,
    DataSection,
    DType,
    ExportSection,
    InputSize,
    Source,
    known_backend,
    read_toml,
    resolve_paths,
)

SOURCES_ORDER = ("official", "mmcls", "timm")
WEIGHT_SUFFIXES = (".pth", ".pth.tar", ".pt", ".tar", ".safetensors", ".bin")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _all_sources() -> list[Source]:
    return ["official", "mmcls", "timm"]


class ModelsSection(_Section):
    """The rows: every variant each source publishes, unless narrowed."""

    sources: list[Source] = Field(default_factory=_all_sources)
    variants: list[str] = Field(default_factory=list, description="[] = each source's published list")
    weights_dir: str = Field("", description="folder of checkpoints, a file per row; '' = random-init")
    input_size: InputSize = Field((224, 224), description="H, W; multiples of 32")


class SweepBuild(_Section):
    """One build of every row: a dtype on a backend (int8: with a calibration method)."""

    backend: str = DEFAULT_BACKEND
    dtype: DType = "fp32"
    calibration: CalibMethod = "percentile"

    _known_backend = field_validator("backend")(known_backend)

    @property
    def label(self) -> str:
        return f"{self.dtype}-{self.calibration}-{self.backend}" if self.dtype == "int8" else \
            f"{self.dtype}-{self.backend}"


class SweepOutput(_Section):
    dir: str = Field("", description="table and per-row state; default <home>/sweeps/<name>")
    vastai_txt: bool = Field(False, description="also write the VastAI txt for every build")


def _default_builds() -> list[SweepBuild]:
    return [SweepBuild(dtype="fp32"), SweepBuild(dtype="int8")]


class SweepProfile(_Section):
    """A whole model-zoo table: rows × builds, on one dataset, benchmarked."""

    name: str = ""
    description: str = ""
    models: ModelsSection = Field(default_factory=ModelsSection)
    builds: list[SweepBuild] = Field(default_factory=_default_builds)
    calibration: CalibrationSection = Field(default_factory=CalibrationSection)
    export: ExportSection = Field(default_factory=ExportSection)
    data: DataSection = Field(default_factory=DataSection)
    bench: BenchSection = Field(default_factory=BenchSection)
    output: SweepOutput = Field(default_factory=SweepOutput)

    @field_validator("builds")
    @classmethod
    def _builds(cls, v: list[SweepBuild]) -> list[SweepBuild]:
        if not v:
            raise ValueError("at least one [[builds]] entry is needed")
        labels = [b.label for b in v]
        if len(set(labels)) != len(labels):
            raise ValueError(f"duplicate builds: {', '.join(labels)}")
        return v


@dataclass(frozen=True)
class RowSpec:
    """One row of the table: a variant as one source publishes it, with its weights."""

    source: str
    variant: str  # timm name
    name: str  # the name this source publishes it under
    weights: str  # a checkpoint path or "random-init"

    @property
    def id(self) -> str:
        return f"{self.source}:{self.variant}"

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "source": self.source, "variant": self.variant, "name": self.name,
                "weights": self.weights}


def published_name(source: str, variant: str) -> str:
    from workbench.sources.variants import VARIANTS

    v = VARIANTS[variant]
    if source == "official":
        return v.official or variant
    if source == "mmcls":
        return f"hrnet-{v.short}"
    return v.name


def weight_file_stems(source: str, variant: str) -> list[str]:
    """The file names (without suffix) each source publishes a variant's weights under.

    official: ``hrnetv2_w18_imagenet_pretrained`` / ``hrnet_w18_small_model_v1`` (and the
    README name, ``HRNet-W18-C``); mmcls: ``hrnet-w18_3rdparty_8xb32_in1k_<date>-<hash>``
    (matched on ``hrnet-w18_``); timm: ``hrnet_w18`` or ``hrnet_w18.<pretrained tag>``.
    """
    from workbench.sources.variants import VARIANTS

    v = VARIANTS[variant]
    if source == "official":
        stems = [v.official.lower()] if v.official else []
        if variant == "hrnet_w18_small":
            stems.append("hrnet_w18_small_model_v1")
        elif variant == "hrnet_w18_small_v2":
            stems.append("hrnet_w18_small_model_v2")
        else:
            stems.append(f"hrnetv2_{v.short}_imagenet_pretrained")
        return stems
    if source == "mmcls":
        return [f"hrnet-{v.short}"]
    return [variant]


def _weight_stem(p: Path) -> str:
    name = p.name.lower()
    for suf in sorted(WEIGHT_SUFFIXES, key=len, reverse=True):
        if name.endswith(suf):
            return name[: -len(suf)]
    return ""


def match_weights(folder: Path, source: str, variant: str) -> Path | None:
    """The checkpoint for one row in ``folder`` (or ``folder/<source>/``), or None.

    timm files match ``<variant>`` or ``<variant>.<tag>`` exactly, so ``hrnet_w18`` never
    takes ``hrnet_w18_small``'s file; mmcls files match the ``hrnet-w18_`` prefix of their
    published names; official files match their published names.
    """
    stems = weight_file_stems(source, variant)
    for d in (folder / source, folder):
        if not d.is_dir():
            continue
        found = []
        for p in sorted(d.iterdir()):
            stem = _weight_stem(p) if p.is_file() else ""
            if not stem:
                continue
            for s in stems:
                if source == "mmcls":
                    ok = stem == s or stem.startswith(s + "_")
                elif source == "timm":
                    ok = stem == s or stem.startswith(s + ".")
                else:
                    ok = stem == s
                if ok:
                    found.append(p)
                    break
        if len(found) > 1:
            raise BadInput(f"{d}: {len(found)} files match {source}:{variant} "
                           f"({', '.join(p.name for p in found)}); keep one")
        if found:
            return found[0]
    return None


def default_variants(source: str) -> tuple[str, ...]:
    """The variants a source publishes in the model zoo's table (timm: its 9 widths)."""
    from workbench.sources.cost import CONVENTIONS
    from workbench.sources.variants import WIDTHS

    if source == "timm":
        return WIDTHS
    return tuple(CONVENTIONS[source].variants)


def plan_rows(p: SweepProfile) -> list[RowSpec]:
    """Every row the profile asks for, in the zoo's order (source, then width)."""
    from workbench.sources.variants import VARIANTS, resolve_variant

    wanted = [resolve_variant(v) for v in p.models.variants]
    folder = Path(p.models.weights_dir).expanduser() if p.models.weights_dir else None
    if folder is not None and not folder.is_dir():
        raise BadInput(f"[models] weights_dir {folder}: not a folder")
    rows = []
    for src in SOURCES_ORDER:
        if src not in p.models.sources:
            continue
        published = default_variants(src)
        names = [v for v in wanted if src == "timm" or v in published] if wanted else list(published)
        for variant in names:
            if src == "mmcls" and not VARIANTS[variant].mmcls:
                continue
            w = match_weights(folder, src, variant) if folder is not None else None
            rows.append(RowSpec(src, variant, published_name(src, variant), str(w) if w else "random-init"))
    return rows


def select_rows(rows: list[RowSpec], only: list[str], skip: list[str]) -> list[RowSpec]:
    """``--only`` / ``--skip``: a row id (``mmcls:hrnet_w18``), a source, or a variant in any
    spelling (``w18``, ``HRNet-W18-C``); a token that matches nothing is an error."""
    from workbench.sources.variants import resolve_variant

    def matcher(token: str) -> Any:
        t = token.strip()
        if t in SOURCES_ORDER:
            return lambda r: r.source == t
        if ":" in t:
            src, _, var = t.partition(":")
            v = resolve_variant(var)
            return lambda r: r.source == src and r.variant == v
        v = resolve_variant(t)
        return lambda r: r.variant == v

    def matching(tokens: list[str], flag: str) -> list[Any]:
        ms = []
        for tok in tokens:
            m = matcher(tok)
            if not any(m(r) for r in rows):
                raise BadInput(f"{flag} {tok!r}: matches no row of this sweep "
                               f"({len(rows)} rows: {', '.join(r.id for r in rows[:4])}, ...)")
            ms.append(m)
        return ms

    keep = matching(only, "--only")
    drop = matching(skip, "--skip")
    return [r for r in rows if (not keep or any(m(r) for m in keep)) and not any(m(r) for m in drop)]


_PATH_KEYS = (("models", "weights_dir"), ("data", "path"), ("data", "labels"),
              ("calibration", "data"), ("output", "dir"))


def _describe_error(exc: ValidationError, source: str) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    if err["type"] == "extra_forbidden":
        return f"{source}: unknown key '{loc}'"
    got = err.get("input")
    got_s = f" (got {got!r})" if got is not None and not isinstance(got, dict | list) else ""
    return f"{source}: {loc}: {err['msg'].removeprefix('Value error, ')}{got_s}"


def load_sweep_profile(path: str | Path, *, data: str = "", weights_dir: str = "") -> SweepProfile:
    """Read and validate a sweep profile; ``data`` / ``weights_dir`` override the file
    (relative to the current directory; the file's own paths are relative to the file)."""
    path, raw = read_toml(path, "sweep profile")
    try:
        prof = SweepProfile.model_validate(raw)
    except ValidationError as exc:
        raise BadInput(_describe_error(exc, str(path))) from None
    resolve_paths(prof, _PATH_KEYS, path.parent)
    if data:
        prof.data.path = str(Path(data).expanduser().resolve())
    if weights_dir:
        prof.models.weights_dir = str(Path(weights_dir).expanduser().resolve())
    return prof


def row_key(p: SweepProfile, row: RowSpec) -> str:
    """What makes a finished row reusable: everything that changes its figures. A checkpoint
    is identified by its size and mtime (hashing 25 checkpoints on every rerun costs minutes)."""
    wid: Any = row.weights
    if row.weights != "random-init":
        st = Path(row.weights).stat()
        wid = [row.weights, st.st_size, int(st.st_mtime)]
    fields = {
        "row": row.id, "weights": wid, "input_size": list(p.models.input_size),
        "builds": [b.model_dump() for b in p.builds], "calibration": p.calibration.model_dump(),
        "export": p.export.model_dump(), "data": p.data.model_dump(),
        "bench": p.bench.model_dump(),
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:16]

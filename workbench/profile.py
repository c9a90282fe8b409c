"""Profiles: one TOML file that says what to build, evaluate and benchmark.

The schema is strict (``extra="forbid"``) so a typo such as ``dtyp`` is an error that
names the file and the key, never a silently ignored setting. Relative paths inside a
profile are resolved against the profile file's own folder, so a profile works from
any working directory.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import ErrorDetails

from workbench.backends import DEFAULT_BACKEND, backend_names
from workbench.errors import BadInput
from workbench.input_size import check_input_size

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

Source = Literal["timm", "official", "mmcls"]
DType = Literal["fp32", "tf32", "fp16", "bf16", "int8"]
Target = Literal["auto", "avx2", "avx512", "vnni", "bf16", "amx"]
CalibMethod = Literal["minmax", "entropy", "percentile"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, v: Any, info: ValidationInfo) -> Any:
        """pydantic reads ``true`` as 1 for an int field; a count or size is never a switch."""
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(v, bool) and field is not None and field.annotation in (int, float):
            raise ValueError(f"expected a number, not {str(v).lower()}")
        return v


def _size_pair(v: Any) -> Any:
    return (v, v) if isinstance(v, int) and not isinstance(v, bool) else v


def _mult32(v: tuple[int, int]) -> tuple[int, int]:
    try:
        return check_input_size(v)
    except BadInput as exc:  # pydantic reports ValueErrors with the key
        raise ValueError(str(exc)) from None


#: An ``input_size`` key (run and sweep profiles): H or [H, W], multiples of 32.
InputSize = Annotated[tuple[int, int], BeforeValidator(_size_pair), AfterValidator(_mult32)]


def known_backend(v: str) -> str:
    """A pydantic validator for a ``backend`` key (run and sweep profiles)."""
    if v not in backend_names():
        raise ValueError(f"unknown backend {v!r}; expected {' | '.join(backend_names())}")
    return v


class ModelSection(_Section):
    """Which network, from which source, with which weights."""

    source: Source = Field("timm", description="timm | official | mmcls")
    variant: str = Field("hrnet_w18", description="timm name (hrnet_w18) or short name (w18, small_v1)")
    weights: str = Field(
        "random-init",
        description="'random-init', 'pretrained' or 'pretrained:<tag>' (the weights catalogue: downloaded "
                    "once, verified, cached), 'hub' or 'hub:<tag>' (HF cache only), or a .pth/.pth.tar/.safetensors path",
    )
    config: str = Field("", description="official experiment yaml that defines the variant (optional)")
    ema: bool = Field(False, description="load the EMA weights a training checkpoint carries (mmcls ema_* keys)")
    onnx: str = Field("", description="an exported .onnx to build from, instead of loading and exporting "
                                      "the model (source and variant then only name it)")
    input_size: InputSize = Field((224, 224), description="H, W; multiples of 32")
    preprocess: str = Field("auto", description="preprocessing preset; 'auto' follows the source")


class ExportSection(_Section):
    """ONNX export settings."""

    opset: int = Field(17, ge=9, le=20, description="ONNX opset, 9-20")
    dynamic_batch: bool = Field(True, description="dynamic batch axis")
    parity_images: int = Field(4, ge=1, le=256, description="images for the torch-vs-ONNX parity check")
    parity_tolerance: float = Field(1e-4, gt=0, description="max abs logit difference allowed, as a fraction of the largest logit")


class CalibrationSection(_Section):
    """Post-training quantization calibration."""

    method: CalibMethod = Field("percentile", description="minmax | entropy | percentile")
    count: int = Field(1000, ge=1, le=1_000_000, description="images, class-balanced; capped by the data")
    percentile: float = Field(99.999, gt=0, le=100, description="for method = percentile")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="sampling seed")
    data: str = Field("", description="calibration folder; default: [data].path, disjoint from eval")
    layout: str = Field("auto", description="layout of the calibration folder (as [data].layout)")
    labels: str = Field("", description="label file of the calibration folder")


class BuildSection(_Section):
    """What to build from the ONNX export."""

    backend: str = Field(DEFAULT_BACKEND, description=" | ".join(backend_names()),
                         json_schema_extra={"enum": list(backend_names())})
    dtype: DType = Field("fp32", description="fp32 | fp16 | bf16 (openvino-cpu) | int8")
    target: Target = Field("auto", description="CPU the build is for: auto (this one) | avx2 | "
                                               "avx512 | vnni | bf16 | amx")
    reference: bool = Field(True, description="also build and measure fp32 on the same backend")
    calibration: CalibrationSection = Field(default_factory=CalibrationSection)
    exclude_nodes: list[str] = Field(default_factory=list, description="int8: nodes kept in fp32")
    accuracy_budget: float | None = Field(
        None, description="int8: top-1 agreement points with fp32 that may be lost (1 = >= 99%); keeps "
                          "the worst nodes in fp32, fusion Adds first, until met")
    agreement_images: int = Field(200, ge=1, le=1_000_000, description="held-out images for the agreement check")
    sensitivity_images: int = Field(8, ge=1, le=100_000, description="calibration images for the sensitivity ranking")

    _known_backend = field_validator("backend")(known_backend)

    @field_validator("accuracy_budget")
    @classmethod
    def _budget(cls, v: float | None) -> float | None:
        if v is not None and not 0 <= v < 100:
            raise ValueError("points of top-1 agreement that may be lost, 0 <= X < 100 "
                             "(e.g. 1 for >= 99% agreement)")
        return v


class DataSection(_Section):
    """The evaluation dataset."""

    path: str = Field("", description="dataset folder or file list; '' skips evaluation")
    layout: str = Field("auto", description="auto | imagenet-val | imagefolder | synset-prefixed | filelist")
    labels: str = Field("", description="label file (val_label.txt or 1000-line label.txt)")
    limit: int = Field(0, ge=0, le=100_000_000, description="evaluate at most this many images; 0 = all")
    batch_size: int = Field(8, ge=1, le=1024, description="inference batch size for evaluation")
    threads: int = Field(0, ge=0, le=1024, description="inference threads for evaluation; 0 = physical cores")
    streams: int = Field(0, ge=0, le=64, description="streams evaluating at once, sharing the threads, "
                         "each decoding its own batches; 0 = auto (2 on a CPU backend with 2+ threads and 8+ batches)")


class BenchSection(_Section):
    """Latency and throughput measurement."""

    enabled: bool = Field(True, description="run the benchmark stage")
    batch_sizes: list[Annotated[int, Field(ge=1, le=1024)]] = Field(default_factory=lambda: [1, 8])
    streams: list[Annotated[int, Field(ge=1, le=256)]] = Field(default_factory=lambda: [1])
    threads: list[Annotated[int, Field(ge=0, le=1024)]] = Field(
        default_factory=lambda: [0], description="0 = physical cores"
    )
    warmup: int = Field(3, ge=0, le=100_000, description="warm-up requests per stream")
    iterations: int = Field(20, ge=1, le=10_000_000, description="timed requests per grid point, over all rounds")
    duration_s: float | None = Field(None, gt=0, le=86_400, description="time per grid point instead of iterations")
    rounds: int = Field(3, ge=1, le=1000, description="interleaved rounds; figures are medians over them")
    latency_budget_ms: float | None = Field(
        None, gt=0, description="report the best-throughput point whose p99 fits this budget")
    baseline: bool = Field(False, description="also measure torch eager fp32 in the same run")


class OutputSection(_Section):
    """Where results go."""

    dir: str = Field("", description="run output folder; default: <home>/runs/<run id>")
    vastai_txt: bool = Field(True, description="also write the VastAI 5-lines-per-image result txt")


class Profile(_Section):
    """A whole run: model → export → build → evaluate → benchmark → record."""

    name: str = Field("", description="label for the run; default: the file's stem")
    description: str = ""
    model: ModelSection = Field(default_factory=ModelSection)
    export: ExportSection = Field(default_factory=ExportSection)
    build: BuildSection = Field(default_factory=BuildSection)
    data: DataSection = Field(default_factory=DataSection)
    bench: BenchSection = Field(default_factory=BenchSection)
    output: OutputSection = Field(default_factory=OutputSection)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The profile's JSON Schema, generated from this model (``docs/profile.schema.json``)."""
        return cls.model_json_schema()

    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    def content_hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:16]


_PATH_KEYS = (("model", "weights"), ("model", "config"), ("model", "onnx"), ("data", "path"),
              ("data", "labels"), ("build", "calibration", "data"), ("build", "calibration", "labels"),
              ("output", "dir"))


def _describe_error(err: ErrorDetails, source: str) -> str:
    loc = [str(p) for p in err["loc"]]
    key = ".".join(loc) if loc else "(top level)"
    section = f"[{'.'.join(loc[:-1])}] " if len(loc) > 1 else ""
    etype = err["type"]
    if etype == "extra_forbidden":
        parent: type[BaseModel] = Profile
        for part in loc[:-1]:
            ann = parent.model_fields[part].annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                parent = ann
        allowed = ", ".join(parent.model_fields)
        return f"{source}: {section}unknown key '{loc[-1]}' ({key}); expected one of: {allowed}"
    msg = err["msg"].removeprefix("Value error, ")
    got = err.get("input")
    got_s = f" (got {got!r})" if got is not None and not isinstance(got, dict) else ""
    return f"{source}: {key}: {msg}{got_s}"


def _set_dotted(data: dict[str, Any], dotted: str, raw: str) -> None:
    parts = dotted.split(".")
    node = data
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise BadInput(f"--set {dotted}: '{p}' is not a section")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # bare strings such as paths
    if tuple(parts) in _PATH_KEYS and isinstance(value, str) and _is_path_value(tuple(parts), value):
        value = str(Path(value).expanduser().resolve())  # relative to the CWD, not the profile
    node[parts[-1]] = value


def _is_path_value(keys: tuple[str, ...], value: str) -> bool:
    if not value:
        return False
    return not (keys == ("model", "weights") and (value == "random-init" or value.startswith("hub")
                                                   or value.split(":", 1)[0] == "pretrained"))


def parse_profile(data: dict[str, Any], source: str = "<profile>", base_dir: Path | None = None,
                  overrides: dict[str, str] | None = None) -> Profile:
    """Validate a dict into a Profile; errors name ``source`` and the offending key, or what
    the user typed to put the bad value there (``overrides``: dotted key -> e.g.
    ``--set KEY=VALUE`` or ``--target sse``)."""
    try:
        prof = Profile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        given = next((k for k in (overrides or {}) if key == k or key.startswith(k + ".")), None)
        where = (overrides or {})[given] if given is not None else source
        raise BadInput(_describe_error(err, where)) from None
    if base_dir is not None:
        resolve_paths(prof, _PATH_KEYS, base_dir, _is_path_value)
    return prof


def resolve_paths(model: BaseModel, path_keys: tuple[tuple[str, ...], ...], base_dir: Path,
                  is_path: Callable[[tuple[str, ...], str], bool] = lambda _keys, value: bool(value)) -> None:
    """Make the path values at ``path_keys`` (dotted as tuples) absolute: a profile's own
    paths are relative to its file's folder ``base_dir`` (run and sweep profiles)."""
    for keys in path_keys:
        node: Any = model
        for k in keys[:-1]:
            node = getattr(node, k)
        value: str = getattr(node, keys[-1])
        if not is_path(keys, value):
            continue
        p = Path(value).expanduser()
        if not p.is_absolute():
            p = (base_dir / p).resolve()
        setattr(node, keys[-1], str(p))


def read_toml(path: str | Path, what: str) -> tuple[Path, dict[str, Any]]:
    """A profile file's path and its TOML table, ``name`` defaulting to the file's stem;
    BadInput (naming ``what``) for a missing, special, oversized, non-TOML or non-UTF-8 file."""
    from workbench.paths import regular_file

    path = regular_file(path, what, max_bytes=4 * 2**20)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))  # a BOM (Windows editors) is fine
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path}: not a UTF-8 text file") from None
    data.setdefault("name", path.stem)
    return path, data


def load_profile(path: str | Path, overrides: list[str] | None = None) -> Profile:
    """Read, override (``key.sub=value``) and validate a profile file."""
    path, data = read_toml(path, "profile")
    given: dict[str, str] = {}
    for item in overrides or []:
        if "=" not in item:
            raise BadInput(f"--set {item!r}: expected KEY=VALUE, e.g. build.dtype=int8")
        key, raw = item.split("=", 1)
        _set_dotted(data, key.strip(), raw.strip())
        given[key.strip()] = f"--set {key.strip()}={raw.strip()}"
    # Overrides given on the command line are relative to the CWD, profile paths to the file.
    prof = parse_profile(data, str(path), base_dir=path.parent, overrides=given)
    return prof

"""Preprocessing presets: the exact resize/crop/normalise each weight source was scored with.

A checkpoint's accuracy only reproduces with the preprocessing it was trained and tested
with, so the preset travels with the model (``LoadedModel.preprocess``) and is chosen
automatically from its source; ``name=`` overrides it.

Presets (NOTES §2):

``timm`` / ``timm:<tag>`` / ``timm:<variant>.<tag>``
    Read from timm's own ``pretrained_cfg`` through ``timm.data.resolve_data_config``
    (crop_pct, interpolation, mean/std, crop mode), never re-derived by hand. ``ms_in1k``
    is Resize(256) + CenterCrop(224) bilinear; the default ``hrnet_w18`` tag
    ``ms_aug_in1k`` crops 0.95; ``gluon_in1k`` is bicubic; ``*_ssld`` tests at 288 with
    crop 1.0 (used when the input size equals timm's test size).
``official``
    ``tools/valid.py``: Resize(int(224 / 0.875)) on the short side, PIL bilinear,
    CenterCrop, ImageNet mean/std.
``mmcls``
    ``ResizeEdge(256, short, pillow, bilinear)`` + CenterCrop, mean/std in 0–255, and EXIF
    orientation applied (mmcv does; torchvision and timm do not). mmcls decodes with cv2
    (BGR) and flips to RGB; we decode with PIL straight to RGB, the same pixels.
``vastai``
    The VastAI build yaml: Resize to a 256×256 square (not short side), CenterCrop 224.

The hot path is PIL + numpy only: geometry with the same rounding as torchvision's
``Resize``/``CenterCrop`` and timm's ``ResizeKeepRatio``, normalisation in numpy. That is
the same arithmetic as ``timm.data.create_transform`` (``tests/test_data_preprocess.py``
asserts equality with it) without per-image torch tensors competing for the two cores
that inference needs; :meth:`Preprocessor.timm_transform` returns timm's own transform
for the same config when a reference is wanted.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.data.decode import DecodeError, decode_rgb, read_image_bytes
from workbench.data.identity import content_hash_bytes
from workbench.data.resize import box_shortcut_ok, resize_crop
from workbench.errors import BadInput
from workbench.runtime import uint8_table

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image as PILImage

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PRESETS = ("auto", "timm", "timm:<tag>", "official", "mmcls", "vastai")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")
RESIZE_MODES = ("short", "keep-ratio", "square")


@dataclass(frozen=True)
class PreprocessConfig:
    """Everything that decides the pixels a model sees. Hashed into calibration cache keys."""

    name: str
    input_size: tuple[int, int]  # H, W of the crop the model receives
    resize_mode: str  # short | keep-ratio | square
    resize_size: tuple[int, int]  # H, W before the crop ("short": both equal the short edge)
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = IMAGENET_MEAN  # on the 0..1 scale
    std: tuple[float, float, float] = IMAGENET_STD
    crop_pct: float = 0.875
    exif_transpose: bool = False
    origin: str = ""  # where the values came from, for the report

    def __post_init__(self) -> None:
        if self.resize_mode not in RESIZE_MODES:
            raise BadInput(f"resize mode {self.resize_mode!r}: expected one of {', '.join(RESIZE_MODES)}")
        if self.interpolation not in INTERPOLATIONS:
            raise BadInput(f"interpolation {self.interpolation!r}: expected one of {', '.join(INTERPOLATIONS)}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PreprocessConfig:
        """Rebuild a config from :meth:`as_dict` output (e.g. an artifact's meta.json)."""
        try:
            return cls(
                name=str(d["name"]), input_size=(int(d["input_size"][0]), int(d["input_size"][1])),
                resize_mode=str(d["resize_mode"]),
                resize_size=(int(d["resize_size"][0]), int(d["resize_size"][1])),
                interpolation=str(d.get("interpolation", "bilinear")),
                mean=tuple(float(x) for x in d.get("mean", IMAGENET_MEAN)),  # type: ignore[arg-type]
                std=tuple(float(x) for x in d.get("std", IMAGENET_STD)),  # type: ignore[arg-type]
                crop_pct=float(d.get("crop_pct", 0.875)), exif_transpose=bool(d.get("exif_transpose", False)),
                origin=str(d.get("origin", "")),
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise BadInput(f"not a preprocessing description: {exc}") from None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        d["resize_size"] = list(self.resize_size)
        d["mean"] = list(self.mean)
        d["std"] = list(self.std)
        return d


def _check_size(input_size: tuple[int, int] | list[int] | int) -> tuple[int, int]:
    if isinstance(input_size, int):
        input_size = (input_size, input_size)
    if len(input_size) != 2:
        raise BadInput(f"input size {input_size!r}: expected (H, W)")
    h, w = int(input_size[0]), int(input_size[1])
    for v in (h, w):
        if v <= 0 or v % 32:
            raise BadInput(f"input size {h}x{w} is not a multiple of 32; HRNet's fuse layers need "
                           f"H and W divisible by 32 (try {max(32, round(v / 32) * 32)})")
    return h, w


def _scale_size(input_size: tuple[int, int], crop_pct: float) -> tuple[int, int]:
    # timm's transforms_imagenet_eval: floor(size / crop_pct) per side
    return (math.floor(input_size[0] / crop_pct), math.floor(input_size[1] / crop_pct))


def _geometry(name: str, size: tuple[int, int], crop_pct: float, interpolation: str,
              mean: tuple[float, float, float], std: tuple[float, float, float],
              exif: bool, origin: str, square: bool = False, crop_mode: str = "center") -> PreprocessConfig:
    scale = _scale_size(size, crop_pct)
    if square or crop_mode == "squash":
        mode = "square"
    elif scale[0] == scale[1]:
        mode = "short"
    else:
        mode = "keep-ratio"
    return PreprocessConfig(name=name, input_size=size, resize_mode=mode, resize_size=scale,
                            interpolation=interpolation, mean=mean, std=std, crop_pct=crop_pct,
                            exif_transpose=exif, origin=origin)


def timm_preset(variant: str, tag: str, input_size: tuple[int, int]) -> PreprocessConfig:
    """The preset of timm weights ``variant.tag`` (tag "" = timm's default tag for the variant)."""
    import timm
    from timm.data import resolve_data_config

    if "." in tag:
        variant, tag = tag.split(".", 1)
    full = f"{variant}.{tag}" if tag else variant
    try:
        pcfg = timm.models.get_pretrained_cfg(full) if variant else None
    except RuntimeError:  # timm's "Invalid pretrained tag" for a known architecture
        pcfg = None
    if pcfg is None:
        if variant and tag:
            tags = ", ".join(t.split(".", 1)[1] for t in timm.list_pretrained(f"{variant}.*")) or "none"
            raise BadInput(f"preprocess timm:{tag}: timm has no pretrained tag {tag!r} for {variant} "
                           f"(known: {tags})")
        # timm's generic ImageNet defaults (what resolve_data_config gives a model with no cfg)
        cfg = resolve_data_config({}, pretrained_cfg={"input_size": (3, *input_size)})
        full_name = "timm"
        origin = "timm.data.resolve_data_config defaults"
    else:
        pdict = pcfg.to_dict()
        test = pdict.get("test_input_size")
        use_test = bool(test) and tuple(test[-2:]) == tuple(input_size)
        cfg = resolve_data_config({}, pretrained_cfg=pdict, use_test_size=use_test)
        full_name = f"timm:{variant}.{pcfg.tag}" if pcfg.tag else f"timm:{variant}"
        origin = f"timm.data.resolve_data_config({variant}.{pcfg.tag}{', test size' if use_test else ''})"
    return _geometry(full_name, input_size, float(cfg["crop_pct"]), str(cfg["interpolation"]),
                     tuple(float(x) for x in cfg["mean"]), tuple(float(x) for x in cfg["std"]),  # type: ignore[arg-type]
                     False, origin, crop_mode=str(cfg.get("crop_mode", "center")))


def preset_for(source: str = "timm", variant: str = "", pretrained_tag: str = "",
               input_size: tuple[int, int] | list[int] | int = (224, 224), name: str = "auto") -> PreprocessConfig:
    """Pick the preprocessing for a model: from its source when ``name="auto"``, else by name."""
    size = _check_size(input_size)
    name = (name or "auto").strip()
    if name == "auto":
        if source == "timm":
            name = f"timm:{pretrained_tag}" if pretrained_tag else "timm"
        elif source in ("official", "mmcls"):
            name = source
        else:
            raise BadInput(f"source {source!r}: expected timm, official or mmcls")
    if name == "timm" or name.startswith("timm:"):
        tag = name.partition(":")[2]
        return timm_preset(variant, tag, size)
    if name == "official":
        # tools/valid.py: transforms.Resize(int(IMAGE_SIZE / 0.875)), CenterCrop(IMAGE_SIZE)
        cfg = _geometry("official", size, 0.875, "bilinear", IMAGENET_MEAN, IMAGENET_STD, False,
                        "HRNet-Image-Classification tools/valid.py")
        return _with_resize(cfg, (int(size[0] / 0.875), int(size[1] / 0.875)))
    if name == "mmcls":
        # ResizeEdge(256, edge='short') for a 224 crop; mean/std 123.675.../58.395... = ImageNet x 255
        cfg = _geometry("mmcls", size, 0.875, "bilinear", IMAGENET_MEAN, IMAGENET_STD, True,
                        "mmpretrain hrnet config: ResizeEdge(256, short, pillow) + CenterCrop(224)")
        return _with_resize(cfg, (round(size[0] * 256 / 224), round(size[1] * 256 / 224)))
    if name == "vastai":
        side = (round(size[0] * 256 / 224), round(size[1] * 256 / 224))
        return PreprocessConfig(name="vastai", input_size=size, resize_mode="square", resize_size=side,
                                interpolation="bilinear", crop_pct=size[0] / side[0],
                                origin="VastAI build yaml: Resize 256x256 square + CenterCrop 224")
    raise BadInput(f"preprocess preset {name!r}: expected one of {', '.join(PRESETS)}")


def _with_resize(cfg: PreprocessConfig, resize: tuple[int, int]) -> PreprocessConfig:
    mode = "short" if resize[0] == resize[1] else "keep-ratio"
    return PreprocessConfig(**{**asdict(cfg), "resize_size": resize, "resize_mode": mode})


class Preprocessor:
    """File → float32 CHW array, per a :class:`PreprocessConfig`. Thread-safe (no state)."""

    def __init__(self, cfg: PreprocessConfig) -> None:
        from PIL import Image

        self.cfg = cfg
        self._resample = {
            "nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
            "bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS,
            "box": Image.Resampling.BOX, "hamming": Image.Resampling.HAMMING,
        }[cfg.interpolation]
        # uint8 → normalised float32 for each channel, computed with the very float32 ops of
        # ToTensor + Normalize, so a table lookup is bit-identical to them and costs one pass
        # instead of four; a predictor that normalises on its device gathers from the same table
        self._lut = uint8_table(cfg.mean, cfg.std)
        # Pillow's separable filters (not NEAREST, which takes another code path)
        self._boxable = cfg.interpolation != "nearest"

    @property
    def input_size(self) -> tuple[int, int]:
        return self.cfg.input_size

    def describe(self) -> dict[str, Any]:
        """JSON-able identity of this preprocessing (calibration and eval caches key on it)."""
        return self.cfg.as_dict()

    # -- geometry --------------------------------------------------------------------
    def resized_size(self, width: int, height: int) -> tuple[int, int]:
        """(W, H) after the resize step, with the reference tools' rounding."""
        c = self.cfg
        if c.resize_mode == "short":
            s = c.resize_size[0]
            if width <= height:  # torchvision Resize(int) / mmcv ResizeEdge: int() truncation
                return s, int(s * height / width)
            return int(s * width / height), s
        if c.resize_mode == "keep-ratio":  # timm ResizeKeepRatio(longest=0)
            th, tw = c.resize_size
            ratio = min(height / th, width / tw)
            return round(width / ratio), round(height / ratio)
        return c.resize_size[1], c.resize_size[0]

    def transform_image(self, im: PILImage.Image) -> PILImage.Image:
        """Resize and centre-crop an RGB image to the model's input size."""
        w, h = im.size
        nw, nh = self.resized_size(w, h)
        ch, cw = self.cfg.input_size
        # torchvision CenterCrop: round((size - crop) / 2); PIL fills outside pixels with 0,
        # which is where torchvision's zero padding would put them.
        top = int(round((nh - ch) / 2.0)) if nh >= ch else -((ch - nh) // 2)
        left = int(round((nw - cw) / 2.0)) if nw >= cw else -((cw - nw) // 2)
        return resize_crop(im, (nw, nh), (left, top, left + cw, top + ch), self._resample,
                           shortcut=self._boxable and box_shortcut_ok())

    # -- files -----------------------------------------------------------------------
    def load_uint8(self, path: str | Path) -> np.ndarray:
        """Decode, resize, crop: uint8 RGB HWC (what image2npz stores, before CHW)."""
        return self.uint8_from_bytes(read_image_bytes(path), path)

    def uint8_from_bytes(self, data: bytes, path: str | Path) -> np.ndarray:
        """:meth:`load_uint8` for a file already read into memory (``path`` names it in errors)."""
        im = decode_rgb(data, path, exif_transpose=self.cfg.exif_transpose)
        return np.asarray(self.transform_image(im), dtype=np.uint8)

    def normalize(self, hwc: np.ndarray) -> np.ndarray:
        """uint8 HWC → float32 CHW, as ToTensor (÷255) then Normalize((x − mean) / std)."""
        out = np.empty((3, hwc.shape[0], hwc.shape[1]), dtype=np.float32)
        self._normalize_into(hwc, out)
        return out

    def _normalize_into(self, hwc: np.ndarray, out: np.ndarray) -> None:
        """Normalise into a float32 ``out``; a uint8 ``out`` takes the CHW pixels as they are
        (for a predictor that normalises them where it runs, with the same table)."""
        if out.dtype == np.uint8:
            out[...] = hwc.transpose(2, 0, 1)
            return
        # one contiguous CHW copy of the uint8 pixels, then a table lookup per plane straight
        # into ``out`` (docs/NOTES.md §7)
        chw = np.ascontiguousarray(hwc.transpose(2, 0, 1))
        for c in range(3):
            np.take(self._lut[c], chw[c], out=out[c])

    def load(self, path: str | Path) -> np.ndarray:
        """One file → float32 CHW, ready to stack into a batch. Raises DecodeError."""
        return self.normalize(self.load_uint8(path))

    def load_identified(self, path: str | Path, dtype: Any = np.float32) -> tuple[np.ndarray, str]:
        """(float32 CHW, content hash) from one read of the file: the evaluator's hot path
        (``dtype=np.uint8``: the pixels, not normalised). A file that fails to decode raises
        DecodeError with ``content_hash`` set."""
        out = np.empty((3, *self.cfg.input_size), dtype=dtype)
        return out, self.load_identified_into(path, out)

    def load_identified_into(self, path: str | Path, out: np.ndarray) -> str:
        """:meth:`load_identified` written straight into ``out`` (a slot of the evaluator's
        batch buffer, so the main thread copies nothing; float32 or uint8, see
        :meth:`_normalize_into`); returns the content hash."""
        data = read_image_bytes(path)
        digest = content_hash_bytes(data)
        try:
            self._normalize_into(self.uint8_from_bytes(data, path), out)
        except DecodeError as exc:
            exc.content_hash = digest
            raise
        return digest

    # -- reference -------------------------------------------------------------------
    def timm_transform(self) -> Any:
        """timm's own eval transform for this config (PIL image → tensor): a reference."""
        from timm.data import create_transform

        c = self.cfg
        crop_mode = {"short": "center", "keep-ratio": "center", "square": "squash"}[c.resize_mode]
        return create_transform(input_size=(3, *c.input_size), is_training=False, crop_pct=c.crop_pct,
                                interpolation=c.interpolation, mean=c.mean, std=c.std, crop_mode=crop_mode)


MODEL_SOURCES = ("timm", "official", "mmcls")


def resolve_preprocessor(*, source: str, input_size: tuple[int, int] | list[int] | int,
                         variant: str = "", pretrained_tag: str = "", name: str = "auto",
                         model_default: str = "", recorded: dict[str, Any] | None = None,
                         unknown_source: str = "timm") -> Preprocessor:
    """The one rule for which preprocessing applies (pipeline, build, eval, sensitivity).

    An explicit preset ``name`` wins. Under ``auto``: the preprocessing an artifact
    ``recorded`` (its calibration's, so int8 ranges fit the inputs) when it is for this
    size; else the model's own default (``model_default``, e.g. a checkpoint's); else the
    preset of its ``source`` (``unknown_source``'s for a bare file).
    """
    size = _check_size(input_size)
    name = (name or "auto").strip()
    if name == "auto" and recorded and "resize_mode" in recorded:
        cfg = PreprocessConfig.from_dict(recorded)
        if tuple(cfg.input_size) == tuple(size):
            return Preprocessor(cfg)
    if name == "auto":
        name = model_default or "auto"
    src = source if source in MODEL_SOURCES else unknown_source
    return Preprocessor(preset_for(source=src, variant=variant, pretrained_tag=pretrained_tag,
                                   input_size=size, name=name))

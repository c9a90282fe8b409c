"""Class names and label files.

ImageNet-1k class order and names come from timm's own tables (``timm.data.ImageNetInfo``),
read straight from the files timm ships so that opening a dataset does not pay for
importing torch and timm (several seconds on 2 busy cores). If those files ever move,
we fall back to ``ImageNetInfo`` itself.

Two kinds of label file exist in the wild and both are accepted:

* per-image labels, ``val_label.txt``: ``ILSVRC2012_val_00000001.JPEG 65`` per line;
* class names, ``label.txt``: one name per class in index order (``tench, Tinca tinca``),
  or the common ``{0: 'tench, Tinca tinca', ...}`` dict dump.

A file that does not fit (wrong count, an index out of range, a malformed line) is a
:class:`~workbench.errors.BadInput` naming the file and the line, never a silent
mislabelling.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import BadInput

IMAGENET_CLASSES = 1000
SYNSET_RE = re.compile(r"^n\d{8}$")
_PER_IMAGE_RE = re.compile(r"^(\S+)\s+(-?\d+)$")
_DICT_LINE_RE = re.compile(r"""^\{?\s*(\d+)\s*:\s*(['"])(.*)\2\s*,?\s*\}?$""")


@dataclass(frozen=True)
class ImageNetTable:
    """The 1000 ImageNet-1k synsets in class-index order, with their names."""

    synsets: tuple[str, ...]
    names: tuple[str, ...]

    @functools.cached_property
    def index(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self.synsets)}


def _timm_info_dir() -> Path | None:
    spec = importlib.util.find_spec("timm")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(next(iter(spec.submodule_search_locations))) / "data" / "_info"
    return d if d.is_dir() else None


@functools.lru_cache(maxsize=1)
def imagenet() -> ImageNetTable:
    """ImageNet-1k synsets and names, exactly as ``timm.data.ImageNetInfo`` gives them."""
    d = _timm_info_dir()
    if d is not None and (d / "imagenet_synsets.txt").is_file() and (d / "imagenet_synset_to_lemma.txt").is_file():
        synsets = [s.strip() for s in (d / "imagenet_synsets.txt").read_text("utf-8").splitlines() if s.strip()]
        lemmas: dict[str, str] = {}
        for line in (d / "imagenet_synset_to_lemma.txt").read_text("utf-8").splitlines():
            key, _, value = line.partition("\t")
            lemmas[key] = value
        if len(synsets) == IMAGENET_CLASSES and all(s in lemmas for s in synsets):
            return ImageNetTable(tuple(synsets), tuple(lemmas[s] for s in synsets))
    from timm.data import ImageNetInfo  # slow path: imports torch

    info = ImageNetInfo()
    return ImageNetTable(tuple(info.label_names()), tuple(info.label_descriptions()))


def sniff_label_file(path: Path) -> str:
    """``"per-image"`` for ``NAME IDX`` files, ``"names"`` for class-name lists."""
    lines = [ln.strip() for ln in _read_lines(path) if ln.strip()]
    if not lines:
        raise BadInput(f"{path}: label file is empty")
    head = lines[:50]
    per_image = [ln for ln in head if _PER_IMAGE_RE.match(ln)]
    # most lines look like ``NAME.JPEG IDX``: a per-image file, even if one line is bad
    # (read_image_labels then names that line, instead of "has 3 class names")
    if 2 * len(per_image) > len(head) and any("." in ln.split()[0] for ln in per_image):
        return "per-image"
    return "names"


def _read_lines(path: Path) -> list[str]:
    from workbench.paths import regular_file

    regular_file(path, "label file", max_bytes=256 * 2**20)
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise BadInput(f"{path}: label file not found") from None
    except IsADirectoryError:
        raise BadInput(f"{path}: is a folder, expected a label file") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path}: label file is not UTF-8 text") from None


def read_class_names(path: Path, expected: int | None = IMAGENET_CLASSES) -> list[str]:
    """Read a class-name list (``label.txt``). ``expected`` is the class count it must have."""
    raw = [ln for ln in _read_lines(path) if ln.strip()]
    names: list[str] = []
    if raw and _DICT_LINE_RE.match(raw[0].strip()):
        for lineno, ln in enumerate(raw, 1):
            m = _DICT_LINE_RE.match(ln.strip())
            if not m:
                raise BadInput(f"{path}:{lineno}: expected `IDX: 'name',` like the lines above, got {ln.strip()!r}")
            if int(m.group(1)) != len(names):
                raise BadInput(f"{path}:{lineno}: class index {m.group(1)} out of order (expected {len(names)})")
            names.append(m.group(3))
    else:
        for ln in raw:
            s = ln.strip()
            # "n01440764 tench, Tinca tinca" (synset first) is also common: keep only the name
            parts = s.split(None, 1)
            if len(parts) == 2 and SYNSET_RE.match(parts[0]):
                s = parts[1]
            names.append(s)
    if expected is not None and len(names) != expected:
        raise BadInput(f"{path}: has {len(names)} class names, but the labels need {expected} "
                       f"(one name per line, in class-index order)")
    return names


def read_image_labels(path: Path, num_classes: int = IMAGENET_CLASSES) -> dict[str, int]:
    """Read a per-image label file (``NAME IDX`` lines) into {file name: class index}."""
    out: dict[str, int] = {}
    for lineno, ln in enumerate(_read_lines(path), 1):
        s = ln.strip()
        if not s:
            continue
        m = _PER_IMAGE_RE.match(s)
        if not m:
            raise BadInput(f"{path}:{lineno}: expected `FILE_NAME CLASS_INDEX`, got {s!r}")
        name, idx = Path(m.group(1)).name, int(m.group(2))
        if not 0 <= idx < num_classes:
            raise BadInput(f"{path}:{lineno}: class index {idx} is outside 0..{num_classes - 1}")
        if out.get(name, idx) != idx:
            raise BadInput(f"{path}:{lineno}: {name} is labelled twice ({out[name]} and {idx})")
        out[name] = idx
    if not out:
        raise BadInput(f"{path}: label file has no `FILE_NAME CLASS_INDEX` lines")
    return out

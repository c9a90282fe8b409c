"""Dataset layouts: find every image and its ground truth, whatever shape the folder has.

Supported layouts (``layout="auto"`` detects them in this order):

``imagenet-val``
    A flat folder of ``ILSVRC2012_val_XXXXXXXX.JPEG`` (the official val tarball), labels
    from a ``val_label.txt`` (``NAME IDX``) found beside the folder or one level above it
    (so both ``<root>`` holding ``val/`` + ``val_label.txt`` and ``<root>/val`` work).
``imagefolder``
    torchvision's ImageFolder: ``nXXXXXXXX/*.JPEG``. ImageNet synsets map to their
    ImageNet-1k index, so a folder holding a subset of the classes is still scored right.
    Folders that are not synsets are classes in sorted order, like torchvision.
``synset-prefixed``
    One folder of files named ``nXXXXXXXX_*.JPEG``.
``filelist``
    A text file: one image path per line, optionally followed by a class index or
    synset. Relative paths are relative to the list's own folder.
``folder``
    Any other folder of images: unlabelled; evaluation still writes every top-5.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from workbench.data.decode import is_image_name
from workbench.data.labels import (
    IMAGENET_CLASSES,
    SYNSET_RE,
    imagenet,
    read_class_names,
    read_image_labels,
    sniff_label_file,
)
from workbench.errors import BadInput

LAYOUTS = ("auto", "imagenet-val", "imagefolder", "synset-prefixed", "filelist", "folder")
VAL_NAME_RE = re.compile(r"^ILSVRC2012_val_\d{8}\.", re.IGNORECASE)
PREFIX_RE = re.compile(r"^(n\d{8})_")
LABEL_FILE_NAMES = ("val_label.txt", "val_labels.txt")


@dataclass(frozen=True)
class Sample:
    """One image: where it is, its class index (None when unlabelled) and a stable id."""

    path: Path
    label: int | None
    id: str


@dataclass
class Dataset:
    """Every image of a dataset, in a stable order, with the class names its labels index."""

    root: Path
    layout: str
    samples: list[Sample]
    class_names: list[str]
    label_file: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def labelled(self) -> int:
        return sum(1 for s in self.samples if s.label is not None)

    def describe(self) -> str:
        lab = f"{self.labelled} labelled" if self.labelled else "unlabelled"
        return f"{self.layout}: {len(self.samples)} images ({lab}) in {self.root}"


def _images_in(d: Path) -> list[Path]:
    """Image-named entries of ``d`` that are not folders. A broken or looping symlink, a FIFO
    or a device is kept: evaluation skips it and lists it with its reason, instead of one
    bad entry failing the whole folder or vanishing without a word."""
    def wanted(e: os.DirEntry[str]) -> bool:
        if not is_image_name(Path(e.name)):
            return False
        try:
            return not e.is_dir()
        except OSError:  # a symlink loop (ELOOP): not a folder
            return True

    try:
        with os.scandir(d) as it:
            return sorted(Path(e.path) for e in it if wanted(e))
    except OSError as exc:
        raise BadInput(f"{d}: cannot list folder: {exc.strerror or exc}") from None


def _subdirs(d: Path) -> list[Path]:
    with os.scandir(d) as it:
        return sorted(Path(e.path) for e in it if e.is_dir() and not e.name.startswith("."))


def detect_layout(path: Path) -> tuple[str, Path]:
    """Return (layout, image root) for ``path``; raise BadInput if it holds no images."""
    if path.is_file():
        return "filelist", path
    if not path.is_dir():
        raise BadInput(f"{path}: dataset folder or file list not found")
    files = _images_in(path)
    if not files:
        subs = _subdirs(path)
        val = path / "val"
        if val.is_dir() and _images_in(val) and not any(SYNSET_RE.match(s.name) for s in subs):
            return detect_layout(val)
        if any(_images_in(s) for s in subs):
            return "imagefolder", path
        raise BadInput(f"{path}: no images found (looked for .JPEG/.jpg/.png/... files, "
                       "synset folders and a val/ folder)")
    if any(VAL_NAME_RE.match(f.name) for f in files[:1000]):
        return "imagenet-val", path
    prefixed = sum(1 for f in files if PREFIX_RE.match(f.name))
    if prefixed and prefixed >= 0.9 * len(files):
        return "synset-prefixed", path
    if _find_label_file(path) is not None:
        return "imagenet-val", path
    return "folder", path


def _find_label_file(root: Path) -> Path | None:
    for d in (root, root.parent):
        for name in LABEL_FILE_NAMES:
            p = d / name
            if p.is_file():
                return p
    return None


def _synset_index(synset: str, where: Path) -> int:
    idx = imagenet().index.get(synset)
    if idx is None:
        raise BadInput(f"{where}: {synset} is not one of the 1000 ImageNet-1k synsets")
    return idx


def _read_labels_arg(labels: str) -> tuple[dict[str, int] | None, list[str] | None, Path | None]:
    """Split the ``labels`` argument into (per-image labels, class names, the file)."""
    if not labels:
        return None, None, None
    from workbench.paths import regular_file

    p = regular_file(labels, "label file", max_bytes=256 * 2**20)
    if sniff_label_file(p) == "per-image":
        return read_image_labels(p), None, p
    return None, read_class_names(p, expected=None), p


def open_dataset(path: str | Path, layout: str = "auto", labels: str = "") -> Dataset:
    """Open a dataset folder or file list. See the module docstring for the layouts.

    ``labels`` is optional: a per-image file (``val_label.txt``) or a class-name list
    (``label.txt``); it overrides what the layout would find on its own.
    """
    if layout not in LAYOUTS:
        raise BadInput(f"layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
    from workbench.paths import file_or_folder

    path = file_or_folder(Path(path).expanduser(), "dataset folder or file list").resolve()
    per_image, names_arg, labels_path = _read_labels_arg(labels)
    if layout == "auto":
        layout, root = detect_layout(path)
    else:
        root = path
        if layout == "filelist" and not path.is_file():
            raise BadInput(f"{path}: --layout filelist needs a text file of image paths")
        if layout != "filelist":
            if not path.is_dir():
                raise BadInput(f"{path}: dataset folder not found")
            if layout in ("imagenet-val", "synset-prefixed", "folder") and not _images_in(path) \
                    and (path / "val").is_dir():
                root = path / "val"

    label_file: Path | None = labels_path if per_image is not None else None
    notes: list[str] = []
    synset_names = True  # labels index the ImageNet-1k classes
    if layout == "imagefolder":
        samples, folder_classes = _read_imagefolder(root)
        if folder_classes is not None:
            synset_names = False
            if names_arg is not None and len(names_arg) != len(folder_classes):
                raise BadInput(f"{labels_path}: has {len(names_arg)} class names, but {root} has "
                               f"{len(folder_classes)} class folders")
            names = names_arg or folder_classes
    elif layout == "filelist":
        samples = _read_filelist(root)
        root = root.parent
    else:
        files = _images_in(root)
        if not files:
            raise BadInput(f"{root}: no images found for layout {layout}")
        if layout == "synset-prefixed":
            samples = []
            for f in files:
                m = PREFIX_RE.match(f.name)
                if not m:
                    raise BadInput(f"{f}: layout synset-prefixed needs names like n01440764_123.JPEG")
                samples.append(Sample(f, _synset_index(m.group(1), f), f.name))
        else:
            samples = [Sample(f, None, f.name) for f in files]
            if per_image is None and layout == "imagenet-val":
                found = _find_label_file(root)
                if found is not None:
                    per_image, label_file = read_image_labels(found), found
                else:
                    notes.append("no val_label.txt found beside or above the folder: unlabelled")

    if per_image is not None:
        samples = _apply_image_labels(samples, per_image, label_file or Path(labels))

    if synset_names:
        names = names_arg if names_arg is not None else list(imagenet().names)
    n_classes = len(names)
    if names_arg is not None and synset_names and n_classes != IMAGENET_CLASSES:
        raise BadInput(f"{labels_path}: has {n_classes} class names, but these labels are "
                       f"ImageNet-1k indices and need {IMAGENET_CLASSES} (one name per line)")
    top = max((s.label for s in samples if s.label is not None), default=-1)
    if top >= n_classes:
        raise BadInput(f"{label_file or root}: class index {top} does not fit the "
                       f"{n_classes} class names")
    if not samples:
        raise BadInput(f"{path}: no images found")
    return Dataset(root=root, layout=layout, samples=samples, class_names=names,
                   label_file=label_file, notes=notes)


def _apply_image_labels(samples: list[Sample], table: dict[str, int], src: Path) -> list[Sample]:
    missing = [s for s in samples if s.path.name not in table]
    if missing:
        raise BadInput(f"{src}: no label for {len(missing)} of {len(samples)} images "
                       f"(first: {missing[0].path.name}); the file must list every image")
    return [Sample(s.path, table[s.path.name], s.id) for s in samples]


def _read_imagefolder(root: Path) -> tuple[list[Sample], list[str] | None]:
    """Samples of an ImageFolder; class names are returned only when folders aren't synsets."""
    subs = [d for d in _subdirs(root) if _images_in(d)]
    if not subs:
        raise BadInput(f"{root}: no class folders with images (layout imagefolder)")
    synsets = [d for d in subs if SYNSET_RE.match(d.name)]
    samples: list[Sample] = []
    if synsets and len(synsets) == len(subs):
        for d in subs:
            idx = _synset_index(d.name, d)
            samples += [Sample(f, idx, f"{d.name}/{f.name}") for f in _images_in(d)]
        return samples, None
    if synsets:
        odd = next(d for d in subs if not SYNSET_RE.match(d.name))
        raise BadInput(f"{root}: mixes synset folders with {odd.name!r}; "
                       "use only nXXXXXXXX folders or only custom class names")
    for idx, d in enumerate(subs):
        samples += [Sample(f, idx, f"{d.name}/{f.name}") for f in _images_in(d)]
    return samples, [d.name for d in subs]


def _read_filelist(listfile: Path) -> list[Sample]:
    from workbench.paths import regular_file

    regular_file(listfile, "file list", max_bytes=1024 * 2**20)
    try:
        lines = listfile.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise BadInput(f"{listfile}: file list is not UTF-8 text") from None
    base = listfile.parent
    samples: list[Sample] = []
    seen: set[str] = set()
    for lineno, ln in enumerate(lines, 1):
        s = ln.strip()
        if not s or s.startswith("#"):
            continue
        label: int | None = None
        parts = s.rsplit(None, 1)
        if len(parts) == 2 and (parts[1].lstrip("-").isdigit() or SYNSET_RE.match(parts[1])):
            s, tok = parts
            if SYNSET_RE.match(tok):
                label = _synset_index(tok, listfile)
            else:
                label = int(tok)
                if not 0 <= label < IMAGENET_CLASSES:
                    raise BadInput(f"{listfile}:{lineno}: class index {label} is outside 0..999")
        p = Path(s).expanduser()
        full = p if p.is_absolute() else base / p
        sid = p.as_posix()
        if sid in seen:
            raise BadInput(f"{listfile}:{lineno}: {sid} is listed twice")
        seen.add(sid)
        samples.append(Sample(full, label, sid))
    if not samples:
        raise BadInput(f"{listfile}: file list has no image paths")
    if not any(s.path.exists() for s in samples[:200]):
        raise BadInput(f"{listfile}: none of the first listed files exist (e.g. {samples[0].path}); "
                       "relative paths are read relative to the list's folder")
    return samples

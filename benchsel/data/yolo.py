"""Ultralytics YOLO folders: ``data.yaml`` + ``images/<split>/`` + ``labels/<split>/*.txt``.

Each label file has one object per line, ``class cx cy w h`` (a box) or ``class x1 y1 x2 y2 ...``
(a polygon, YOLO segmentation), normalised to 0-1. The split entries of ``data.yaml`` are image
folders, text files listing images, or lists of those, resolved as Ultralytics resolves them
(against ``path``, else the yaml's folder). An image without a label file has no objects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchsel.data.coco import warn_empty
from benchsel.data.images import IMAGE_SUFFIXES, probe_image
from benchsel.data.shapes import add_instance
from benchsel.data.types import Dataset, ImageRecord, Issues

YAML_NAMES = ("data.yaml", "data.yml", "dataset.yaml", "dataset.yml")
SPLITS = ("train", "val", "test")
PIXEL_LIKE = 2.0  # a coordinate above this is a pixel value, not a normalised one


@dataclass
class YoloLayout:
    """What ``data.yaml`` says: the data set root, class names and each split's image sources."""

    root: Path
    names: list[str] | None
    splits: dict[str, list[Path]] = field(default_factory=dict)


def find_yolo_yaml(folder: Path) -> Path | None:
    """``data.yaml`` (or another yaml with ``names`` and ``train``) directly in ``folder``."""
    for name in YAML_NAMES:
        if (folder / name).is_file():
            return folder / name
    for path in sorted(folder.glob("*.y*ml")):
        head = path.read_text(encoding="utf-8", errors="replace")[:65536]
        if "names" in head and "train" in head:
            return path
    return None


def has_label_folder(folder: Path) -> bool:
    """Whether ``folder`` has ``images/`` beside a ``labels/`` holding ``.txt`` files."""
    labels = folder / "labels"
    return (folder / "images").is_dir() and labels.is_dir() and any(labels.rglob("*.txt"))


def _names(raw: Any, file: Path, issues: Issues) -> list[str] | None:
    if raw is None:
        return None
    if isinstance(raw, list) and raw:
        return [str(n) for n in raw]
    if isinstance(raw, dict) and raw:
        try:
            by_index = {int(k): str(v) for k, v in raw.items()}
        except (TypeError, ValueError):
            issues.error(file, f"'names' keys must be class indices 0, 1, ..., got {list(raw)}")
            return None
        if sorted(by_index) != list(range(len(by_index))):
            issues.error(file, f"'names' indices must be 0..{len(by_index) - 1} without gaps")
            return None
        return [by_index[i] for i in range(len(by_index))]
    issues.error(file, "'names' must be a list of class names or an index: name map")
    return None


def _resolve(root: Path, entry: str) -> Path:
    """A split entry as Ultralytics resolves it (a missing ``../x`` is also tried as ``x``)."""
    path = root / entry
    if not path.exists() and entry.startswith("../"):
        return root / entry[3:]
    return path


def read_yolo_yaml(yaml_path: Path, issues: Issues) -> YoloLayout | None:
    """The layout described by ``data.yaml``; None (with an error) when it cannot be read."""
    import yaml

    try:
        data = yaml.safe_load(yaml_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        issues.error(yaml_path, f"not valid YAML{where}: {getattr(exc, 'problem', exc)}")
        return None
    except (OSError, UnicodeDecodeError) as exc:
        issues.error(yaml_path, f"cannot read it: {exc}")
        return None
    if not isinstance(data, dict):
        issues.error(yaml_path, "expected a mapping with path, train, val, test and names")
        return None
    root = yaml_path.parent
    if data.get("path"):
        given = Path(str(data["path"])).expanduser()
        given = given if given.is_absolute() else yaml_path.parent / given
        root = given if given.is_dir() else yaml_path.parent  # exports keep the author's path
    names = _names(data.get("names"), yaml_path, issues)
    nc = data.get("nc")
    if names is not None and isinstance(nc, int) and nc != len(names):
        issues.error(yaml_path, f"nc is {nc} but 'names' lists {len(names)} classes")
    layout = YoloLayout(root, names)
    for split in SPLITS:
        entry = data.get(split)
        if not entry:
            continue
        entries = entry if isinstance(entry, list) else [entry]
        layout.splits[split] = [_resolve(root, str(e)) for e in entries]
    return layout


def label_path(image: Path) -> Path:
    """Ultralytics' label file of an image: the last ``images`` folder becomes ``labels``."""
    parts = image.parts
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            return Path(*parts[:i], "labels", *parts[i + 1 :]).with_suffix(".txt")
    return image.with_suffix(".txt")


def _list_images(source: Path, issues: Issues) -> list[Path]:
    """The images of one split entry: a folder (searched recursively) or a list file."""
    if source.is_dir():
        return sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if source.is_file() and source.suffix == ".txt":
        images = []
        for lineno, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
            line = line.strip()
            if not line:
                continue
            path = Path(line)
            path = path if path.is_absolute() else source.parent / path
            if not path.is_file():
                issues.error(source, f"line {lineno}: image file is missing: {line}")
                continue
            images.append(path)
        return images
    issues.error(source, "split not found: expected an image folder or a .txt list of images")
    return []


def _parse_row(
    parts: list[str], lineno: int, nc: int, file: Path, issues: Issues
) -> tuple[int, list[float]] | None:
    """(class, normalised coordinates) of one label line, or None with an error."""
    try:
        values = [float(v) for v in parts]
    except ValueError:
        issues.error(file, f"line {lineno}: expected numbers, got {' '.join(parts)!r}")
        return None
    cls, coords = values[0], values[1:]
    if not cls.is_integer():
        issues.error(file, f"line {lineno}: class index must be an integer, got {parts[0]!r}")
        return None
    if not 0 <= cls < nc:
        issues.error(
            file, f"line {lineno}: class index {int(cls)} is out of range (names has {nc} classes)"
        )
        return None
    if not (len(coords) == 4 or (len(coords) >= 6 and len(coords) % 2 == 0)):
        issues.error(
            file,
            f"line {lineno}: expected 'class cx cy w h' or a polygon 'class x1 y1 x2 y2 x3 y3 "
            f"...', got {len(parts)} values",
        )
        return None
    if not all(math.isfinite(v) for v in coords):
        issues.error(file, f"line {lineno}: coordinates must be finite numbers")
        return None
    if max(abs(v) for v in coords) > PIXEL_LIKE:
        issues.error(
            file,
            f"line {lineno}: coordinates must be normalised to 0-1 (divided by the image size); "
            f"got {max(coords):g}, a pixel value?",
        )
        return None
    return int(cls), coords


def _image_size(image: Path, issues: Issues, check_images: bool) -> tuple[int, int] | None:
    """(width, height): from a full decode when checking images, else from the header."""
    if check_images:
        return probe_image(image, issues, image.name)
    from PIL import Image

    try:
        with Image.open(image) as im:
            return im.size
    except OSError as exc:
        issues.error(image, f"cannot read image: {exc}", image.name)
        return None


def _read_labels(rec: ImageRecord, lbl: Path, nc: int, issues: Issues, ann_id: int) -> int:
    """Add the objects of label file ``lbl`` to ``rec``; returns the next annotation id."""
    w, h = rec.width, rec.height
    for lineno, line in enumerate(lbl.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        row = _parse_row(parts, lineno, nc, lbl, issues) if parts else None
        if row is None:
            continue
        cls, c = row
        where = f"line {lineno}"
        if len(c) == 4:
            box = (
                (c[0] - c[2] / 2) * w,
                (c[1] - c[3] / 2) * h,
                (c[0] + c[2] / 2) * w,
                (c[1] + c[3] / 2) * h,
            )
            add_instance(rec, ann_id, cls, issues, lbl, box=box, where=where)
        else:
            poly = [v * (w if i % 2 == 0 else h) for i, v in enumerate(c)]
            add_instance(rec, ann_id, cls, issues, lbl, polygons=[poly], where=where)
        ann_id += 1
    return ann_id


def read_yolo_split(
    sources: list[Path],
    names: list[str],
    root: Path,
    issues: Issues,
    check_images: bool = True,
    name: str = "yolo",
) -> Dataset:
    """Read the images of ``sources`` (folders or list files) and their label files."""
    images = [im for src in sources for im in _list_images(src, issues)]
    records: list[ImageRecord] = []
    no_label_file: list[ImageRecord] = []
    ann_id = 1
    for idx, image in enumerate(images, 1):
        size = _image_size(image, issues, check_images)
        if size is None:
            continue
        rec = ImageRecord(idx, image, *size)
        records.append(rec)
        lbl = label_path(image)
        if lbl.is_file():
            ann_id = _read_labels(rec, lbl, len(names), issues, ann_id)
        else:
            no_label_file.append(rec)
    _check_orphan_labels(sources, images, issues)
    dataset = Dataset(name, "yolo", root, names, len(names), records)
    where = label_path(images[0]).parent if images else root
    if no_label_file:
        issues.warn(
            where,
            f"{len(no_label_file)} of {len(records)} images have no label file (read as images "
            f"without objects, YOLO's convention), e.g. {no_label_file[0].file.name}",
        )
    warn_empty(dataset, where, issues, {r.id for r in no_label_file})
    return dataset


def _check_orphan_labels(sources: list[Path], images: list[Path], issues: Issues) -> None:
    """An error for each label file under a split's label folder whose image is not there."""
    expected = {label_path(im) for im in images}
    for src in sources:
        if not src.is_dir():
            continue
        labels = label_path(src / "x.jpg").parent
        if labels == src or not labels.is_dir():
            continue
        for lbl in sorted(labels.rglob("*.txt")):
            if lbl not in expected and lbl.name != "classes.txt":
                issues.error(lbl, f"label file has no image in {src}")

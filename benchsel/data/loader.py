"""Format detection and loading of a data set's splits, with validation."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchsel.data.coco import read_coco
from benchsel.data.coco_panoptic import read_coco_panoptic
from benchsel.data.images import IMAGE_SUFFIXES
from benchsel.data.masks import find_mask_dirs, read_classes_file, read_mask_folder
from benchsel.data.types import Dataset, Issues
from benchsel.data.voc import read_voc
from benchsel.errors import DataError

FORMATS = ("coco", "coco_panoptic", "mask_folder", "voc")
COCO_PREFIXES = ("instances_", "panoptic_")  # COCO's names for its annotation files


@dataclass
class LoadedData:
    """The splits found at a path ('train' / 'val', or 'all' for one unsplit set)."""

    format: str
    splits: dict[str, Dataset] = field(default_factory=dict)
    issues: Issues = field(default_factory=Issues)

    @property
    def ok(self) -> bool:
        return bool(self.splits) and not self.issues.errors

    def combined_images(self) -> int:
        return sum(len(d.images) for d in self.splits.values())


def _head(path: Path) -> str:
    """The first MiB of a text file ('' when unreadable)."""
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            return fh.read(1 << 20)
    except OSError:
        return ""


def _is_panoptic_json(path: Path) -> bool:
    head = _head(path)
    if '"segments_info"' in head:
        return True
    if len(head) < (1 << 20):
        try:
            data = json.loads(head)
        except json.JSONDecodeError:
            return False
        anns = data.get("annotations") if isinstance(data, dict) else None
        return (
            isinstance(anns, list)
            and bool(anns)
            and isinstance(anns[0], dict)
            and ("segments_info" in anns[0])
        )
    return False


def _looks_like_annotations(path: Path) -> bool:
    head = _head(path)
    return '"images"' in head and ('"annotations"' in head or '"categories"' in head)


def _json_error(path: Path) -> str | None:
    """Why ``path`` is not valid json (with line and column), or None when it parses."""
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        return f"not valid json at line {exc.lineno}, column {exc.colno}: {exc.msg}"
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot read it: {exc}"
    return None


def _has_image_folder(root: Path) -> bool:
    """Whether a folder directly under ``root`` holds image files."""
    return any(
        any(f.suffix.lower() in IMAGE_SUFFIXES for f in sub.iterdir())
        for sub in root.iterdir()
        if sub.is_dir()
    )


def _is_broken_annotations(path: Path, root: Path, has_image_folder: Callable[[], bool]) -> bool:
    """A json that does not parse where COCO keeps its annotations: in ``annotations/``, or in
    ``root`` beside an image folder and starting like COCO."""
    if path.parent == root and not ('"images"' in _head(path) and has_image_folder()):
        return False
    return _json_error(path) is not None


def _annotation_jsons(root: Path) -> list[tuple[Path, str]]:
    """(json, "coco" | "coco_panoptic") of each COCO-style file in ``root`` or its ``annotations``.

    A file counts when its content looks like COCO, when it is named ``instances_*`` or
    ``panoptic_*``, or when it is a broken annotation file: that is then reported as such (with
    the line and column), not as an unknown format.
    """
    found: list[tuple[Path, str]] = []
    has_image_folder = functools.cache(lambda: _has_image_folder(root))
    for path in sorted(root.glob("*.json")) + sorted((root / "annotations").glob("*.json")):
        coco = path.name.startswith(COCO_PREFIXES) or _looks_like_annotations(path)
        if not (coco or _is_broken_annotations(path, root, has_image_folder)):
            continue
        panoptic = path.name.startswith("panoptic_") or _is_panoptic_json(path)
        found.append((path, "coco_panoptic" if panoptic else "coco"))
    return found


def _broken_jsons(root: Path) -> list[str]:
    """'file: error' for each json in ``root`` that does not parse (for the unknown-format hint)."""
    broken = ((p, _json_error(p)) for p in sorted(root.glob("*.json")))
    return [f"{p}: {err}" for p, err in broken if err]


def detect_format(path: Path) -> str:
    """Guess the format of ``path`` (a file or a folder); raise DataError when unclear."""
    if not path.exists():
        raise DataError(f"{path} does not exist")
    if path.is_file():
        if path.suffix == ".json":
            return "coco_panoptic" if _is_panoptic_json(path) else "coco"
        raise DataError(f"{path}: expected a .json annotation file or a data set folder")
    kinds = {kind for _, kind in _annotation_jsons(path)}
    if kinds:
        return "coco_panoptic" if "coco_panoptic" in kinds else "coco"
    if (path / "Annotations").is_dir() and any((path / "Annotations").glob("*.xml")):
        return "voc"
    if find_mask_dirs(path) is not None:
        return "mask_folder"
    broken = _broken_jsons(path)
    raise DataError(
        f"cannot tell the format of {path}: expected a COCO / COCO panoptic json, "
        "a VOC 'Annotations' folder, or an image folder with a label folder. "
        "Pass --format to say which." + "".join(f"\n  {line}" for line in broken)
    )


def _split_name(name: str) -> str:
    low = name.lower()
    if "train" in low:
        return "train"
    if "val" in low or "test" in low:
        return "val"
    return "all"


def _split_files(root: Path, fmt: str) -> dict[str, Path]:
    """The annotation file of each split; ``instances_*`` / ``panoptic_*`` win over others.

    COCO's own download puts ``captions_*`` and ``person_keypoints_*`` beside ``instances_*``.
    """
    files: dict[str, Path] = {}
    for path, kind in _annotation_jsons(root):
        if kind != fmt or path.name.startswith("captions_"):
            continue
        split = _split_name(path.stem)
        current = files.get(split)
        if current is None or (
            path.name.startswith(COCO_PREFIXES) and not current.name.startswith(COCO_PREFIXES)
        ):
            files[split] = path
    return files


def load_data(
    path: Path,
    fmt: str = "auto",
    *,
    train: str | None = None,
    val: str | None = None,
    classes: list[str] | None = None,
    ignore_index: int = 255,
    check_images: bool = True,
) -> LoadedData:
    """Load every split at ``path``; problems are collected, never raised (except unknown format).

    ``train`` / ``val`` name split files or folders relative to ``path``.
    """
    path = Path(path)
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not path.exists():
        raise DataError(f"{path} does not exist")
    out = LoadedData(fmt)
    issues = out.issues
    if fmt == "mask_folder" and classes is None and (path / "classes.txt").is_file():
        classes = read_classes_file(path / "classes.txt")

    if fmt in ("coco", "coco_panoptic"):
        if train or val:
            files = {k: path / v for k, v in (("train", train), ("val", val)) if v}
        elif path.is_file():
            files = {"all": path}
        else:
            files = _split_files(path, fmt)
        for split, file in files.items():
            if not file.is_file():
                issues.error(file, "annotation file not found")
                continue
            if fmt == "coco":
                ds = read_coco(file, None, issues, check_images)
            else:
                ds = read_coco_panoptic(file, None, None, issues, check_images)
            if ds is not None:
                out.splits[split] = ds
    elif fmt == "voc":
        sets = path / "ImageSets" / "Main"
        names = (
            {"train": train, "val": val}
            if (train or val)
            else {
                s: f"ImageSets/Main/{s}.txt"
                for s in ("train", "val")
                if (sets / f"{s}.txt").is_file()
            }
        )
        if not any(names.values()):
            ds = read_voc(path, issues, classes, None, check_images)
            if ds is not None:
                out.splits["all"] = ds
        for split, rel in names.items():
            if rel:
                stems = (path / rel).read_text().split()
                ds = read_voc(path, issues, classes, stems, check_images)
                if ds is not None:
                    out.splits[split] = ds
    else:
        _load_masks(path, out, train, val, classes, ignore_index, check_images)
    if not out.splits and not issues.errors:
        issues.error(path, "no data found")
    return out


def _load_masks(
    path: Path,
    out: LoadedData,
    train: str | None,
    val: str | None,
    classes: list[str] | None,
    ignore_index: int,
    check_images: bool,
) -> None:
    pairs: dict[str, tuple[Path, Path]] = {}
    if train or val:
        for split, rel in (("train", train), ("val", val)):
            if rel:
                img = path / rel
                lbl = path / f"{rel}annot"
                found = find_mask_dirs(img) if img.is_dir() and not lbl.is_dir() else (img, lbl)
                if found is None:
                    out.issues.error(img, "no image/label folder pair found")
                    continue
                pairs[split] = found
    else:
        for folder in sorted(p for p in path.iterdir() if p.is_dir()):
            if (path / f"{folder.name}annot").is_dir():
                pairs[_split_name(folder.name)] = (folder, path / f"{folder.name}annot")
        if not pairs:
            found = find_mask_dirs(path)
            if found is None:
                out.issues.error(path, "no image/label folder pair found")
                return
            pairs["all"] = found
    for split, (img_dir, lbl_dir) in pairs.items():
        ds = read_mask_folder(img_dir, lbl_dir, classes, ignore_index, out.issues, check_images)
        if ds is not None:
            out.splits[split] = ds

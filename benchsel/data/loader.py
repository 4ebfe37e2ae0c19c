"""Format detection and loading of a data set's splits, with validation."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from benchsel.data.coco import read_coco
from benchsel.data.coco_panoptic import read_coco_panoptic
from benchsel.data.masks import find_mask_dirs, read_classes_file, read_mask_folder
from benchsel.data.types import Dataset, Issues
from benchsel.data.voc import read_voc
from benchsel.errors import DataError

FORMATS = ("coco", "coco_panoptic", "mask_folder", "voc")


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


def _is_panoptic_json(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as fh:
            head = fh.read(1 << 20)
    except OSError:
        return False
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
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            head = fh.read(1 << 20)
    except OSError:
        return False
    return '"images"' in head and ('"annotations"' in head or '"categories"' in head)


def _annotation_jsons(root: Path) -> list[Path]:
    found = sorted(root.glob("*.json")) + sorted((root / "annotations").glob("*.json"))
    return [p for p in found if _looks_like_annotations(p)]


def detect_format(path: Path) -> str:
    """Guess the format of ``path`` (a file or a folder); raise DataError when unclear."""
    if not path.exists():
        raise DataError(f"{path} does not exist")
    if path.is_file():
        if path.suffix == ".json":
            return "coco_panoptic" if _is_panoptic_json(path) else "coco"
        raise DataError(f"{path}: expected a .json annotation file or a data set folder")
    jsons = _annotation_jsons(path)
    if jsons:
        return "coco_panoptic" if any(_is_panoptic_json(j) for j in jsons) else "coco"
    if (path / "Annotations").is_dir() and any((path / "Annotations").glob("*.xml")):
        return "voc"
    if find_mask_dirs(path) is not None:
        return "mask_folder"
    raise DataError(
        f"cannot tell the format of {path}: expected a COCO / COCO panoptic json, "
        "a VOC 'Annotations' folder, or an image folder with a label folder. "
        "Pass --format to say which."
    )


def _split_name(name: str) -> str:
    low = name.lower()
    if "train" in low:
        return "train"
    if "val" in low or "test" in low:
        return "val"
    return "all"


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
            jsons = _annotation_jsons(path)
            jsons = [j for j in jsons if _is_panoptic_json(j) == (fmt == "coco_panoptic")]
            files = {}
            for j in jsons:
                files.setdefault(_split_name(j.stem), j)
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

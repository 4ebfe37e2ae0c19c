"""Format detection and loading of a data set's splits, with validation."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from benchsel.data.coco import read_coco
from benchsel.data.coco_panoptic import read_coco_panoptic
from benchsel.data.cvat import find_cvat_xml, is_cvat_xml, read_cvat
from benchsel.data.images import IMAGE_SUFFIXES
from benchsel.data.labelme import is_labelme_json, labelme_jsons, read_labelme, read_labels_txt
from benchsel.data.masks import find_mask_dirs, read_classes_file, read_mask_folder
from benchsel.data.types import Dataset, Issues
from benchsel.data.voc import read_voc
from benchsel.data.yolo import (
    YoloLayout,
    find_yolo_yaml,
    has_label_folder,
    read_yolo_split,
    read_yolo_yaml,
)
from benchsel.errors import DataError

FORMATS = ("coco", "coco_panoptic", "mask_folder", "voc", "yolo", "cvat", "labelme")
COCO_PREFIXES = ("instances_", "panoptic_")  # COCO's names for its annotation files
ROBOFLOW_JSON = "_annotations.coco.json"  # in each split folder of a Roboflow COCO export
SPLIT_NAMES = ("train", "val", "test")


@dataclass
class LoadedData:
    """The splits found at a path ('train' / 'val' / 'test', or 'all' for one unsplit set)."""

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


def _roboflow_files(root: Path) -> dict[str, Path]:
    """Split -> annotation file of a Roboflow COCO export (``train/``, ``valid/``, ``test/``)."""
    files: dict[str, Path] = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        if (sub / ROBOFLOW_JSON).is_file():
            files[_split_name(sub.name)] = sub / ROBOFLOW_JSON
    return _lone_test_as_val(files)


def _labelme_splits(root: Path) -> dict[str, list[Path]]:
    """LabelMe files directly in ``root`` ('all'), or in its train / val / test folders."""
    splits: dict[str, list[Path]] = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        split = _split_name(sub.name)
        if split != "all" and (files := labelme_jsons(sub)):
            splits.setdefault(split, []).extend(files)
    if not splits and (files := labelme_jsons(root)):
        splits["all"] = files
    return _lone_test_as_val(splits)


def detect_format(path: Path) -> str:
    """Guess the format of ``path`` (a file or a folder); raise DataError when unclear."""
    if not path.exists():
        raise DataError(f"{path} does not exist")
    if path.is_file():
        if path.suffix == ".json":
            if is_labelme_json(path):
                return "labelme"
            return "coco_panoptic" if _is_panoptic_json(path) else "coco"
        if path.suffix == ".xml" and is_cvat_xml(path):
            return "cvat"
        if path.suffix in (".yaml", ".yml"):
            return "yolo"
        raise DataError(
            f"{path}: expected a .json annotation file, a CVAT .xml, a YOLO data.yaml "
            "or a data set folder"
        )
    kinds = {kind for _, kind in _annotation_jsons(path)}
    kinds |= {
        "coco_panoptic" if _is_panoptic_json(f) else "coco" for f in _roboflow_files(path).values()
    }
    if kinds:
        return "coco_panoptic" if "coco_panoptic" in kinds else "coco"
    if find_yolo_yaml(path) is not None or has_label_folder(path):
        return "yolo"
    if find_cvat_xml(path) is not None:
        return "cvat"
    if (path / "Annotations").is_dir() and any((path / "Annotations").glob("*.xml")):
        return "voc"
    if _labelme_splits(path):
        return "labelme"
    if find_mask_dirs(path) is not None:
        return "mask_folder"
    broken = _broken_jsons(path)
    raise DataError(
        f"cannot tell the format of {path}: expected a COCO / COCO panoptic json (or a Roboflow "
        "export's train/valid/test folders), a YOLO data.yaml, a CVAT annotations.xml, LabelMe "
        "jsons, a VOC 'Annotations' folder, or an image folder with a label folder. "
        "Pass --format to say which." + "".join(f"\n  {line}" for line in broken)
    )


def _split_name(name: str) -> str:
    low = name.lower()
    if "train" in low:
        return "train"
    if "val" in low:
        return "val"
    if "test" in low:
        return "test"
    return "all"


S = TypeVar("S")


def _lone_test_as_val(splits: dict[str, S]) -> dict[str, S]:
    """A test split found with no val split serves as val (COCO's ``*test*`` json beside train);
    beside a val split it stays its own 'test' split."""
    if "test" in splits and "val" not in splits:
        splits = {("val" if k == "test" else k): v for k, v in splits.items()}
    return splits


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
    if not files and fmt == "coco":
        return _roboflow_files(root)
    return _lone_test_as_val(files)


def load_data(
    path: Path,
    fmt: str = "auto",
    *,
    train: str | None = None,
    val: str | None = None,
    test: str | None = None,
    classes: list[str] | None = None,
    ignore_index: int = 255,
    check_images: bool = True,
) -> LoadedData:
    """Load every split at ``path``; problems are collected, never raised (except unknown format).

    ``train`` / ``val`` / ``test`` name split files or folders relative to ``path``; when any is
    given, only those are read. Otherwise the splits come from the layout, a test split beside a
    val split as ``splits["test"]``.
    """
    path = Path(path)
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not path.exists():
        raise DataError(f"{path} does not exist")
    out = LoadedData(fmt)
    issues = out.issues
    named = {k: v for k, v in zip(SPLIT_NAMES, (train, val, test), strict=True) if v}
    if fmt == "mask_folder" and classes is None and (path / "classes.txt").is_file():
        classes = read_classes_file(path / "classes.txt")

    if fmt in ("coco", "coco_panoptic"):
        if named:
            files = {k: path / v for k, v in named.items()}
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
        _load_voc(path, out, named, classes, check_images)
    elif fmt == "yolo":
        _load_yolo(path, out, named, classes, check_images)
    elif fmt == "cvat":
        _load_cvat(path, out, named, classes, check_images)
    elif fmt == "labelme":
        _load_labelme(path, out, named, classes, check_images)
    else:
        _load_masks(path, out, named, classes, ignore_index, check_images)
    if not out.splits and not issues.errors:
        issues.error(path, "no data found")
    return out


def _load_voc(
    path: Path,
    out: LoadedData,
    named: dict[str, str],
    classes: list[str] | None,
    check_images: bool,
) -> None:
    sets = path / "ImageSets" / "Main"
    names = named or _lone_test_as_val(
        {s: f"ImageSets/Main/{s}.txt" for s in SPLIT_NAMES if (sets / f"{s}.txt").is_file()}
    )
    if not names:
        ds = read_voc(path, out.issues, classes, None, check_images)
        if ds is not None:
            out.splits["all"] = ds
    for split, rel in names.items():
        if not (path / rel).is_file():
            out.issues.error(path / rel, "image set file not found")
            continue
        stems = (path / rel).read_text().split()
        ds = read_voc(path, out.issues, classes, stems, check_images)
        if ds is not None:
            out.splits[split] = ds


def _yolo_layout(path: Path, out: LoadedData, classes: list[str] | None) -> YoloLayout | None:
    """The layout of a YOLO folder or ``data.yaml``; a folder without one needs class names."""
    yaml_path = path if path.is_file() else find_yolo_yaml(path)
    if yaml_path is not None:
        layout = read_yolo_yaml(yaml_path, out.issues)
        if layout is not None and classes is not None:
            layout.names = classes
        return layout
    if classes is None and (path / "classes.txt").is_file():
        classes = read_classes_file(path / "classes.txt")
    images = path / "images"
    folders = sorted(p for p in images.iterdir() if p.is_dir()) if images.is_dir() else []
    splits = {_split_name(p.name): [p] for p in folders}
    splits.pop("all", None)
    return YoloLayout(path, classes, _lone_test_as_val(splits) or {"all": [images]})


def _load_yolo(
    path: Path,
    out: LoadedData,
    named: dict[str, str],
    classes: list[str] | None,
    check_images: bool,
) -> None:
    layout = _yolo_layout(path, out, classes)
    if layout is None:
        return
    if layout.names is None:
        out.issues.error(
            path,
            "no class names: write a data.yaml with 'names' (or a classes.txt), or pass --classes",
        )
        return
    splits = (
        {k: [layout.root / v] for k, v in named.items()}
        if named
        else _lone_test_as_val(layout.splits)
    )
    for split, sources in splits.items():
        name = f"{layout.root.name}:{split}"
        out.splits[split] = read_yolo_split(
            sources, layout.names, layout.root, out.issues, check_images, name
        )


def _load_cvat(
    path: Path,
    out: LoadedData,
    named: dict[str, str],
    classes: list[str] | None,
    check_images: bool,
) -> None:
    if named:
        for split, rel in named.items():
            xml = path / rel
            if not xml.is_file():
                out.issues.error(xml, "annotation file not found")
                continue
            found = list(read_cvat(xml, out.issues, classes, check_images).values())
            if found:  # a file named as one split is that split, whatever its subsets say
                records = [rec for ds in found for rec in ds.images]
                first = found[0]
                out.splits[split] = Dataset(
                    f"{xml.stem}:{split}",
                    "cvat",
                    xml.parent,
                    first.classes,
                    first.num_things,
                    records,
                )
        return
    found_xml = path if path.is_file() else find_cvat_xml(path)
    if found_xml is None:
        out.issues.error(path, "no CVAT annotations.xml found")
        return
    out.splits.update(_lone_test_as_val(read_cvat(found_xml, out.issues, classes, check_images)))


def _load_labelme(
    path: Path,
    out: LoadedData,
    named: dict[str, str],
    classes: list[str] | None,
    check_images: bool,
) -> None:
    root = path.parent if path.is_file() else path
    if classes is None and (root / "labels.txt").is_file():
        classes = read_labels_txt(root / "labels.txt")
    if named:
        splits = {}
        for split, rel in named.items():
            folder = path / rel
            files = labelme_jsons(folder) if folder.is_dir() else []
            if not files:
                out.issues.error(folder, "no LabelMe json files found")
                continue
            splits[split] = files
    elif path.is_file():
        splits = {"all": [path]}
    else:
        splits = _labelme_splits(path)
    if splits:
        out.splits.update(read_labelme(splits, out.issues, classes, check_images, root))


def _load_masks(
    path: Path,
    out: LoadedData,
    named: dict[str, str],
    classes: list[str] | None,
    ignore_index: int,
    check_images: bool,
) -> None:
    pairs: dict[str, tuple[Path, Path]] = {}
    if named:
        for split, rel in named.items():
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
        pairs = _lone_test_as_val(pairs)
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

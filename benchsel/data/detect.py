"""Which format a data set path holds, and the annotation file of each split."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from benchsel.data.cvat import find_cvat_xml, is_cvat_xml
from benchsel.data.images import IMAGE_SUFFIXES
from benchsel.data.labelme import is_labelme_json, labelme_jsons
from benchsel.data.masks import find_mask_dirs
from benchsel.data.yolo import find_yolo_yaml, has_label_folder
from benchsel.errors import DataError

FORMATS = ("coco", "coco_panoptic", "mask_folder", "voc", "yolo", "cvat", "labelme")
COCO_PREFIXES = ("instances_", "panoptic_")  # COCO's names for its annotation files
ROBOFLOW_JSON = "_annotations.coco.json"  # in each split folder of a Roboflow COCO export
SPLIT_NAMES = ("train", "val", "test")


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
            files[split_name(sub.name)] = sub / ROBOFLOW_JSON
    return lone_test_as_val(files)


def labelme_splits(root: Path) -> dict[str, list[Path]]:
    """LabelMe files directly in ``root`` ('all'), or in its train / val / test folders."""
    splits: dict[str, list[Path]] = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        split = split_name(sub.name)
        if split != "all" and (files := labelme_jsons(sub)):
            splits.setdefault(split, []).extend(files)
    if not splits and (files := labelme_jsons(root)):
        splits["all"] = files
    return lone_test_as_val(splits)


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
    if labelme_splits(path):
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


def split_name(name: str) -> str:
    low = name.lower()
    if "train" in low:
        return "train"
    if "val" in low:
        return "val"
    if "test" in low:
        return "test"
    return "all"


S = TypeVar("S")


def lone_test_as_val(splits: dict[str, S]) -> dict[str, S]:
    """A test split found with no val split serves as val (COCO's ``*test*`` json beside train);
    beside a val split it stays its own 'test' split."""
    if "test" in splits and "val" not in splits:
        splits = {("val" if k == "test" else k): v for k, v in splits.items()}
    return splits


def split_files(root: Path, fmt: str) -> dict[str, Path]:
    """The annotation file of each split; ``instances_*`` / ``panoptic_*`` win over others.

    COCO's own download puts ``captions_*`` and ``person_keypoints_*`` beside ``instances_*``.
    """
    files: dict[str, Path] = {}
    for path, kind in _annotation_jsons(root):
        if kind != fmt or path.name.startswith("captions_"):
            continue
        split = split_name(path.stem)
        current = files.get(split)
        if current is None or (
            path.name.startswith(COCO_PREFIXES) and not current.name.startswith(COCO_PREFIXES)
        ):
            files[split] = path
    if not files and fmt == "coco":
        return _roboflow_files(root)
    return lone_test_as_val(files)

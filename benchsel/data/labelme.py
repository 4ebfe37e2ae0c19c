"""LabelMe: one json per image (``shapes`` of ``rectangle`` and ``polygon`` points, ``imagePath``
relative to the json, ``imageWidth`` / ``imageHeight``).

Shapes sharing a ``group_id`` and a label are one object (LabelMe's way to draw an occluded object
in parts). Classes are ``labels.txt`` (LabelMe's own, without ``__ignore__`` / ``_background_``),
else every label used, sorted.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path, PureWindowsPath
from typing import Any

from benchsel.data.coco import check_image_files, read_json, warn_empty
from benchsel.data.images import IMAGE_SUFFIXES
from benchsel.data.shapes import add_instance, polygons_box
from benchsel.data.types import Dataset, ImageRecord, Issues

SHAPES_READ = ("rectangle", "polygon")
NOT_CLASSES = ("__ignore__", "_background_")


def is_labelme_json(path: Path) -> bool:
    """Whether ``path`` starts like a LabelMe file (``shapes`` and ``imagePath``)."""
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return False
    return '"shapes"' in head and '"imagePath"' in head


def labelme_jsons(folder: Path) -> list[Path]:
    """The LabelMe files directly in ``folder``."""
    return [p for p in sorted(folder.glob("*.json")) if is_labelme_json(p)]


def read_labels_txt(path: Path) -> list[str]:
    """LabelMe's ``labels.txt``: one class a line, without its ignore and background entries."""
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [n for n in lines if n and n not in NOT_CLASSES]


def _image_file(js: Path, named: Any) -> Path | None:
    """The image of one json: ``imagePath`` (either slash), else the json's stem as an image."""
    if isinstance(named, str) and named:
        rel = Path(*PureWindowsPath(named).parts)
        path = rel if rel.is_absolute() else js.parent / rel
        if path.is_file():
            return path
    for ext in IMAGE_SUFFIXES:
        for cand in (js.with_suffix(ext), js.with_suffix(ext.upper())):
            if cand.is_file():
                return cand
    return None


def _size(
    data: dict[str, Any], file: Path | None, js: Path, issues: Issues
) -> tuple[int, int] | None:
    w, h = data.get("imageWidth"), data.get("imageHeight")
    if isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0:
        return w, h
    if file is not None:
        from PIL import Image

        with Image.open(file) as im:
            return im.size
    issues.error(js, "no imageWidth/imageHeight and no image file to measure")
    return None


def _points(shape: dict[str, Any]) -> list[float]:
    pts = shape.get("points")
    if not isinstance(pts, list) or not all(
        isinstance(p, list | tuple) and len(p) == 2 and all(isinstance(v, int | float) for v in p)
        for p in pts
    ):
        raise ValueError(f"points must be [[x, y], ...], got {pts!r}"[:160])
    return [float(v) for p in pts for v in p]


def _objects(
    js: Path,
    shapes: list[Any],
    label_of: dict[str, int],
    issues: Issues,
    skipped: Counter[str],
) -> dict[tuple[str, Any], list[tuple[str, list[float], str]]]:
    """The readable shapes of one file, by object: (label, group) -> [(kind, points, where)]."""
    groups: dict[tuple[str, Any], list[tuple[str, list[float], str]]] = {}
    for k, shape in enumerate(shapes):
        where = f"shapes[{k}]"
        if not isinstance(shape, dict):
            issues.error(js, f"{where} is not an object")
            continue
        kind = shape.get("shape_type") or "polygon"
        label = str(shape.get("label"))
        if kind not in SHAPES_READ:
            skipped[kind] += 1
            continue
        if label in NOT_CLASSES:
            continue
        if label not in label_of:
            issues.error(js, f"{where}: label {label!r} is not in the class list")
            continue
        try:
            pts = _points(shape)
        except ValueError as exc:
            issues.error(js, f"{where}: {exc}")
            continue
        if len(pts) < (4 if kind == "rectangle" else 6):
            issues.warn(js, f"{where}: {kind} with {len(pts) // 2} points (dropped)")
            continue
        gid = shape.get("group_id")
        groups.setdefault((label, gid if gid is not None else f"#{k}"), []).append(
            (kind, pts, where)
        )
    return groups


def read_labelme(
    splits: dict[str, list[Path]],
    issues: Issues,
    classes: list[str] | None = None,
    check_images: bool = True,
    root: Path | None = None,
) -> dict[str, Dataset]:
    """The data set of each split's LabelMe files; one class list for all of them."""
    parsed = {
        split: [(js, read_json(js, issues)) for js in files] for split, files in splits.items()
    }
    if classes is None:
        seen = {
            str(s.get("label"))
            for items in parsed.values()
            for _, data in items
            if isinstance(data, dict)
            for s in data.get("shapes") or []
            if isinstance(s, dict) and s.get("shape_type", "polygon") in SHAPES_READ
        }
        classes = sorted(seen - set(NOT_CLASSES))
    label_of = {n: i for i, n in enumerate(classes)}
    out: dict[str, Dataset] = {}
    ann_id = 0
    skipped: Counter[str] = Counter()
    for split, items in parsed.items():
        records: list[ImageRecord] = []
        missing: set[int] = set()
        for idx, (js, data) in enumerate(items, 1):
            if data is None:
                continue
            if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
                issues.error(js, "expected a LabelMe object with a 'shapes' list")
                continue
            file = _image_file(js, data.get("imagePath"))
            if file is None:
                missing.add(idx)
                if check_images:
                    issues.error(
                        js,
                        f"image file is missing: imagePath {data.get('imagePath')!r} "
                        "(benchsel reads image files, not the embedded imageData)",
                    )
            size = _size(data, file, js, issues)
            if size is None:
                continue
            width, height = size
            rec = ImageRecord(idx, file or js.with_suffix(".jpg"), width, height)
            for label, parts in _objects(js, data["shapes"], label_of, issues, skipped).items():
                ann_id += 1
                polys = [pts for kind, pts, _ in parts if kind == "polygon"]
                corners = [v for kind, pts, _ in parts if kind == "rectangle" for v in pts]
                box = None if polys else polygons_box([corners])
                where = ", ".join(w for _, _, w in parts)
                add_instance(
                    rec,
                    ann_id,
                    label_of[label[0]],
                    issues,
                    js,
                    box=box,
                    polygons=polys,
                    where=where,
                )
            records.append(rec)
        folder = items[0][0].parent if items else (root or Path("."))
        ds = Dataset(
            f"{folder.name}:{split}",
            "labelme",
            root or folder,
            list(classes),
            len(classes),
            records,
        )
        warn_empty(ds, folder, issues)
        if check_images:
            check_image_files((r for r in records if r.id not in missing), issues)
        out[split] = ds
    for kind, n in sorted(skipped.items()):
        issues.warn(
            root or Path("."),
            f"{n} LabelMe {kind!r} shapes not read (benchsel reads rectangle and polygon)",
        )
    return out

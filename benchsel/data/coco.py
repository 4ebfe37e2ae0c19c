"""COCO instances json (boxes, polygons, RLE, iscrowd) + an image folder."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

from benchsel.data.images import find_image_dir, probe_image
from benchsel.data.types import Dataset, ImageRecord, Instance, Issues


def read_json(path: Path, issues: Issues) -> Any:
    """Parsed json, or None with an error naming the line and column."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        issues.error(path, f"not valid json at line {exc.lineno}, column {exc.colno}: {exc.msg}")
    except (OSError, UnicodeDecodeError) as exc:
        issues.error(path, f"cannot read annotation file: {exc}")
    return None


def as_int_id(value: Any, what: str, file: Path, issues: Issues, **where: Any) -> int | None:
    """An integer id; numeric strings are accepted with a warning, anything else is an error."""
    if isinstance(value, bool):
        value = None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        issues.warn(
            file,
            f"{what} {value!r} is written as a string (accepted)",
            where.get("image_id"),
            where.get("ann_id"),
        )
        return int(value)
    issues.error(
        file,
        f"{what} must be an integer, got {value!r}",
        where.get("image_id"),
        where.get("ann_id"),
    )
    return None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def read_categories(
    data: dict[str, Any], file: Path, issues: Issues
) -> tuple[dict[int, dict[str, Any]], bool]:
    """Category id -> category dict; the flag says whether they were usable."""
    cats = data.get("categories")
    if not isinstance(cats, list) or not cats:
        issues.error(file, "missing or empty 'categories' list")
        return {}, False
    by_id: dict[int, dict[str, Any]] = {}
    for i, cat in enumerate(cats):
        if not isinstance(cat, dict) or "id" not in cat or "name" not in cat:
            issues.error(file, f"categories[{i}] needs 'id' and 'name'")
            return {}, False
        cid = as_int_id(cat["id"], "category id", file, issues)
        if cid is None:
            return {}, False
        if cid in by_id:
            issues.error(file, f"duplicate category id {cid}")
            return {}, False
        by_id[cid] = cat
    return by_id, True


def read_images(data: dict[str, Any], file: Path, issues: Issues) -> dict[int, dict[str, Any]]:
    """Image id -> image dict, with errors for missing fields and duplicate ids."""
    images = data.get("images")
    if not isinstance(images, list):
        issues.error(file, "missing 'images' list")
        return {}
    by_id: dict[int, dict[str, Any]] = {}
    for i, img in enumerate(images):
        if not isinstance(img, dict):
            issues.error(file, f"images[{i}] is not an object")
            continue
        missing = [k for k in ("id", "file_name", "width", "height") if k not in img]
        if missing:
            issues.error(file, f"images[{i}] lacks {', '.join(missing)}", img.get("id"))
            continue
        iid = as_int_id(img["id"], "image id", file, issues, image_id=img["id"])
        if iid is None:
            continue
        if iid in by_id:
            issues.error(file, "duplicate image id", iid)
            continue
        w, h = img["width"], img["height"]
        if not (_number(w) and _number(h)) or not (0 < w < 1e6 and 0 < h < 1e6):
            issues.error(file, f"width/height must be positive numbers, got {w!r} x {h!r}", iid)
            continue
        by_id[iid] = {**img, "id": iid, "width": int(w), "height": int(h)}
    return by_id


def _clip_box(
    bbox: Any, width: int, height: int, file: Path, issues: Issues, iid: int, aid: int
) -> tuple[float, float, float, float] | None:
    if not isinstance(bbox, list | tuple) or len(bbox) != 4 or not all(_number(v) for v in bbox):
        issues.error(file, f"bbox must be 4 finite numbers [x, y, w, h], got {bbox!r}", iid, aid)
        return None
    x, y, w, h = (float(v) for v in bbox)
    if w <= 0 or h <= 0:
        issues.warn(file, f"zero-area box {bbox} (dropped)", iid, aid)
        return None
    x1, y1, x2, y2 = max(0.0, x), max(0.0, y), min(float(width), x + w), min(float(height), y + h)
    if x2 <= x1 or y2 <= y1:
        issues.warn(file, f"box {bbox} lies outside the {width}x{height} image (dropped)", iid, aid)
        return None
    if (x1, y1, x2, y2) != (x, y, x + w, y + h):
        issues.warn(
            file, f"box {bbox} extends outside the {width}x{height} image (clipped)", iid, aid
        )
    return (x1, y1, x2, y2)


def _check_segmentation(
    seg: Any, width: int, height: int, file: Path, issues: Issues, iid: int, aid: int
) -> tuple[Any, bool]:
    """(cleaned segmentation, keep?) for polygons or RLE."""
    if seg is None or seg == []:
        return None, True
    if isinstance(seg, list):
        polys = []
        for poly in seg:
            if not isinstance(poly, list) or not all(_number(v) for v in poly):
                issues.error(file, "polygon must be a flat list of numbers", iid, aid)
                return None, False
            if len(poly) < 6:
                issues.warn(file, f"polygon with {len(poly) // 2} points (< 3) dropped", iid, aid)
                continue
            polys.append([float(v) for v in poly[: len(poly) // 2 * 2]])
        if not polys:
            issues.warn(file, "no valid polygon left; annotation dropped", iid, aid)
            return None, False
        return polys, True
    if isinstance(seg, dict) and "counts" in seg and "size" in seg:
        size = seg["size"]
        if not isinstance(size, list) or len(size) != 2 or list(size) != [height, width]:
            issues.error(
                file, f"RLE size {size} disagrees with the image size [{height}, {width}]", iid, aid
            )
            return None, False
        if isinstance(seg["counts"], list):
            from pycocotools import mask as mask_utils

            try:
                rle = mask_utils.frPyObjects(seg, height, width)
            except (TypeError, ValueError, OverflowError) as exc:
                issues.error(file, f"unreadable uncompressed RLE: {exc}", iid, aid)
                return None, False
            return rle, True
        if isinstance(seg["counts"], str | bytes):
            return {"size": [height, width], "counts": seg["counts"]}, True
    issues.error(file, "segmentation must be polygons or an RLE {size, counts}", iid, aid)
    return None, False


def read_coco_header(
    ann_file: Path, issues: Issues
) -> tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]], list[Any]] | None:
    """(categories, images, annotations) of a COCO-style json (instances or panoptic)."""
    data = read_json(ann_file, issues)
    if data is None:
        return None
    if not isinstance(data, dict):
        issues.error(ann_file, "top level must be an object with images/annotations/categories")
        return None
    cats, ok = read_categories(data, ann_file, issues)
    images = read_images(data, ann_file, issues)
    anns = data.get("annotations")
    if not isinstance(anns, list):
        issues.error(ann_file, "missing 'annotations' list")
        return None
    if not ok:
        return None
    return cats, images, anns


def read_coco(
    ann_file: Path, image_dir: Path | None, issues: Issues, check_images: bool = True
) -> Dataset | None:
    """Read a COCO instances file; every problem goes to ``issues``."""
    header = read_coco_header(ann_file, issues)
    if header is None:
        return None
    cats, images, anns = header
    phantom = phantom_category(cats, anns)
    if phantom is not None:
        issues.warn(
            ann_file,
            f"category {phantom} {cats[phantom]['name']!r} has no annotations and is the "
            "supercategory of every other category (a Roboflow export's project name): dropped",
        )
        cats = {cid: cat for cid, cat in cats.items() if cid != phantom}
    cat_ids = sorted(cats)
    label_of = {cid: i for i, cid in enumerate(cat_ids)}
    records: dict[int, ImageRecord] = {}
    iid: int | None
    if image_dir is None and images:
        first = next(iter(images.values()))["file_name"]
        image_dir = find_image_dir(_image_dir_candidates(ann_file), first) or ann_file.parent
    assert image_dir is not None or not images
    for iid, img in images.items():
        records[iid] = ImageRecord(
            iid, (image_dir or ann_file.parent) / img["file_name"], img["width"], img["height"]
        )
    seen_ann: set[int] = set()
    aid: int | None
    cid: int | None
    for k, ann in enumerate(anns):
        if not isinstance(ann, dict):
            issues.error(ann_file, f"annotations[{k}] is not an object")
            continue
        missing = [f for f in ("id", "image_id", "category_id") if f not in ann]
        if missing:
            issues.error(
                ann_file,
                f"annotations[{k}] lacks {', '.join(missing)}",
                ann.get("image_id"),
                ann.get("id"),
            )
            continue
        aid = as_int_id(ann["id"], "annotation id", ann_file, issues, ann_id=ann["id"])
        iid = as_int_id(ann["image_id"], "image id", ann_file, issues, ann_id=ann["id"])
        cid = as_int_id(ann["category_id"], "category id", ann_file, issues, ann_id=ann["id"])
        if aid is None or iid is None or cid is None:
            continue
        if aid in seen_ann:
            issues.error(ann_file, "duplicate annotation id", iid, aid)
            continue
        seen_ann.add(aid)
        if iid not in records:
            issues.error(ann_file, "refers to an image id not in 'images'", iid, aid)
            continue
        if cid not in cats:
            issues.error(ann_file, f"category id {cid} is not in the category list", iid, aid)
            continue
        rec = records[iid]
        if "bbox" not in ann:
            issues.error(ann_file, "annotation lacks 'bbox'", iid, aid)
            continue
        box = _clip_box(ann["bbox"], rec.width, rec.height, ann_file, issues, iid, aid)
        if box is None:
            continue
        seg, keep = _check_segmentation(
            ann.get("segmentation"), rec.width, rec.height, ann_file, issues, iid, aid
        )
        if not keep:
            continue
        raw_area: Any = ann.get("area")
        area = (
            float(raw_area)
            if _number(raw_area) and raw_area > 0
            else ((box[2] - box[0]) * (box[3] - box[1]))
        )
        rec.instances.append(
            Instance(aid, label_of[cid], box, area, seg, bool(ann.get("iscrowd", 0)))
        )
    return finish_dataset(
        ann_file, "coco", cats, cat_ids, len(cat_ids), records, issues, check_images
    )


def phantom_category(cats: dict[int, dict[str, Any]], anns: list[Any]) -> int | None:
    """The id of a category that only groups the others: no annotation uses it and it is the
    supercategory of every other category (Roboflow writes one named after the project)."""
    if len(cats) < 2:
        return None
    used = {ann.get("category_id") for ann in anns if isinstance(ann, dict)}
    for cid, cat in cats.items():
        if cid in used or str(cid) in used:
            continue
        others = (c for k, c in cats.items() if k != cid)
        if all(c.get("supercategory") == cat["name"] for c in others):
            return cid
    return None


def finish_dataset(
    ann_file: Path,
    fmt: str,
    cats: dict[int, dict[str, Any]],
    cat_ids: list[int],
    num_things: int,
    records: dict[int, ImageRecord],
    issues: Issues,
    check_images: bool,
) -> Dataset:
    """The canonical data set of a COCO-style file, with the checks every reader runs."""
    classes = [str(cats[c]["name"]) for c in cat_ids]
    dataset = Dataset(
        ann_file.stem,
        fmt,
        ann_file.parent,
        classes,
        num_things,
        list(records.values()),
        category_ids=cat_ids,
    )
    warn_empty(dataset, ann_file, issues)
    if check_images:
        check_image_files(dataset.images, issues)
    return dataset


def _image_dir_candidates(ann_file: Path) -> list[Path]:
    root = ann_file.parent.parent if ann_file.parent.name == "annotations" else ann_file.parent
    stem = ann_file.stem
    split = stem.split("_")[-1]  # instances_val2017 -> val2017
    names = [split, stem, "images", f"images/{split}", "img", "JPEGImages", "."]
    return [root / n for n in names] + [ann_file.parent / n for n in names]


def warn_empty(
    dataset: Dataset, file: Path, issues: Issues, reported: Collection[int] = ()
) -> None:
    """Warnings for images without annotations and classes without instances.

    ``reported``: ids of images whose lack of labels the reader has already summed up.
    """
    counts: Counter[int] = Counter()
    for rec in dataset.images:
        if not rec.instances and not rec.segments and rec.id not in reported:
            issues.warn(file, "image has no annotations", rec.id)
        counts.update(i.label for i in rec.instances)
        counts.update(s.label for s in rec.segments)
    for label, name in enumerate(dataset.classes):
        if counts[label] == 0:
            issues.warn(file, f"class {name!r} has no instances")


def check_image_files(images: Iterable[ImageRecord], issues: Issues) -> None:
    """Every image exists, decodes fully and has its declared size."""
    for rec in images:
        size = probe_image(rec.file, issues, rec.id)
        if size is not None and size != (rec.width, rec.height):
            issues.error(
                rec.file,
                f"image is {size[0]}x{size[1]} but its annotation says {rec.width}x{rec.height}",
                rec.id,
            )


def write_coco(dataset: Dataset, path: Path, absolute_paths: bool = False) -> None:
    """Write the instances of ``dataset`` as a COCO json (file names relative or absolute)."""
    cat_ids = dataset.category_ids or list(range(1, dataset.num_things + 1))
    images, anns = [], []
    for rec in dataset.images:
        name = str(rec.file.resolve()) if absolute_paths else rec.file.name
        images.append({"id": rec.id, "file_name": name, "width": rec.width, "height": rec.height})
        for inst in rec.instances:
            x1, y1, x2, y2 = inst.box
            ann: dict[str, Any] = {
                "id": inst.id,
                "image_id": rec.id,
                "category_id": cat_ids[inst.label],
                "bbox": [x1, y1, x2 - x1, y2 - y1],
                "area": inst.area,
                "iscrowd": int(inst.iscrowd),
            }
            if inst.segmentation is not None:
                seg = inst.segmentation
                if isinstance(seg, dict) and isinstance(seg.get("counts"), bytes):
                    seg = {"size": seg["size"], "counts": seg["counts"].decode("ascii")}
                ann["segmentation"] = seg
            anns.append(ann)
    cats = [{"id": cat_ids[i], "name": n} for i, n in enumerate(dataset.thing_classes)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))

"""COCO panoptic: a json plus a folder of RGB-encoded segment-id PNGs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from benchsel.data.coco import (
    _image_dir_candidates,
    as_int_id,
    finish_dataset,
    read_coco_header,
)
from benchsel.data.images import find_image_dir
from benchsel.data.types import Dataset, ImageRecord, Instance, Issues, Segment


def rgb2id(rgb: np.ndarray) -> np.ndarray:
    """panopticapi's encoding: id = R + 256 G + 256^2 B."""
    rgb = rgb.astype(np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]


def id2rgb(ids: np.ndarray) -> np.ndarray:
    out = np.zeros((*ids.shape, 3), dtype=np.uint8)
    rest = ids.astype(np.int64)
    for c in range(3):
        out[..., c] = rest % 256
        rest //= 256
    return out


def read_segment_png(path: Path) -> np.ndarray:
    """Segment-id map of a panoptic PNG (H, W) int64."""
    from PIL import Image

    with Image.open(path) as im:
        return rgb2id(np.asarray(im.convert("RGB")))


def default_png_dir(ann_file: Path) -> Path:
    """panopticapi's convention: ``panoptic_val2017.json`` -> ``panoptic_val2017/``."""
    return ann_file.with_suffix("")


def read_coco_panoptic(
    ann_file: Path,
    image_dir: Path | None,
    png_dir: Path | None,
    issues: Issues,
    check_images: bool = True,
) -> Dataset | None:
    """Read a COCO panoptic data set; thing classes come first in the canonical class list."""
    header = read_coco_header(ann_file, issues)
    if header is None:
        return None
    cats, images, anns = header
    things = sorted(c for c, v in cats.items() if v.get("isthing", 1))
    stuff = sorted(c for c, v in cats.items() if not v.get("isthing", 1))
    cat_ids = things + stuff
    label_of = {cid: i for i, cid in enumerate(cat_ids)}
    png_dir = png_dir or default_png_dir(ann_file)
    if image_dir is None and images:
        first = next(iter(images.values()))["file_name"]
        candidates = [*_image_dir_candidates(ann_file), ann_file.parent / "input_images"]
        image_dir = find_image_dir(candidates, first) or ann_file.parent
    records = {
        iid: ImageRecord(
            iid, (image_dir or ann_file.parent) / img["file_name"], img["width"], img["height"]
        )
        for iid, img in images.items()
    }
    annotated: set[int] = set()
    for k, ann in enumerate(anns):
        if not isinstance(ann, dict) or "image_id" not in ann or "file_name" not in ann:
            issues.error(ann_file, f"annotations[{k}] needs 'image_id' and 'file_name'")
            continue
        iid = as_int_id(ann["image_id"], "image id", ann_file, issues)
        if iid is None:
            continue
        if iid not in records:
            issues.error(ann_file, "panoptic annotation for an image id not in 'images'", iid)
            continue
        if iid in annotated:
            issues.error(ann_file, "duplicate panoptic annotation for this image", iid)
            continue
        annotated.add(iid)
        rec = records[iid]
        rec.panoptic_file = png_dir / ann["file_name"]
        _read_segments(ann, rec, cats, label_of, len(things), ann_file, issues)
    # Instances come from thing segments, whose ids are only unique within an image.
    for number, inst in enumerate((i for r in records.values() for i in r.instances), start=1):
        inst.id = number
    return finish_dataset(
        ann_file, "coco_panoptic", cats, cat_ids, len(things), records, issues, check_images
    )


def _read_segments(
    ann: dict[str, Any],
    rec: ImageRecord,
    cats: dict[int, Any],
    label_of: dict[int, int],
    num_things: int,
    ann_file: Path,
    issues: Issues,
) -> None:
    infos = ann.get("segments_info", [])
    if not isinstance(infos, list):
        issues.error(ann_file, "'segments_info' must be a list", rec.id)
        return
    seen: dict[int, Segment] = {}
    for info in infos:
        if not isinstance(info, dict) or "id" not in info or "category_id" not in info:
            issues.error(ann_file, "segment needs 'id' and 'category_id'", rec.id)
            continue
        sid = as_int_id(info["id"], "segment id", ann_file, issues, image_id=rec.id)
        cid = as_int_id(info["category_id"], "category id", ann_file, issues, image_id=rec.id)
        if sid is None or cid is None:
            continue
        if sid in seen:
            issues.error(ann_file, f"duplicate segment id {sid}", rec.id, sid)
            continue
        if cid not in cats:
            issues.error(ann_file, f"category id {cid} is not in the category list", rec.id, sid)
            continue
        json_area = float(info.get("area", 0) or 0) or None
        seen[sid] = Segment(
            sid, label_of[cid], bool(info.get("iscrowd", 0)), json_area or 0.0, json_area=json_area
        )
    png = rec.panoptic_file
    assert png is not None
    if not png.is_file():
        issues.error(png, "panoptic PNG is missing", rec.id)
        return
    try:
        ids = read_segment_png(png)
    except (OSError, SyntaxError, ValueError) as exc:
        issues.error(png, f"corrupt or truncated panoptic PNG ({exc})", rec.id)
        return
    if ids.shape != (rec.height, rec.width):
        issues.error(
            png,
            f"PNG is {ids.shape[1]}x{ids.shape[0]} but the image is {rec.width}x{rec.height}",
            rec.id,
        )
        return
    present, areas = np.unique(ids, return_counts=True)
    unknown = sorted(int(v) for v in present if v != 0 and int(v) not in seen)
    if unknown:
        shown = ", ".join(map(str, unknown[:5])) + (" ..." if len(unknown) > 5 else "")
        issues.error(png, f"segment ids {shown} in the PNG are absent from the json", rec.id)
        return
    area_of = dict(zip(present.tolist(), areas.tolist(), strict=True))
    from pycocotools import mask as mask_utils

    for seg in seen.values():
        seg.area = float(area_of.get(seg.id, 0))
        if seg.area == 0:
            issues.warn(ann_file, "segment has no pixels in the PNG (dropped)", rec.id, seg.id)
            continue
        mask = ids == seg.id
        ys, xs = np.nonzero(mask)
        seg.box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
        rec.segments.append(seg)
        if seg.label < num_things:
            rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
            rec.instances.append(Instance(seg.id, seg.label, seg.box, seg.area, rle, seg.iscrowd))


def write_coco_panoptic(dataset: Dataset, maps: dict[int, np.ndarray], ann_file: Path) -> None:
    """Write segments and their id maps (image id -> (H, W) ids) as COCO panoptic json + PNGs."""
    from PIL import Image

    png_dir = default_png_dir(ann_file)
    png_dir.mkdir(parents=True, exist_ok=True)
    cat_ids = dataset.category_ids or list(range(1, len(dataset.classes) + 1))
    images, anns = [], []
    for rec in dataset.images:
        images.append(
            {"id": rec.id, "file_name": rec.file.name, "width": rec.width, "height": rec.height}
        )
        png_name = Path(rec.file.name).with_suffix(".png").name
        Image.fromarray(id2rgb(maps[rec.id])).save(png_dir / png_name)
        infos = []
        for seg in rec.segments:
            box = seg.box or (0.0, 0.0, 0.0, 0.0)
            infos.append(
                {
                    "id": seg.id,
                    "category_id": cat_ids[seg.label],
                    "iscrowd": int(seg.iscrowd),
                    "area": seg.area,
                    "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]],
                }
            )
        anns.append({"image_id": rec.id, "file_name": png_name, "segments_info": infos})
    cats = [
        {"id": cat_ids[i], "name": n, "isthing": int(i < dataset.num_things)}
        for i, n in enumerate(dataset.classes)
    ]
    ann_file.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))

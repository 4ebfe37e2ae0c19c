"""Data set statistics, shown by ``benchsel data check`` and stored with every run."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from benchsel.data.types import MEDIUM_AREA, SMALL_AREA, Dataset


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"mean": 0.0, "median": 0.0, "min": 0.0, "max": 0.0}
    arr = np.asarray(values, dtype=float)
    return {
        "mean": round(float(arr.mean()), 3),
        "median": float(np.median(arr)),
        "min": float(arr.min()),
        "max": float(arr.max()),
    }


def dataset_stats(ds: Dataset, pixel_stats: bool = True) -> dict[str, Any]:
    """Counts and distributions of one split (JSON-ready)."""
    sizes = Counter((im.width, im.height) for im in ds.images)
    per_class: Counter[str] = Counter()
    crowd = 0
    buckets = {"small": 0, "medium": 0, "large": 0}
    vertices: list[float] = []
    per_image: list[float] = []
    for im in ds.images:
        per_image.append(len(im.instances))
        for inst in im.instances:
            if inst.iscrowd:
                crowd += 1
                continue
            per_class[ds.classes[inst.label]] += 1
            if inst.area < SMALL_AREA:
                buckets["small"] += 1
            elif inst.area < MEDIUM_AREA:
                buckets["medium"] += 1
            else:
                buckets["large"] += 1
            if inst.num_vertices is not None:
                vertices.append(inst.num_vertices)
    stats: dict[str, Any] = {
        "images": len(ds.images),
        "classes": len(ds.classes),
        "image_sizes": {
            "width": _summary([w for (w, _h) in sizes.elements()]),
            "height": _summary([h for (_w, h) in sizes.elements()]),
            "most_common": [
                {"width": w, "height": h, "images": n} for (w, h), n in sizes.most_common(5)
            ],
        },
    }
    if ds.has_instances:
        stats["instances"] = sum(per_class.values())
        stats["crowd_regions"] = crowd
        stats["instances_per_class"] = {c: per_class[c] for c in ds.thing_classes}
        stats["instances_per_image"] = _summary(per_image)
        stats["images_without_objects"] = sum(1 for n in per_image if n == 0)
        stats["size_buckets"] = buckets
        stats["polygon_vertices_per_instance"] = _summary(vertices)
    if pixel_stats and ds.format == "mask_folder":
        stats["pixel_share"] = _semantic_pixel_share(ds)
    if ds.format == "coco_panoptic":
        stats["panoptic_area_share"] = _panoptic_area_share(ds)
        stats["segments"] = sum(len(im.segments) for im in ds.images)
    return stats


def _semantic_pixel_share(ds: Dataset) -> dict[str, float]:
    from benchsel.data.masks import read_label_png

    counts = np.zeros(len(ds.classes) + 1, dtype=np.int64)  # last bin: ignored pixels
    for im in ds.images:
        if im.semantic_file is None:
            continue
        lbl = read_label_png(im.semantic_file).ravel()
        valid = (lbl >= 0) & (lbl < len(ds.classes)) & (lbl != ds.ignore_index)
        counts[: len(ds.classes)] += np.bincount(lbl[valid], minlength=len(ds.classes))
        counts[-1] += int((~valid).sum())
    total = max(int(counts.sum()), 1)
    share = {c: round(int(counts[i]) / total, 5) for i, c in enumerate(ds.classes)}
    share["(ignored)"] = round(int(counts[-1]) / total, 5)
    return share


def _panoptic_area_share(ds: Dataset) -> dict[str, float]:
    things = stuff = 0.0
    total = 0.0
    for im in ds.images:
        total += im.width * im.height
        for seg in im.segments:
            if seg.label < ds.num_things:
                things += seg.area
            else:
                stuff += seg.area
    total = max(total, 1.0)
    return {
        "things": round(things / total, 5),
        "stuff": round(stuff / total, 5),
        "void": round(1 - (things + stuff) / total, 5),
    }

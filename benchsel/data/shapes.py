"""Boxes and polygons in pixels, clipped to their image: shared by the YOLO, CVAT and LabelMe
readers, whose formats give shapes as points rather than COCO's ``[x, y, w, h]``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchsel.data.types import ImageRecord, Instance, Issues

Box = tuple[float, float, float, float]
ROUNDING_PX = 0.01  # overshoot that normalised, rounded coordinates make: clamped silently


def polygon_area(polygons: list[list[float]]) -> float:
    """Summed shoelace area of flat ``[x1, y1, x2, y2, ...]`` polygons."""
    total = 0.0
    for poly in polygons:
        xs, ys = poly[0::2], poly[1::2]
        n = len(xs)
        total += abs(sum(xs[i] * ys[(i + 1) % n] - xs[(i + 1) % n] * ys[i] for i in range(n))) / 2
    return total


def polygons_box(polygons: list[list[float]]) -> Box:
    """The xyxy bounds of flat polygons."""
    xs = [v for p in polygons for v in p[0::2]]
    ys = [v for p in polygons for v in p[1::2]]
    return (min(xs), min(ys), max(xs), max(ys))


def _clip(values: list[float], width: int, height: int) -> tuple[list[float], bool]:
    """Flat x, y values clamped to the image, and whether any moved by more than rounding."""
    out = [min(max(v, 0.0), float(width if i % 2 == 0 else height)) for i, v in enumerate(values)]
    return out, any(abs(a - b) > ROUNDING_PX for a, b in zip(out, values, strict=True))


def add_instance(
    rec: ImageRecord,
    ann_id: int,
    label: int,
    issues: Issues,
    file: Path,
    *,
    box: Box | None = None,
    polygons: list[list[float]] | None = None,
    where: Any = None,
    image: Any = None,
) -> None:
    """Add to ``rec`` an object given as a box or as polygons (whose bounds are its box).

    Shapes that reach past the image are clipped with a warning; shapes with no area inside it are
    dropped with a warning. ``where`` names the line or shape for the messages.
    """
    width, height = rec.width, rec.height
    moved = False
    if polygons:
        clipped = [_clip(p, width, height) for p in polygons]
        polygons = [p for p, _ in clipped]
        moved = any(m for _, m in clipped)
        x1, y1, x2, y2 = polygons_box(polygons)
    else:
        assert box is not None
        (x1, y1, x2, y2), moved = _clip(list(box), width, height)
    if x2 <= x1 or y2 <= y1:
        what = f"lies outside the {width}x{height} image" if moved else "has zero area"
        issues.warn(file, f"shape {what} (dropped)", image, where)
        return
    if moved:
        issues.warn(
            file, f"shape extends outside the {width}x{height} image (clipped)", image, where
        )
    area = polygon_area(polygons) if polygons else (x2 - x1) * (y2 - y1)
    rec.instances.append(Instance(ann_id, label, (x1, y1, x2, y2), area, polygons or None))

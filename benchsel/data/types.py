"""Canonical annotations: what every dataset format loads into.

Classes are one list, things first then stuff. Instance labels index the thing classes; semantic
label maps and panoptic segments index the whole list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

Severity = Literal["error", "warning"]

# Formats whose data sets hold instances (boxes, and masks where the format has them).
INSTANCE_FORMATS = ("coco", "voc", "coco_panoptic", "yolo", "cvat", "labelme")

# COCO's size buckets (area in pixels).
SMALL_AREA = 32**2
MEDIUM_AREA = 96**2


@dataclass
class Issue:
    """One validation finding, naming the file and the image / annotation it concerns."""

    severity: Severity
    file: str
    message: str
    image_id: int | str | None = None
    annotation_id: int | str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.image_id is not None:
            where += f" image {self.image_id}"
        if self.annotation_id is not None:
            where += f" annotation {self.annotation_id}"
        return f"{where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "file": self.file,
            "image_id": self.image_id,
            "annotation_id": self.annotation_id,
            "message": self.message,
        }


@dataclass
class Issues:
    """Collects errors and warnings while a dataset is read."""

    items: list[Issue] = field(default_factory=list)

    def error(
        self, file: str | Path, message: str, image_id: Any = None, ann_id: Any = None
    ) -> None:
        self.items.append(Issue("error", str(file), message, image_id, ann_id))

    def warn(
        self, file: str | Path, message: str, image_id: Any = None, ann_id: Any = None
    ) -> None:
        self.items.append(Issue("warning", str(file), message, image_id, ann_id))

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.items if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.items if i.severity == "warning"]


@dataclass
class Instance:
    """One object: label indexes the thing classes; box is xyxy in pixels."""

    id: int
    label: int
    box: tuple[float, float, float, float]
    area: float
    segmentation: Any = None  # COCO polygons (list of flat lists) or RLE dict, or None
    iscrowd: bool = False
    difficult: bool = False

    @property
    def num_vertices(self) -> int | None:
        if isinstance(self.segmentation, list):
            return sum(len(p) // 2 for p in self.segmentation)
        return None


@dataclass
class Segment:
    """A panoptic segment: ``id`` is its RGB-encoded id in the PNG; label indexes all classes."""

    id: int
    label: int
    iscrowd: bool = False
    area: float = 0.0  # pixels in the PNG
    box: tuple[float, float, float, float] | None = None  # xyxy
    json_area: float | None = None  # the annotation's own `area` (panopticapi's IoU uses it)


@dataclass
class ImageRecord:
    """One image and every label the format provides for it."""

    id: int
    file: Path
    width: int
    height: int
    instances: list[Instance] = field(default_factory=list)
    semantic_file: Path | None = None  # single-channel label PNG (values index the classes)
    panoptic_file: Path | None = None  # RGB-encoded segment-id PNG
    segments: list[Segment] = field(default_factory=list)


@dataclass
class Dataset:
    """A data set in canonical form."""

    name: str
    format: str
    root: Path
    classes: list[str]
    num_things: int
    images: list[ImageRecord]
    ignore_index: int = 255
    category_ids: list[int] | None = None  # original ids per class (COCO), for export

    @property
    def thing_classes(self) -> list[str]:
        return self.classes[: self.num_things]

    @property
    def stuff_classes(self) -> list[str]:
        return self.classes[self.num_things :]

    @property
    def has_instances(self) -> bool:
        return self.format in INSTANCE_FORMATS

    def subset(self, image_ids: list[int], name: str | None = None) -> Dataset:
        keep = set(image_ids)
        return Dataset(
            name or self.name,
            self.format,
            self.root,
            self.classes,
            self.num_things,
            [im for im in self.images if im.id in keep],
            self.ignore_index,
            self.category_ids,
        )

    def split(self, val_fraction: float, seed: int) -> tuple[Dataset, Dataset]:
        """A seeded (train, val) split of the images."""
        ids = sorted(im.id for im in self.images)
        order = np.random.default_rng(seed).permutation(len(ids))
        n_val = max(1, round(len(ids) * val_fraction))
        val = sorted(ids[i] for i in order[:n_val])
        train = sorted(ids[i] for i in order[n_val:])
        return self.subset(train, f"{self.name}:train"), self.subset(val, f"{self.name}:val")

    def fraction(self, fraction: float, seed: int) -> Dataset:
        """The first ``fraction`` of one seeded order: nested for growing fractions."""
        ids = sorted(im.id for im in self.images)
        order = np.random.default_rng(seed).permutation(len(ids))
        n = max(1, round(len(ids) * fraction))
        return self.subset(sorted(ids[i] for i in order[:n]), f"{self.name}@{fraction:g}")

"""A trial's predictions on the val split, kept compactly with the labels they were scored on.

What label-issue ranking (:mod:`benchsel.evaluation.label_issues`), the detection confusion matrix
and the report's image crops need, without the model: per image its file and size; boxes
(labelled and predicted, xyxy pixels) for detection and instance trials; for semantic and
panoptic trials the predicted and labelled class maps, downsampled (nearest) to at most
``MAP_SIDE`` pixels a side. Stored per trial as ``.npz`` bytes (no pickle) in the results store.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchsel.data.types import ImageRecord
from benchsel.predictions import Detections

FORMAT_VERSION = 1
MAX_DETECTIONS = 100  # per image, highest scores first (COCO's maxDets)
MIN_SCORE = 0.01  # lower-scored detections are not kept
MAP_SIDE = 64  # class maps are kept at most this many pixels a side
VOID = 255


@dataclass(frozen=True, eq=False)
class ValPredictions:
    """Predictions and labels of one trial's val images; ``classes`` are what labels index."""

    kind: str  # "boxes" or "maps"
    classes: tuple[str, ...]
    image_ids: np.ndarray  # (N,) int64
    image_files: np.ndarray  # (N,) str
    image_sizes: np.ndarray  # (N, 2) height, width
    gt_image: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (G,) index
    gt_id: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # annotation ids
    gt_label: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    gt_box: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    gt_crowd: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    det_image: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    det_label: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    det_box: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    det_score: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    map_pred: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0), np.uint8))
    map_gt: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0), np.uint8))

    @property
    def n_images(self) -> int:
        return len(self.image_ids)

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        arrays = {
            name: getattr(self, name)
            for name in self.__dataclass_fields__
            if name not in ("kind", "classes")
        }
        np.savez_compressed(
            buf,
            format_version=np.array(FORMAT_VERSION),
            kind=np.array(self.kind),
            classes=np.array(self.classes, dtype=str),
            **arrays,
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ValPredictions:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        if int(arrays.pop("format_version")) != FORMAT_VERSION:
            raise ValueError("stored val predictions have an unknown format version")
        kind = str(arrays.pop("kind"))
        classes = tuple(str(c) for c in arrays.pop("classes"))
        return cls(kind=kind, classes=classes, **arrays)


class PredictionCollector:
    """Collects one image at a time (``add_boxes`` or ``add_maps``), then ``result()``."""

    def __init__(self, classes: list[str]) -> None:
        self.classes = tuple(classes)
        self.images: list[ImageRecord] = []
        self.gt: list[tuple[int, int, int, tuple[float, float, float, float], bool]] = []
        self.dets: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.maps: list[tuple[np.ndarray, np.ndarray]] = []

    def add_boxes(self, im: ImageRecord, det: Detections) -> None:
        k = len(self.images)
        self.images.append(im)
        for inst in im.instances:
            self.gt.append((k, inst.id, inst.label, inst.box, inst.iscrowd))
        keep = np.flatnonzero(det.scores >= MIN_SCORE)
        keep = keep[np.argsort(-det.scores[keep], kind="stable")][:MAX_DETECTIONS]
        self.dets.append(
            (
                np.full(len(keep), k, dtype=np.int64),
                det.labels[keep].astype(np.int64),
                det.boxes[keep].astype(np.float32),
                det.scores[keep].astype(np.float32),
            )
        )

    def add_maps(self, im: ImageRecord, gt: np.ndarray, pred: np.ndarray) -> None:
        self.images.append(im)
        self.maps.append((downsample(pred), downsample(gt)))

    def result(self) -> ValPredictions:
        images = self.images
        common: dict[str, Any] = {
            "classes": self.classes,
            "image_ids": np.array([im.id for im in images], dtype=np.int64),
            "image_files": np.array([str(im.file) for im in images], dtype=str),
            "image_sizes": np.array(
                [(im.height, im.width) for im in images], dtype=np.int64
            ).reshape(len(images), 2),
        }
        if self.maps:
            h = max(m[0].shape[0] for m in self.maps)
            w = max(m[0].shape[1] for m in self.maps)
            pred = np.full((len(self.maps), h, w), VOID, dtype=np.uint8)
            gt = np.full((len(self.maps), h, w), VOID, dtype=np.uint8)
            for i, (p, g) in enumerate(self.maps):
                pred[i, : p.shape[0], : p.shape[1]] = p
                gt[i, : g.shape[0], : g.shape[1]] = g
            return ValPredictions(kind="maps", map_pred=pred, map_gt=gt, **common)
        empty = (np.zeros(0, np.int64),) * 2 + (np.zeros((0, 4), np.float32), np.zeros(0))
        det = [np.concatenate(parts) for parts in zip(*(self.dets or [empty]), strict=True)]
        return ValPredictions(
            kind="boxes",
            gt_image=np.array([g[0] for g in self.gt], dtype=np.int64),
            gt_id=np.array([g[1] for g in self.gt], dtype=np.int64),
            gt_label=np.array([g[2] for g in self.gt], dtype=np.int64),
            gt_box=np.array([g[3] for g in self.gt], dtype=np.float32).reshape(len(self.gt), 4),
            gt_crowd=np.array([g[4] for g in self.gt], dtype=bool),
            det_image=det[0].astype(np.int64),
            det_label=det[1].astype(np.int64),
            det_box=det[2].astype(np.float32).reshape(-1, 4),
            det_score=det[3].astype(np.float32),
            **common,
        )


def downsample(labels: np.ndarray, side: int = MAP_SIDE) -> np.ndarray:
    """A class map shrunk (nearest) so its longer side is at most ``side``; values above 254
    (void, ignore, out of range) become ``VOID``."""
    h, w = labels.shape
    step = max(1, int(np.ceil(max(h, w) / side)))
    small = labels[step // 2 :: step, step // 2 :: step]
    return np.where((small >= 0) & (small < VOID), small, VOID).astype(np.uint8)

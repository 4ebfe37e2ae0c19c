"""Canonical predictions: what every model adapter returns, free of OpenMMLab types.

Coordinates are pixels of the original image; labels index the adapter's class list
(thing classes for detection/instance, all classes for semantic, things then stuff for panoptic).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Detections:
    """Boxes (N, 4) xyxy float32, scores (N,), labels (N,) int64, optional masks (N, H, W) bool;
    ``dropped_nonfinite``: boxes the model emitted with an inf/nan coordinate or score, left
    out of these (evaluation counts them per trial)."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    masks: np.ndarray | None = None
    dropped_nonfinite: int = 0

    def __post_init__(self) -> None:
        n = len(self.boxes)
        if self.boxes.shape != (n, 4) or self.scores.shape != (n,) or self.labels.shape != (n,):
            raise ValueError("Detections: boxes (N,4), scores (N,), labels (N,) must agree in N")
        if self.masks is not None and (self.masks.ndim != 3 or len(self.masks) != n):
            raise ValueError("Detections: masks must be (N, H, W)")

    def __len__(self) -> int:
        return len(self.boxes)


@dataclass
class SemanticMap:
    """Per-pixel class index (H, W) int64."""

    labels: np.ndarray


@dataclass
class PanopticSegment:
    id: int
    label: int
    is_thing: bool
    score: float | None = None


@dataclass
class PanopticPrediction:
    """Segment-id map (H, W) int32, 0 meaning void, and the segments it contains."""

    segment_map: np.ndarray
    segments: list[PanopticSegment] = field(default_factory=list)


Prediction = Detections | SemanticMap | PanopticPrediction

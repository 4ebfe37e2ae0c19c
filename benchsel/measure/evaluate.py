"""The evaluation driver: run a model over a data set and feed benchsel's evaluators.

The evaluators in :mod:`benchsel.measure.accuracy` never drive a model (detectron2's split
between ``DatasetEvaluator`` and ``inference_on_dataset``); this module does, for every task:
a task's own metrics plus the scores its predictions give on simpler tasks (an instance model's
box AP, a panoptic model's mIoU and thing AP).
"""

from __future__ import annotations

from typing import Any

from benchsel.adapters import LoadedModel
from benchsel.data.images import read_rgb
from benchsel.data.types import Dataset
from benchsel.measure.accuracy import (
    CocoEvaluator,
    PanopticEvaluator,
    SemanticEvaluator,
    panoptic_to_detections,
    panoptic_to_semantic,
)
from benchsel.predictions import Detections, PanopticPrediction, SemanticMap
from benchsel.tasks import task_info


def _things_dataset(ds: Dataset) -> Dataset:
    """``ds`` restricted to its thing classes (what COCO AP scores)."""
    things = ds.thing_classes
    return Dataset(
        ds.name,
        ds.format,
        ds.root,
        things,
        len(things),
        ds.images,
        category_ids=(ds.category_ids or [])[: len(things)] or None,
    )


def evaluate(
    model: LoadedModel, task: str, val: Dataset, limit: int | None = None
) -> dict[str, float]:
    """Score ``model`` on ``val`` (its first ``limit`` images) with benchsel's evaluators."""
    from benchsel.data.coco_panoptic import read_segment_png
    from benchsel.data.openmmlab import semantic_label_map

    images = val.images[:limit] if limit else val.images
    subset = val.subset([im.id for im in images]) if limit else val
    wanted = task_info(task).evaluations
    things = _things_dataset(subset)
    bbox = CocoEvaluator(things, "bbox") if "bbox" in wanted else None
    segm = CocoEvaluator(things, "segm") if "segm" in wanted else None
    sem = SemanticEvaluator(subset.classes, 255) if "semantic" in wanted else None
    pan = PanopticEvaluator(subset.classes, subset.num_things) if "panoptic" in wanted else None
    for im in images:
        pred = model.predict([read_rgb(im.file)])[0]
        dets: Detections | None = None
        if isinstance(pred, PanopticPrediction):
            assert pan is not None and sem is not None and im.panoptic_file is not None
            ids = read_segment_png(im.panoptic_file)
            pan.process(ids, [(s.id, s.label, s.iscrowd) for s in im.segments], pred)
            sem.process(semantic_label_map(subset, im), panoptic_to_semantic(pred))
            dets = panoptic_to_detections(pred)
        elif isinstance(pred, SemanticMap):
            assert sem is not None
            sem.process(semantic_label_map(subset, im), pred)
        else:
            assert isinstance(pred, Detections)
            dets = pred
        if dets is not None:
            for coco in (bbox, segm):
                if coco is not None:
                    coco.process(im.id, dets)
    metrics: dict[str, float] = {}
    evaluators: list[tuple[Any, str]] = [
        (bbox, ""),
        (segm, ""),
        (pan, ""),
        (sem, "semantic_" if pan else ""),
    ]
    for ev, prefix in evaluators:
        if ev is not None:
            for key, value in ev.evaluate().items():
                # pycocotools reports -1 for "nothing to measure": store it as undefined.
                metrics[prefix + key] = float("nan") if value == -1 else value
    return metrics

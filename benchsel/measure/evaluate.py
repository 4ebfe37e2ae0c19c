"""The evaluation driver: run a model over a data set and feed benchsel's evaluators.

The evaluators in :mod:`benchsel.measure.accuracy` never drive a model (detectron2's split
between ``DatasetEvaluator`` and ``inference_on_dataset``); this module does, for every task:
a task's own metrics plus the scores its predictions give on simpler tasks (an instance model's
box AP, a panoptic model's mIoU). It also returns each evaluator's per-image state, from which
bootstrap intervals and paired comparisons are computed without running the model again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from benchsel.adapters import LoadedModel
from benchsel.data.images import read_rgb
from benchsel.data.types import Dataset
from benchsel.measure.accuracy import CocoEvaluator, PanopticEvaluator, SemanticEvaluator
from benchsel.measure.accuracy import panoptic_to_semantic as _to_semantic
from benchsel.measure.uncertainty import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    EvalState,
    bootstrap_intervals,
)
from benchsel.predictions import Detections, PanopticPrediction, SemanticMap
from benchsel.tasks import Evaluation, task_info


@dataclass
class EvaluationResult:
    """Metrics of one evaluation and the per-image state of each evaluator that ran."""

    metrics: dict[str, float]
    states: dict[Evaluation, EvalState] = field(default_factory=dict)
    prefixes: dict[Evaluation, str] = field(default_factory=dict)

    def intervals(self) -> dict[str, float]:
        """``<metric>_ci_low`` / ``<metric>_ci_high`` for every state's default metrics."""
        out: dict[str, float] = {}
        for name, state in self.states.items():
            prefix = self.prefixes.get(name, "")
            ci = bootstrap_intervals(state, n_resamples=BOOTSTRAP_RESAMPLES, seed=BOOTSTRAP_SEED)
            out.update({prefix + k: v for k, v in ci.items()})
        return out


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


def evaluate_model(
    model: LoadedModel, task: str, val: Dataset, limit: int | None = None
) -> EvaluationResult:
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
        if isinstance(pred, PanopticPrediction):
            assert pan is not None and sem is not None and im.panoptic_file is not None
            ids = read_segment_png(im.panoptic_file)
            segments = [(s.id, s.label, s.iscrowd, s.json_area) for s in im.segments]
            pan.process(ids, segments, pred, image_id=im.id)
            sem.process(semantic_label_map(subset, im), _to_semantic(pred), image_id=im.id)
        elif isinstance(pred, SemanticMap):
            assert sem is not None
            sem.process(semantic_label_map(subset, im), pred, image_id=im.id)
        else:
            assert isinstance(pred, Detections)
            for coco in (bbox, segm):
                if coco is not None:
                    coco.process(im.id, pred)
    result = EvaluationResult({})
    evaluators: list[tuple[Evaluation, Any, str]] = [
        ("bbox", bbox, ""),
        ("segm", segm, ""),
        ("panoptic", pan, ""),
        ("semantic", sem, "semantic_" if pan else ""),
    ]
    for name, ev, prefix in evaluators:
        if ev is None:
            continue
        for key, value in ev.evaluate().items():
            # pycocotools reports -1 for "nothing to measure": store it as undefined.
            result.metrics[prefix + key] = math.nan if value == -1 else value
        if ev.state is not None:
            result.states[name] = ev.state
            result.prefixes[name] = prefix
    return result


def evaluate(
    model: LoadedModel, task: str, val: Dataset, limit: int | None = None
) -> dict[str, float]:
    """The metrics of :func:`evaluate_model` alone."""
    return evaluate_model(model, task, val, limit).metrics

"""The evaluation driver: run a model over a data set and feed benchsel's evaluators.

The evaluators in :mod:`benchsel.evaluation` never drive a model (detectron2's split
between ``DatasetEvaluator`` and ``inference_on_dataset``); this module does, for every task:
a task's own metrics plus the scores its predictions give on simpler tasks (an instance model's
box AP, a panoptic model's mIoU). It also returns each evaluator's per-image state, from which
bootstrap intervals and paired comparisons are computed without running the model again.

With ``diagnose=True`` (a trial's final evaluation) it also says why the model scores what it
does: TIDE's and COCO's error breakdowns, F1 against confidence and its best threshold, a
confusion matrix, and the compact val predictions label-issue ranking reads.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchsel.adapters import LoadedModel
from benchsel.data.images import read_rgb
from benchsel.data.types import Dataset
from benchsel.evaluation.bootstrap import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    EvalState,
    bootstrap_intervals,
)
from benchsel.evaluation.boundary import BoundaryIoUEvaluator, BoundaryIoUState
from benchsel.evaluation.coco import CocoEvalState, CocoEvaluator, coco_ground_truth
from benchsel.evaluation.panoptic import PanopticEvaluator
from benchsel.evaluation.panoptic import panoptic_to_semantic as _to_semantic
from benchsel.evaluation.semantic import SemanticEvalState, SemanticEvaluator
from benchsel.evaluation.val_predictions import PredictionCollector, ValPredictions
from benchsel.predictions import Detections, PanopticPrediction, SemanticMap
from benchsel.tasks import Evaluation, task_info


@dataclass
class EvaluationResult:
    """Metrics of one evaluation and the per-image state of each evaluator that ran."""

    metrics: dict[str, float]
    states: dict[Evaluation, EvalState] = field(default_factory=dict)
    prefixes: dict[Evaluation, str] = field(default_factory=dict)
    # diagnose=True only: curves (F1, confusion), how they were made, the val predictions
    curves: dict[str, Any] = field(default_factory=dict)
    conditions: dict[str, Any] = field(default_factory=dict)
    predictions: ValPredictions | None = None
    class_names: dict[int, str] = field(default_factory=dict)  # COCO category id -> class
    # semantic / panoptic: per-image Boundary IoU counts (metrics share the semantic prefix)
    boundary: BoundaryIoUState | None = None

    def primary(
        self, task: str, intervals: dict[str, float], name: str = "accuracy"
    ) -> dict[str, float]:
        """``task``'s primary metric as ``name`` with ``name_ci_low`` / ``name_ci_high`` taken
        from ``intervals`` (what :meth:`intervals` returned); NaN where undefined."""
        metric = task_info(task).primary_metric
        return {
            name: self.metrics.get(metric, math.nan),
            f"{name}_ci_low": intervals.get(f"{metric}_ci_low", math.nan),
            f"{name}_ci_high": intervals.get(f"{metric}_ci_high", math.nan),
        }

    def intervals(self, per_class: bool = False) -> dict[str, float]:
        """``<metric>_ci_low`` / ``<metric>_ci_high`` for every state's default metrics and
        ``boundary_IoU``, and with ``per_class`` for per-class AP (``<iou>_AP/<class>``), IoU
        (``IoU/<class>``) and Boundary IoU (``boundary_IoU/<class>``)."""
        out: dict[str, float] = {}
        for name, state in self.states.items():
            prefix = self.prefixes.get(name, "")
            metrics = list(state.default_metrics)
            if per_class and isinstance(state, SemanticEvalState):
                metrics += [f"IoU/{c}" for c in state.class_names]
            ci = bootstrap_intervals(
                state, metrics, n_resamples=BOOTSTRAP_RESAMPLES, seed=BOOTSTRAP_SEED
            )
            out.update({prefix + k: v for k, v in ci.items()})
            if per_class and isinstance(state, CocoEvalState):
                out.update(_class_ap_intervals(state, self.class_names))
        if self.boundary is not None:
            prefix = self.prefixes.get("semantic", "")
            ci = self.boundary.intervals(per_class, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED)
            out.update({prefix + k: v for k, v in ci.items()})
        return out


def _class_ap_intervals(state: CocoEvalState, names: dict[int, str]) -> dict[str, float]:
    """Each category's AP interval: the state restricted to one category scores its AP, on the
    same resamples as the overall interval (same seed)."""
    out: dict[str, float] = {}
    metric = f"{state.iou_type}_AP"
    for k, cat in enumerate(state.cat_ids.tolist()):
        lo, hi = int(state.det_start[k]), int(state.det_start[k + 1])
        one = CocoEvalState(
            iou_type=state.iou_type,
            image_ids=state.image_ids,
            cat_ids=state.cat_ids[k : k + 1],
            iou_thresholds=state.iou_thresholds,
            num_gt=state.num_gt[k : k + 1],
            det_start=np.array([0, hi - lo], dtype=np.int64),
            det_image=state.det_image[lo:hi],
            det_score=state.det_score[lo:hi],
            det_match=state.det_match[:, lo:hi],
            det_ignore=state.det_ignore[:, lo:hi],
        )
        ci = bootstrap_intervals(one, [metric], BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED)
        out[f"{metric}/{names[cat]}_ci_low"] = ci[f"{metric}_ci_low"]
        out[f"{metric}/{names[cat]}_ci_high"] = ci[f"{metric}_ci_high"]
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
    model: LoadedModel,
    task: str,
    val: Dataset,
    limit: int | None = None,
    diagnose: bool = False,
) -> EvaluationResult:
    """Score ``model`` on ``val`` (its first ``limit`` images) with benchsel's evaluators;
    with ``diagnose`` also explain the score (see the module docstring). Detections count the
    boxes the model emitted with inf/nan values, left out of the score
    (``dropped_nonfinite_boxes``)."""
    from benchsel.data.coco_panoptic import read_segment_png
    from benchsel.data.openmmlab import semantic_label_map

    images = val.images[:limit] if limit else val.images
    subset = val.subset([im.id for im in images]) if limit else val
    wanted = task_info(task).evaluations
    things = _things_dataset(subset)
    bbox = CocoEvaluator(things, "bbox") if "bbox" in wanted else None
    segm = CocoEvaluator(things, "segm") if "segm" in wanted else None
    sem = SemanticEvaluator(subset.classes, 255) if "semantic" in wanted else None
    edges = BoundaryIoUEvaluator(subset.classes, 255) if sem is not None else None
    pan = PanopticEvaluator(subset.classes, subset.num_things) if "panoptic" in wanted else None
    kept = PredictionCollector(things.classes if bbox else subset.classes) if diagnose else None
    dropped = 0
    for im in images:
        pred = model.predict([read_rgb(im.file)])[0]
        if isinstance(pred, PanopticPrediction | SemanticMap):
            assert sem is not None
            gt_map = semantic_label_map(subset, im)
            labels = pred if isinstance(pred, SemanticMap) else _to_semantic(pred)
            if isinstance(pred, PanopticPrediction):
                assert pan is not None and im.panoptic_file is not None
                ids = read_segment_png(im.panoptic_file)
                segments = [(s.id, s.label, s.iscrowd, s.json_area) for s in im.segments]
                pan.process(ids, segments, pred, image_id=im.id)
            sem.process(gt_map, labels, image_id=im.id)
            if edges is not None:
                edges.process(gt_map, labels, image_id=im.id)
            if kept is not None:
                kept.add_maps(im, gt_map, labels.labels)
        else:
            assert isinstance(pred, Detections)
            dropped += pred.dropped_nonfinite
            for coco in (bbox, segm):
                if coco is not None:
                    coco.process(im.id, pred)
            if kept is not None:
                kept.add_boxes(im, pred)
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
    if edges is not None:
        prefix = "semantic_" if pan else ""
        result.metrics.update({prefix + k: v for k, v in edges.evaluate().items()})
        result.boundary = edges.state
        assert edges.state is not None
        result.conditions["boundary_IoU"] = edges.state.conditions()
    if bbox is not None:
        result.class_names = dict(zip(bbox.cat_ids, things.classes, strict=False))
        result.metrics["dropped_nonfinite_boxes"] = float(dropped)
    if kept is not None:
        start = time.perf_counter()
        result.predictions = kept.result()
        primary = segm or bbox
        if primary is not None:
            _diagnose_detections(primary, result)
        elif sem is not None:
            _diagnose_maps(sem, result)
        result.conditions["wall_s"] = round(time.perf_counter() - start, 3)
    return result


def _diagnose_detections(ev: CocoEvaluator, result: EvaluationResult) -> None:
    """Error breakdowns on the task's own IoU type, F1 curves and a box confusion matrix."""
    from benchsel.evaluation.error_analysis import (
        TIDE_BG_IOU,
        TIDE_MAX_DETS,
        TIDE_POS_IOU,
        coco_error_analysis,
        tide_errors,
    )
    from benchsel.evaluation.thresholds import (
        CONFUSION_MATCHING,
        MATCHING,
        confusion_json,
        detection_confusion,
        f1_curves,
    )

    gt = coco_ground_truth(ev.dataset, ev.iou_type)
    result.metrics.update(tide_errors(gt, ev.results, ev.iou_type))
    result.metrics.update(coco_error_analysis(gt, ev.results, ev.iou_type))
    assert isinstance(ev.state, CocoEvalState) and result.predictions is not None
    curves = f1_curves(ev.state, result.class_names)
    result.metrics.update(curves.metrics())
    result.curves["f1"] = curves.to_json()
    threshold = result.metrics["f1_best_threshold"]
    matrix = detection_confusion(result.predictions, threshold)
    classes = list(result.predictions.classes)
    result.curves["confusion"] = confusion_json(
        matrix, classes, "objects (boxes)", True, CONFUSION_MATCHING
    )
    result.conditions |= {
        "tide": {
            "iou_type": ev.iou_type,
            "pos_iou": TIDE_POS_IOU,
            "background_iou": TIDE_BG_IOU,
            "max_dets": TIDE_MAX_DETS,
            "unit": "dAP, fraction of AP (TIDE's own AP at IoU 0.5, tide_AP50)",
        },
        "analysis": {
            "iou_type": ev.iou_type,
            "steps": "C75, C50, Loc (IoU 0.1), Sim (supercategory confusion forgiven, only "
            "with supercategories), Oth (any class confusion forgiven), BG, FN",
        },
        "f1": {"iou_type": ev.iou_type, "matching": MATCHING, "smoothing": "none"},
        "confusion": {"score_threshold": threshold, "matching": CONFUSION_MATCHING},
    }


def _diagnose_maps(sem: SemanticEvaluator, result: EvaluationResult) -> None:
    """The accumulated pixel confusion matrix."""
    from benchsel.evaluation.thresholds import confusion_json

    result.curves["confusion"] = confusion_json(
        sem.confusion, list(sem.class_names), "pixels", False, "per pixel, void ignored"
    )


def evaluate(
    model: LoadedModel, task: str, val: Dataset, limit: int | None = None
) -> dict[str, float]:
    """The metrics of :func:`evaluate_model` alone."""
    return evaluate_model(model, task, val, limit).metrics

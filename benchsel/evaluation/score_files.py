"""Score prediction files in the standard formats against ground truth (``benchsel eval``).

bbox / segm: a COCO results json (a list of {image_id, category_id, bbox, score[,
segmentation]}). panoptic: a COCO panoptic json with its PNG folder (named like the json).
semantic: a folder of label PNGs matched to the ground truth by file stem.
Scoring reads no image files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from benchsel.data import Dataset, load_data
from benchsel.data.coco_panoptic import default_png_dir, read_segment_png
from benchsel.data.masks import read_label_png
from benchsel.errors import DataError
from benchsel.evaluation.coco import coco_evaluate, coco_ground_truth
from benchsel.evaluation.panoptic import PanopticEvaluator, panoptic_to_semantic
from benchsel.evaluation.semantic import SemanticEvaluator
from benchsel.predictions import PanopticPrediction, PanopticSegment

EVAL_TASKS = ("bbox", "segm", "panoptic", "semantic")


def _ground_truth(gt: Path, fmt: str, classes: list[str] | None, ignore_index: int) -> Dataset:
    loaded = load_data(gt, fmt, classes=classes, ignore_index=ignore_index, check_images=False)
    if loaded.issues.errors:
        first = "; ".join(str(i) for i in loaded.issues.errors[:3])
        raise DataError(f"ground truth {gt} has {len(loaded.issues.errors)} errors: {first}")
    if len(loaded.splits) != 1:
        raise DataError(
            f"{gt} holds several splits ({', '.join(loaded.splits)}); pass the annotation file "
            "of the one to score"
        )
    return next(iter(loaded.splits.values()))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"prediction file {path} not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"prediction file {path} is not valid json: {exc}") from None


def score_coco_results(ds: Dataset, pred: Path, iou_type: str) -> dict[str, float]:
    results = _read_json(pred)
    if not isinstance(results, list):
        raise DataError(f"{pred}: COCO results must be a json list of detections")
    known_images = {im.id for im in ds.images}
    known_cats = set(ds.category_ids or range(1, len(ds.classes) + 1))
    for k, r in enumerate(results):
        if not isinstance(r, dict) or not {"image_id", "category_id", "score"} <= set(r):
            raise DataError(f"{pred}: entry {k} needs image_id, category_id and score")
        if r["image_id"] not in known_images:
            raise DataError(f"{pred}: entry {k} has image_id {r['image_id']} not in the GT")
        if r["category_id"] not in known_cats:
            raise DataError(f"{pred}: entry {k} has category_id {r['category_id']} not in the GT")
        if iou_type == "bbox" and "bbox" not in r:
            raise DataError(f"{pred}: entry {k} has no bbox")
        if iou_type == "segm" and "segmentation" not in r:
            raise DataError(f"{pred}: entry {k} has no segmentation")
    return coco_evaluate(coco_ground_truth(ds, iou_type), results, iou_type)  # type: ignore[arg-type]


def score_panoptic(ds: Dataset, pred: Path) -> dict[str, float]:
    data = _read_json(pred)
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise DataError(f"{pred}: expected a COCO panoptic json with an 'annotations' list")
    png_dir = default_png_dir(pred)
    label_of = {cid: i for i, cid in enumerate(ds.category_ids or [])}
    by_image = {a.get("image_id"): a for a in data["annotations"] if isinstance(a, dict)}
    evaluator = PanopticEvaluator(ds.classes, ds.num_things)
    semantic = SemanticEvaluator(ds.classes, 255)
    for im in ds.images:
        ann = by_image.get(im.id)
        if ann is None:
            raise DataError(f"{pred}: no prediction for image {im.id}")
        png = png_dir / str(ann.get("file_name", ""))
        if not png.is_file():
            raise DataError(f"{png}: predicted panoptic PNG is missing (image {im.id})")
        segments = []
        for info in ann.get("segments_info", []):
            cid = info.get("category_id")
            if cid not in label_of:
                raise DataError(f"{pred}: image {im.id} has unknown category_id {cid}")
            label = label_of[cid]
            segments.append(
                PanopticSegment(int(info["id"]), label, label < ds.num_things, info.get("score"))
            )
        pred_map = read_segment_png(png)
        listed = {s.id for s in segments}
        unknown = sorted(set(np.unique(pred_map).tolist()) - listed - {0})
        if unknown:
            raise DataError(f"{png}: segment ids {unknown[:5]} are not in {pred.name}")
        assert im.panoptic_file is not None
        gt_ids = read_segment_png(im.panoptic_file)
        prediction = PanopticPrediction(pred_map, segments)
        gt_segments = [(s.id, s.label, s.iscrowd, s.json_area) for s in im.segments]
        evaluator.process(gt_ids, gt_segments, prediction)
        gt_sem = panoptic_to_semantic(
            PanopticPrediction(gt_ids, [PanopticSegment(s.id, s.label, False) for s in im.segments])
        )
        semantic.process(gt_sem.labels, panoptic_to_semantic(prediction))
    out = evaluator.evaluate()
    out.update(
        {f"semantic_{k}": v for k, v in semantic.evaluate().items() if not k.startswith("IoU/")}
    )
    return out


def score_semantic(ds: Dataset, pred: Path) -> dict[str, float]:
    if not pred.is_dir():
        raise DataError(f"{pred}: expected a folder of predicted label PNGs")
    evaluator = SemanticEvaluator(ds.classes, ds.ignore_index)
    for im in ds.images:
        file = pred / f"{Path(im.file.name).stem}.png"
        if not file.is_file():
            raise DataError(f"{file}: no predicted label map for {im.file.name}")
        try:
            labels = read_label_png(file)
        except (OSError, ValueError) as exc:
            raise DataError(f"{file}: unreadable label map ({exc})") from None
        if im.semantic_file is not None:
            gt = read_label_png(im.semantic_file)
        else:
            raise DataError("semantic scoring needs label maps (a mask folder) as ground truth")
        if gt.shape != labels.shape:
            raise DataError(f"{file}: {labels.shape[::-1]} differs from the GT {gt.shape[::-1]}")
        evaluator.process(gt, labels)
    return evaluator.evaluate()


def score_files(
    task: str,
    gt: Path,
    pred: Path,
    fmt: str = "auto",
    classes: list[str] | None = None,
    ignore_index: int = 255,
) -> dict[str, float]:
    """Flat metrics (fractions in [0, 1]) for one prediction file or folder."""
    if task not in EVAL_TASKS:
        raise DataError(f"unknown task {task!r}; choose one of {', '.join(EVAL_TASKS)}")
    ds = _ground_truth(gt, fmt, classes, ignore_index)
    if task in ("bbox", "segm"):
        if not ds.has_instances:
            raise DataError(f"{gt} has no object annotations to score {task} against")
        return score_coco_results(ds, pred, task)
    if task == "panoptic":
        if ds.format != "coco_panoptic":
            raise DataError(f"{gt}: panoptic scoring needs COCO panoptic ground truth")
        return score_panoptic(ds, pred)
    return score_semantic(ds, pred)

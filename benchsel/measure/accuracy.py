"""One evaluator for every model: COCO box/mask AP, panoptic quality, semantic IoU.

Each evaluator is ``reset / process / evaluate`` (it never drives a model) and scores
canonical predictions against canonical ground truth. COCO AP is computed by
faster-coco-eval's COCOeval (the tests hold it to pycocotools' numbers to 1e-9); PQ follows
panopticapi's ``pq_compute`` and semantic metrics accumulate a confusion matrix.
Values are fractions in [0, 1], as pycocotools gives them.

After ``evaluate()`` each evaluator's ``state`` holds what it measured per image (see
:mod:`benchsel.measure.uncertainty`): enough to re-score any resampling of the images.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from benchsel.data.types import Dataset, ImageRecord
from benchsel.predictions import Detections, PanopticPrediction, SemanticMap

if TYPE_CHECKING:
    from benchsel.measure.uncertainty import CocoEvalState, PanopticEvalState, SemanticEvalState

COCO_STAT_NAMES = (
    "AP",
    "AP50",
    "AP75",
    "APs",
    "APm",
    "APl",
    "AR1",
    "AR10",
    "AR100",
    "ARs",
    "ARm",
    "ARl",
)
IouType = Literal["bbox", "segm"]


def _category_ids(ds: Dataset) -> list[int]:
    return ds.category_ids or list(range(1, len(ds.classes) + 1))


def coco_ground_truth(ds: Dataset, iou_type: IouType) -> dict[str, Any]:
    """The thing instances of ``ds`` as a COCO dict (what COCO() would load from json)."""
    cat_ids = _category_ids(ds)
    images, anns = [], []
    for im in ds.images:
        images.append({"id": im.id, "width": im.width, "height": im.height})
        for inst in im.instances:
            x1, y1, x2, y2 = inst.box
            ann = {
                "id": inst.id,
                "image_id": im.id,
                "category_id": cat_ids[inst.label],
                "bbox": [x1, y1, x2 - x1, y2 - y1],
                "area": inst.area,
                "iscrowd": int(inst.iscrowd),
            }
            if iou_type == "segm":
                ann["segmentation"] = _gt_segmentation(inst, im)
            anns.append(ann)
    # Annotation ids must be unique and non-zero for COCOeval's matching.
    ids = [a["id"] for a in anns]
    if len(set(ids)) != len(ids) or 0 in ids:
        for k, a in enumerate(anns, start=1):
            a["id"] = k
    cats = [{"id": cat_ids[i], "name": n} for i, n in enumerate(ds.thing_classes)]
    return {"images": images, "annotations": anns, "categories": cats}


def _gt_segmentation(inst: Any, im: ImageRecord) -> Any:
    seg = inst.segmentation
    if seg is None:  # box-only annotation: its box is its mask
        x1, y1, x2, y2 = inst.box
        return [[x1, y1, x2, y1, x2, y2, x1, y2]]
    if isinstance(seg, dict) and isinstance(seg.get("counts"), bytes):
        return {"size": seg["size"], "counts": seg["counts"].decode("ascii")}
    return seg


def detections_to_results(
    image_id: int, det: Detections, cat_ids: list[int], iou_type: IouType
) -> list[dict[str, Any]]:
    """COCO results entries for one image's canonical detections."""
    from pycocotools import mask as mask_utils

    out = []
    rles = None
    if iou_type == "segm":
        if det.masks is None:
            raise ValueError("segm evaluation needs instance masks in the predictions")
        rles = mask_utils.encode(np.asfortranarray(det.masks.astype(np.uint8).transpose(1, 2, 0)))
    for k in range(len(det)):
        x1, y1, x2, y2 = (float(v) for v in det.boxes[k])
        entry: dict[str, Any] = {
            "image_id": image_id,
            "category_id": cat_ids[int(det.labels[k])],
            "bbox": [x1, y1, x2 - x1, y2 - y1],
            "score": float(det.scores[k]),
        }
        if rles is not None:
            rle = rles[k]
            entry["segmentation"] = {"size": rle["size"], "counts": rle["counts"].decode("ascii")}
        out.append(entry)
    return out


def coco_evaluate(
    gt: dict[str, Any], results: list[dict[str, Any]], iou_type: IouType
) -> dict[str, float]:
    """The twelve COCO statistics plus per-class AP (``<iou_type>_AP/<class>``).

    As pycocotools, a statistic with nothing to measure (e.g. APs without small objects) is -1.
    """
    return _coco_stats(_run_cocoeval(gt, results, iou_type), gt, iou_type)


def _run_cocoeval(gt: dict[str, Any], results: list[dict[str, Any]], iou_type: IouType) -> Any:
    """faster-coco-eval's COCOeval after evaluate / accumulate / summarize.

    ``separate_eval`` keeps the per-image results (``_evalImgs_cpp``) for the evaluation state.
    """
    from faster_coco_eval import COCO, COCOeval_faster

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        if results:
            coco_dt = coco_gt.loadRes(results)
        else:  # loadRes rejects an empty list; an empty result set scores as pycocotools does
            coco_dt = COCO()
            coco_dt.dataset = {
                "images": gt["images"],
                "categories": gt["categories"],
                "annotations": [],
            }
            coco_dt.createIndex()
        ev = COCOeval_faster(coco_gt, coco_dt, iou_type, separate_eval=True)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def _coco_stats(ev: Any, gt: dict[str, Any], iou_type: IouType) -> dict[str, float]:
    prefix = f"{iou_type}_"
    stats = {prefix + n: float(v) for n, v in zip(COCO_STAT_NAMES, ev.stats[:12], strict=True)}
    precision = np.asarray(ev.eval["precision"])  # [T, R, K, A, M]
    names = {c["id"]: c["name"] for c in gt["categories"]}
    for k, cat_id in enumerate(ev.params.catIds):
        p = precision[:, :, k, 0, -1]
        p = p[p > -1]
        stats[f"{prefix}AP/{names[cat_id]}"] = float(p.mean()) if p.size else float("nan")
    return stats


def _coco_eval_state(ev: Any, gt: dict[str, Any], iou_type: IouType) -> CocoEvalState:
    """The per-image results of an evaluated COCOeval (area 'all', most detections) as a state.

    Images are in ``gt['images']`` order. Each category's detections are stored in the order
    COCOeval accumulates them (stable sort by descending score over images in id order), and
    only categories with non-ignored ground truth are kept: the others never count in AP.
    """
    from benchsel.measure.uncertainty import CocoEvalState

    p = ev.params
    img_ids = [int(i) for i in p.imgIds]
    n_img, n_area, n_thr = len(img_ids), len(p.areaRng), len(p.iouThrs)
    area = list(p.areaRngLbl).index("all")
    image_ids = [int(im["id"]) for im in gt["images"]]
    column = {img: k for k, img in enumerate(image_ids)}
    evals = ev._evalImgs_cpp  # [category][area range][image], flattened
    cat_ids, num_gt, starts = [], [], [0]
    det_image, det_score, det_match, det_ignore = [], [], [], []
    for c, cat_id in enumerate(p.catIds):
        gt_count = np.zeros(len(image_ids), dtype=np.int64)
        images: list[int] = []
        scores: list[float] = []
        matches, ignores = [], []
        for i, img in enumerate(img_ids):
            dt_match, _, dt_score, gt_ignore, dt_ignore, _ = evals[
                (c * n_area + area) * n_img + i
            ].__getstate__()
            gt_count[column[img]] = len(gt_ignore) - sum(gt_ignore)
            if dt_score:
                n_det = len(dt_score)
                images += [column[img]] * n_det
                scores += dt_score
                matches.append(np.asarray(dt_match).reshape(n_thr, n_det) > 0)
                ignores.append(np.asarray(dt_ignore, dtype=bool).reshape(n_thr, n_det))
        if not gt_count.any():
            continue
        order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
        cat_ids.append(int(cat_id))
        num_gt.append(gt_count)
        starts.append(starts[-1] + len(order))
        det_image.append(np.asarray(images, dtype=np.int64)[order])
        det_score.append(np.asarray(scores, dtype=np.float32)[order])
        empty = np.zeros((n_thr, 0), dtype=bool)
        det_match.append(np.concatenate([empty, *matches], axis=1)[:, order])
        det_ignore.append(np.concatenate([empty, *ignores], axis=1)[:, order])
    return CocoEvalState(
        iou_type=iou_type,
        image_ids=np.asarray(image_ids, dtype=np.int64),
        cat_ids=np.asarray(cat_ids, dtype=np.int64),
        iou_thresholds=np.asarray(p.iouThrs, dtype=np.float64),
        num_gt=np.asarray(num_gt, dtype=np.int64).reshape(len(cat_ids), len(image_ids)),
        det_start=np.asarray(starts, dtype=np.int64),
        det_image=np.concatenate([np.zeros(0, np.int64), *det_image]),
        det_score=np.concatenate([np.zeros(0, np.float32), *det_score]),
        det_match=np.concatenate([np.zeros((n_thr, 0), bool), *det_match], axis=1),
        det_ignore=np.concatenate([np.zeros((n_thr, 0), bool), *det_ignore], axis=1),
    )


class CocoEvaluator:
    """Box or mask AP over a data set, from canonical detections.

    ``evaluate()`` also sets ``state``: the per-image results, images in data set order.
    """

    def __init__(self, dataset: Dataset, iou_type: IouType = "bbox") -> None:
        self.dataset, self.iou_type = dataset, iou_type
        self.cat_ids = _category_ids(dataset)
        self.reset()

    def reset(self) -> None:
        self.results: list[dict[str, Any]] = []
        self.state: CocoEvalState | None = None

    def process(self, image_id: int, det: Detections) -> None:
        self.results.extend(detections_to_results(image_id, det, self.cat_ids, self.iou_type))

    def evaluate(self) -> dict[str, float]:
        gt = coco_ground_truth(self.dataset, self.iou_type)
        ev = _run_cocoeval(gt, self.results, self.iou_type)
        self.state = _coco_eval_state(ev, gt, self.iou_type)
        return _coco_stats(ev, gt, self.iou_type)


# Semantic segmentation: a streaming confusion matrix.


class SemanticEvaluator:
    """mIoU / mAcc / aAcc / mDice and per-class IoU from an accumulated confusion matrix.

    Classes absent from both ground truth and prediction get NaN and are left out of the means
    (mmseg's convention). ``evaluate()`` also sets ``state``: each image's confusion counts.
    """

    def __init__(self, class_names: list[str], ignore_index: int = 255) -> None:
        self.class_names, self.ignore_index = class_names, ignore_index
        self.reset()

    def reset(self) -> None:
        n = len(self.class_names)
        self.confusion = np.zeros((n, n), dtype=np.int64)  # rows: ground truth, cols: prediction
        self.missed = np.zeros(n, dtype=np.int64)  # GT pixels predicted as void / out of range
        self.state: SemanticEvalState | None = None
        self._image_ids: list[int] = []
        self._cells: list[np.ndarray] = []  # per image: nonzero confusion cells (gt * n + pred)
        self._counts: list[np.ndarray] = []  # and their pixel counts
        self._missed: list[np.ndarray] = []

    def process(
        self, gt: np.ndarray, pred: SemanticMap | np.ndarray, image_id: int | None = None
    ) -> None:
        """One image; ``image_id`` names it in ``state`` (default: its position, from 0)."""
        labels = pred.labels if isinstance(pred, SemanticMap) else pred
        if gt.shape != labels.shape:
            raise ValueError(f"prediction {labels.shape} and ground truth {gt.shape} differ")
        n = len(self.class_names)
        keep = (gt != self.ignore_index) & (gt >= 0) & (gt < n)
        g = gt[keep].astype(np.int64)
        p = labels[keep].astype(np.int64)
        valid = (p >= 0) & (p < n)
        cells = np.bincount(g[valid] * n + p[valid], minlength=n * n)
        missed = np.bincount(g[~valid], minlength=n)
        self.confusion += cells.reshape(n, n)
        self.missed += missed
        used = np.flatnonzero(cells)
        self._image_ids.append(len(self._image_ids) if image_id is None else int(image_id))
        self._cells.append(used)
        self._counts.append(cells[used])
        self._missed.append(missed)

    def evaluate(self) -> dict[str, float]:
        from benchsel.measure.uncertainty import SemanticEvalState

        n = len(self.class_names)
        self.state = SemanticEvalState(
            class_names=tuple(self.class_names),
            image_ids=np.asarray(self._image_ids, dtype=np.int64),
            entry_image=np.repeat(
                np.arange(len(self._cells), dtype=np.int64), [len(c) for c in self._cells]
            ),
            entry_cell=np.concatenate([np.zeros(0, np.int64), *self._cells]),
            entry_count=np.concatenate([np.zeros(0, np.int64), *self._counts]),
            missed=np.asarray(self._missed, dtype=np.int64).reshape(len(self._missed), n),
        )
        return semantic_metrics(self.confusion, self.class_names, self.missed)


def semantic_metrics(
    confusion: np.ndarray, class_names: list[str], missed: np.ndarray | None = None
) -> dict[str, float]:
    """Metrics from a (gt x pred) confusion matrix; ``missed`` counts unusable predictions."""
    tp = np.diag(confusion).astype(float)
    gt_total = confusion.sum(1).astype(float)
    if missed is not None:
        gt_total = gt_total + missed
    pred_total = confusion.sum(0).astype(float)
    union = gt_total + pred_total - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
        acc = np.where(gt_total > 0, tp / gt_total, np.nan)
        dice = np.where(gt_total + pred_total > 0, 2 * tp / (gt_total + pred_total), np.nan)
    total = gt_total.sum()
    out = {
        "mIoU": _nanmean(iou),
        "mAcc": _nanmean(acc),
        "aAcc": float(tp.sum() / total) if total else float("nan"),
        "mDice": _nanmean(dice),
    }
    for name, v in zip(class_names, iou, strict=True):
        out[f"IoU/{name}"] = float(v)
    return out


def _nanmean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float("nan")


# Panoptic quality, as panopticapi's pq_compute.

OFFSET = 256 * 256 * 256
VOID = 0


@dataclass
class _PQStat:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    iou: float = 0.0


@dataclass
class PanopticEvaluator:
    """PQ / SQ / RQ overall, for things and stuff, and per class (panopticapi's algorithm).

    ``evaluate()`` also sets ``state``: each image's per-class matches and IoU sums.
    """

    class_names: list[str]
    num_things: int
    stats: dict[int, _PQStat] = field(default_factory=dict)
    state: PanopticEvalState | None = field(default=None, init=False, repr=False, compare=False)
    _images: list[tuple[int, dict[int, _PQStat]]] = field(  # (image id, its stats) per image
        default_factory=list, init=False, repr=False, compare=False
    )

    def reset(self) -> None:
        self.stats = {}
        self.state = None
        self._images = []

    def process(
        self,
        gt_ids: np.ndarray,
        gt_segments: Sequence[tuple[int, int, bool] | tuple[int, int, bool, float | None]],
        pred: PanopticPrediction,
        image_id: int | None = None,
    ) -> None:
        """One image: GT id map with (id, label, iscrowd[, json area]) segments, and the
        prediction. As panopticapi, a ground-truth segment's area in the IoU's union is its
        json ``area`` when given (predictions: their pixel count).

        ``image_id`` names the image in ``state`` (default: its position, from 0).
        """
        stats: dict[int, _PQStat] = {}  # this image's
        pred_ids = pred.segment_map.astype(np.int64)
        if pred_ids.shape != gt_ids.shape:
            raise ValueError(f"prediction {pred_ids.shape} and ground truth {gt_ids.shape} differ")
        gt_ids = gt_ids.astype(np.int64)
        gt_info = {seg[0]: (seg[1], seg[2]) for seg in gt_segments}
        pred_info = {s.id: s.label for s in pred.segments}
        ids, counts = np.unique(gt_ids, return_counts=True)
        gt_area = dict(zip(ids.tolist(), counts.tolist(), strict=True))
        for seg in gt_segments:  # panopticapi: the json area, where the json gives one
            if len(seg) > 3 and seg[3] and seg[0] in gt_area:
                gt_area[seg[0]] = seg[3]
        ids, counts = np.unique(pred_ids, return_counts=True)
        pred_area = dict(zip(ids.tolist(), counts.tolist(), strict=True))
        joint, counts = np.unique(gt_ids * OFFSET + pred_ids, return_counts=True)
        overlap = {
            (int(j // OFFSET), int(j % OFFSET)): int(c) for j, c in zip(joint, counts, strict=True)
        }
        gt_matched: set[int] = set()
        pred_matched: set[int] = set()
        for (g, p), inter in overlap.items():
            if g not in gt_info or p not in pred_info:
                continue
            g_label, g_crowd = gt_info[g]
            if g_crowd or g_label != pred_info[p]:
                continue
            union = pred_area[p] + gt_area[g] - inter - overlap.get((VOID, p), 0)
            iou = inter / union
            if iou > 0.5:
                st = stats.setdefault(g_label, _PQStat())
                st.tp += 1
                st.iou += iou
                gt_matched.add(g)
                pred_matched.add(p)
        crowd_of: dict[int, int] = {}
        for g, (label, crowd) in gt_info.items():
            if g in gt_matched or g not in gt_area:
                continue
            if crowd:
                crowd_of[label] = g
                continue
            stats.setdefault(label, _PQStat()).fn += 1
        for p, label in pred_info.items():
            if p in pred_matched or p not in pred_area:
                continue
            inter = overlap.get((VOID, p), 0)
            if label in crowd_of:
                inter += overlap.get((crowd_of[label], p), 0)
            if inter / pred_area[p] > 0.5:
                continue
            stats.setdefault(label, _PQStat()).fp += 1
        for label, st in stats.items():
            total = self.stats.setdefault(label, _PQStat())
            total.tp, total.fp, total.fn = total.tp + st.tp, total.fp + st.fp, total.fn + st.fn
            total.iou += st.iou
        self._images.append((len(self._images) if image_id is None else int(image_id), stats))

    def evaluate(self) -> dict[str, float]:
        from benchsel.measure.uncertainty import PanopticEvalState

        n = len(self.class_names)
        counts = np.zeros((3, n), dtype=np.int64)
        iou = np.zeros(n)
        for label, st in self.stats.items():
            counts[:, label] = st.tp, st.fp, st.fn
            iou[label] = st.iou
        entries = [
            (k, lbl, st) for k, (_, stats) in enumerate(self._images) for lbl, st in stats.items()
        ]
        self.state = PanopticEvalState(
            class_names=tuple(self.class_names),
            num_things=self.num_things,
            image_ids=np.asarray([i for i, _ in self._images], dtype=np.int64),
            entry_image=np.asarray([k for k, _, _ in entries], dtype=np.int64),
            entry_label=np.asarray([lbl for _, lbl, _ in entries], dtype=np.int64),
            entry_counts=np.asarray(
                [(st.tp, st.fp, st.fn) for _, _, st in entries], dtype=np.int64
            ).reshape(len(entries), 3),
            entry_iou=np.asarray([st.iou for _, _, st in entries], dtype=np.float64),
        )
        quality = panoptic_quality(counts[0], counts[1], counts[2], iou, self.num_things)
        out = {
            f"PQ/{self.class_names[lbl]}": float(quality["PQ_per_class"][lbl])
            for lbl in self.stats
            if not np.isnan(quality["PQ_per_class"][lbl])
        }
        for suffix in ("", "_th", "_st"):
            for name in ("PQ", "SQ", "RQ"):
                out[name + suffix] = float(quality[name + suffix])
        return out


def panoptic_quality(
    tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, iou_sum: np.ndarray, num_things: int
) -> dict[str, np.ndarray]:
    """PQ / SQ / RQ (overall, ``_th``, ``_st``) and per-class PQ (``PQ_per_class``) from counts.

    Arrays are ``(..., classes)``: leading axes are batches (e.g. bootstrap resamples). A class
    with no segment in ground truth or prediction has no PQ (NaN) and is left out of the means,
    and a mean over no class is 0, as panopticapi.
    """
    tp, fp, fn, iou_sum = (np.asarray(a, dtype=np.float64) for a in (tp, fp, fn, iou_sum))
    denom = tp + 0.5 * fp + 0.5 * fn
    present = denom > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        pq = np.where(present, iou_sum / denom, np.nan)
        sq = np.where(present, np.where(tp > 0, iou_sum / tp, 0.0), np.nan)
        rq = np.where(present, tp / denom, np.nan)
    is_thing = np.arange(tp.shape[-1]) < num_things
    out = {"PQ_per_class": pq}
    for suffix, pick in (("", True), ("_th", is_thing), ("_st", ~is_thing)):
        chosen = present & pick
        n = chosen.sum(-1)
        for name, values in (("PQ", pq), ("SQ", sq), ("RQ", rq)):
            total = np.where(chosen, values, 0.0).sum(-1)
            out[name + suffix] = np.where(n > 0, total / np.maximum(n, 1), 0.0)
    return out


def panoptic_to_semantic(pred: PanopticPrediction, void_label: int = 255) -> SemanticMap:
    """Per-pixel class of a panoptic prediction (void pixels get ``void_label``)."""
    labels = np.full(pred.segment_map.shape, void_label, dtype=np.int64)
    for seg in pred.segments:
        labels[pred.segment_map == seg.id] = seg.label
    return SemanticMap(labels)

"""COCO box and mask AP: the evaluator (faster-coco-eval's COCOeval, held by the tests to
pycocotools' numbers to 1e-9) and the per-image state that re-accumulates AP for any resampling
of the images.

The evaluator is ``reset / process / evaluate`` (it never drives a model) and scores canonical
detections against canonical ground truth. Values are fractions in [0, 1], as pycocotools gives
them.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar, Literal

import numpy as np

from benchsel.data.types import Dataset, ImageRecord
from benchsel.evaluation.state import EvalStateBase
from benchsel.predictions import Detections

# pycocotools' recall thresholds (Params.setDetParams), computed the same way.
REC_THRESHOLDS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
_CHUNK_ELEMENTS = 1 << 20  # resamples x IoU thresholds x detections per vectorised COCO step

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


@dataclass(frozen=True, eq=False)
class CocoEvalState(EvalStateBase):
    """COCOeval's per-image results for area 'all' and 100 detections, re-accumulable.

    Each category's detections are kept in the order COCOeval accumulates them (descending
    score, ties by image id then rank in the image), so a reweighting needs only weighted
    cumulative sums; precision is interpolated at 101 recall points exactly as pycocotools'
    ``accumulate``. Only categories with non-ignored ground truth are kept: the others have no
    AP (pycocotools' -1) under any reweighting.
    """

    kind: ClassVar[str] = "coco"
    iou_type: str
    image_ids: np.ndarray  # (N,) in the evaluator's image order
    cat_ids: np.ndarray  # (K,)
    iou_thresholds: np.ndarray  # (T,)
    num_gt: np.ndarray  # (K, N) non-ignored ground truth per category and image
    det_start: np.ndarray  # (K + 1,) category k's detections are [det_start[k], det_start[k+1])
    det_image: np.ndarray  # (D,) image index of each detection
    det_score: np.ndarray  # (D,) float32, for reference (the order is what counts)
    det_match: np.ndarray  # (T, D) bool: matched to a ground truth at IoU threshold t
    det_ignore: np.ndarray  # (T, D) bool: ignored at t (matched a crowd or ignored object)

    def __post_init__(self) -> None:
        n_cat, n_det, n_thr = len(self.cat_ids), len(self.det_image), len(self.iou_thresholds)
        if (
            self.num_gt.shape != (n_cat, self.n_images)
            or len(self.det_start) != n_cat + 1
            or self.det_start[-1] != n_det
            or self.det_score.shape != (n_det,)
            or self.det_match.shape != (n_thr, n_det)
            or self.det_ignore.shape != (n_thr, n_det)
        ):
            raise ValueError("inconsistent COCO evaluation state arrays")

    @property
    def metric_names(self) -> tuple[str, ...]:
        return tuple(f"{self.iou_type}_{m}" for m in ("AP", "AP50", "AP75"))

    @property
    def default_metrics(self) -> tuple[str, ...]:
        return self.metric_names[:2]

    @cached_property
    def _outcomes(self) -> tuple[np.ndarray, np.ndarray]:
        """True positive, and not ignored, as floats, (T, D) each."""
        counted = ~self.det_ignore
        return (self.det_match & counted).astype(np.float64), counted.astype(np.float64)

    def _score(self, weights: np.ndarray, metrics: tuple[str, ...]) -> dict[str, np.ndarray]:
        n_res, n_thr = len(weights), len(self.iou_thresholds)
        thresholds = {
            f"{self.iou_type}_AP50": np.flatnonzero(np.isclose(self.iou_thresholds, 0.5)),
            f"{self.iou_type}_AP75": np.flatnonzero(np.isclose(self.iou_thresholds, 0.75)),
        }
        n_gt = weights @ self.num_gt.T.astype(np.float64)  # (resamples, K)
        has_gt = n_gt > 0
        per_cat = {m: np.zeros((n_res, len(self.cat_ids))) for m in metrics}
        tp_flag, counted_flag = self._outcomes
        for k in range(len(self.cat_ids)):
            lo, hi = int(self.det_start[k]), int(self.det_start[k + 1])
            rows = np.flatnonzero(has_gt[:, k])
            if hi == lo or not rows.size:
                continue  # no detections: precision 0 at every recall
            step = max(1, _CHUNK_ELEMENTS // (n_thr * (hi - lo)))
            for s in range(0, rows.size, step):
                r = rows[s : s + step]
                precision = _mean_interpolated_precision(
                    weights[np.ix_(r, self.det_image[lo:hi])],
                    tp_flag[:, lo:hi],
                    counted_flag[:, lo:hi],
                    n_gt[r, k],
                )
                for m in metrics:
                    t = thresholds.get(m)
                    per_cat[m][r, k] = (precision if t is None else precision[:, t]).mean(axis=1)
        n_cat = has_gt.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return {
                m: np.where(n_cat > 0, (per_cat[m] * has_gt).sum(axis=1) / n_cat, np.nan)
                for m in metrics
            }

    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            "iou_type": np.array(self.iou_type),
            "image_ids": self.image_ids,
            "cat_ids": self.cat_ids,
            "iou_thresholds": self.iou_thresholds,
            "num_gt": self.num_gt.astype(np.int32),
            "det_start": self.det_start,
            "det_image": self.det_image.astype(np.int32),
            "det_score": self.det_score.astype(np.float32),
            "det_match_bits": np.packbits(self.det_match, axis=1),
            "det_ignore_bits": np.packbits(self.det_ignore, axis=1),
        }

    @classmethod
    def _from_arrays(cls, arrays: dict[str, np.ndarray]) -> CocoEvalState:
        n_det = len(arrays["det_image"])

        def flags(bits: np.ndarray) -> np.ndarray:
            return np.unpackbits(bits, axis=1, count=n_det).astype(bool)

        return cls(
            iou_type=str(arrays["iou_type"]),
            image_ids=arrays["image_ids"].astype(np.int64),
            cat_ids=arrays["cat_ids"].astype(np.int64),
            iou_thresholds=arrays["iou_thresholds"].astype(np.float64),
            num_gt=arrays["num_gt"].astype(np.int64),
            det_start=arrays["det_start"].astype(np.int64),
            det_image=arrays["det_image"].astype(np.int64),
            det_score=arrays["det_score"],
            det_match=flags(arrays["det_match_bits"]),
            det_ignore=flags(arrays["det_ignore_bits"]),
        )


def _mean_interpolated_precision(
    weights: np.ndarray, tp_flag: np.ndarray, counted_flag: np.ndarray, n_gt: np.ndarray
) -> np.ndarray:
    """pycocotools' interpolated precision averaged over the recall thresholds, (resamples, T).

    ``weights`` (resamples, D) are the multiplicities of one category's detections in
    accumulation order, ``tp_flag`` / ``counted_flag`` (T, D) whether each is a true positive /
    not ignored, ``n_gt`` (resamples,) the category's non-ignored ground truth, all positive.
    Copies of a detection are adjacent in the sorted list of the copied data and only the last
    copy's precision can count (copies of a true positive raise it, of a false positive lower
    it), so weighted cumulative sums reproduce accumulate() on the copies: exactly, unless one
    image has two detections of the category with equal scores.
    """
    tp = np.cumsum(weights[:, None, :] * tp_flag, axis=2)
    if counted_flag.all():
        counted = np.cumsum(weights, axis=1)[:, None, :]
    else:
        counted = np.cumsum(weights[:, None, :] * counted_flag, axis=2)
    precision = tp / (counted + np.spacing(1))  # tp + fp, as pycocotools: tp / (fp + tp + eps)
    reversed_view = precision[..., ::-1]
    np.maximum.accumulate(reversed_view, axis=2, out=reversed_view)  # precision envelope
    # Recall threshold r takes the envelope at the first detection whose recall reaches it
    # (searchsorted 'left' in pycocotools). Recall never decreases, so detection j is first for
    # the thresholds it reaches and detection j - 1 does not. Recall is tp / n_gt with integer
    # tp, so the thresholds reached are looked up per row.
    reached_at = np.searchsorted(
        REC_THRESHOLDS, np.arange(int(tp.max()) + 1) / n_gt[:, None], side="right"
    )
    reached = np.take_along_axis(reached_at[:, None, :], tp.astype(np.intp), axis=2)
    newly = np.diff(reached, axis=2, prepend=0)
    return np.einsum("rtd,rtd->rt", precision, newly) / len(REC_THRESHOLDS)

"""The prior: what to start with before anything is measured on the user's data.

The decision table below is the requirement table this project answers, as data. Each row names
the situation it covers, the architectures it prefers in order, and why; every number quoted in
a reason is read from the catalog, never written here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from benchsel.catalog import Architecture, load_catalog
from benchsel.suite import Constraints
from benchsel.tasks import Task, task_info

LIMITED_GPU_MEM_GIB = 8.0
LIMITED_GPU_HOURS = 24.0
LIMITED_DATA_IMAGES = 1000
REALTIME_FPS = 30.0


@dataclass(frozen=True)
class Situation:
    """The facts about the user's constraints that the decision table reads."""

    task: Task
    realtime: bool
    limited_gpu: bool
    limited_data: bool
    medical: bool

    @classmethod
    def of(cls, task: Task, c: Constraints, gpu_hour_usd: float) -> Situation:
        limit = latency_limit_ms(c)
        hours = budget_hours(c, gpu_hour_usd)
        return cls(
            task=task,
            realtime=limit is not None and limit <= 1000 / REALTIME_FPS + 1e-9,
            limited_gpu=bool(
                (c.max_gpu_mem_gib and c.max_gpu_mem_gib <= LIMITED_GPU_MEM_GIB)
                or (hours is not None and hours <= LIMITED_GPU_HOURS)
            ),
            limited_data=c.labelled_images is not None and c.labelled_images <= LIMITED_DATA_IMAGES,
            medical=c.domain == "medical",
        )


def budget_hours(c: Constraints, gpu_hour_usd: float) -> float | None:
    """The training budget in GPU-hours: the hours given, or the dollars at ``gpu_hour_usd``."""
    limits = [c.gpu_budget_hours] if c.gpu_budget_hours else []
    if c.gpu_budget_usd and gpu_hour_usd > 0:
        limits.append(c.gpu_budget_usd / gpu_hour_usd)
    return min(limits) if limits else None


def latency_limit_ms(c: Constraints) -> float | None:
    """The tightest latency limit implied by ``max_latency_ms`` and ``min_fps``."""
    limits = [x for x in (c.max_latency_ms, 1000.0 / c.min_fps if c.min_fps else None) if x]
    return min(limits) if limits else None


def _published(a: Architecture, metric: str) -> str:
    value = a.reference.metrics.get(metric)
    return f"{metric} {value:g} published on {a.reference.dataset}" if value is not None else ""


def _for_task(task: str, family: str | None = None) -> list[Architecture]:
    return [
        a
        for a in load_catalog().architectures
        if task in a.tasks and (family is None or a.family == family)
    ]


def _by_published(task: str, family: str | None = None) -> list[Architecture]:
    """The task's (family's) architectures, best published primary metric first."""
    metric = task_info(task).primary_metric
    return sorted(_for_task(task, family), key=lambda a: -a.reference.metrics.get(metric, 0.0))


def _by_flops(task: str, family: str) -> list[Architecture]:
    """The family's architectures for the task, fewest GFLOPs first."""
    return sorted(
        _for_task(task, family), key=lambda a: a.measured.gflops if a.measured else math.inf
    )


def _yolov8_first(archs: list[Architecture]) -> list[Architecture]:
    """The requirement table names YOLOv8: its entries first, each group in the given order."""
    return [a for a in archs if a.id.startswith("yolov8")] + [
        a for a in archs if not a.id.startswith("yolov8")
    ]


def _ids(*ids: str) -> Callable[[Situation], list[Architecture]]:
    catalog = load_catalog()
    return lambda s: [catalog.get(i) for i in ids]


@dataclass(frozen=True)
class Row:
    """One row of the decision table."""

    requirement: str
    recommendation: str
    applies: Callable[[Situation], bool]
    candidates: Callable[[Situation], list[Architecture]]  # in order of preference


def decision_table() -> list[Row]:
    """The rows, checked in order; the first that applies answers."""
    return [
        Row(
            "medical imaging, limited data",
            "U-Net with strong augmentation (set training.augmentation: strong); its skip "
            "connections keep fine boundaries and it trains well from few images",
            lambda s: s.medical and (s.limited_data or s.task == "semantic"),
            _ids("unet-s5-d16", "fcn-r50", "deeplabv3plus-r50"),
        ),
        Row(
            "limited GPU budget",
            "the smallest YOLO-family model (YOLOv8's smallest first; EfficientDet is the other "
            "common choice)",
            lambda s: s.limited_gpu and s.task in ("detection", "instance"),
            lambda s: _yolov8_first(_by_flops(s.task, "yolo")),
        ),
        Row(
            "real-time inference (> 30 fps)",
            "YOLOv8 (then the rest of the YOLO family: YOLOv5-v7, RTMDet, YOLOX), best "
            "published accuracy first",
            lambda s: s.realtime and s.task in ("detection", "instance"),
            lambda s: _yolov8_first(_by_published(s.task, "yolo")),
        ),
        Row(
            "panoptic segmentation",
            "Panoptic-FPN or Mask2Former (Panoptic-FPN under speed or budget limits)",
            lambda s: s.task == "panoptic",
            lambda s: _ids(
                *(
                    ("panoptic-fpn-r50", "mask2former-r50-panoptic")
                    if s.realtime or s.limited_gpu
                    else ("mask2former-r50-panoptic", "panoptic-fpn-r50")
                )
            )(s),
        ),
        Row(
            "instance segmentation",
            "Mask R-CNN or Mask2Former (Mask R-CNN: the established, lighter choice under speed "
            "or budget limits)",
            lambda s: s.task == "instance",
            lambda s: _ids(
                *(
                    ("mask-rcnn-r50", "mask2former-r50")
                    if s.realtime or s.limited_gpu
                    else ("mask2former-r50", "mask-rcnn-r50")
                )
            )(s),
        ),
        Row(
            "highest accuracy, no latency constraint",
            "DINO with a Swin-L backbone",
            lambda s: s.task == "detection",
            _ids("dino-5scale-swin-l", "dino-4scale-r50", "rtmdet-s"),
        ),
        Row(
            "semantic segmentation",
            "the best published mIoU",
            lambda s: s.task == "semantic",
            lambda s: _by_published("semantic"),
        ),
    ]


@dataclass
class PriorChoice:
    """The prior's answer: a pick that meets every checkable constraint (or None), why, and
    what else to measure; ``unmet`` says why each preferred candidate was passed over."""

    pick: Architecture | None
    reasons: list[str]
    alternatives: list[str]
    unmet: dict[str, list[str]]
    unverified: dict[str, list[str]]


def published_violations(a: Architecture, task: str, c: Constraints) -> tuple[list[str], list[str]]:
    """(broken, unverifiable) constraints of ``a`` judged on its published numbers."""
    broken: list[str] = []
    unknown: list[str] = []
    ref = a.reference
    metric = task_info(task).primary_metric
    if c.target_accuracy:
        value = ref.metrics.get(metric)
        if value is None:
            unknown.append(f"{metric} not published")
        elif value / 100 < c.target_accuracy:
            broken.append(
                f"{metric} {value / 100:.3f} published on {ref.dataset} < target "
                f"{c.target_accuracy:g}"
            )
    limit = latency_limit_ms(c)
    if limit is not None:
        if ref.inference_ms is None:
            unknown.append("speed unknown (not published)")
        elif ref.inference_ms > limit:
            broken.append(
                f"{1000 / ref.inference_ms:.1f} fps published ({ref.inference_conditions}) < "
                f"{1000 / limit:g} fps required"
            )
    if c.max_gpu_mem_gib:
        if ref.train_memory_gb is None:
            unknown.append("training memory not published")
        elif ref.train_memory_gb > c.max_gpu_mem_gib:
            broken.append(
                f"training needs {ref.train_memory_gb:g} GB per GPU at the published batch "
                f"(OpenMMLab's figure) > {c.max_gpu_mem_gib:g} GiB"
            )
    return broken, unknown


def prior_choice(task: str, c: Constraints, gpu_hour_usd: float = 2.5) -> PriorChoice:
    """The decision table's pick that meets every constraint its published numbers can check.

    Candidates: the first applicable row's preferences in order, then every other catalog
    entry for the task by published accuracy. A candidate whose published numbers break a
    constraint is passed over; one whose numbers are unknown is kept and said to be unverified.
    """
    situation = Situation.of(task_info(task).name, c, gpu_hour_usd)
    rows = [r for r in decision_table() if r.applies(situation)]
    row = next(r for r in rows if [a for a in r.candidates(situation) if task in a.tasks])
    preferred = [a for a in row.candidates(situation) if task in a.tasks]
    others = [a for a in _by_published(task) if a not in preferred]
    unmet: dict[str, list[str]] = {}
    unverified: dict[str, list[str]] = {}
    pick = None
    for a in preferred + others:
        broken, unknown = published_violations(a, task, c)
        if broken:
            unmet[a.id] = broken
            continue
        unverified[a.id] = unknown
        pick = a
        break
    reasons = []
    if pick is None:
        reasons.append(
            f"no {task} architecture in the catalog meets your constraints on its published "
            "numbers (see the rejected list); relax a constraint or measure on your data"
        )
    else:
        published = _published(pick, task_info(task).primary_metric)
        why = f"{row.requirement}: {row.recommendation}; here {pick.id}" + (
            f" ({published})" if published else ""
        )
        if pick not in preferred:
            why += (
                f". The table's preferred {', '.join(a.id for a in preferred[:3])} "
                "break your constraints on their published numbers"
            )
        reasons.append(why)
        if unverified[pick.id]:
            reasons.append(f"Not verified for {pick.id}: {'; '.join(unverified[pick.id])}.")
    rest = [a.id for a in preferred + others if a is not pick and a.id not in unmet]
    return PriorChoice(pick, reasons, rest[:3], unmet, unverified)

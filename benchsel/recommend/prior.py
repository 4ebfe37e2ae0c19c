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

LIMITED_GPU_MEM_GB = 8.0
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
    def of(cls, task: Task, c: Constraints) -> Situation:
        limit = latency_limit_ms(c)
        return cls(
            task=task,
            realtime=limit is not None and limit <= 1000 / REALTIME_FPS + 1e-9,
            limited_gpu=bool(
                (c.max_gpu_mem_gb and c.max_gpu_mem_gb <= LIMITED_GPU_MEM_GB)
                or (c.gpu_budget_hours and c.gpu_budget_hours <= LIMITED_GPU_HOURS)
                or c.gpu_budget_usd
            ),
            limited_data=c.labelled_images is not None and c.labelled_images <= LIMITED_DATA_IMAGES,
            medical=c.domain == "medical",
        )


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
            "the smallest YOLO-family model (EfficientDet or YOLOv8-small in common use)",
            lambda s: s.limited_gpu and s.task in ("detection", "instance"),
            lambda s: _by_flops(s.task, "yolo"),
        ),
        Row(
            "real-time inference (> 30 fps)",
            "the YOLO family (YOLOv8 in common use; here RTMDet / YOLOX), best published "
            "accuracy first",
            lambda s: s.realtime and s.task in ("detection", "instance"),
            lambda s: _by_published(s.task, "yolo"),
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


def prior_choice(task: str, c: Constraints) -> tuple[Architecture, list[str], list[str]]:
    """(architecture, reasons, alternatives to measure) from the decision table."""
    situation = Situation.of(task_info(task).name, c)
    row = next(r for r in decision_table() if r.applies(situation))
    ranked = row.candidates(situation)
    pick = ranked[0]
    published = _published(pick, task_info(task).primary_metric)
    reason = f"{row.requirement}: {row.recommendation}; here {pick.id}" + (
        f" ({published})" if published else ""
    )
    return pick, [reason], [a.id for a in ranked[1:4]]

"""The task vocabulary: what each task predicts, scores, needs as labels and pays for them.

Everything that branches on a task name reads it from here, so adding a task or changing a
primary metric touches one table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from benchsel.errors import BenchselError

Task = Literal["detection", "instance", "semantic", "panoptic"]
TASKS: tuple[Task, ...] = ("detection", "instance", "semantic", "panoptic")
Evaluation = Literal["bbox", "segm", "semantic", "panoptic"]


@dataclass(frozen=True)
class TaskInfo:
    """One task's vocabulary."""

    name: Task
    primary_metric: str  # the metric that ranks candidates on this task
    label_kind: str  # field of LabellingPrices: box, instance_mask, pixel_mask, panoptic
    label_unit: str  # what one priced label is: box, instance or image
    formats: tuple[str, ...]  # data formats that carry this task's labels
    evaluations: tuple[Evaluation, ...]  # evaluators run on its predictions
    things_only: bool  # predicts thing classes only (no stuff)
    # Per-class metrics are stored as ``<metric>/<class name>``. ``class_metric`` is the
    # primary metric per class; ``class_interval_metric`` the per-class metric stored with a
    # 95% interval (``_ci_low`` / ``_ci_high``). They differ for panoptic only: PQ per class
    # has no interval, so its per-class intervals are those of the semantic IoU.
    class_metric: str
    class_interval_metric: str
    # Models of richer tasks that also score this one: (their task, their metric key).
    shared_by: tuple[tuple[Task, str], ...] = ()

    @property
    def per_object_labels(self) -> bool:
        return self.label_unit != "image"


TASK_INFO: dict[Task, TaskInfo] = {
    "detection": TaskInfo(
        "detection",
        "bbox_AP",
        "box",
        "box",
        ("coco", "voc", "coco_panoptic", "yolo", "cvat", "labelme"),
        ("bbox",),
        things_only=True,
        class_metric="bbox_AP",
        class_interval_metric="bbox_AP",
        shared_by=(("instance", "bbox_AP"),),
    ),
    "instance": TaskInfo(
        "instance",
        "segm_AP",
        "instance_mask",
        "instance",
        ("coco", "coco_panoptic", "yolo", "cvat", "labelme"),  # polygons where they have them
        ("bbox", "segm"),
        things_only=True,
        class_metric="segm_AP",
        class_interval_metric="segm_AP",
    ),
    "semantic": TaskInfo(
        "semantic",
        "mIoU",
        "pixel_mask",
        "image",
        ("mask_folder", "coco_panoptic"),
        ("semantic",),
        things_only=False,
        class_metric="IoU",
        class_interval_metric="IoU",
        shared_by=(("panoptic", "semantic_mIoU"),),
    ),
    "panoptic": TaskInfo(
        "panoptic",
        "PQ",
        "panoptic",
        "image",
        ("coco_panoptic",),
        # No box/mask AP: panoptic segments carry no confidence, and AP needs a ranking.
        ("panoptic", "semantic"),
        things_only=False,
        class_metric="PQ",
        class_interval_metric="semantic_IoU",
    ),
}
PRIMARY_METRIC: dict[str, str] = {t: info.primary_metric for t, info in TASK_INFO.items()}


def task_info(task: str) -> TaskInfo:
    """The vocabulary of ``task``; a user error naming the choices if it is unknown."""
    try:
        return TASK_INFO[task]  # type: ignore[index]
    except KeyError:
        raise BenchselError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}") from None


def task_of_metric(metric: str) -> Task | None:
    """The task whose primary metric is ``metric`` (None for secondary metrics)."""
    for name, info in TASK_INFO.items():
        if info.primary_metric == metric:
            return name
    return None

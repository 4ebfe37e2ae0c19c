"""Accuracy: evaluators (COCO AP, semantic IoU, panoptic quality, boundary IoU), their per-image
states and bootstrap intervals, the driver that runs a model over a data set, error analysis,
score thresholds and label issues. Nothing here times anything: cost is :mod:`benchsel.profiling`.
"""

# Every state class registers its kind when defined; import them so any stored state decodes.
from benchsel.evaluation import coco, panoptic, semantic  # noqa: F401

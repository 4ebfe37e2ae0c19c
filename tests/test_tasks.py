"""The task vocabulary: one table, and the names in it match what the evaluators emit."""

from __future__ import annotations

import numpy as np
import pytest

from benchsel.errors import BenchselError
from benchsel.evaluation.semantic import SemanticEvaluator
from benchsel.tasks import PRIMARY_METRIC, TASK_INFO, TASKS, task_info, task_of_metric


def test_every_task_has_one_entry_named_after_it():
    assert TASKS == ("detection", "instance", "semantic", "panoptic")
    assert [TASK_INFO[t].name for t in TASKS] == list(TASKS)
    assert PRIMARY_METRIC == {
        "detection": "bbox_AP",
        "instance": "segm_AP",
        "semantic": "mIoU",
        "panoptic": "PQ",
    }


def test_unknown_task_is_a_user_error_naming_the_choices():
    with pytest.raises(BenchselError) as err:
        task_info("depth")
    assert str(err.value) == (
        "unknown task 'depth'; choose one of detection, instance, semantic, panoptic"
    )


def test_task_of_metric_reads_primary_metrics_only():
    assert task_of_metric("segm_AP") == "instance"
    assert task_of_metric("PQ") == "panoptic"
    assert task_of_metric("semantic_mIoU") is None  # a secondary metric of panoptic
    assert task_of_metric("accuracy") is None


def test_labels_are_priced_per_object_or_per_image():
    per_object = {t for t in TASKS if task_info(t).per_object_labels}
    assert per_object == {"detection", "instance"}
    assert [task_info(t).label_kind for t in TASKS] == [
        "box",
        "instance_mask",
        "pixel_mask",
        "panoptic",
    ]


def test_per_class_metrics_and_where_their_intervals_are():
    assert {t: task_info(t).class_metric for t in TASKS} == {
        "detection": "bbox_AP",
        "instance": "segm_AP",
        "semantic": "IoU",
        "panoptic": "PQ",
    }
    # PQ per class has no stored interval: panoptic's per-class intervals are semantic IoU's
    assert {t: task_info(t).class_interval_metric for t in TASKS} == {
        "detection": "bbox_AP",
        "instance": "segm_AP",
        "semantic": "IoU",
        "panoptic": "semantic_IoU",
    }


def test_semantic_names_match_the_evaluators_output():
    evaluator = SemanticEvaluator(["sky", "road"])
    gt = np.array([[0, 0], [1, 1]])
    evaluator.process(gt, np.array([[0, 1], [1, 1]]))
    out = evaluator.evaluate()
    info = task_info("semantic")
    assert out[info.primary_metric] == pytest.approx((0.5 + 2 / 3) / 2)  # IoU 1/2 and 2/3
    assert out[f"{info.class_metric}/sky"] == pytest.approx(0.5)
    assert out[f"{info.class_metric}/road"] == pytest.approx(2 / 3)


def test_richer_tasks_that_share_a_metric():
    assert task_info("detection").shared_by == (("instance", "bbox_AP"),)
    assert task_info("semantic").shared_by == (("panoptic", "semantic_mIoU"),)
    assert task_info("instance").shared_by == () and task_info("panoptic").shared_by == ()

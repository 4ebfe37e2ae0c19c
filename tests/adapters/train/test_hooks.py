"""The validation curve hook, driven by a fake runner: when it scores, in which mode, and how
each point says what it scored."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from benchsel.adapters.train.hooks import StageSwitch, ValCurve


class FakeOptimWrapper:
    def __init__(self) -> None:
        self.lr = 0.0

    def get_lr(self) -> dict[str, list[float]]:
        return {"lr": [self.lr]}


def fake_runner(max_iters: int, hooks: list[Any]) -> SimpleNamespace:
    return SimpleNamespace(
        iter=0,
        max_iters=max_iters,
        hooks=hooks,
        optim_wrapper=FakeOptimWrapper(),
        train_dataloader=SimpleNamespace(num_workers=0),
        logger=logging.getLogger("test_hooks"),
    )


def train(runner: SimpleNamespace, lr_of: Any = lambda i: 0.0) -> None:
    """mmengine's IterBasedTrainLoop hook order; ``runner.iter`` counts finished steps."""
    for i in range(runner.max_iters):
        runner.iter = i
        runner.optim_wrapper.lr = lr_of(i)
        for hook in runner.hooks:
            hook.before_train_iter(runner, i)
        for hook in runner.hooks:
            hook.after_train_iter(runner, i, outputs={})


def test_points_score_in_eval_mode_and_say_which_weights_lr_and_images():
    model = torch.nn.BatchNorm1d(2).train()
    modes: list[bool] = []

    def score() -> float:
        modes.append(model.training)
        return 0.1 * len(modes)

    curve = ValCurve(model, every=3, metric="bbox_AP", score=score, val_images=20)
    runner = fake_runner(9, [curve])
    train(runner, lr_of=lambda i: 0.01 * (9 - i))

    assert modes == [False, False]  # eval mode; no point after the last iteration
    assert model.training
    assert curve.curve == [
        {
            "iter": 3.0,
            "bbox_AP": pytest.approx(0.1),
            "of_iters": 9.0,
            "weights": "training (iteration 3 of 9)",
            "lr": pytest.approx(0.07),
            "val_images": 20.0,
        },
        {
            "iter": 6.0,
            "bbox_AP": pytest.approx(0.2),
            "of_iters": 9.0,
            "weights": "training (iteration 6 of 9)",
            "lr": pytest.approx(0.04),
            "val_images": 20.0,
        },
    ]


def test_points_say_whether_they_come_before_or_after_the_stage_switch():
    switch = StageSwitch(iter=4)  # switches before the 5th step
    curve = ValCurve(torch.nn.Linear(1, 1), every=2, metric="bbox_AP", score=lambda: 0.0)
    train(fake_runner(10, [switch, curve]))

    stages = {int(p["iter"]): p["stage"] for p in curve.curve}
    assert stages == {
        2: "before stage switch at 4",
        4: "before stage switch at 4",
        6: "after stage switch at 4",
        8: "after stage switch at 4",
    }


def test_without_switch_optimizer_or_image_count_those_keys_are_absent():
    curve = ValCurve(torch.nn.Linear(1, 1), every=1, metric="mIoU", score=lambda: 0.5)
    runner = fake_runner(2, [curve])
    runner.optim_wrapper = SimpleNamespace(lr=0.0)  # no get_lr
    train(runner)

    assert curve.curve == [
        {"iter": 1.0, "mIoU": 0.5, "of_iters": 2.0, "weights": "training (iteration 1 of 2)"}
    ]


def test_a_failing_score_leaves_the_model_in_training_mode():
    model = torch.nn.Linear(1, 1).train()

    def score() -> float:
        raise RuntimeError("evaluation failed")

    curve = ValCurve(model, every=1, metric="bbox_AP", score=score)
    with pytest.raises(RuntimeError, match="evaluation failed"):
        train(fake_runner(3, [curve]))
    assert model.training
    assert curve.curve == []


def test_scoring_time_is_counted_so_training_throughput_can_exclude_it():
    import time

    model = torch.nn.Linear(2, 2)

    def slow_score() -> float:
        time.sleep(0.05)
        return 0.0

    curve = ValCurve(model, every=2, metric="mIoU", score=slow_score)
    train(fake_runner(6, [curve]))
    assert len(curve.curve) == 2  # iterations 2 and 4 (none after the last)
    assert 0.1 <= curve.seconds < 1.0

"""Rules of the generated training config: sizes, learning rate, losses."""

from __future__ import annotations

import pytest

from benchsel.adapters.train.train_config import (
    base_batch_size,
    class_weights_from_pixels,
    scale_sizes,
    scaled_lr,
    semantic_loss,
)


def test_sizes_scale_with_each_packages_axis_order():
    pipeline = [
        {"type": "Resize", "scale": (1024, 512), "keep_ratio": True},
        {"type": "RandomCrop", "crop_size": (512, 1024)},
        {"type": "RandomAffine", "border": (-320, -320)},
        {"type": "RandomChoiceResize", "scales": [512, 1024]},
    ]
    # input (h, w) = (128, 128) from a stock (512, 1024): fw = 0.125, fh = 0.25
    seg = scale_sizes(pipeline, fw=0.125, fh=0.25, package="mmseg")
    assert seg[0]["scale"] == (128, 128)  # (w, h)
    assert seg[1]["crop_size"] == (128, 128)  # mmseg RandomCrop is (h, w)
    det = scale_sizes(pipeline, fw=0.125, fh=0.25, package="mmdet")
    assert det[1]["crop_size"] == (64, 256)  # mmdet RandomCrop is (w, h)
    assert det[2]["border"] == (-40, -80)
    assert seg[3]["scales"] == [96, 192]


def test_scaled_sizes_respect_the_architectures_minimum():
    pipeline = [
        {"type": "RandomChoiceResize", "scales": [(1333, 480), (1333, 800)]},
        {"type": "RandomCrop", "crop_size": (384, 600)},
    ]
    out = scale_sizes(pipeline, fw=0.1, fh=0.1, package="mmdet", floor=(256, 256))
    assert out[0]["scales"] == [(256, 256), (256, 256)]
    assert all(min(s) >= 256 for s in out[0]["scales"])
    assert out[1]["crop_size"] == (256, 256)
    border = scale_sizes(
        [{"type": "RandomAffine", "border": (-320, -320)}], 0.1, 0.1, "mmdet", floor=(256, 256)
    )
    assert border[0]["border"] == (-32, -32)  # negative borders are offsets, not sizes


def test_base_batch_from_config_name():
    class Cfg(dict):
        def get(self, key, default=None):
            return super().get(key, default)

    assert base_batch_size(Cfg(), "rtmdet_tiny_8xb32-300e_coco") == 256
    assert base_batch_size(Cfg(auto_scale_lr={"base_batch_size": 16}), "retinanet_r50") == 16


@pytest.mark.parametrize(
    ("optimizer", "rule", "expected"),
    [
        ("SGD", "auto", 0.02 * 8 / 16),
        ("AdamW", "auto", 0.02 * (8 / 16) ** 0.5),
        ("AdamW", "linear", 0.02 * 8 / 16),
        ("SGD", "none", 0.02),
    ],
)
def test_lr_scaling_rules(optimizer, rule, expected):
    assert scaled_lr(0.02, optimizer, 8, 16, rule) == pytest.approx(expected)


def test_semantic_loss_configs():
    dice = semantic_loss("dice_ce", aux=False)
    assert [loss["type"] for loss in dice] == ["CrossEntropyLoss", "DiceLoss"]
    aux = semantic_loss("dice_ce", aux=True)
    assert [loss["loss_weight"] for loss in aux] == [0.4, 1.2]
    assert semantic_loss("ce", aux=False)[0]["type"] == "CrossEntropyLoss"


def test_median_frequency_class_weights():
    weights = class_weights_from_pixels({"a": 0.7, "b": 0.2, "c": 0.1}, ["a", "b", "c"])
    assert weights == pytest.approx([0.2 / 0.7, 1.0, 2.0], rel=1e-3)
    assert class_weights_from_pixels({"a": 1.0, "b": 0.0}, ["a", "b"])[1] == 10.0

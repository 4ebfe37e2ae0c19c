"""A detector whose detections are worth scoring, and ground truth made of a model's own
detections: what lets an accuracy comparison fail.

A freshly built RTMDet predicts its prior everywhere (scores of 0.01, boxes a fraction of a
pixel wide): against any ground truth its AP is about 0, so two runtimes "agree" at 0 whatever
they predict. :func:`rtmdet_with_real_boxes` calibrates one on the images it will see, so that
its boxes are about two strides wide and its scores spread over (0, 1); :func:`labelled_by`
takes some of a model's own detections as the ground truth, so that its AP is far from 0 and
another model scores the same only where it predicts the same.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from benchsel.adapters import ClassSpec, LoadedModel, build_model
from benchsel.data.images import read_rgb
from benchsel.data.types import Dataset, Instance
from benchsel.predictions import Detections

THINGS = ClassSpec.things(["circle", "square", "triangle"])  # the sample data's thing classes
# Raw head outputs on the calibration images: box sides 1 +- 0.25 strides (none negative, so
# every box holds its anchor point), class logits -1 +- 1 (scores spread, no ties).
SIDE_MEAN, SIDE_SPREAD = 1.0, 0.25
LOGIT_MEAN, LOGIT_SPREAD = -1.0, 1.0


def rtmdet_with_real_boxes(images: Sequence[np.ndarray], seed: int = 0) -> LoadedModel:
    """RTMDet-tiny at 128x128 for :data:`THINGS`, seeded, calibrated on ``images`` (RGB):
    batch-norm statistics of those images (each variance at least its layer's median, so that
    float32 rounding stays ~1e-6 of the outputs), and its output convolutions rescaled so that
    their raw outputs on them have the spreads above."""
    import torch

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = build_model("rtmdet-tiny", THINGS, input_size=(128, 128))
    norms = [
        m for m in model.model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
    ]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a plain average over the calibration batch
    batch = model.preprocess(list(images))
    model.model.train()
    with torch.no_grad():
        model.forward_tensor(batch)
        for norm in norms:  # a channel near-constant on 4 images would amplify rounding
            norm.running_var.clamp_(min=float(norm.running_var.median()))
    model.model.eval()
    head = model.model.bbox_head
    strides = [stride[0] for stride in head.prior_generator.strides]
    with torch.no_grad():
        cls_scores, bbox_preds = model.forward_tensor(batch)
        for conv, logits in zip(head.rtm_cls, cls_scores, strict=True):
            _rescale(conv, logits, LOGIT_MEAN, LOGIT_SPREAD)
        for conv, sides, stride in zip(head.rtm_reg, bbox_preds, strides, strict=True):
            _rescale(conv, sides / stride, SIDE_MEAN, SIDE_SPREAD)
    return model


def _rescale(conv: Any, outputs: Any, mean: float, spread: float) -> None:
    """Give ``conv``'s ``outputs`` (computed with its current weights) this mean and spread."""
    centred = outputs - conv.bias.view(1, -1, 1, 1)
    conv.weight.mul_(spread / float(centred.std()))
    conv.bias.fill_(mean)


def labelled_by(
    predict: Callable[[np.ndarray], Detections], val: Dataset, ranks: Iterable[int]
) -> Dataset:
    """``val`` with each image's instances replaced by the detections ``predict`` (RGB image
    -> detections) gives of the given score ranks (0: the most confident one), boxes and
    labels as predicted."""
    wanted = list(ranks)
    ids = itertools.count(1)
    images = []
    for image in val.images:
        pred = predict(read_rgb(image.file))
        order = np.argsort(-pred.scores, kind="stable")
        instances = []
        for index in (order[r] for r in wanted if r < len(order)):
            x1, y1, x2, y2 = (float(v) for v in pred.boxes[index])
            label, area = int(pred.labels[index]), (x2 - x1) * (y2 - y1)
            instances.append(Instance(next(ids), label, (x1, y1, x2, y2), area))
        images.append(dataclasses.replace(image, instances=instances))
    return dataclasses.replace(val, images=images)

"""Semantic losses that replace broken mmseg 1.2.2 implementations (same interface).

- mmseg's class-weighted CrossEntropyLoss indexes the weights with every label, the ignore
  value included (``IndexError: index 255 is out of bounds``).
- mmseg's sigmoid FocalLoss takes ``target[:, num_classes]`` instead of
  ``target[:, :num_classes]`` off CUDA (``The size of tensor a (C) must match ...``).

And one mmseg lacks: ``EdgeWeightedCrossEntropyLoss`` (the ``boundary`` variant), registered in
mmseg's ``MODELS`` so a config can name it.
"""

from __future__ import annotations

import math
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

# The ``boundary`` loss: labelled pixels within BOUNDARY_BAND_PX (Chebyshev distance, pixels of
# the training input) of a pixel of another label get weight 1 + BOUNDARY_EDGE_WEIGHT.
# Band: a strip about 4 pixels wide across each edge (2 on each side), the edge_width=4 of
# mmseg's own PIDNet configs (GenerateEdge in pidnet-*_1024x1024-cityscapes.py).
# Weight: PIDNet (Xu et al., CVPR 2023; mmseg's PIDHead) adds a cross-entropy averaged over its
# boundary pixels (loss_sem_bd, weight 1.0) to the full-image one (loss_sem_i, weight 1.0):
# boundary pixels then weigh 1 + 1/f against 1 inside (f: their share of the pixels). On
# CamVid's 101 val label maps this 2-pixel band holds f = 9.1% of labelled pixels (1/f = 11);
# we take U-Net's w_0 = 10 (Ronneberger et al., 2015, border weight map), which gives the band
# about half of the total pixel weight at that f.
BOUNDARY_BAND_PX = 2
BOUNDARY_EDGE_WEIGHT = 10.0


class _SegLoss(nn.Module):
    """mmseg's loss interface: a ``loss_name`` and ``forward(score, label, ..., ignore_index)``."""

    def __init__(self, loss_weight: float, loss_name: str) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        return self._loss_name


class WeightedCrossEntropyLoss(_SegLoss):
    """Cross-entropy with per-class weights, averaged over the weights of labelled pixels."""

    def __init__(
        self, class_weight: list[float], loss_weight: float = 1.0, loss_name: str = "loss_ce"
    ) -> None:
        super().__init__(loss_weight, loss_name)
        self.register_buffer("class_weight", torch.tensor(class_weight, dtype=torch.float32))

    def forward(
        self,
        cls_score: torch.Tensor,
        label: torch.Tensor,
        weight: Any = None,
        ignore_index: int = 255,
        **kwargs: Any,
    ) -> torch.Tensor:
        valid = label != ignore_index
        if not valid.any():
            return cls_score.sum() * 0
        class_weight = cast(torch.Tensor, self.class_weight).to(cls_score.dtype)
        loss = F.cross_entropy(
            cls_score,
            label,
            weight=class_weight,
            ignore_index=ignore_index,
            reduction="mean",
        )
        return self.loss_weight * loss


class SigmoidFocalLoss(_SegLoss):
    """Per-class sigmoid focal loss (mmseg's definition: alpha 0.5, gamma 2), summed over
    classes and averaged over labelled pixels."""

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: float = 0.5,
        loss_weight: float = 1.0,
        loss_name: str = "loss_focal",
    ) -> None:
        super().__init__(loss_weight, loss_name)
        self.gamma, self.alpha = gamma, alpha

    def forward(
        self,
        cls_score: torch.Tensor,
        label: torch.Tensor,
        weight: Any = None,
        ignore_index: int = 255,
        **kwargs: Any,
    ) -> torch.Tensor:
        classes = cls_score.shape[1]
        logits = cls_score.movedim(1, -1).reshape(-1, classes)
        target = label.reshape(-1)
        valid = target != ignore_index
        if not valid.any():
            return cls_score.sum() * 0
        logits, target = logits[valid], target[valid]
        one_hot = F.one_hot(target, classes).to(logits.dtype)
        prob = logits.sigmoid()
        p_t = prob * one_hot + (1 - prob) * (1 - one_hot)
        alpha_t = self.alpha * one_hot + (1 - self.alpha) * (1 - one_hot)
        bce = F.binary_cross_entropy_with_logits(logits, one_hot, reduction="none")
        loss = (alpha_t * (1 - p_t) ** self.gamma * bce).sum(1).mean()
        return self.loss_weight * loss


def edge_pixel_mask(label: torch.Tensor, band_px: int, ignore_index: int = 255) -> torch.Tensor:
    """Labelled pixels with a pixel of another label within ``band_px`` (Chebyshev distance);
    ignored pixels create no edges and the image border is no edge. ``label``: (N, H, W).

    Max-pool dilation and erosion of the label map: a window holding only the centre's label
    has max = min = that label (the one-hot form, over every class at once)."""
    valid = label != ignore_index
    values = label.to(torch.float32)[:, None]
    size = 2 * band_px + 1
    high = F.max_pool2d(
        torch.where(valid[:, None], values, torch.full_like(values, -1.0)), size, 1, band_px
    )
    low = -F.max_pool2d(
        torch.where(valid[:, None], -values, torch.full_like(values, -math.inf)), size, 1, band_px
    )
    centre = values[:, 0]
    return valid & ((high[:, 0] != centre) | (low[:, 0] != centre))


class EdgeWeightedCrossEntropyLoss(_SegLoss):
    """Cross-entropy with weight 1 + ``edge_weight`` on labelled pixels within ``band_px`` of a
    label edge (see ``edge_pixel_mask``; band and weight: ``BOUNDARY_BAND_PX``,
    ``BOUNDARY_EDGE_WEIGHT``), averaged over the weights of labelled pixels."""

    def __init__(
        self,
        band_px: int = BOUNDARY_BAND_PX,
        edge_weight: float = BOUNDARY_EDGE_WEIGHT,
        loss_weight: float = 1.0,
        loss_name: str = "loss_edge_ce",
    ) -> None:
        super().__init__(loss_weight, loss_name)
        if band_px < 1 or edge_weight < 0:
            raise ValueError(f"band_px must be >= 1 and edge_weight >= 0: {band_px}, {edge_weight}")
        self.band_px, self.edge_weight = band_px, edge_weight

    def pixel_weights(self, label: torch.Tensor, ignore_index: int = 255) -> torch.Tensor:
        """(N, H, W): 0 on ignored pixels, 1 + ``edge_weight`` in the band, 1 elsewhere."""
        edge = edge_pixel_mask(label, self.band_px, ignore_index)
        return (label != ignore_index).float() + self.edge_weight * edge.float()

    def forward(
        self,
        cls_score: torch.Tensor,
        label: torch.Tensor,
        weight: Any = None,
        ignore_index: int = 255,
        **kwargs: Any,
    ) -> torch.Tensor:
        pixel_weight = self.pixel_weights(label, ignore_index)
        if weight is not None:  # a pixel sampler's weights (mmseg's OHEM), multiplied in
            pixel_weight = pixel_weight * weight.to(pixel_weight.dtype)
        total = pixel_weight.sum()
        if not bool(total > 0):
            return cls_score.sum() * 0
        loss = F.cross_entropy(cls_score, label, ignore_index=ignore_index, reduction="none")
        return self.loss_weight * (loss.float() * pixel_weight).sum() / total


def _register_with_mmseg() -> None:
    """Let mmseg configs name the loss (``dict(type="EdgeWeightedCrossEntropyLoss")``)."""
    from mmseg.registry import MODELS

    if MODELS.get("EdgeWeightedCrossEntropyLoss") is None:
        MODELS.register_module(module=EdgeWeightedCrossEntropyLoss)


_register_with_mmseg()

"""Semantic losses that replace broken mmseg 1.2.2 implementations (same interface).

- mmseg's class-weighted CrossEntropyLoss indexes the weights with every label, the ignore
  value included (``IndexError: index 255 is out of bounds``).
- mmseg's sigmoid FocalLoss takes ``target[:, num_classes]`` instead of
  ``target[:, :num_classes]`` off CUDA (``The size of tensor a (C) must match ...``).
"""

from __future__ import annotations

from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn


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

"""What every model adapter provides, independent of the OpenMMLab package behind it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchsel.adapters.checkpoint import LoadReport
from benchsel.catalog import Architecture
from benchsel.predictions import Prediction
from benchsel.tasks import Task


@dataclass(frozen=True)
class ClassSpec:
    """The user's classes: ``names`` lists things first, then stuff (panoptic)."""

    names: tuple[str, ...]
    num_things: int

    @classmethod
    def things(cls, names: Sequence[str]) -> ClassSpec:
        """Detection / instance classes (all things)."""
        return cls(tuple(names), len(names))

    @classmethod
    def semantic(cls, names: Sequence[str]) -> ClassSpec:
        """Semantic classes (the thing/stuff split does not matter)."""
        return cls(tuple(names), 0)

    @classmethod
    def panoptic(cls, things: Sequence[str], stuff: Sequence[str]) -> ClassSpec:
        return cls((*things, *stuff), len(things))

    @classmethod
    def generic(cls, count: int, num_things: int | None = None) -> ClassSpec:
        """``count`` anonymous classes, e.g. for FLOPs counting."""
        return cls(
            tuple(f"class_{i}" for i in range(count)), count if num_things is None else num_things
        )

    @classmethod
    def coco_like(cls, arch: Architecture, count: int) -> ClassSpec:
        """``count`` anonymous classes for ``arch``'s main task; panoptic splits them into
        things and stuff as COCO does (80:53), e.g. for FLOPs counting."""
        task = arch.output_task
        if task == "semantic":
            return cls.semantic([f"class_{i}" for i in range(count)])
        if task == "panoptic":
            return cls.generic(count, num_things=max(1, (count * 80) // 133))
        return cls.generic(count)

    @property
    def num_stuff(self) -> int:
        return len(self.names) - self.num_things

    def __post_init__(self) -> None:
        if not self.names:
            raise ValueError("at least one class is needed")
        if not 0 <= self.num_things <= len(self.names):
            raise ValueError("num_things must be between 0 and the number of classes")


def predict_by_shape(
    model: LoadedModel, images: Sequence[np.ndarray], by_shape: bool = True
) -> list[Prediction]:
    """``model.postprocess(model.preprocess(...))`` on ``images``, one batch per image shape
    when ``by_shape`` (mmseg batches equal-sized inputs only), in the images' order."""
    import torch

    groups: dict[tuple[int, ...], list[int]] = {}
    for i, image in enumerate(images):
        groups.setdefault(image.shape if by_shape else (), []).append(i)
    out: dict[int, Prediction] = {}
    with torch.no_grad():
        for idx in groups.values():
            preds = model.postprocess(model.preprocess([images[i] for i in idx]))
            out.update(zip(idx, preds, strict=True))
    return [out[i] for i in range(len(images))]


class LoadedModel(ABC):
    """A built model ready to predict; OpenMMLab types stay behind this interface."""

    arch: Architecture
    task: Task  # what predict() returns: the catalog entry's output_task
    classes: ClassSpec
    input_size: tuple[int, int]
    device: str
    model: Any  # the torch.nn.Module
    config: Any  # the mmengine Config it was built from
    load_report: LoadReport | None = None  # set when a checkpoint was loaded

    @abstractmethod
    def predict(self, images: Sequence[np.ndarray]) -> list[Prediction]:
        """Predict on RGB uint8 images (H, W, 3); one canonical prediction per image."""

    @abstractmethod
    def preprocess(self, images: Sequence[np.ndarray]) -> Any:
        """Run the test pipeline and data preprocessor: the model's batched input."""

    @abstractmethod
    def forward_tensor(self, inputs: Any) -> Any:
        """The network's forward on a preprocessed batch, without post-processing."""

    def forward_network(self, inputs: Any) -> Any:
        """The network part of :meth:`postprocess`, for timing: what runs before the first
        post-processing step (NMS, mask pasting). Defaults to :meth:`forward_tensor`."""
        return self.forward_tensor(inputs)

    @property
    def forward_description(self) -> str:
        """What :meth:`forward_network` runs, in words."""
        return "network forward (mode='tensor'), no post-processing"

    @abstractmethod
    def postprocess(self, batch: Any) -> list[Prediction]:
        """Full test step on a preprocessed batch, converted to canonical predictions."""

    def reparameterize(self) -> int:
        """Fold training-time branches into the network that upstream deploys (RepVGG blocks);
        the outputs stay the same up to float rounding, but the model can no longer be trained.
        Returns how many blocks were folded (0: nothing to fold)."""
        return 0

    def save_weights(self, path: str) -> None:
        """Save the weights as an OpenMMLab-style checkpoint (``state_dict`` + ``meta``)."""
        import torch

        meta = {"arch": self.arch.id, "classes": list(self.classes.names)}
        torch.save({"state_dict": self.model.state_dict(), "meta": meta}, path)

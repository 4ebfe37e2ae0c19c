"""Model adapter for mmseg: semantic segmentation architectures."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np

from benchsel.adapters import config
from benchsel.adapters.base import ClassSpec, LoadedModel, predict_by_shape
from benchsel.catalog import Architecture
from benchsel.predictions import Prediction, SemanticMap

# Encoder-decoders downsample by up to 32: pad test inputs to a multiple (cropped back after).
_TEST_SIZE_DIVISOR = 32


class MMSegModel(LoadedModel):
    """An mmseg model built for the user's classes; inference is whole-image at ``input_size``."""

    def __init__(
        self,
        arch: Architecture,
        classes: ClassSpec,
        variant: str | None,
        input_size: tuple[int, int],
        device: str,
    ) -> None:
        self.arch, self.classes, self.input_size, self.device = arch, classes, input_size, device
        self.task = arch.output_task
        cfg = config.prepare_config(arch, variant, classes, semantic=True)
        # Deployment inference is one forward over the resized image, not sliding windows.
        cfg.model.test_cfg = {"mode": "whole"}
        cfg.model.data_preprocessor["test_cfg"] = {"size_divisor": _TEST_SIZE_DIVISOR}
        self.config = cfg
        self.model = config.build_from_config(cfg, "mmseg", device)
        self.model.dataset_meta = {
            "classes": classes.names,
            "palette": _palette(len(classes.names)),
        }
        from mmcv.transforms import Compose
        from mmengine.registry import DefaultScope

        with DefaultScope.overwrite_default_scope("mmseg"):
            self._pipeline = Compose(config.test_pipeline(cfg, "mmseg", input_size))

    def preprocess(self, images: Sequence[np.ndarray]) -> dict[str, Any]:
        """Batched input; all images must have the same size after the test pipeline."""
        from mmengine.dataset import pseudo_collate

        samples = [self._pipeline({"img": np.ascontiguousarray(im[..., ::-1])}) for im in images]
        return self.model.data_preprocessor(pseudo_collate(samples), False)

    def forward_tensor(self, inputs: Any) -> Any:
        model = self.model
        if "batch_data_samples" in inspect.signature(model.decode_head.forward).parameters:
            # mmseg 1.2.2: EncoderDecoder._forward calls decode_head.forward(x) without the
            # data samples Mask2FormerHead.forward requires (TypeError in mode='tensor').
            feats = model.extract_feat(inputs["inputs"])
            return model.decode_head.forward(feats, inputs["data_samples"])
        return model(inputs["inputs"], inputs["data_samples"], mode="tensor")

    def postprocess(self, batch: dict[str, Any]) -> list[Prediction]:
        results = self.model(batch["inputs"], batch["data_samples"], mode="predict")
        return [
            SemanticMap(r.pred_sem_seg.data[0].detach().cpu().numpy().astype(np.int64))
            for r in results
        ]

    def predict(self, images: Sequence[np.ndarray]) -> list[Prediction]:
        """Predict; mmseg batches only equal-sized inputs, so images are grouped by size."""
        return predict_by_shape(self, images)


def _palette(n: int) -> list[list[int]]:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(n, 3)).tolist()

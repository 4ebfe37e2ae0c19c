"""Model adapter for mmdet-style detectors: mmdet's detection, instance and panoptic
architectures, and mmyolo's YOLOv5/v6/v7/v8 (mmdet detectors registered in the ``mmyolo``
scope, imported through ``adapters.mmyolo_shim``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from benchsel.adapters import config
from benchsel.adapters.base import ClassSpec, LoadedModel
from benchsel.catalog import Architecture
from benchsel.predictions import (
    Detections,
    PanopticPrediction,
    PanopticSegment,
    Prediction,
)


class MMDetModel(LoadedModel):
    """An mmdet (or mmyolo) model built for the user's classes."""

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
        self.scope = arch.package  # "mmdet" or "mmyolo": the registry the config's types live in
        cfg = config.prepare_config(arch, variant, classes, semantic=False)
        self.config = cfg
        self.model = config.build_from_config(cfg, self.scope, device)
        self.model.dataset_meta = {
            "classes": classes.names,
            "thing_classes": classes.names[: classes.num_things],
            "stuff_classes": classes.names[classes.num_things :],
        }
        _patch_known_bugs(self.model)
        from mmcv.transforms import Compose
        from mmengine.registry import DefaultScope

        with DefaultScope.overwrite_default_scope(self.scope):
            self._pipeline = Compose(config.test_pipeline(cfg, self.scope, input_size))

    def preprocess(self, images: Sequence[np.ndarray]) -> dict[str, Any]:
        from mmengine.dataset import pseudo_collate

        samples = []
        for i, image in enumerate(images):
            bgr = np.ascontiguousarray(image[..., ::-1])
            samples.append(self._pipeline({"img": bgr, "img_id": i}))
        batch = pseudo_collate(samples)
        return self.model.data_preprocessor(batch, False)

    def forward_tensor(self, inputs: Any) -> Any:
        return self.model(inputs["inputs"], inputs["data_samples"], mode="tensor")

    @property
    def _two_stage(self) -> bool:
        from mmdet.models.detectors import TwoStageDetector

        return isinstance(self.model, TwoStageDetector)

    def forward_network(self, inputs: Any) -> Any:
        # Two-stage tensor mode already post-processes (the RPN's proposal NMS) before the RoI
        # heads; the network part that precedes any post-processing ends at the RPN head.
        if self._two_stage:
            return self.model.rpn_head(self.model.extract_feat(inputs["inputs"]))
        return self.forward_tensor(inputs)

    @property
    def forward_description(self) -> str:
        if self._two_stage:
            return "backbone + neck + RPN head (up to the proposals' NMS)"
        return super().forward_description

    def postprocess(self, batch: dict[str, Any]) -> list[Prediction]:
        results = self.model(batch["inputs"], batch["data_samples"], mode="predict")
        return [self._convert(r) for r in results]

    def predict(self, images: Sequence[np.ndarray]) -> list[Prediction]:
        import torch

        with torch.no_grad():
            return self.postprocess(self.preprocess(images))

    def reparameterize(self) -> int:
        """Fold mmyolo's RepVGG blocks (YOLOv6; YOLOv7-l/x necks) into one convolution each, as
        mmyolo's ``switch_to_deploy`` does before counting its published params/FLOPs."""
        if self.scope != "mmyolo":
            return 0
        from mmyolo.models.layers import RepVGGBlock

        blocks = [
            m
            for m in self.model.modules()
            if isinstance(m, RepVGGBlock) and not hasattr(m, "rbr_reparam")
        ]
        for block in blocks:
            block.switch_to_deploy()
        return len(blocks)

    def _convert(self, sample: Any) -> Prediction:
        if self.task == "panoptic":
            return _panoptic(sample, self.classes)
        inst = sample.pred_instances
        height, width = sample.ori_shape[:2]
        boxes = inst.bboxes.detach().float().cpu().numpy().reshape(-1, 4)
        scores = inst.scores.detach().float().cpu().numpy()
        # Untrained or overflowing heads (exp of large logits) can emit inf/nan boxes: drop them,
        # counted (``dropped_nonfinite_boxes`` of the trial).
        keep = np.isfinite(boxes).all(1) & np.isfinite(scores)
        boxes = boxes[keep].astype(np.float32)
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
        masks = None
        if "masks" in inst:
            masks = inst.masks.detach().cpu().numpy().astype(bool)
            masks = masks.reshape(-1, height, width)[keep]
        return Detections(
            boxes=boxes,
            scores=scores[keep].astype(np.float32),
            labels=inst.labels.detach().cpu().numpy().astype(np.int64)[keep],
            masks=masks,
            dropped_nonfinite=int((~keep).sum()),
        )


def _panoptic(sample: Any, classes: ClassSpec) -> PanopticPrediction:
    """mmdet encodes panoptic output as ``label + instance * INSTANCE_OFFSET``; void = #classes."""
    from mmdet.evaluation.functional import INSTANCE_OFFSET

    raw = sample.pred_panoptic_seg.sem_seg[0].detach().cpu().numpy().astype(np.int64)
    segment_map = np.zeros(raw.shape, dtype=np.int32)
    segments: list[PanopticSegment] = []
    void = len(classes.names)
    for value in np.unique(raw):
        label = int(value % INSTANCE_OFFSET)
        if label >= void:
            continue
        seg_id = len(segments) + 1
        segment_map[raw == value] = seg_id
        segments.append(PanopticSegment(seg_id, label, label < classes.num_things))
    return PanopticPrediction(segment_map, segments)


def _patch_known_bugs(model: Any) -> None:
    """Work around upstream bugs that break freshly built models."""
    from mmdet.models.dense_heads import SSDHead

    head = getattr(model, "bbox_head", None)
    if isinstance(head, SSDHead) and not hasattr(head, "loss_cls"):
        # mmdet 3.3.0: SSDHead never builds `loss_cls`, but BaseDenseHead._predict_by_feat_single
        # reads `self.loss_cls.custom_cls_channels` -> "'SSDHead' object has no attribute
        # 'loss_cls'" at inference. SSD scores are a plain softmax, so None is the right value.
        object.__setattr__(head, "loss_cls", None)

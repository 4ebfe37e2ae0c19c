"""Config surgery shared by the mmdet and mmseg adapters.

Everything here edits an mmengine ``Config`` so that the stock OpenMMLab config builds offline,
for the user's classes, at the requested input size.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from benchsel.adapters.base import ClassSpec
from benchsel.catalog import Architecture

_LOADERS = ("LoadImageFromFile",)
_ANNOTATION_LOADERS = ("LoadAnnotations", "LoadPanopticAnnotations")
# Test-time resizes whose ``scale`` is the input size: mmdet's, and mmyolo's letterbox pair.
_RESIZES = ("Resize", "YOLOv5KeepRatioResize", "LetterResize")
# The scope whose registry has ``LoadImageFromNDArray`` (mmyolo uses mmdet's transforms).
_ARRAY_LOADER_SCOPE = {"mmdet": "mmdet", "mmyolo": "mmdet", "mmseg": "mmseg"}


def load_config(arch: Architecture, variant: str | None) -> Any:
    """The stock config with the variant's overrides merged in."""
    from mmengine.config import Config

    cfg = Config.fromfile(str(arch.config_path()))
    var = arch.variant(variant)
    if var is not None and var.overrides:
        cfg.merge_from_dict(copy.deepcopy(var.overrides))
    return cfg


def prepare_config(
    arch: Architecture, variant: str | None, classes: ClassSpec, semantic: bool
) -> Any:
    """The stock config (plus variant) that builds offline for ``classes``."""
    cfg = load_config(arch, variant)
    strip_pretrained(cfg.model)
    sync_bn_to_bn(cfg.model)
    set_num_classes(cfg.model, classes, semantic=semantic)
    return cfg


def strip_pretrained(node: Any) -> None:
    """Drop pretrained-weight downloads (``init_cfg`` of type Pretrained, ``pretrained=``)."""
    if isinstance(node, dict):
        init_cfg = node.get("init_cfg")
        if isinstance(init_cfg, dict) and init_cfg.get("type") == "Pretrained":
            node["init_cfg"] = None
        if isinstance(node.get("pretrained"), str):
            node["pretrained"] = None
        for value in node.values():
            strip_pretrained(value)
    elif isinstance(node, list | tuple):
        for value in node:
            strip_pretrained(value)


def sync_bn_to_bn(node: Any) -> None:
    """SyncBN needs a process group; single-process runs use plain BN (same statistics)."""
    if isinstance(node, dict):
        if node.get("type") in ("SyncBN", "MMSyncBN"):
            node["type"] = "BN"
        for value in node.values():
            sync_bn_to_bn(value)
    elif isinstance(node, list | tuple):
        for value in node:
            sync_bn_to_bn(value)


def set_num_classes(node: Any, classes: ClassSpec, semantic: bool) -> None:
    """Resize every classifier in the model config to the user's classes.

    ``num_classes`` means thing classes in mmdet and all classes in mmseg; panoptic heads carry
    ``num_things_classes`` / ``num_stuff_classes``; Mask2Former's ``loss_cls.class_weight`` has
    one entry per class plus one for "no object".
    """
    total = len(classes.names)
    if isinstance(node, dict):
        if "num_classes" in node:
            node["num_classes"] = total if semantic else classes.num_things
        if "num_things_classes" in node:
            node["num_things_classes"] = classes.num_things
        if "num_stuff_classes" in node:
            node["num_stuff_classes"] = classes.num_stuff
        loss_cls = node.get("loss_cls")
        if isinstance(loss_cls, dict) and isinstance(loss_cls.get("class_weight"), list):
            head_classes = total if semantic or "num_stuff_classes" in node else classes.num_things
            weights = loss_cls["class_weight"]
            loss_cls["class_weight"] = [1.0] * head_classes + [weights[-1]]
        for value in node.values():
            set_num_classes(value, classes, semantic)
    elif isinstance(node, list | tuple):
        for value in node:
            set_num_classes(value, classes, semantic)


def test_pipeline(cfg: Any, scope: str, input_size: tuple[int, int]) -> list[dict[str, Any]]:
    """The config's test pipeline, reading arrays instead of files, at ``input_size`` (H, W)."""
    pipeline = cfg.get("test_pipeline") or cfg.test_dataloader.dataset.pipeline
    height, width = input_size
    out: list[dict[str, Any]] = []
    for step in copy.deepcopy(pipeline):
        kind = str(step["type"]).split(".")[-1]
        if kind in _ANNOTATION_LOADERS:
            continue
        if kind in _LOADERS:
            step = {"type": f"{_ARRAY_LOADER_SCOPE[scope]}.LoadImageFromNDArray"}
        elif kind in _RESIZES:
            step["scale"] = (width, height)
        elif kind == "Pad" and step.get("size") is not None:
            step["size"] = (width, height)
        out.append(dict(step))
    return out


def build_from_config(cfg: Any, scope: str, device: str) -> Any:
    """Build and initialise the model of ``cfg`` (no pretrained downloads) on ``device``."""
    from mmengine.registry import DefaultScope

    registry = _registry(scope)
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.build(cfg.model)
    model.init_weights()
    return model.to(device).eval()


def _registry(scope: str) -> Any:
    if scope == "mmyolo":
        from benchsel.adapters.mmyolo_shim import import_mmyolo

        import_mmyolo()
        from mmyolo.registry import MODELS as YOLO_MODELS
        from mmyolo.utils import register_all_modules as register_yolo

        register_yolo(init_default_scope=False)
        return YOLO_MODELS
    if scope == "mmdet":
        from mmdet.registry import MODELS
        from mmdet.utils import register_all_modules

        register_all_modules(init_default_scope=False)
        return MODELS
    from mmseg.registry import MODELS as SEG_MODELS
    from mmseg.utils import register_all_modules as register_seg

    register_seg(init_default_scope=False)
    return SEG_MODELS


# Training images of the data sets the stock schedules were written for.
STOCK_TRAIN_IMAGES = {"coco": 118_287, "cityscapes": 2_975, "ade20k": 20_210}


def stock_schedule_epochs(arch: Architecture) -> int:
    """Epochs of the stock schedule. Iteration schedules are converted with the config's
    total batch (``4xb4`` -> 16) and the training-set size of the data set it was published on
    (U-Net's 160k iterations at batch 16 on Cityscapes' 2,975 images: 861 epochs)."""
    from mmengine.config import Config

    from benchsel.adapters.train.train_config import base_batch_size

    cfg = Config.fromfile(str(arch.config_path()))
    loop = cfg.get("train_cfg") or {}
    if loop.get("max_epochs"):
        repeat = cfg.train_dataloader.dataset.get("times", 1)  # RepeatDataset (SSD: 5)
        return int(loop["max_epochs"]) * int(repeat)
    if loop.get("max_iters"):
        dataset = arch.reference.dataset.lower().replace(" ", "").replace("-", "")
        images = next((n for k, n in STOCK_TRAIN_IMAGES.items() if k in dataset), None)
        if images is None:
            raise ValueError(f"{arch.id}: no training-set size known for {arch.reference.dataset}")
        batch = base_batch_size(cfg, Path(arch.config).stem)
        return max(1, round(int(loop["max_iters"]) * batch / images))
    return 12

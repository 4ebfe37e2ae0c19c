"""The parts of an mmengine Runner config for fine-tuning, generated from the catalog entry.

Kept from the architecture's config: model, optimizer (type, weight decay, gradient clipping,
parameter-wise settings), data augmentation pipeline. Changed: the user's data and classes,
every pipeline size scaled to the trial's input size, batch size, learning rate scaled to the
batch size, and the schedule compressed to the budget (linear warm-up over the first 10% of
iterations, then cosine decay to 5% of the learning rate). Schedule-specific hooks of the stock
configs (EMA) are dropped: they assume hundreds of epochs; a late-training pipeline switch moves
to the same fraction of the budget (:func:`stage_switch`).
"""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from benchsel.adapters.base import LoadedModel

SIZE_KEYS = ("scale", "img_scale", "crop_size", "size", "border", "random_size_range")
HW_ORDER = {("mmseg", "RandomCrop", "crop_size")}  # mmseg's RandomCrop takes (h, w)
DATASET_WRAPPERS = ("RepeatDataset", "ClassBalancedDataset", "ConcatDataset")
ADAPTIVE_OPTIMIZERS = ("Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Lamb")
SCHEDULE = "linear warm-up (10%) + cosine to 5% of lr, per iteration"


def _scale_value(
    value: Any, fw: float, fh: float, hw: bool, floor: tuple[int, int] = (1, 1)
) -> Any:
    """Scale a size; positive sizes never go below ``floor`` (h, w), negative borders keep sign."""
    lo_h, lo_w = floor
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        scaled = round(value * (fw + fh) / 2)
        return max(min(lo_h, lo_w), scaled) if value > 0 else scaled
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        (a, lo_a), (b, lo_b) = ((fh, lo_h), (fw, lo_w)) if hw else ((fw, lo_w), (fh, lo_h))
        first, second = round(value[0] * a), round(value[1] * b)
        if value[0] > 0:
            first = max(lo_a, first)
        if value[1] > 0:
            second = max(lo_b, second)
        return (first, second) if isinstance(value, tuple) else [first, second]
    if isinstance(value, list):
        return [_scale_value(v, fw, fh, hw, floor) for v in value]
    return value


def scale_sizes(
    node: Any, fw: float, fh: float, package: str, floor: tuple[int, int] = (1, 1)
) -> Any:
    """Scale every size in a pipeline / preprocessor config by (fw, fh), not below ``floor``
    (the architecture's minimum input, e.g. DINO's 900 encoder tokens)."""
    if isinstance(node, dict):
        out = {}
        kind = str(node.get("type", "")).split(".")[-1]
        for key, value in node.items():
            if key in SIZE_KEYS:
                out[key] = _scale_value(value, fw, fh, (package, kind, key) in HW_ORDER, floor)
            elif key == "scales":  # RandomChoiceResize: a list of sizes or short sides
                out[key] = [_scale_value(v, fw, fh, False, floor) for v in value]
            else:
                out[key] = scale_sizes(value, fw, fh, package, floor)
        return out
    if isinstance(node, list | tuple):
        return type(node)(scale_sizes(v, fw, fh, package, floor) for v in node)
    return node


def _innermost(dataset: dict[str, Any]) -> dict[str, Any]:
    while isinstance(dataset.get("dataset"), dict):
        dataset = dataset["dataset"]
    return dataset


def base_batch_size(cfg: Any, config_name: str) -> int:
    """Total batch the published learning rate was tuned for (``8xb32`` -> 256; mmyolo's
    YOLOv7 configs write ``8x16b``)."""
    match = re.search(r"(\d+)xb(\d+)", config_name) or re.search(r"(\d+)x(\d+)b", config_name)
    if match:
        return int(match.group(1)) * int(match.group(2))
    auto = cfg.get("auto_scale_lr") or {}
    if auto.get("base_batch_size"):
        return int(auto["base_batch_size"])
    return int(cfg.train_dataloader.batch_size) * 8


def scaled_lr(base_lr: float, optimizer: str, batch: int, base_batch: int, rule: str) -> float:
    """Linear scaling for SGD-like optimizers, square root for adaptive ones (``auto``)."""
    if rule == "none":
        return base_lr
    if rule == "auto":
        rule = "sqrt" if optimizer.split(".")[-1] in ADAPTIVE_OPTIMIZERS else "linear"
    ratio = batch / base_batch
    return base_lr * (math.sqrt(ratio) if rule == "sqrt" else ratio)


SEMANTIC_LOSSES: dict[str, list[dict[str, Any]]] = {
    "ce": [{"type": "CrossEntropyLoss", "use_sigmoid": False, "loss_weight": 1.0}],
    "dice_ce": [  # the weights of mmseg's own U-Net "ce-1.0-dice-3.0" configs
        {
            "type": "CrossEntropyLoss",
            "use_sigmoid": False,
            "loss_weight": 1.0,
            "loss_name": "loss_ce",
        },
        {"type": "DiceLoss", "loss_weight": 3.0, "loss_name": "loss_dice"},
    ],
    "boundary": [  # benchsel's edge-weighted CE, registered in mmseg's MODELS by its module
        {
            "type": "EdgeWeightedCrossEntropyLoss",
            "band_px": 2,  # losses.BOUNDARY_BAND_PX, pixels of the training input
            "edge_weight": 10.0,  # losses.BOUNDARY_EDGE_WEIGHT: weight 11 in the band
            "loss_weight": 1.0,
            "loss_name": "loss_edge_ce",
        }
    ],
}


def semantic_loss(name: str, aux: bool) -> list[dict[str, Any]]:
    """mmseg loss configs of the ce / dice_ce / boundary variants (auxiliary heads get 0.4 of
    the weight).

    weighted_ce and focal are benchsel modules (see ``benchsel.adapters.train.losses``); so is
    boundary's EdgeWeightedCrossEntropyLoss, which importing that module registers in mmseg.
    """
    if name == "boundary":
        import benchsel.adapters.train.losses  # noqa: F401  (registers EdgeWeightedCrossEntropyLoss)
    losses = copy.deepcopy(SEMANTIC_LOSSES[name])
    if aux:
        for loss in losses:
            loss["loss_weight"] = round(loss["loss_weight"] * 0.4, 4)
    return losses


def class_weights_from_pixels(pixel_share: dict[str, float], classes: list[str]) -> list[float]:
    """Median-frequency balancing: weight_c = median(freq) / freq_c (capped at 10)."""
    freq = np.array([max(pixel_share.get(c, 0.0), 1e-6) for c in classes])
    weights = np.median(freq) / freq
    return [round(float(min(w, 10.0)), 4) for w in weights]


def strong_augmentation(package: str) -> list[dict[str, Any]]:
    """Extra photometric and geometric augmentation (inserted before packing)."""
    if package == "mmseg":
        return [
            {"type": "RandomRotate", "prob": 0.5, "degree": 20, "pad_val": 0, "seg_pad_val": 255},
            {"type": "PhotoMetricDistortion"},
        ]
    return [{"type": "PhotoMetricDistortion"}]


def build_train_config(
    loaded: LoadedModel,
    dataset_cfg: dict[str, Any],
    *,
    iterations: int,
    batch_size: int,
    lr_rule: str,
    augmentation: str,
    loss: str | None,
    class_weight: list[float] | None,
    device: str,
    amp: bool,
    workers: int,
    lr: float | None = None,
) -> dict[str, Any]:
    """The pieces of an mmengine Runner config for this trial."""
    cfg = loaded.config
    arch = loaded.arch
    package = arch.package
    h0, w0 = arch.input_size
    h, w = loaded.input_size
    fw, fh = w / w0, h / h0

    loader = copy.deepcopy(cfg.train_dataloader.to_dict())
    dataset = loader["dataset"]
    while dataset.get("type") in DATASET_WRAPPERS:
        dataset = dataset["dataset"]
    inner = _innermost(dataset)
    inner_pipeline = inner.get("pipeline")
    stock_type = inner.get("type")
    inner.clear()
    inner.update(copy.deepcopy(dataset_cfg))
    if inner_pipeline is not None:
        inner["pipeline"] = inner_pipeline
    if package == "mmyolo":
        # mmyolo's YOLOv5CocoDataset is mmdet's CocoDataset that also hands itself to the mixing
        # transforms (Mosaic, MixUp) and resolves the pipeline in mmyolo's registry: keep it.
        inner["type"] = stock_type
    dataset = scale_sizes(dataset, fw, fh, package, arch.min_input_size)
    pipe_owner = (
        dataset
        if "pipeline" in dataset and dataset is not _innermost(dataset)
        else (_innermost(dataset))
    )
    if augmentation == "strong":
        pipeline = pipe_owner["pipeline"]
        pipe_owner["pipeline"] = pipeline[:-1] + strong_augmentation(package) + pipeline[-1:]
    loader.update(
        {
            "dataset": dataset,
            "batch_size": batch_size,
            "num_workers": workers,
            "persistent_workers": workers > 0,
        }
    )
    loader.pop("pin_memory", None)
    sampler = loader.get("sampler") or {}
    loader["sampler"] = {"type": "InfiniteSampler", "shuffle": sampler.get("shuffle", True)}

    if package == "mmseg":
        loaded.model.data_preprocessor.size = (h, w)
        if loss is not None:
            _set_semantic_loss(loaded.model, loss, class_weight)
    else:
        augments = getattr(loaded.model.data_preprocessor, "batch_augments", None)
        if augments:
            for aug in augments:  # YOLOX's BatchSyncRandomResize
                if hasattr(aug, "_random_size_range"):
                    lo, hi = aug._random_size_range
                    aug._random_size_range = (round(lo * (fw + fh) / 2), round(hi * (fw + fh) / 2))
                    aug._input_size = (h, w)

    optim = copy.deepcopy(cfg.optim_wrapper.to_dict())
    optimizer = optim["optimizer"]
    base_lr = float(optimizer["lr"]) if lr is None else lr  # the suite's override, if any
    base_batch = base_batch_size(cfg, Path(arch.config).stem)
    lr = scaled_lr(base_lr, str(optimizer["type"]), batch_size, base_batch, lr_rule)
    optimizer["lr"] = lr
    if "batch_size_per_gpu" in optimizer:  # mmyolo's YOLOv5OptimizerConstructor scales weight
        optimizer["batch_size_per_gpu"] = batch_size  # decay from the batch, as upstream does
    if device.startswith("cuda") and amp:
        optim["type"] = "AmpOptimWrapper"
        optim.setdefault("loss_scale", "dynamic")
    else:
        optim["type"] = "OptimWrapper"
        optim.pop("loss_scale", None)
        optim.pop("dtype", None)
    warmup = max(1, min(500, iterations // 10))
    schedulers = [
        {"type": "LinearLR", "start_factor": 0.001, "by_epoch": False, "begin": 0, "end": warmup},
        {
            "type": "CosineAnnealingLR",
            "eta_min": lr * 0.05,
            "by_epoch": False,
            "begin": warmup,
            "end": max(iterations, warmup + 1),
            "T_max": max(1, iterations - warmup),
        },
    ]
    return {
        "stage_switch": stage_switch(cfg, iterations, fw, fh, package),
        "train_dataloader": loader,
        "optim_wrapper": optim,
        "param_scheduler": schedulers,
        "train_cfg": {
            "type": "IterBasedTrainLoop",
            "max_iters": iterations,
            "val_interval": iterations + 1,
        },
        "lr": lr,
        "base_lr": base_lr,
        "base_batch": base_batch,
    }


def stage_switch(
    cfg: Any, iterations: int, fw: float, fh: float, package: str
) -> dict[str, Any] | None:
    """The stock config's late-training switch, moved to the same fraction of the budget.

    RTMDet's PipelineSwitchHook drops mosaic / mixup for its last 20 of 300 epochs (mmyolo's
    YOLOv6/v8 configs name it ``mmdet.PipelineSwitchHook``: the last 15 of 400 and 10 of 500);
    YOLOX's mode switch drops them for the last 15 and adds an L1 box loss.
    """
    max_epochs = (cfg.get("train_cfg") or {}).get("max_epochs")
    if not max_epochs:
        return None
    for hook in cfg.get("custom_hooks") or []:
        kind = str(hook.get("type", "")).split(".")[-1]
        if kind == "PipelineSwitchHook":
            at = round(iterations * hook["switch_epoch"] / max_epochs)
            pipeline = scale_sizes(copy.deepcopy(list(hook["switch_pipeline"])), fw, fh, package)
            return {"iter": at, "pipeline": pipeline}
        if kind == "YOLOXModeSwitchHook":
            last = hook.get("num_last_epochs", 15)
            at = round(iterations * (max_epochs - last) / max_epochs)
            skip = hook.get("skip_type_keys", ("Mosaic", "RandomAffine", "MixUp"))
            return {"iter": at, "skip_types": list(skip), "use_l1": True}
    return None


def _set_semantic_loss(model: Any, loss: str, class_weight: list[float] | None) -> None:
    """Put a loss variant on the decode head (and 0.4 of it on an auxiliary head)."""
    import torch
    from mmseg.registry import MODELS

    from benchsel.adapters.train.losses import SigmoidFocalLoss, WeightedCrossEntropyLoss

    for attr, aux in (("decode_head", False), ("auxiliary_head", True)):
        head = getattr(model, attr, None)
        if head is None or not hasattr(head, "loss_decode"):
            continue
        factor = 0.4 if aux else 1.0
        modules: list[torch.nn.Module]
        if loss == "weighted_ce":
            assert class_weight is not None
            modules = [WeightedCrossEntropyLoss(class_weight, loss_weight=factor)]
        elif loss == "focal":
            modules = [SigmoidFocalLoss(loss_weight=factor)]
        else:
            modules = [MODELS.build(c) for c in semantic_loss(loss, aux)]
        device = next(head.parameters()).device
        modules = [m.to(device) for m in modules]
        head.loss_decode = torch.nn.ModuleList(modules) if len(modules) > 1 else modules[0]

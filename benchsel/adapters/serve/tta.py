"""Test-time augmentation (TTA): a trained model run on several views of each image (scales x
horizontal flips), the views' predictions merged the way OpenMMLab merges them.

The setting is the architecture's own where its config ships one (``tta_model`` +
``tta_pipeline``: mmdet's ``rtmdet_tta.py``, ``yolox_tta.py``, ``retinanet_tta.py``; mmyolo's
``det_p5_tta.py``; mmseg's dataset configs with ``SegTTAModel``), else a flip-only fallback
built from benchsel's test pipeline. Detections are merged by mmdet's ``DetTTAModel`` (boxes
flipped back, batched NMS over all views), label maps by mmseg's ``SegTTAModel`` (mean of the
views' softmax). ``DetTTAModel`` merges boxes only: instance and panoptic models raise
:class:`TTANotAvailable`.

A shipped setting's scales are written for the stock test scale (RTMDet: 320/640/960 around
640). They are scaled by input size / stock test scale, the map benchsel applies to the test
pipeline; mmseg's ``scale_factor`` ratios (relative to the image) become the same ratios of the
input size. mmyolo's scales are rounded to its size divisor (32).
"""

from __future__ import annotations

import ast
import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchsel.adapters import config
from benchsel.adapters.base import LoadedModel, predict_by_shape
from benchsel.catalog import Architecture
from benchsel.errors import BenchselError
from benchsel.predictions import Prediction, SemanticMap

FALLBACK_SOURCE = "flip-only fallback"
# DetTTAModel's documented example; used when neither a shipped setting nor the model's
# test_cfg gives an NMS threshold (DINO keeps its top queries without NMS).
DEFAULT_NMS_IOU = 0.5
DEFAULT_MAX_PER_IMG = 100
_FLIP_VIEWS = ("none", "horizontal")


class TTANotAvailable(BenchselError):
    """OpenMMLab has no way to merge this model's augmented predictions."""

    unsupported = True  # a documented upstream limit (benchsel.store.failures reads it)

    def __init__(self, reason: str) -> None:
        super().__init__(f"TTA not available upstream: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class TTASetting:
    """A runnable TTA setting: the array pipeline, the merging model's config, what it is."""

    pipeline: list[dict[str, Any]]  # array loader + TestTimeAug (every view of one image)
    model_cfg: dict[str, Any]  # {"type": "DetTTAModel" | "SegTTAModel", "tta_cfg": ...}
    views: int
    description: dict[str, Any]  # JSON-friendly: source, scales, flips, merge, views


def check_tta_available(arch: Architecture, task: str) -> None:
    """Raise :class:`TTANotAvailable` for tasks OpenMMLab's TTA models cannot merge."""
    if task == "instance":
        raise TTANotAvailable(
            f"{arch.id} predicts instance masks and mmdet's DetTTAModel merges boxes only "
            "('TTA of instance segmentation does not support now.')"
        )
    if task == "panoptic":
        raise TTANotAvailable(
            f"{arch.id} predicts panoptic segments; mmdet ships no TTA merge for panoptic "
            "segmentation (DetTTAModel merges boxes only)"
        )


def tta_setting(
    arch: Architecture,
    cfg: Any,
    input_size: tuple[int, int],
    scope: str,
    *,
    flip_only: bool = False,
) -> TTASetting:
    """The TTA setting of ``arch`` at ``input_size`` (height, width) from its config ``cfg``:
    the shipped one unless ``flip_only`` or there is none, else flips at the test scale."""
    shipped = cfg.get("tta_pipeline")
    if not flip_only and cfg.get("tta_model") and shipped and _tta_step(shipped) is not None:
        return _shipped_setting(arch, cfg, input_size, scope)
    return _fallback_setting(cfg, input_size, scope)


def build_tta(base: LoadedModel, *, flip_only: bool = False) -> TTAModel:
    """Wrap the (trained) ``base`` model for TTA, sharing its weights.

    ``flip_only`` uses plain + flipped views at the test scale even where a multi-scale
    setting ships. Raises :class:`TTANotAvailable` for instance and panoptic models.
    """
    scope = _scope(base)
    check_tta_available(base.arch, base.task)
    setting = tta_setting(base.arch, base.config, base.input_size, scope, flip_only=flip_only)
    return TTAModel(base, setting)


class TTAModel(LoadedModel):
    """``base`` run on every view of each image, merged by mmdet/mmseg's TTA model.

    The phases follow ``BaseTTAModel.test_step``: :meth:`preprocess` runs the TTA pipeline and
    the data preprocessor once per view; :meth:`postprocess` runs ``mode='predict'`` on each
    view and merges with ``merge_preds``. ``model`` is the base network (same weights).
    """

    def __init__(self, base: LoadedModel, setting: TTASetting) -> None:
        from mmcv.transforms import Compose
        from mmengine.config import ConfigDict
        from mmengine.registry import DefaultScope

        self.base, self._setting = base, setting
        self.arch, self.classes = base.arch, base.classes
        self.input_size, self.device = base.input_size, base.device
        self.model, self.config, self.load_report = base.model, base.config, base.load_report
        self.task = base.task
        self.scope = _scope(base)
        kwargs = {k: v for k, v in copy.deepcopy(setting.model_cfg).items() if k != "type"}
        if "tta_cfg" in kwargs:  # DetTTAModel reads it by attribute (tta_cfg.nms)
            kwargs["tta_cfg"] = ConfigDict(kwargs["tta_cfg"])
        with DefaultScope.overwrite_default_scope(self.scope):
            self._pipeline = Compose(copy.deepcopy(setting.pipeline))
            tta_class = config._registry(self.scope).get(setting.model_cfg["type"])
        if tta_class is None:
            raise ValueError(f"unknown TTA model type {setting.model_cfg['type']!r}")
        # The wrapper holds the base network as ``module``: no copy of the weights.
        self.tta_module = tta_class(module=base.model, **kwargs).eval()

    @property
    def views(self) -> int:
        """Views per image (scales x flips)."""
        return self._setting.views

    @property
    def setting(self) -> dict[str, Any]:
        """Where the setting comes from, its scales, flips and merge method (JSON-friendly)."""
        return copy.deepcopy(self._setting.description)

    @property
    def forward_description(self) -> str:
        return f"{self.base.forward_description}, on each of {self.views} TTA views"

    def preprocess(self, images: Sequence[np.ndarray]) -> list[dict[str, Any]]:
        """One preprocessed batch per view (all images of the batch in each)."""
        from mmengine.dataset import pseudo_collate

        samples = []
        for i, image in enumerate(images):
            bgr = np.ascontiguousarray(image[..., ::-1])
            samples.append(self._pipeline({"img": bgr, "img_id": i}))
        # [{inputs: [view1, ...]}, ...] per image -> {inputs: [[img1_view1, img2_view1], ...]}
        collated = pseudo_collate(samples)
        return [
            self.model.data_preprocessor({"inputs": inputs, "data_samples": data_samples}, False)
            for inputs, data_samples in zip(
                collated["inputs"], collated["data_samples"], strict=True
            )
        ]

    def forward_tensor(self, inputs: Any) -> Any:
        return [self.base.forward_tensor(view) for view in inputs]

    def forward_network(self, inputs: Any) -> Any:
        return [self.base.forward_network(view) for view in inputs]

    def postprocess(self, batch: Any) -> list[Prediction]:
        per_view = [self.model(v["inputs"], v["data_samples"], mode="predict") for v in batch]
        merged = self.tta_module.merge_preds([list(s) for s in zip(*per_view, strict=True)])
        return [self._convert(sample) for sample in merged]

    def predict(self, images: Sequence[np.ndarray]) -> list[Prediction]:
        """Predict; mmseg batches equal-sized inputs only, so its images go by size."""
        return predict_by_shape(self, images, by_shape=self.scope == "mmseg")

    def reparameterize(self) -> int:
        return self.base.reparameterize()

    def _convert(self, sample: Any) -> Prediction:
        if self.scope == "mmseg":
            labels = sample.pred_sem_seg.data
            # SegTTAModel's argmax drops the channel axis that a plain predict keeps.
            labels = labels[0] if labels.ndim == 3 else labels
            return SemanticMap(labels.detach().cpu().numpy().astype(np.int64))
        from benchsel.adapters.mmdet import MMDetModel

        assert isinstance(self.base, MMDetModel)
        return self.base._convert(sample)


# ------------------------------------------------------------------ building the settings


def _scope(base: LoadedModel) -> str:
    return str(getattr(base, "scope", "mmseg" if base.arch.package == "mmseg" else "mmdet"))


def _kind(step: dict[str, Any]) -> str:
    return str(step["type"]).split(".")[-1]


def _tta_step(pipeline: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    return next((dict(s) for s in pipeline if _kind(s) == "TestTimeAug"), None)


def _shipped_setting(
    arch: Architecture, cfg: Any, input_size: tuple[int, int], scope: str
) -> TTASetting:
    height, width = input_size
    stock_w, stock_h = _stock_test_scale(cfg) or (arch.input_size[1], arch.input_size[0])
    factors = (height / stock_h, width / stock_w)
    stock_groups = [list(g) for g in _to_plain(_tta_step(cfg.tta_pipeline))["transforms"]]
    groups = []
    for group in stock_groups:
        adapted = [_adapt(step, factors, input_size, arch.size_divisor) for step in group]
        kept = [step for step in adapted if step is not None]
        if kept:
            groups.append(kept)
    model_cfg = _to_plain(cfg.tta_model)
    stock = [r for g in stock_groups for alt in g if (r := _resize_of(alt)) is not None]
    if any("scale_factor" in s for s in stock):
        rule = "the stock scale factors (relative to the image) x the input size"
        stock_desc: dict[str, Any] = {"stock_scale_factors": [s["scale_factor"] for s in stock]}
    else:
        rule = f"the stock scales x input size / stock test scale ({stock_h}x{stock_w})"
        stock_desc = {"stock_scales": [_hw(s["scale"]) for s in stock]}
    if arch.size_divisor > 1:
        rule += f", rounded to multiples of {arch.size_divisor}"
    description = {
        "source": _display(_defining_file(arch.config_path(), "tta_pipeline")),
        "model_source": _display(_defining_file(arch.config_path(), "tta_model")),
        **stock_desc,
        "scale_rule": rule,
    }
    return _finish(cfg, scope, groups, model_cfg, description)


def _fallback_setting(cfg: Any, input_size: tuple[int, int], scope: str) -> TTASetting:
    steps = config.test_pipeline(cfg, scope, input_size)
    groups = [[step] for step in steps if _kind(step) != "LoadImageFromNDArray"]
    resizes = [i for i, g in enumerate(groups) if _kind(g[0]) in config._RESIZES]
    # Flip after resizing and before padding (mmdet's rtmdet_tta.py: padding first would
    # leave the flipped boxes unrecoverable).
    flip_type = "mmdet.RandomFlip" if scope == "mmyolo" else "RandomFlip"
    flips = [
        {"type": flip_type, "prob": 0.0, "direction": "horizontal"},
        {"type": flip_type, "prob": 1.0, "direction": "horizontal"},
    ]
    groups.insert(max(resizes, default=-1) + 1, flips)
    if scope == "mmseg":
        model_cfg: dict[str, Any] = {"type": "SegTTAModel"}
    else:
        iou, max_per_img = _model_nms(cfg)
        nms = {"type": "nms", "iou_threshold": iou}
        det_type = "mmdet.DetTTAModel" if scope == "mmyolo" else "DetTTAModel"
        model_cfg = {"type": det_type, "tta_cfg": {"nms": nms, "max_per_img": max_per_img}}
    description = {
        "source": FALLBACK_SOURCE,
        "scale_rule": "the test pipeline's scale (the input size)",
    }
    return _finish(cfg, scope, groups, model_cfg, description)


def _finish(
    cfg: Any,
    scope: str,
    groups: list[list[dict[str, Any]]],
    model_cfg: dict[str, Any],
    description: dict[str, Any],
) -> TTASetting:
    for group in groups:
        for step in group:
            _keep_flip_keys(step)
    loader = {"type": f"{config._ARRAY_LOADER_SCOPE[scope]}.LoadImageFromNDArray"}
    pipeline: list[dict[str, Any]] = [loader, {"type": "TestTimeAug", "transforms": groups}]
    views = math.prod(len(g) for g in groups)  # TestTimeAug runs every combination
    scales = [_hw(r["scale"]) for g in groups for alt in g if (r := _resize_of(alt)) is not None]
    flips = [
        (step.get("direction") or "horizontal") if step.get("prob", 0) >= 1 else "none"
        for group in groups
        for step in group
        if _kind(step) == "RandomFlip"
    ]
    merge: dict[str, Any] = {"type": _kind(model_cfg)}
    if "tta_cfg" in model_cfg:
        merge["method"] = "boxes flipped back, batched NMS over all views"
        merge["iou_threshold"] = float(model_cfg["tta_cfg"]["nms"]["iou_threshold"])
        merge["max_per_img"] = int(model_cfg["tta_cfg"]["max_per_img"])
        if description["source"] == FALLBACK_SOURCE:
            merge["from"] = _nms_origin(cfg)
    else:
        merge["method"] = "mean of the views' softmax (sigmoid for one channel), then argmax"
    description = {
        **description,
        "scales": scales,
        "flips": flips or ["none"],
        "views": views,
        "merge": merge,
    }
    return TTASetting(pipeline, model_cfg, views, description)


def _adapt(
    step: dict[str, Any],
    factors: tuple[float, float],
    input_size: tuple[int, int],
    divisor: int,
) -> dict[str, Any] | None:
    """A shipped TTA step at ``input_size``: scales and pad sizes rescaled, annotation loaders
    dropped (nothing to load), nested ``Compose`` steps handled the same way."""
    kind = _kind(step)
    if kind in config._ANNOTATION_LOADERS:
        return None
    step = dict(step)
    if kind == "Compose":
        inner = [_adapt(s, factors, input_size, divisor) for s in step["transforms"]]
        step["transforms"] = [s for s in inner if s is not None]
    elif kind in config._RESIZES and step.get("scale") is not None:
        step["scale"] = _scaled(step["scale"], factors, divisor)
    elif kind in config._RESIZES and step.get("scale_factor") is not None:
        ratio = step.pop("scale_factor")
        ratio_w, ratio_h = ratio if isinstance(ratio, list | tuple) else (ratio, ratio)
        height, width = input_size
        step["scale"] = _scaled((width, height), (ratio_h, ratio_w), divisor)
    elif kind == "Pad" and step.get("size") is not None:
        step["size"] = _scaled(step["size"], factors, divisor)
    return step


def _scaled(scale: Any, factors: tuple[float, float], divisor: int) -> tuple[int, int]:
    """``scale`` (width, height, or one int) times ``factors`` (height, width), rounded."""
    width, height = (scale, scale) if isinstance(scale, int | float) else scale

    def side(value: float) -> int:
        step = max(1, divisor)
        return max(step, math.floor(value / step + 0.5) * step)

    return side(width * factors[1]), side(height * factors[0])


def _resize_of(step: dict[str, Any]) -> dict[str, Any] | None:
    """The first resize step in ``step`` (itself or inside a ``Compose``)."""
    kind = _kind(step)
    if kind in config._RESIZES:
        return step
    if kind == "Compose":
        return next((r for s in step["transforms"] if (r := _resize_of(s)) is not None), None)
    return None


def _hw(scale: Any) -> list[int]:
    """A (width, height) scale as [height, width]."""
    width, height = (scale, scale) if isinstance(scale, int | float) else scale
    return [int(height), int(width)]


def _keep_flip_keys(step: dict[str, Any]) -> None:
    """Packing must keep ``flip`` / ``flip_direction``: the merge reads them."""
    if _kind(step).startswith("Pack") and step.get("meta_keys") is not None:
        keys = tuple(step["meta_keys"])
        step["meta_keys"] = keys + tuple(k for k in ("flip", "flip_direction") if k not in keys)
    for inner in step.get("transforms", []) if _kind(step) == "Compose" else []:
        _keep_flip_keys(inner)


def _stock_test_scale(cfg: Any) -> tuple[int, int] | None:
    """(width, height) of the stock test pipeline's resize: what benchsel maps to input_size."""
    pipeline = cfg.get("test_pipeline") or cfg.test_dataloader.dataset.pipeline
    for step in pipeline:
        if _kind(step) in config._RESIZES and step.get("scale") is not None:
            scale = step["scale"]
            width, height = (scale, scale) if isinstance(scale, int) else scale
            return int(width), int(height)
    return None


def _model_nms(cfg: Any) -> tuple[float, int]:
    """NMS IoU threshold and max detections of the model's own test_cfg (the last stage's)."""
    test_cfg = _to_plain(cfg.model.get("test_cfg") or {})
    stage = test_cfg.get("rcnn") or test_cfg
    nms = stage.get("nms") or {}
    iou = nms.get("iou_threshold", DEFAULT_NMS_IOU) if isinstance(nms, dict) else DEFAULT_NMS_IOU
    return float(iou), int(stage.get("max_per_img") or DEFAULT_MAX_PER_IMG)


def _nms_origin(cfg: Any) -> str:
    test_cfg = _to_plain(cfg.model.get("test_cfg") or {})
    stage = test_cfg.get("rcnn") or test_cfg
    if isinstance(stage.get("nms"), dict) and "iou_threshold" in stage["nms"]:
        return "the model's test_cfg"
    return f"DetTTAModel's documented IoU {DEFAULT_NMS_IOU} (the model's test_cfg has no NMS)"


def _to_plain(node: Any) -> Any:
    """mmengine ConfigDicts as plain dicts (a deep copy; tuples stay tuples)."""
    if isinstance(node, dict):
        return {k: _to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_to_plain(v) for v in node]
    return copy.deepcopy(node)


def _defining_file(path: Path, key: str) -> Path | None:
    """The config file (``path`` or one of its ``_base_`` files) that assigns ``key``."""
    from mmengine.config import Config

    try:
        body = ast.parse(path.read_text(encoding="utf-8")).body
    except (OSError, SyntaxError):
        return None
    for node in body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == key for t in node.targets
        ):
            return path
    try:
        bases = [Config._get_cfg_path(b, str(path))[0] for b in Config._get_base_files(str(path))]
    except Exception:  # an unreadable or external base: say the config itself
        return None
    for base in bases:
        found = _defining_file(Path(base), key)
        if found is not None:
            return found
    return None


def _display(path: Path | None) -> str:
    """``<package>/.mim/configs/...`` as the catalog writes config sources."""
    if path is None:
        return "unknown"
    parts = path.resolve().parts
    if ".mim" in parts:
        return "/".join(parts[parts.index(".mim") - 1 :])
    return str(path)

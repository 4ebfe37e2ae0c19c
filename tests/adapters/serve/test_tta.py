"""Test-time augmentation: the shipped settings found and scaled, the views really built and
flipped, merges equal to independent ones (mmcv's batched_nms, a softmax mean) and to
upstream's ``BaseTTAModel.test_step``, and the instance/panoptic refusal."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchsel.adapters.base import ClassSpec
from benchsel.adapters.config import prepare_config
from benchsel.adapters.serve.tta import (
    FALLBACK_SOURCE,
    TTANotAvailable,
    build_tta,
    check_tta_available,
    tta_setting,
)
from benchsel.catalog import load_catalog
from benchsel.data.images import read_rgb
from benchsel.predictions import Detections, SemanticMap
from tests.adapters.serve.real_detections import labelled_by, rtmdet_with_real_boxes

CATALOG = load_catalog()
SMALL = (128, 128)
THINGS = ClassSpec.things(["circle", "square", "triangle"])
SEMANTIC = ClassSpec.semantic(["background", "circle", "square"])
# Where upstream ships each setting (read from the installed packages' config trees).
SHIPPED = {
    "rtmdet": "mmdet/.mim/configs/rtmdet/rtmdet_tta.py",
    "yolox": "mmdet/.mim/configs/yolox/yolox_tta.py",
    "retinanet-r": "mmdet/.mim/configs/retinanet/retinanet_tta.py",
}
MMYOLO_SHIPPED = "mmyolo/.mim/configs/_base_/det_p5_tta.py"
MMSEG_SHIPPED = "mmseg/.mim/configs/_base_/datasets/cityscapes.py"


def _task(arch):
    return "panoptic" if "panoptic" in arch.tasks else arch.primary_task


def _upstream_config(relative: str):
    """An upstream TTA config file, loaded on its own."""
    import importlib.util
    from pathlib import Path

    from mmengine.config import Config

    package, _, rest = relative.partition("/")
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin is not None
    return Config.fromfile(str(Path(spec.origin).parent / rest))


def _images():
    """Two seeded RGB images of different sizes and orientations."""
    rng = np.random.default_rng(1)
    wide = rng.integers(0, 80, (96, 128, 3), dtype=np.uint8)
    wide[20:60, 30:80] = (220, 40, 40)
    tall = rng.integers(0, 80, (112, 80, 3), dtype=np.uint8)
    tall[50:100, 10:60] = (40, 200, 60)
    return [wide, tall]


# --- fast: the settings, from the configs alone --------------------------------------------


def test_every_catalog_entry_gets_a_setting_or_the_upstream_refusal():
    for arch in CATALOG.architectures:
        task = _task(arch)
        if task in ("instance", "panoptic"):
            with pytest.raises(TTANotAvailable, match=r"^TTA not available upstream: "):
                check_tta_available(arch, task)
            continue
        cfg = prepare_config(arch, None, THINGS, semantic=arch.package == "mmseg")
        setting = tta_setting(arch, cfg, SMALL, arch.package)
        desc = setting.description
        assert setting.views == desc["views"] == len(desc["scales"]) * len(desc["flips"])
        assert sorted(desc["flips"]) == ["horizontal", "none"]
        expected = next((f for prefix, f in SHIPPED.items() if arch.id.startswith(prefix)), None)
        expected = {"mmyolo": MMYOLO_SHIPPED, "mmseg": MMSEG_SHIPPED}.get(arch.package, expected)
        if expected is None:
            assert desc["source"] == FALLBACK_SOURCE and setting.views == 2, arch.id
            assert desc["scales"] == [list(SMALL)]
        else:
            assert desc["source"] == expected, arch.id
            assert setting.views in (6, 12), arch.id


@pytest.mark.parametrize(
    ("arch_id", "stock_test_side"),
    [("rtmdet-tiny", 640), ("yolox-s", 640), ("yolox-tiny", 416), ("yolov8-n", 640)],
)
def test_shipped_scales_follow_the_input_size(arch_id, stock_test_side):
    """Upstream's ``img_scales`` (for the stock test scale) times 128 / that scale; yolox-tiny
    tests at 416 but inherits YOLOX-s's 640-based setting, so its views are larger."""
    arch = CATALOG.get(arch_id)
    cfg = prepare_config(arch, None, THINGS, semantic=False)
    setting = tta_setting(arch, cfg, SMALL, arch.package)
    upstream = _upstream_config(setting.description["source"])
    ratio = SMALL[0] / stock_test_side
    expected = [[round(h * ratio), round(w * ratio)] for w, h in upstream.img_scales]
    if arch.size_divisor > 1:
        expected = [[round(v / 32) * 32 for v in hw] for hw in expected]
    assert setting.description["scales"] == expected
    assert setting.description["stock_scales"] == [[h, w] for w, h in upstream.img_scales]
    assert (
        setting.description["merge"]["iou_threshold"]
        == upstream.tta_model.tta_cfg.nms["iou_threshold"]
    )


def test_retinanet_scales_map_its_1333x800_test_scale_to_the_input():
    arch = CATALOG.get("retinanet-r50")
    cfg = prepare_config(arch, "r18-light", THINGS, semantic=False)
    setting = tta_setting(arch, cfg, (256, 320), "mmdet")
    upstream = _upstream_config(SHIPPED["retinanet-r"])
    expected = [[round(h * 256 / 800), round(w * 320 / 1333)] for w, h in upstream.img_scales]
    assert setting.description["scales"] == expected
    assert setting.views == 6


def test_mmseg_scale_factors_become_ratios_of_the_input_size():
    arch = CATALOG.get("unet-s5-d16")
    cfg = prepare_config(arch, "light", SEMANTIC, semantic=True)
    setting = tta_setting(arch, cfg, (128, 256), "mmseg")
    upstream = _upstream_config(MMSEG_SHIPPED)
    assert setting.description["stock_scale_factors"] == list(upstream.img_ratios)
    assert setting.description["scales"] == [
        [round(128 * r), round(256 * r)] for r in upstream.img_ratios
    ]
    assert setting.views == 2 * len(upstream.img_ratios) == 12
    assert setting.description["merge"]["type"] == "SegTTAModel"


def test_flip_only_fallback_flips_between_resize_and_pad():
    """rtmdet_tta.py: a flip after padding could not be undone on the boxes."""
    arch = CATALOG.get("rtmdet-tiny")
    cfg = prepare_config(arch, None, THINGS, semantic=False)
    setting = tta_setting(arch, cfg, SMALL, "mmdet", flip_only=True)
    groups = setting.pipeline[1]["transforms"]
    kinds = [[step["type"] for step in group] for group in groups]
    assert kinds == [["Resize"], ["RandomFlip", "RandomFlip"], ["Pad"], ["PackDetInputs"]]
    assert [step["prob"] for step in groups[1]] == [0.0, 1.0]
    assert {"flip", "flip_direction"} <= set(groups[3][0]["meta_keys"])
    merge = setting.description["merge"]
    assert merge["iou_threshold"] == cfg.model.test_cfg.nms.iou_threshold
    assert merge["max_per_img"] == cfg.model.test_cfg.max_per_img


# --- slow: real models ---------------------------------------------------------------------


def _build(arch_id, variant=None, classes=THINGS):
    """The model with image-dependent outputs: a freshly initialised network predicts the
    same few boxes everywhere (its BN statistics are the identity, its output convolutions
    near zero). BN statistics are computed from four noise images and the bare output
    convolutions of a detection head scaled by 0.05 (found to give varied boxes and scores);
    no score threshold. Seeded: the weights do not depend on the tests run before."""
    import torch
    from mmcv.cnn import ConvModule

    from benchsel.adapters import build_model

    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = build_model(arch_id, classes, variant=variant, input_size=SMALL)
    norms = [
        m for m in model.model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
    ]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a plain average over the calibration batch
    rng = np.random.default_rng(5)
    batch = model.preprocess([rng.integers(0, 255, (*SMALL, 3), dtype=np.uint8) for _ in range(4)])
    model.model.train()
    with torch.no_grad():
        model.forward_tensor(batch)
    model.model.eval()
    head = getattr(model.model, "bbox_head", None)
    if head is not None:
        head.test_cfg["score_thr"] = 0.0  # RetinaNet's 0.05 would drop every untrained score
        wrapped = {id(m.conv) for m in head.modules() if isinstance(m, ConvModule)}
        with torch.no_grad():
            for module in head.modules():
                if isinstance(module, torch.nn.Conv2d) and id(module) not in wrapped:
                    module.weight.mul_(0.05)
    return model


def _upstream_test_step(tta, images):
    """mmengine's ``BaseTTAModel.test_step`` on the raw TTA pipeline outputs, converted;
    mmseg's data preprocessor takes one image size per batch, so its images go one by one."""
    import torch
    from mmengine.dataset import pseudo_collate

    samples = [
        tta._pipeline({"img": np.ascontiguousarray(im[..., ::-1]), "img_id": i})
        for i, im in enumerate(images)
    ]
    batches = [[s] for s in samples] if tta.scope == "mmseg" else [samples]
    with torch.no_grad():
        merged = [m for batch in batches for m in tta.tta_module.test_step(pseudo_collate(batch))]
    return [tta._convert(sample) for sample in merged]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("arch_id", "variant"),
    [
        ("rtmdet-tiny", None),
        ("yolox-tiny", None),
        ("yolov8-n", None),
        ("retinanet-r50", "r18-light"),
    ],
)
def test_detector_tta_views_and_predictions(arch_id, variant):
    base = _build(arch_id, variant)
    tta = build_tta(base)
    assert tta.views == 6 == len(tta.setting["scales"]) * len(tta.setting["flips"])
    assert tta.model is base.model and tta.tta_module.module is base.model  # shared weights

    square = np.random.default_rng(2).integers(0, 255, (*SMALL, 3), dtype=np.uint8)
    views = tta._pipeline({"img": square[..., ::-1].copy(), "img_id": 0})
    samples = views["data_samples"]
    # TestTimeAug runs scales x flips: each shipped scale (square here) twice, flipped first.
    assert [s.flip for s in samples] == [True, False] * 3
    resized = [round(SMALL[0] * s.scale_factor[0]) for s in samples]
    assert resized[::2] == resized[1::2] == [hw[0] for hw in tta.setting["scales"]]

    images = _images()
    preds = tta.predict(images)
    assert len(preds) == 2 and all(len(pred) > 0 for pred in preds)
    for pred, image in zip(preds, images, strict=True):
        height, width = image.shape[:2]
        assert isinstance(pred, Detections) and pred.masks is None
        assert np.all(np.isfinite(pred.boxes)) and np.all(np.isfinite(pred.scores))
        assert np.all(pred.boxes >= 0)
        assert np.all(pred.boxes[:, [0, 2]] <= width) and np.all(pred.boxes[:, [1, 3]] <= height)
        assert np.all((pred.labels >= 0) & (pred.labels < 3))
        assert len(pred) <= tta.setting["merge"]["max_per_img"]
    for ours, upstream in zip(preds, _upstream_test_step(tta, images), strict=True):
        np.testing.assert_allclose(ours.boxes, upstream.boxes, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(ours.scores, upstream.scores, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(ours.labels, upstream.labels)


@pytest.fixture(scope="module")
def rtmdet():
    return _build("rtmdet-tiny")


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    """Four generated 128x128 scenes, their RGB images and an RTMDet calibrated on them: boxes
    of real size and spread scores, so that NMS merges the views and an AP is far from 0."""
    from benchsel.data.sample import generate_sample

    val = generate_sample(tmp_path_factory.mktemp("sample"), images=4, size=128)
    images = [read_rgb(im.file) for im in val.images]
    return val, images, rtmdet_with_real_boxes(images)


def _flip_merge_by_hand(model, image):
    """1 scale + flip merged without TTA code: the image and its mirror through the plain
    model, the mirror's boxes flipped back by hand, merged with mmcv's batched_nms (the
    model's test_cfg NMS), its top ``max_per_img`` clipped to the image. Returns the
    detections, the boxes NMS was given and how many it kept."""
    import torch
    from mmcv.ops import batched_nms

    def plain(view):
        with torch.no_grad():
            batch = model.preprocess([view])
            inst = model.model(batch["inputs"], batch["data_samples"], mode="predict")[0]
        return inst.pred_instances

    height, width = image.shape[:2]
    direct, mirrored = plain(image), plain(np.ascontiguousarray(image[:, ::-1]))
    back = mirrored.bboxes.clone()
    back[:, 0], back[:, 2] = width - mirrored.bboxes[:, 2], width - mirrored.bboxes[:, 0]
    test_cfg = model.config.model.test_cfg
    dets, keep = batched_nms(
        torch.cat([direct.bboxes, back]),
        torch.cat([direct.scores, mirrored.scores]),
        torch.cat([direct.labels, mirrored.labels]),
        {"type": "nms", "iou_threshold": test_cfg.nms.iou_threshold},
    )
    top = test_cfg.max_per_img
    boxes = dets[:top, :4].numpy().copy()
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
    labels = torch.cat([direct.labels, mirrored.labels])[keep][:top].numpy()
    merged = Detections(boxes, dets[:top, 4].numpy().copy(), labels.astype(np.int64))
    return merged, len(direct) + len(mirrored), len(keep)


@pytest.mark.slow
def test_flip_tta_equals_an_independent_batched_nms_of_plain_and_mirrored(calibrated):
    """On boxes of real size, where NMS removes boxes of one view that overlap the other's."""
    _, images, model = calibrated
    tta = build_tta(model, flip_only=True)
    assert tta.views == 2 and tta.setting["source"] == FALLBACK_SOURCE
    for image in images:
        expected, given, kept = _flip_merge_by_hand(model, image)
        assert 0 < kept < given  # NMS merged the views
        (pred,) = tta.predict([image])
        assert len(pred) == len(expected) > 0
        np.testing.assert_allclose(pred.boxes, expected.boxes, atol=1e-3)
        np.testing.assert_allclose(pred.scores, expected.scores, rtol=1e-5)
        np.testing.assert_array_equal(pred.labels, expected.labels)


def _shorten_yolov8_boxes(model):
    """An untrained YOLOv8's distribution-focal box sides average 7.5 of 16 bins (boxes
    covering the image); biasing each side's logits towards the low bins gives boxes of about
    three strides around each anchor point."""
    import torch

    head = model.model.bbox_head.head_module
    with torch.no_grad():
        for branch in head.reg_preds:
            bins = branch[-1].bias.view(4, head.reg_max)
            bins.copy_(-0.5 * torch.arange(head.reg_max, dtype=bins.dtype).expand(4, -1))


@pytest.mark.slow
@pytest.mark.parametrize(("arch_id", "flip_only"), [("rtmdet-tiny", False), ("yolov8-n", True)])
def test_tta_of_a_mirrored_image_gives_mirrored_boxes(arch_id, flip_only, rtmdet, rgb_image):
    """Every view is flipped before padding, so the views of the mirrored image are those of
    the image, mirrored: the merged boxes are too (mmyolo: through its letterbox)."""
    base = rtmdet if arch_id == "rtmdet-tiny" else _build(arch_id)
    if arch_id == "yolov8-n":
        _shorten_yolov8_boxes(base)
    tta = build_tta(base, flip_only=flip_only)
    width = rgb_image.shape[1]
    pred, pred_mirror = tta.predict([rgb_image, np.ascontiguousarray(rgb_image[:, ::-1])])
    assert len(pred) == len(pred_mirror) > 0
    mirrored_back = pred_mirror.boxes[:, [2, 1, 0, 3]] * [-1, 1, -1, 1] + [width, 0, width, 0]
    np.testing.assert_allclose(pred.scores, pred_mirror.scores, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(pred.boxes, mirrored_back, atol=1e-2)
    np.testing.assert_array_equal(pred.labels, pred_mirror.labels)
    assert not np.allclose(pred.boxes, pred_mirror.boxes, atol=1e-2)  # the boxes do move


@pytest.fixture(scope="module")
def unet():
    return _build("unet-s5-d16", "light", SEMANTIC)


@pytest.mark.slow
def test_semantic_tta_multi_scale_and_flip(unet):
    tta = build_tta(unet)
    assert tta.views == 12 and tta.tta_module.module is unet.model
    assert type(tta.tta_module).__name__ == "SegTTAModel"
    images = _images()
    preds = tta.predict(images)
    for pred, image in zip(preds, images, strict=True):
        assert isinstance(pred, SemanticMap)
        assert pred.labels.shape == image.shape[:2] and pred.labels.dtype == np.int64
        assert pred.labels.min() >= 0 and pred.labels.max() < 3
    for ours, upstream in zip(preds, _upstream_test_step(tta, images), strict=True):
        np.testing.assert_array_equal(ours.labels, upstream.labels)


@pytest.mark.slow
def test_semantic_flip_tta_is_the_mean_softmax_of_plain_and_unflipped_logits(unet, rgb_image):
    import torch

    tta = build_tta(unet, flip_only=True)
    assert tta.views == 2

    def logits(image):
        with torch.no_grad():
            batch = unet.preprocess([image])
            out = unet.model(batch["inputs"], batch["data_samples"], mode="predict")[0]
        return out.seg_logits.data

    plain = logits(rgb_image)
    unflipped = logits(np.ascontiguousarray(rgb_image[:, ::-1])).flip(-1)
    probs = (plain.softmax(0) + unflipped.softmax(0)) / 2
    expected = probs.argmax(0).numpy()
    (pred,) = tta.predict([rgb_image])
    assert pred.labels.shape == rgb_image.shape[:2]
    top2 = probs.topk(2, dim=0).values
    clear = (top2[0] - top2[1]).numpy() > 1e-5  # not a float tie between two classes
    assert clear.mean() > 0.99
    np.testing.assert_array_equal(pred.labels[clear], expected[clear])
    # Not the plain prediction: the flipped view changes some pixels of an untrained model.
    assert (pred.labels != plain.argmax(0).numpy()).any()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("arch_id", "classes"),
    [
        ("mask-rcnn-r50", THINGS),
        ("panoptic-fpn-r50", ClassSpec.panoptic(["circle", "square"], ["grass"])),
    ],
)
def test_instance_and_panoptic_models_are_refused(arch_id, classes):
    from benchsel.adapters import build_model

    base = build_model(arch_id, classes, variant="r18-light", input_size=SMALL)
    with pytest.raises(TTANotAvailable, match=r"^TTA not available upstream: .*DetTTAModel"):
        build_tta(base)


@pytest.mark.slow
def test_measure_speed_times_every_view(rtmdet, rgb_image):
    from benchsel.profiling.latency import SpeedSettings, measure_speed

    tta = build_tta(rtmdet)
    calls = []
    hook = rtmdet.model.backbone.register_forward_hook(lambda *_: calls.append(1))
    try:
        tta.forward_network(tta.preprocess([rgb_image]))
        assert len(calls) == tta.views == 6
        settings = SpeedSettings(batch_sizes=(1,), warmup_iters=1, min_iters=2, min_seconds=0)
        (result,) = measure_speed(tta, settings, [rgb_image])
    finally:
        hook.remove()
    assert result.error is None and result.batch == 1
    for phase in ("preprocess", "forward", "predict", "e2e"):
        stats = result.phases[phase]
        assert stats.iters >= 2 and stats.p50_ms > 0 and math.isfinite(stats.p50_ms)
    assert "6 TTA views" in result.conditions["what_is_timed"]["forward"]


@pytest.mark.slow
def test_evaluate_model_scores_the_tta_merge(calibrated):
    """The ground truth is the by-hand merge's 10 most confident detections per image: the TTA
    model scores what that merge scores, far above 0 (below 1 only as one image's false
    positives outscore another's ground truth); the plain model scores clearly lower on it."""
    from types import SimpleNamespace

    from benchsel.evaluation.driver import evaluate_model

    sample_val, _, model = calibrated
    by_hand = SimpleNamespace(predict=lambda ims: [_flip_merge_by_hand(model, im)[0] for im in ims])
    val = labelled_by(lambda image: by_hand.predict([image])[0], sample_val, ranks=range(10))
    expected = evaluate_model(by_hand, "detection", val).metrics["bbox_AP"]
    scored = evaluate_model(build_tta(model, flip_only=True), "detection", val).metrics["bbox_AP"]
    assert scored == pytest.approx(expected, abs=1e-6) and scored > 0.5
    assert evaluate_model(model, "detection", val).metrics["bbox_AP"] < scored - 0.1

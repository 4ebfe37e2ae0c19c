"""The trained network exported to ONNX and served by ONNX Runtime: same predictions as PyTorch,
clear refusals for networks that cannot export, and the latency phases on the deployed model.

Freshly built heads predict the prior (every score 0.01, every box a point), where the order of
tied detections is arbitrary; the models are given seeded random weights first, so scores and
boxes spread out and a real disagreement between the runtimes would show. The accuracy
comparison scores an RTMDet calibrated instead (``real_detections``): boxes of real size,
spread scores, an AP far from 0.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchsel.adapters import ClassSpec, LoadedModel, build_model
from benchsel.adapters.serve.onnx_export import (
    OnnxExportFailed,
    OnnxExportUnsupported,
    unsupported_reason,
)
from benchsel.adapters.serve.onnx_runtime import OnnxRuntimeModel, max_abs_output_diff
from benchsel.catalog import load_catalog
from benchsel.data.images import read_rgb
from benchsel.predictions import Detections, SemanticMap
from tests.adapters.serve.real_detections import labelled_by, rtmdet_with_real_boxes

pytestmark = pytest.mark.slow

CATALOG = load_catalog()
SMALL = (128, 128)
# Detections match when labels agree and boxes (pixels) and scores agree within these; the
# exported network's raw outputs agree with PyTorch's to ~1e-6.
BOX_TOL_PX, SCORE_TOL = 1e-2, 1e-4
# Semantic maps: share of equal pixels (argmax ties may flip at float rounding).
PIXEL_AGREEMENT = 0.999
EXPORTABLE = [
    ("rtmdet-tiny", None),
    ("yolox-tiny", None),
    ("yolov8-n", None),
    ("yolov7-tiny", None),
    ("ssdlite-mobilenetv2", None),
    ("retinanet-r50", "r18-light"),
    ("retinanet-effb3", None),  # static graphs: its "same" padding stalls symbolic shapes
    ("unet-s5-d16", "light"),
]
UNSUPPORTED = [
    ("mask-rcnn-r50", "r18-light", "mmcv.ops.RoIAlign"),
    ("dino-4scale-r50", None, "mmcv.ops.MultiScaleDeformableAttention"),
    ("mask2former-r50", None, "mmcv.ops.MultiScaleDeformableAttention"),
    ("mask2former-r50-semantic", None, "needs the data samples"),
]


def _task(arch_id: str) -> str:
    arch = CATALOG.get(arch_id)
    return "panoptic" if "panoptic" in arch.tasks else arch.primary_task


def _build(arch_id: str, variant: str | None) -> LoadedModel:
    """3 classes (conftest's ``task_classes``), at 128x128 or the smallest size it runs at."""
    arch = CATALOG.get(arch_id)
    task = _task(arch_id)
    if task == "semantic":
        classes = ClassSpec.semantic(["background", "circle", "square"])
    else:
        classes = ClassSpec.things(["circle", "square", "triangle"])
    size = arch.input_size if arch.fixed_input_size else max(SMALL, arch.min_input_size)
    return build_model(arch, classes, variant=variant, input_size=size)


def _spread_weights(model: LoadedModel, seed: int = 0) -> None:
    """Seeded weights with unit-scale activations (LeCun normal, zero biases)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.model.modules():
            if isinstance(module, torch.nn.Conv2d | torch.nn.Linear):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) / fan_in**0.5)
                if module.bias is not None:
                    module.bias.zero_()


def _images(rgb_image: np.ndarray) -> list[np.ndarray]:
    """Two sizes: 96x128 and a taller 160x100 scene."""
    rng = np.random.default_rng(1)
    tall = rng.integers(0, 80, size=(160, 100, 3), dtype=np.uint8)
    tall[30:90, 20:70] = (40, 80, 225)
    return [rgb_image, tall]


def _assert_same_detections(torch_pred: Detections, ort_pred: Detections) -> None:
    """Every PyTorch detection has its own ONNX Runtime twin (label, box, score), and back."""
    assert len(torch_pred) == len(ort_pred)
    unused = set(range(len(ort_pred)))
    expected = zip(torch_pred.boxes, torch_pred.scores, torch_pred.labels, strict=True)
    for box, score, label in expected:
        twins = [
            j
            for j in unused
            if ort_pred.labels[j] == label
            and np.abs(ort_pred.boxes[j] - box).max() <= BOX_TOL_PX
            and abs(ort_pred.scores[j] - score) <= SCORE_TOL
        ]
        assert twins, f"no ONNX Runtime twin for {label} {box} {score}"
        unused.remove(twins[0])


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """``deployed(arch_id, variant)``: (PyTorch model with spread weights, its ONNX Runtime
    model on 1 thread), exported once per module."""
    cache: dict[tuple[str, str | None], tuple[LoadedModel, OnnxRuntimeModel]] = {}

    def get(arch_id: str, variant: str | None) -> tuple[LoadedModel, OnnxRuntimeModel]:
        if (arch_id, variant) not in cache:
            base = _build(arch_id, variant)
            _spread_weights(base)
            path = tmp_path_factory.mktemp(arch_id) / "model.onnx"
            cache[arch_id, variant] = base, OnnxRuntimeModel(base, path, threads=1)
        return cache[arch_id, variant]

    return get


@pytest.mark.parametrize(("arch_id", "variant"), EXPORTABLE)
def test_onnx_runtime_predicts_what_pytorch_predicts(arch_id, variant, deployed, rgb_image):
    base, served_model = deployed(arch_id, variant)
    report = served_model.export_report
    assert report.opset >= 18 and report.file_mb > 0.1 and report.seconds > 0
    assert served_model.output_max_abs_diff < 1e-4
    assert served_model.device == "cpu" and served_model.classes == base.classes
    images = _images(rgb_image)
    for image in images:
        expected, served = base.predict([image])[0], served_model.predict([image])[0]
        if isinstance(expected, SemanticMap):
            assert isinstance(served, SemanticMap)
            assert served.labels.shape == expected.labels.shape == image.shape[:2]
            assert np.mean(served.labels == expected.labels) >= PIXEL_AGREEMENT
        else:
            assert isinstance(expected, Detections) and isinstance(served, Detections)
            assert len(expected) > 0
            _assert_same_detections(expected, served)
    # Every input shape is served: by the one dynamic graph, or by one static graph per shape.
    shapes = {tuple(served_model.preprocess([im])["inputs"].shape) for im in images}
    report = served_model.export_report
    if report.dynamic_axes:
        assert report.graphs == 1 and set(report.dynamic_axes) == {"batch", "height", "width"}
    else:
        assert report.graphs >= len(shapes)
        assert "static graph per input shape" in report.shapes


def test_retinanet_serves_two_input_shapes_with_one_dynamic_graph(deployed, rgb_image):
    """RetinaNet's test pipeline keeps the aspect ratio: two images, two input shapes."""
    base, served_model = deployed("retinanet-r50", "r18-light")
    batches = [served_model.preprocess([im]) for im in _images(rgb_image)]
    assert len({tuple(b["inputs"].shape) for b in batches}) == 2
    assert served_model.export_report.dynamic_axes == {"batch": 0, "height": 2, "width": 3}
    assert served_model.export_report.graphs == 1
    for batch in batches:
        assert max_abs_output_diff(base, served_model, batch) < 1e-4
    names = [o.split()[0] for o in served_model.export_report.outputs]
    assert names[:2] == ["cls_scores.0", "cls_scores.1"] and names[-1] == "bbox_preds.4"


def test_unet_falls_back_to_one_static_graph_per_shape(deployed, rgb_image):
    """U-Net's upsampling keeps the traced size: the dynamic graph fails its check at a second
    shape, so each input shape gets its own graph, checked against PyTorch."""
    base, served_model = deployed("unet-s5-d16", "light")
    assert "one static graph per input shape: the dynamic graph" in served_model._report.shapes
    batches = [served_model.preprocess([im]) for im in _images(rgb_image)]
    shapes = [list(b["inputs"].shape) for b in batches]
    report = served_model.export_report
    assert report.dynamic_axes == {}
    assert report.input_shapes == [[1, 3, 128, 128], *shapes]
    assert len(list(served_model.path.parent.glob("*.onnx"))) == 3
    for batch in batches:
        assert max_abs_output_diff(base, served_model, batch) < 1e-4


def test_a_failed_dynamic_export_falls_back_to_a_static_one(deployed, rgb_image):
    """yolov7-tiny's pooling size guards defeat the symbolic-shape solver; its static export
    works (from a fresh input tensor: the failed attempt marks the one it traced)."""
    base, served_model = deployed("yolov7-tiny", None)
    report = served_model.export_report
    assert "dynamic export: torch.onnx.export failed: NotImplementedError" in report.shapes
    assert report.dynamic_axes == {} and report.input_shapes == [[1, 3, 128, 128]]
    batch = served_model.preprocess([rgb_image])
    assert max_abs_output_diff(base, served_model, batch) < 1e-4


@pytest.mark.parametrize(("arch_id", "variant", "named"), UNSUPPORTED)
def test_unexportable_networks_say_why(arch_id, variant, named, tmp_path):
    base = _build(arch_id, variant)
    reason = unsupported_reason(base)
    assert reason is not None and named in reason
    with pytest.raises(OnnxExportUnsupported, match=f"{arch_id} cannot be served") as caught:
        OnnxRuntimeModel(base, tmp_path / "model.onnx")
    assert caught.value.reason == reason and caught.value.unsupported
    assert not list(tmp_path.iterdir())  # decided before exporting


def test_a_failing_export_is_an_export_failure_not_a_limit(deployed, tmp_path, monkeypatch):
    """A network torch.export cannot trace (data-dependent control flow here) that no known
    limit ruled out is refused with the exporter's underlying message, as a failure."""
    base, _ = deployed("rtmdet-tiny", None)
    plain = base.forward_tensor

    def data_dependent(inputs):
        if float(inputs["inputs"].mean()) > 1e9:
            return None
        return plain(inputs)

    monkeypatch.setattr(base, "forward_tensor", data_dependent)
    with pytest.raises(OnnxExportFailed, match=r"torch\.onnx\.export failed: ") as caught:
        OnnxRuntimeModel(base, tmp_path / "model.onnx")
    assert "data-dependent" in caught.value.reason.lower()
    assert not caught.value.unsupported


def test_threads_and_description(deployed):
    base, served_model = deployed("rtmdet-tiny", None)
    graph = served_model._graphs[0]
    assert graph.session.get_session_options().intra_op_num_threads == 1 == served_model.threads
    assert graph.session.get_providers() == ["CPUExecutionProvider"]
    assert served_model.forward_description.startswith("ONNX Runtime session (CPU EP)")
    assert served_model.model is base.model and served_model.input_size == base.input_size


def test_the_cpu_copy_is_independent_and_predicts_the_same(deployed, rgb_image):
    """What a base on a GPU goes through (ONNX Runtime serves from the CPU); copied here from
    a CPU base, as these tests have no GPU."""
    from benchsel.adapters.serve.onnx_runtime import _cpu_copy

    base, _ = deployed("rtmdet-tiny", None)
    copied = _cpu_copy(base)
    assert copied.device == "cpu" and copied.model is not base.model
    assert next(copied.model.parameters()).data_ptr() != next(base.model.parameters()).data_ptr()
    _assert_same_detections(base.predict([rgb_image])[0], copied.predict([rgb_image])[0])


def test_measure_speed_runs_on_the_deployed_model(deployed, rgb_image):
    from benchsel.profiling.latency import SpeedSettings, measure_speed, speed_metrics

    _, served_model = deployed("rtmdet-tiny", None)
    settings = SpeedSettings(batch_sizes=(1, 2), warmup_iters=1, min_iters=2, min_seconds=0)
    results = measure_speed(served_model, settings, _images(rgb_image))
    assert [r.batch for r in results] == [1, 2]
    for result in results:
        assert set(result.phases) == {"preprocess", "forward", "predict", "e2e"}
        assert all(st.iters == 2 and st.p50_ms > 0 for st in result.phases.values())
        timed = result.conditions["what_is_timed"]["forward"]
        assert timed == served_model.forward_description
    metrics = speed_metrics(results)
    assert metrics["latency_e2e_p50_ms"] > 0 and metrics["throughput_fps_b2"] > 0
    # The batch of 2 went through the one dynamic graph.
    assert served_model.export_report.graphs == 1


def test_host_postprocessing_alone_gives_the_same_predictions(deployed, rgb_image):
    _, served_model = deployed("rtmdet-tiny", None)
    batch = served_model.preprocess([rgb_image])
    outputs = served_model.forward_network(batch)
    assert all(isinstance(o, np.ndarray) for o in outputs)
    again = served_model.postprocess_outputs(outputs, batch)[0]
    first = served_model.postprocess(batch)[0]
    assert isinstance(first, Detections) and isinstance(again, Detections)
    _assert_same_detections(first, again)


def test_evaluate_model_scores_the_deployed_model_like_pytorch(tmp_path):
    """RTMDet calibrated on four sample scenes (boxes of real size, spread scores), scored
    against its own PyTorch detections of even score rank: PyTorch's AP is far from 0 and
    below 1 (the odd ranks, false positives, interleave across images), so it hangs on every
    box, label and score order, and ONNX Runtime scores the same only by predicting the same."""
    from benchsel.data.sample import generate_sample
    from benchsel.evaluation.driver import evaluate_model

    sample = generate_sample(tmp_path / "sample", images=4, size=128)
    images = [read_rgb(image.file) for image in sample.images]
    base = rtmdet_with_real_boxes(images)
    served_model = OnnxRuntimeModel(
        base, tmp_path / "model.onnx", threads=1, example_images=images[:1]
    )
    for image in images:
        expected_pred, served_pred = base.predict([image])[0], served_model.predict([image])[0]
        assert isinstance(expected_pred, Detections) and isinstance(served_pred, Detections)
        assert np.median(expected_pred.boxes[:, 2:] - expected_pred.boxes[:, :2]) > 8  # pixels
        _assert_same_detections(expected_pred, served_pred)
    val = labelled_by(lambda image: base.predict([image])[0], sample, ranks=range(0, 20, 2))
    expected = evaluate_model(base, "detection", val).metrics
    assert 0.2 < expected["bbox_AP"] < 0.9
    served = evaluate_model(served_model, "detection", val).metrics
    assert expected.keys() == served.keys()
    for key, value in expected.items():
        assert served[key] == pytest.approx(value, abs=1e-6, nan_ok=True), key


def test_output_difference_counts_nan_and_inf_on_one_side_as_infinite():
    from benchsel.adapters.serve.onnx_runtime import _max_abs_diff

    same = [np.array([1.0, np.nan, np.inf, -np.inf])]
    assert _max_abs_diff(same, [a.copy() for a in same]) == 0.0
    assert _max_abs_diff([np.array([1.0, 2.0])], [np.array([1.0, np.nan])]) == np.inf
    assert _max_abs_diff([np.array([np.inf])], [np.array([5.0])]) == np.inf
    assert _max_abs_diff([np.array([1.0, 2.0])], [np.array([1.5, 2.0])]) == 0.5
    assert _max_abs_diff([np.zeros((2, 3))], [np.zeros((3, 2))]) == np.inf

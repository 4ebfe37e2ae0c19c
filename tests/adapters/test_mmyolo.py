"""mmyolo's YOLOv5/v6/v7/v8: the import shim, building, training through mmyolo's own pipeline,
the late stage switch, and the published params/FLOPs."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

from benchsel.adapters.mmyolo_shim import ACCEPTED_MMCV, import_mmyolo, mmcv_version_as
from benchsel.catalog import load_catalog
from benchsel.errors import CatalogError

CATALOG = load_catalog()
MMYOLO_IDS = [a.id for a in CATALOG.architectures if a.package == "mmyolo"]
SMALL = (128, 128)


def test_catalog_has_the_mmyolo_families():
    required = {"yolov5-s", "yolov6-s", "yolov7-tiny", "yolov8-n", "yolov8-s", "yolov8-m"}
    assert required <= set(MMYOLO_IDS)
    assert {CATALOG.get(i).family for i in MMYOLO_IDS} == {"yolo"}
    assert not any(i in group.ids for group in CATALOG.unavailable for i in MMYOLO_IDS)


def test_version_is_restored_when_the_block_raises():
    import mmcv

    real = mmcv.__version__
    with pytest.raises(RuntimeError), mmcv_version_as("2.0.1"):
        assert mmcv.__version__ == "2.0.1"
        raise RuntimeError("boom")
    assert mmcv.__version__ == real


def test_shim_restores_version_when_the_import_fails(monkeypatch):
    import mmcv

    real = mmcv.__version__
    seen = []

    def failing_import(name, package=None):
        seen.append((name, mmcv.__version__))
        raise ImportError("mmyolo is broken")

    monkeypatch.delitem(sys.modules, "mmyolo", raising=False)
    monkeypatch.setattr(importlib, "import_module", failing_import)
    with pytest.raises(ImportError, match="mmyolo is broken"):
        import_mmyolo()
    assert seen == [("mmyolo", ACCEPTED_MMCV)]
    assert mmcv.__version__ == real


def test_missing_mmyolo_says_how_to_install(monkeypatch):
    import mmcv

    real = mmcv.__version__

    def missing(name, package=None):
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    monkeypatch.delitem(sys.modules, "mmyolo", raising=False)
    monkeypatch.setattr(importlib, "import_module", missing)
    with pytest.raises(CatalogError, match=r"benchsel\[yolo\]"):
        import_mmyolo()
    assert mmcv.__version__ == real


def test_real_import_passes_mmyolos_check_and_leaves_mmcv_alone():
    import mmcv
    from mmengine.utils import digit_version

    real = mmcv.__version__
    mmyolo = import_mmyolo()
    assert mmcv.__version__ == real
    assert mmyolo.__version__ == "0.6.0"
    # Why the shim exists: the bound mmyolo 0.6.0 asserts, and the mmcv benchsel builds.
    assert digit_version(real) >= digit_version(mmyolo.mmcv_maximum_version)
    assert digit_version(ACCEPTED_MMCV) < digit_version(mmyolo.mmcv_maximum_version)


@pytest.mark.slow
def test_import_models_goes_through_the_shim_in_a_fresh_process():
    """``import mmyolo.models`` alone fails mmyolo's check; ``import_models("mmyolo")`` loads it."""
    import subprocess

    import mmcv

    def run(code):
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)

    plain = run("import mmyolo.models")
    assert plain.returncode != 0
    assert f"MMCV=={mmcv.__version__} is used but incompatible" in plain.stderr
    shimmed = run(
        "import mmcv; from benchsel.adapters import import_models; "
        "m = import_models('mmyolo'); print(m.__name__, mmcv.__version__)"
    )
    assert shimmed.returncode == 0, shimmed.stderr
    assert shimmed.stdout.split() == ["mmyolo.models", mmcv.__version__]


@pytest.mark.parametrize("arch_id", MMYOLO_IDS)
def test_input_sizes_must_be_multiples_of_32(arch_id):
    """mmyolo's YOLOs pad nothing: at 100x100 their PAFPN would join 7- and 8-pixel maps."""
    arch = CATALOG.get(arch_id)
    arch.check_input_size((96, 160))
    with pytest.raises(CatalogError, match=r"multiples of 32; got 100x100 \(try 128x128\)"):
        arch.check_input_size((100, 100))


@pytest.mark.parametrize("arch_id", MMYOLO_IDS)
def test_config_is_found_in_the_mmyolo_wheel(arch_id):
    path = CATALOG.get(arch_id).config_path()
    assert path.is_file() and "mmyolo" in path.parts and path.parts[-3] == "configs"


# --- slow: real models -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    from tests.adapters.sample_data import prepare_sample

    return prepare_sample(tmp_path_factory.mktemp("mmyolo"), "yolov8-n", {"detection"}, 12)


def _model(arch_id, prepared, size=SMALL):
    from benchsel.adapters import build_model
    from benchsel.pipeline.trial import class_spec

    return build_model(arch_id, class_spec(prepared, "detection"), input_size=size)


@pytest.mark.slow
@pytest.mark.parametrize("arch_id", MMYOLO_IDS)
def test_builds_trains_two_iterations_and_predicts(arch_id, prepared, tmp_path):
    from benchsel.adapters.train.training import train
    from benchsel.predictions import Detections

    model = _model(arch_id, prepared)
    before = {k: v.clone() for k, v in model.model.state_dict().items()}
    result = train(
        model,
        prepared.train_split_cfg("detection", 1.0),
        tmp_path,
        iterations=2,
        batch_size=2,
        seed=0,
    )
    assert result.iterations == 2 and len(result.loss_curve) == 2
    assert all(np.isfinite(point["loss"]) and point["loss"] > 0 for point in result.loss_curve)
    after = model.model.state_dict()
    assert any(not after[k].equal(v) for k, v in before.items() if v.is_floating_point())

    image = np.random.default_rng(0).integers(0, 255, (96, 160, 3), dtype=np.uint8)
    preds = model.predict([image, image[:64, :100]])
    assert len(preds) == 2
    pred = preds[0]
    assert isinstance(pred, Detections) and pred.masks is None
    assert pred.boxes.dtype == np.float32 and pred.boxes.shape == (len(pred), 4)
    assert np.all((pred.labels >= 0) & (pred.labels < len(prepared.classes)))
    assert np.all(pred.boxes[:, [0, 2]] <= 160) and np.all(pred.boxes[:, [1, 3]] <= 96)


@pytest.mark.slow
def test_yolov8_trains_through_mmyolos_pipeline_and_switches_stage(prepared, tmp_path):
    """YOLOv8's ``mmdet.PipelineSwitchHook`` (mosaic off for the last 10 of 500 epochs) is found
    and fires at the same fraction of a 26-iteration budget."""
    from mmengine.hooks import Hook

    from benchsel.adapters.train.train_config import build_train_config
    from benchsel.adapters.train.training import train

    model = _model("yolov8-n", prepared)
    parts = build_train_config(
        model,
        prepared.train_split_cfg("detection", 1.0),
        iterations=26,
        batch_size=2,
        lr_rule="auto",
        augmentation="default",
        loss=None,
        class_weight=None,
        device="cpu",
        amp=False,
        workers=0,
    )
    loader = parts["train_dataloader"]
    assert loader["dataset"]["type"] == "YOLOv5CocoDataset"
    assert loader["collate_fn"] == {"type": "yolov5_collate"}
    stage1 = [step["type"] for step in loader["dataset"]["pipeline"]]
    assert {"Mosaic", "YOLOv5RandomAffine", "mmdet.Albu"} <= set(stage1)
    assert parts["optim_wrapper"]["optimizer"]["batch_size_per_gpu"] == 2
    switch = parts["stage_switch"]
    assert switch is not None and switch["iter"] == round(26 * 490 / 500) == 25
    stage2 = {step["type"]: step for step in switch["pipeline"]}
    assert "Mosaic" not in stage2 and stage2["LetterResize"]["scale"] == (128, 128)

    class Probe(Hook):
        """The training pipeline's transforms when training ends."""

        def __init__(self):
            self.transforms = []

        def after_train(self, runner):
            self.transforms = [type(t).__name__ for t in runner.train_dataloader.dataset.pipeline]

    probe = Probe()

    train(
        model,
        prepared.train_split_cfg("detection", 1.0),
        tmp_path,
        iterations=26,
        batch_size=2,
        seed=0,
        hooks=[probe],
    )
    assert "LetterResize" in probe.transforms and "Mosaic" not in probe.transforms
    logs = "".join(p.read_text() for p in Path(tmp_path).rglob("*.log"))
    assert "stage switch at iteration 25" in logs


@pytest.mark.slow
def test_yolov8n_params_and_flops_equal_mmyolos_published_figures(prepared):
    """mmyolo's model zoo (docs/en/model_zoo.md): YOLOv8-n 3.16 M params, 4.4 GFLOPs at 640."""
    from benchsel.adapters import ClassSpec, build_model
    from benchsel.profiling.complexity import count_complexity

    result = count_complexity(build_model("yolov8-n", ClassSpec.generic(80), input_size=(640, 640)))
    assert round(result.params_m, 2) == 3.16
    assert round(result.gflops, 1) == 4.4
    ref = CATALOG.get("yolov8-n").reference
    assert (ref.params_m, ref.gflops) == (3.16, 4.4)


@pytest.mark.slow
def test_yolov6_reparameterized_equals_published_figures_and_predictions():
    """mmyolo counts YOLOv6-s (17.22 M, 21.94 G) after folding its RepVGG blocks; folding keeps
    the outputs."""
    import torch

    from benchsel.adapters import ClassSpec, build_model
    from benchsel.profiling.complexity import count_complexity

    model = build_model("yolov6-s", ClassSpec.generic(80), input_size=(640, 640))
    as_trained = count_complexity(model)
    image = np.random.default_rng(1).integers(0, 255, (640, 640, 3), dtype=np.uint8)
    with torch.no_grad():
        batch = model.preprocess([image])
        before = model.forward_tensor(batch)
        assert model.reparameterize() > 0
        after = model.forward_tensor(batch)
    assert model.reparameterize() == 0  # already folded
    for a, b in zip(_tensors(before), _tensors(after), strict=True):
        assert torch.allclose(a, b, atol=1e-3, rtol=1e-3)
    folded = count_complexity(model)
    assert (round(folded.params_m, 2), round(folded.gflops, 2)) == (17.22, 21.94)
    assert as_trained.params_m > folded.params_m


def _tensors(output):
    """The tensors of a nested tuple/list output, in order."""
    if isinstance(output, list | tuple):
        return [t for item in output for t in _tensors(item)]
    return [output]

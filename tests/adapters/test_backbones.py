"""The backbone-sweep entries: each trains two iterations on the sample data and predicts."""

from __future__ import annotations

import numpy as np
import pytest

from benchsel.catalog import load_catalog

pytestmark = pytest.mark.slow

SWEEP = {
    "mask_rcnn": ["mask-rcnn-r50", "mask-rcnn-r101", "mask-rcnn-swin-t"],
    "retinanet": ["retinanet-r50", "retinanet-r101", "retinanet-effb3"],
    "mask2former": ["mask2former-r50", "mask2former-swin-t"],
    "dino": ["dino-4scale-r50", "dino-5scale-swin-l"],
}
NEW = [
    "mask-rcnn-r101",
    "mask-rcnn-swin-t",
    "retinanet-r101",
    "retinanet-effb3",
    "mask2former-swin-t",
]


def test_each_head_has_its_backbones_with_published_accuracy():
    catalog = load_catalog()
    for family, ids in SWEEP.items():
        archs = [catalog.get(i) for i in ids]
        assert {a.family for a in archs} == {family}
        assert len({a.backbone for a in archs}) == len(ids)  # one entry per backbone
        assert all(a.reference.metrics.get("bbox_AP") for a in archs)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    from tests.adapters.sample_data import prepare_sample

    work = tmp_path_factory.mktemp("backbones")
    return prepare_sample(work, "mask-rcnn-r101", {"instance", "detection"}, 8)


@pytest.mark.parametrize("arch_id", NEW)
def test_trains_two_iterations_and_predicts(arch_id, prepared, tmp_path):
    from benchsel.adapters import build_model
    from benchsel.adapters.train.training import train
    from benchsel.pipeline.trial import class_spec
    from benchsel.predictions import Detections

    arch = load_catalog().get(arch_id)
    task = arch.primary_task
    size = max((64, 64), arch.min_input_size)  # small: 2 iterations take seconds
    model = build_model(arch, class_spec(prepared, task), input_size=size)
    before = {k: v.clone() for k, v in model.model.state_dict().items()}
    result = train(
        model,
        prepared.train_split_cfg(task, 1.0),
        tmp_path,
        iterations=2,
        batch_size=2,
        seed=0,
    )
    assert result.iterations == 2 and len(result.loss_curve) == 2
    assert all(np.isfinite(p["loss"]) and p["loss"] > 0 for p in result.loss_curve)
    after = model.model.state_dict()
    assert any(not after[k].equal(v) for k, v in before.items() if v.is_floating_point())
    image = np.random.default_rng(0).integers(0, 255, (96, 160, 3), dtype=np.uint8)
    pred = model.predict([image])[0]
    assert isinstance(pred, Detections)
    assert np.all(pred.boxes[:, [0, 2]] <= 160) and np.all(pred.boxes[:, [1, 3]] <= 96)
    if task == "instance":
        assert pred.masks is not None and pred.masks.shape[1:] == (96, 160)

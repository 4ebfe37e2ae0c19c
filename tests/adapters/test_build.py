"""Every catalog entry (and variant) builds offline for 3 classes and predicts on CPU."""

from __future__ import annotations

import numpy as np
import pytest

from benchsel.adapters import build_model
from benchsel.catalog import load_catalog
from benchsel.predictions import Detections, PanopticPrediction, SemanticMap

pytestmark = pytest.mark.slow

CATALOG = load_catalog()
CASES = [
    pytest.param(arch.id, variant, id=f"{arch.id}:{variant or 'default'}")
    for arch in CATALOG.architectures
    for variant in [None, *arch.variants]
]
SMALL = (128, 128)


def test_fixed_size_architecture_refuses_other_sizes(task_classes):
    from benchsel.errors import CatalogError

    with pytest.raises(CatalogError, match="only runs at 300x300"):
        build_model("ssd300", task_classes("detection"), input_size=SMALL)


@pytest.mark.parametrize(("arch_id", "variant"), CASES)
def test_build_and_predict(arch_id, variant, rgb_image, task_classes):
    arch = CATALOG.get(arch_id)
    task = "panoptic" if "panoptic" in arch.tasks else arch.primary_task
    classes = task_classes(task)
    size = arch.input_size if arch.fixed_input_size else max(SMALL, arch.min_input_size)
    model = build_model(arch, classes, variant=variant, input_size=size)
    assert model.task == task
    height, width = rgb_image.shape[:2]
    preds = model.predict([rgb_image, rgb_image[:64, :100]])
    assert len(preds) == 2
    pred = preds[0]
    if task in ("detection", "instance"):
        assert isinstance(pred, Detections)
        assert pred.boxes.dtype == np.float32 and pred.boxes.shape[1] == 4
        assert pred.labels.dtype == np.int64
        assert np.all((pred.labels >= 0) & (pred.labels < 3))
        assert np.all(np.isfinite(pred.boxes)) and np.all(np.isfinite(pred.scores))
        if task == "instance":
            assert pred.masks is not None and pred.masks.dtype == bool
            assert pred.masks.shape == (len(pred), height, width)
            second = preds[1]
            assert second.masks is not None and second.masks.shape[1:] == (64, 100)
        else:
            assert pred.masks is None or pred.masks.shape[1:] == (height, width)
    elif task == "semantic":
        assert isinstance(pred, SemanticMap)
        assert pred.labels.shape == (height, width)
        assert preds[1].labels.shape == (64, 100)
        assert pred.labels.min() >= 0 and pred.labels.max() < 3
    else:
        assert isinstance(pred, PanopticPrediction)
        assert pred.segment_map.shape == (height, width)
        ids = {s.id for s in pred.segments}
        assert set(np.unique(pred.segment_map)) - {0} == ids
        for seg in pred.segments:
            assert 0 <= seg.label < 3
            assert seg.is_thing == (seg.label < 2)

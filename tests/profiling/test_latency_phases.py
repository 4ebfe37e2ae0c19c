"""The latency phases nest on every catalog entry, checked by what runs, not by timing.

Each phase is a different call; "forward <= predict" can only hold if the forward phase does a
subset of the predict phase's work. Forward hooks on every module add up the elements of the
tensors each module receives in each phase: the forward phase must not feed any module more
than the predict phase does.
"""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from benchsel.adapters import build_model
from benchsel.catalog import load_catalog

pytestmark = pytest.mark.slow

CATALOG = load_catalog()
SMALL = (128, 128)


def _work(model: torch.nn.Module, fn) -> Counter[str]:
    """Elements of the tensor inputs each module received while ``fn`` ran."""
    counts: Counter[str] = Counter()

    def record(name: str, inputs: tuple) -> None:
        size = sum(x.numel() for x in inputs if isinstance(x, torch.Tensor))
        counts[name] += max(size, 1)

    handles = [
        module.register_forward_hook(lambda m, i, o, name=name: record(name, i))
        for name, module in model.named_modules()
        if name
    ]
    try:
        with torch.no_grad():
            fn()
    finally:
        for h in handles:
            h.remove()
    return counts


@pytest.mark.parametrize("arch_id", [a.id for a in CATALOG.architectures])
def test_forward_phase_is_part_of_predict(arch_id, rgb_image, task_classes):
    arch = CATALOG.get(arch_id)
    task = "panoptic" if "panoptic" in arch.tasks else arch.primary_task
    variant = next(iter(arch.variants), None)  # light variants where declared: faster
    size = arch.input_size if arch.fixed_input_size else max(SMALL, arch.min_input_size)
    model = build_model(arch, task_classes(task), variant=variant, input_size=size)
    batch = model.preprocess([rgb_image])
    forward = _work(model.model, lambda: model.forward_network(batch))
    predict = _work(model.model, lambda: model.postprocess(batch))
    assert forward, "the forward phase ran no module"
    extra = {m: (n, predict.get(m, 0)) for m, n in forward.items() if n > predict.get(m, 0)}
    assert not extra, f"forward feeds modules more than predict (forward, predict): {extra}"

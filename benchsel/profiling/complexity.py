"""Parameters and FLOPs with fvcore, in OpenMMLab's convention (one multiply-add = one FLOP).

The count covers the network's forward (``mode='tensor'``) at the deployment input size, without
pre- or post-processing, the way OpenMMLab's ``get_flops`` tools and published tables count.
Ops fvcore cannot price are listed, never silently taken as zero. mmcv's multi-scale deformable
attention (DINO, Mask2Former) runs as ``grid_sample`` on CPU and as a custom CUDA op on GPU;
both are priced by the same formula here, so the count does not depend on the device.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from benchsel.adapters.base import LoadedModel

CONVENTION = "1 fused multiply-add = 1 FLOP (OpenMMLab/fvcore); gflops_x2 counts it as 2"
BILINEAR_MACS = 4  # one bilinear sample: 4 weighted taps


@dataclass
class Complexity:
    """Parameters and FLOPs of one model at one input size, with what could not be counted."""

    params_m: float
    gflops: float
    gflops_x2: float
    input_size: tuple[int, int]
    batch: int
    unsupported_ops: dict[str, int] = field(default_factory=dict)
    convention: str = CONVENTION
    counted: str = "network forward (mode='tensor'), no pre/post-processing"
    count_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["input_size"] = list(self.input_size)
        return out


def _prod(shape: Any) -> int:
    return int(np.prod(shape)) if shape else 0


def _grid_sampler_flops(inputs: list[Any], outputs: list[Any]) -> int:
    """``aten::grid_sampler``: one bilinear sample (4 MACs) per output element."""
    from fvcore.nn.jit_handles import get_shape

    return BILINEAR_MACS * _prod(get_shape(outputs[0]))


def _msda_flops(inputs: list[Any], outputs: list[Any]) -> int:
    """mmcv's CUDA MultiScaleDeformableAttnFunction, priced as its grid_sample CPU path.

    value (bs, keys, heads, dims/head); sampling_locations (bs, queries, heads, levels,
    points, 2): one bilinear sample per (query, head, level, point, channel).
    """
    from fvcore.nn.jit_handles import get_shape

    value = get_shape(inputs[0])
    locations = get_shape(inputs[3])
    bs, queries, heads, levels, points, _ = locations
    return BILINEAR_MACS * bs * queries * heads * levels * points * value[-1]


def _baddbmm_flops(inputs: list[Any], outputs: list[Any]) -> int:
    """``aten::baddbmm(input, batch1, batch2)``: the batched matmul, b * n * m * p."""
    from fvcore.nn.jit_handles import get_shape

    b, n, m = get_shape(inputs[1])
    p = get_shape(inputs[2])[-1]
    return b * n * m * p


EXTRA_HANDLES = {
    "aten::baddbmm": _baddbmm_flops,
    "aten::grid_sampler": _grid_sampler_flops,
    "prim::PythonOp.MultiScaleDeformableAttnFunction": _msda_flops,
}


def count_complexity(model: LoadedModel, batch: int = 1) -> Complexity:
    """Count params and FLOPs of ``model`` at its input size, on a synthetic image."""
    import torch
    from fvcore.nn import FlopCountAnalysis

    height, width = model.input_size
    image = np.zeros((height, width, 3), dtype=np.uint8)
    with torch.no_grad():
        inputs = model.preprocess([image] * batch)

    class Wrapper(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model.model

        def forward(self, x: torch.Tensor) -> Any:
            return model.forward_tensor({"inputs": x, "data_samples": inputs["data_samples"]})

    wrapper = Wrapper().eval()
    start = time.perf_counter()
    with torch.no_grad():
        analysis = FlopCountAnalysis(wrapper, (inputs["inputs"],))
        analysis.set_op_handle(**EXTRA_HANDLES)
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        analysis.tracer_warnings("none")
        total = analysis.total()
        unsupported = dict(sorted(analysis.unsupported_ops().items()))
    elapsed = time.perf_counter() - start
    params = sum(p.numel() for p in model.model.parameters())
    return Complexity(
        params_m=round(params / 1e6, 4),
        gflops=round(total / 1e9, 4),
        gflops_x2=round(2 * total / 1e9, 4),
        input_size=(height, width),
        batch=batch,
        unsupported_ops=unsupported,
        count_seconds=round(elapsed, 3),
    )

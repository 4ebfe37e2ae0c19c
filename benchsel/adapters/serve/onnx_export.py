"""Exporting a trained network to ONNX: which networks can, the export, what it produced.

What is exported: the network in tensor mode (``LoadedModel.forward_tensor`` with no data
samples: backbone + neck + head, raw head outputs, no decoding, no NMS), through
``torch.onnx.export(..., dynamo=True)``, weights inside the one ``.onnx`` file. The outputs are
the head's tensors, flattened and named after the arguments of the head's own
``predict_by_feat`` (``cls_scores.0``, ``bbox_preds.2``, ``seg_logits``).

Models whose network cannot be exported raise :class:`OnnxExportUnsupported` naming why; this
is decided from the model's structure before exporting (compiled mmcv ops such as RoIAlign
and MultiScaleDeformableAttention, forwards that need the data samples, two-stage proposal
NMS). An export or session that fails on a network that passed those checks raises
:class:`OnnxExportFailed` with the underlying message: not a known limit, so it is reported as
an error (``benchsel.store.failures``), never as "does not export". Both are
:class:`OnnxExportError`. Serving the exported graphs: ``benchsel.adapters.serve.onnx_runtime``.
"""

from __future__ import annotations

import inspect
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchsel.adapters.base import LoadedModel

INPUT_NAME = "inputs"  # the graph's one input: the preprocessed batch

# Compiled mmcv ops that appear as modules, and why each stops an export.
_COMPILED_MMCV_OPS = {
    "RoIAlign": "pools RoI features with a compiled mmcv kernel that has no torch.export or "
    "ONNX definition",
    "RoIPool": "pools RoI features with a compiled mmcv kernel that has no torch.export or "
    "ONNX definition",
    "MultiScaleDeformableAttention": "a compiled mmcv kernel on CUDA; on CPU its callers build "
    "the level shapes with torch._shape_as_tensor, which torch.export cannot trace",
    "DeformConv2d": "deformable convolution, a compiled mmcv kernel with no ONNX definition",
    "DeformConv2dPack": "deformable convolution, a compiled mmcv kernel with no ONNX definition",
    "ModulatedDeformConv2d": "modulated deformable convolution, a compiled mmcv kernel with no "
    "ONNX definition",
    "ModulatedDeformConv2dPack": "modulated deformable convolution, a compiled mmcv kernel with "
    "no ONNX definition",
    "CARAFE": "a compiled mmcv kernel with no ONNX definition",
    "CARAFEPack": "a compiled mmcv kernel with no ONNX definition",
}
# Arguments of a head's predict_by_feat that are not network outputs.
_NOT_OUTPUTS = {"self", "batch_img_metas", "cfg", "rescale", "with_nms", "batch_data_samples"}


class OnnxExportError(RuntimeError):
    """The architecture's network could not be served by ONNX Runtime; ``reason`` says why."""

    unsupported = False  # a documented limit (benchsel.store.failures reads it)

    def __init__(self, arch_id: str, reason: str) -> None:
        super().__init__(f"{arch_id} cannot be served by ONNX Runtime: {reason}")
        self.arch_id, self.reason = arch_id, reason


class OnnxExportUnsupported(OnnxExportError):
    """A documented limit: a compiled mmcv op, a forward that needs the data samples, proposal
    NMS, or more input shapes than static graphs allowed; decided before exporting."""

    unsupported = True


class OnnxExportFailed(OnnxExportError):
    """torch.onnx.export or ONNX Runtime failed on a network no known limit rules out."""


@dataclass
class ExportReport:
    """One or more exported graphs of the same network."""

    seconds: float  # torch.onnx.export wall time, summed over graphs (and failed attempts)
    opset: int
    file_mb: float  # summed over graphs
    outputs: list[str]  # output names with their shape at the first exported input
    input_shapes: list[list[int | str]]  # per graph: ints, or axis names where dynamic
    dynamic_axes: dict[str, int] = field(default_factory=dict)  # {} when every graph is static
    shapes: str = ""  # how input shapes are served, and why

    @property
    def graphs(self) -> int:
        return len(self.input_shapes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"graphs": self.graphs}


def unsupported_reason(base: LoadedModel) -> str | None:
    """Why ``base``'s network cannot be exported, decided from its structure; None if it can
    (single-stage mmdet / mmyolo detectors and mmseg encoder-decoders without compiled ops)."""
    model = base.model
    reasons: list[str] = []
    found = sorted(
        {
            type(m).__name__
            for m in model.modules()
            if type(m).__module__.startswith("mmcv.ops") and type(m).__name__ in _COMPILED_MMCV_OPS
        }
    )
    reasons += [f"mmcv.ops.{name}: {_COMPILED_MMCV_OPS[name]}" for name in found]
    if base.arch.package in ("mmdet", "mmyolo"):
        from mmdet.models.detectors import (
            DetectionTransformer,
            MaskFormer,
            SingleStageDetector,
            TwoStageDetector,
        )

        kind = type(model).__name__
        if isinstance(model, TwoStageDetector):
            reasons.append(
                f"{kind} is two-stage: the RPN's proposals go through NMS (mmcv.ops.batched_nms, "
                "a compiled kernel with a data-dependent output size) inside the network, "
                "before the RoI heads"
            )
        elif isinstance(model, DetectionTransformer | MaskFormer):
            reasons.append(
                f"{kind}'s tensor-mode forward reads each image's size from the data samples "
                "(padding masks), which an exported graph would freeze"
            )
        elif not isinstance(model, SingleStageDetector):
            reasons.append(f"{kind} is not a single-stage detector (the ones that export)")
    else:
        from mmseg.models.segmentors import CascadeEncoderDecoder, EncoderDecoder

        head = model.decode_head
        if not isinstance(model, EncoderDecoder) or isinstance(model, CascadeEncoderDecoder):
            reasons.append(f"{type(model).__name__} is not a plain EncoderDecoder")
        elif "batch_data_samples" in inspect.signature(head.forward).parameters:
            reasons.append(
                f"{type(head).__name__}.forward needs the data samples (each image's size), "
                "which an exported graph would freeze"
            )
    return "; ".join(reasons) or None


def export_onnx(
    base: LoadedModel, path: Path | str, example_batch: Any, *, dynamic: bool = True
) -> ExportReport:
    """Export ``base``'s tensor-mode network to ``path`` (one file, weights inside), traced on
    ``example_batch`` (a ``preprocess`` output); ``dynamic``: batch, height and width as
    ``Dim.AUTO`` axes (those the trace keeps dynamic are listed in ``dynamic_axes``).
    Raises :class:`OnnxExportFailed` with the underlying message when the export fails."""
    import onnx
    import torch
    from torch.export import Dim

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A clone: torch.export marks the dynamic axes on the tensor it traces, and a mark left by a
    # failed dynamic export makes the static retry on the same tensor fail too (yolov7-tiny).
    inputs = example_batch["inputs"].detach().clone()
    network = _tensor_mode_network(base)
    with torch.no_grad():
        reference = network.structured(inputs)
    leaves, _ = torch.utils._pytree.tree_flatten(reference)
    names = _output_names(base, reference)
    dynamic_shapes = ({0: Dim.AUTO, 2: Dim.AUTO, 3: Dim.AUTO},) if dynamic else None
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                network,
                (inputs,),
                str(path),
                dynamo=True,
                input_names=[INPUT_NAME],
                output_names=names,
                dynamic_shapes=dynamic_shapes,
                external_data=False,
                verbose=False,
            )
    except Exception as exc:
        raise OnnxExportFailed(
            base.arch.id, f"torch.onnx.export failed: {underlying_error(exc)}"
        ) from exc
    seconds = time.perf_counter() - start
    graph = onnx.load(str(path), load_external_data=False)
    opset = next(o.version for o in graph.opset_import if o.domain in ("", "ai.onnx"))
    dims = graph.graph.input[0].type.tensor_type.shape.dim
    shape: list[int | str] = [d.dim_param or d.dim_value for d in dims]
    axis_names = {0: "batch", 2: "height", 3: "width"}
    return ExportReport(
        seconds=seconds,
        opset=int(opset),
        file_mb=path.stat().st_size / 2**20,
        outputs=[f"{n} {tuple(t.shape)}" for n, t in zip(names, leaves, strict=True)],
        input_shapes=[shape],
        dynamic_axes={axis_names[i]: i for i, d in enumerate(dims) if d.dim_param},
        shapes="",
    )


def static_only_reason(base: LoadedModel) -> str | None:
    """Why ``base`` is exported at fixed sizes only (None: try a dynamic graph first)."""
    if base.arch.fixed_input_size:
        return f"{base.arch.id} runs only at its fixed size"
    padding = [m for m in base.model.modules() if type(m).__name__ == "Conv2dAdaptivePadding"]
    if padding:
        # EfficientNet's "same" padding computes pads with math.ceil of the input size: with
        # symbolic sizes torch.export's sympy solver did not finish in 20 minutes (torch 2.13).
        return "its Conv2dAdaptivePadding (TF 'same' padding) stalls symbolic-shape export"
    return None


def _tensor_mode_network(base: LoadedModel) -> Any:
    """The ``nn.Module`` that is exported: ``base``'s tensor mode without data samples, its
    outputs flattened to a tuple (the host rebuilds the structure from the pytree spec)."""
    import torch

    class TensorMode(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = base.model

        def structured(self, inputs: Any) -> Any:
            return base.forward_tensor({"inputs": inputs, "data_samples": None})

        def forward(self, inputs: Any) -> tuple[Any, ...]:
            return tuple(torch.utils._pytree.tree_flatten(self.structured(inputs))[0])

    return TensorMode().eval()


def _output_names(base: LoadedModel, outputs: Any) -> list[str]:
    """``cls_scores.0``-style names: the head's ``predict_by_feat`` arguments, then the level."""
    import torch

    if base.arch.package == "mmseg":
        heads = ["seg_logits"]
    else:
        params = inspect.signature(base.model.bbox_head.predict_by_feat).parameters
        heads = [p for p in params if p not in _NOT_OUTPUTS]
    leaves, _ = torch.utils._pytree.tree_flatten_with_path(outputs)
    names = []
    for key_path, _leaf in leaves:
        parts = [str(getattr(k, "idx", getattr(k, "key", k))) for k in key_path]
        if not parts:
            names.append(heads[0])
            continue
        top = int(parts[0]) if parts[0].isdigit() else -1
        head = heads[top] if 0 <= top < len(heads) else f"output{parts[0]}"
        names.append(".".join([head, *parts[1:]]))
    return names


def underlying_error(exc: BaseException) -> str:
    """The underlying error of an export failure, in one line (the exporter wraps it)."""
    root = exc
    while root.__cause__ is not None:
        root = root.__cause__
    text = " ".join(line.strip() for line in str(root).splitlines() if line.strip())
    return f"{type(root).__name__}: {text}"[:300]

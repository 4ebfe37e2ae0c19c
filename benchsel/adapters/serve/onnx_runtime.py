"""The trained model served by ONNX Runtime: deployed latency and accuracy.

What is exported: the network in tensor mode (``LoadedModel.forward_tensor`` with no data
samples: backbone + neck + head, raw head outputs, no decoding, no NMS), through
``torch.onnx.export(..., dynamo=True)``, weights inside the one ``.onnx`` file. The outputs are
the head's tensors, flattened and named after the arguments of the head's own
``predict_by_feat`` (``cls_scores.0``, ``bbox_preds.2``, ``seg_logits``).

What runs on the host: the base model's own test pipeline and data preprocessor (before), and
the architecture's own post-processing on the session's outputs (after): mmdet / mmyolo
``bbox_head.predict_by_feat(..., rescale=True)`` (box decoding, score threshold, NMS, masks)
and ``add_pred_to_datasample``; mmseg ``decode_head.predict_by_feat`` (resize to the padded
input) and ``postprocess_result`` (crop, resize to the image); then the adapters' conversion to
canonical predictions. It is the same code ``mode='predict'`` runs after the network.

Input shapes: one graph with dynamic batch, height and width (``Dim.AUTO``), checked against
PyTorch at a second shape (another batch size, height and width) before it serves any shape.
Where that check fails (U-Net: its upsampling keeps the example's size) or the architecture
runs at one fixed size (SSD), each distinct input shape gets its own static graph, exported
and checked against PyTorch the first time ``preprocess`` produces that shape (so exports stay
out of ``measure_speed``'s timed calls, which reuse already preprocessed shapes).

What is timed (``benchsel.profiling.latency`` phases): preprocess = the base model's; forward =
the ONNX Runtime session (CPU execution provider, ``intra_op_num_threads`` = the measurement's
threads, as torch's) on the preprocessed batch, numpy in and out; predict = forward + host-side
post-processing + conversion; the host post-processing alone is predict - forward, or
:meth:`OnnxRuntimeModel.postprocess_outputs` timed by itself. The session's threads do not
spin-wait after a run (``allow_spinning=0``): spinning, they keep the cores the host
post-processing needs next (rtmdet-tiny at 320x320 on 2 cores: post-processing 6-8 ms
spinning against 4 ms not, forward 10 against 12 ms; e2e 20-24 against 17-18 ms).

Models whose network cannot be exported raise :class:`OnnxExportUnsupported` naming why; this
is decided from the model's structure before exporting (compiled mmcv ops such as RoIAlign
and MultiScaleDeformableAttention, forwards that need the data samples, two-stage proposal
NMS). An export or session that fails on a network that passed those checks raises
:class:`OnnxExportFailed` with the underlying message: not a known limit, so it is reported as
an error (``benchsel.store.failures``), never as "does not export". Both are
:class:`OnnxExportError`.
"""

from __future__ import annotations

import copy
import inspect
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchsel.adapters.base import LoadedModel, predict_by_shape
from benchsel.predictions import Prediction, SemanticMap

# A dynamic graph must reproduce PyTorch's outputs at a second shape within this, relative to
# the outputs' largest magnitude (ONNX Runtime agrees to ~1e-6; a graph with a size frozen at
# the example shape fails to run or is off by O(1)).
DYNAMIC_CHECK_TOLERANCE = 1e-3
# Static graphs one model may add (one per input shape) before it is refused: each holds a copy
# of the weights on disk and a live session.
MAX_STATIC_GRAPHS = 8
# The second shape the dynamic graph is checked at: batch 2, example height + 64, width + 32
# (multiples of 32 keep mmyolo's and U-Net's divisibility; different deltas catch a swap).
_PROBE_BATCH, _PROBE_EXTRA_HW = 2, (64, 32)
_INPUT_NAME = "inputs"
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
                input_names=[_INPUT_NAME],
                output_names=names,
                dynamic_shapes=dynamic_shapes,
                external_data=False,
                verbose=False,
            )
    except Exception as exc:
        raise OnnxExportFailed(base.arch.id, f"torch.onnx.export failed: {_cause(exc)}") from exc
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


def max_abs_output_diff(base: LoadedModel, ort_model: OnnxRuntimeModel, batch: Any) -> float:
    """Largest absolute difference between PyTorch's tensor-mode outputs and ONNX Runtime's on
    the preprocessed ``batch``, over every output tensor."""
    import torch

    with torch.no_grad():
        reference = _flat_numpy(base.forward_tensor(batch))
    served = ort_model.forward_network(batch)
    return _max_abs_diff(reference, served)


class OnnxRuntimeModel(LoadedModel):
    """``base`` (a trained :class:`LoadedModel`) with its network served by ONNX Runtime on the
    CPU and its own pre- and post-processing on the host; same interface, so ``evaluate_model``
    and ``measure_speed`` take it unchanged. A base on a GPU is copied to the CPU first.

    ``threads``: ONNX Runtime's ``intra_op_num_threads`` (default: torch's current thread
    count), so that PyTorch and ONNX Runtime timings use the same cores. ``example_images``
    (RGB uint8; default: seeded noise at the input size): the first is exported and the outputs
    compared with PyTorch's (``output_max_abs_diff``, updated with every static graph added).
    Raises :class:`OnnxExportUnsupported` for a network a known limit rules out,
    :class:`OnnxExportFailed` when its export or session fails.
    """

    def __init__(
        self,
        base: LoadedModel,
        path: Path | str,
        *,
        threads: int | None = None,
        example_images: Sequence[np.ndarray] | None = None,
    ) -> None:
        import torch

        reason = unsupported_reason(base)
        if reason is not None:
            raise OnnxExportUnsupported(base.arch.id, reason)
        if base.device != "cpu":
            base = _cpu_copy(base)
        self.base = base
        self.arch, self.classes, self.input_size = base.arch, base.classes, base.input_size
        self.model, self.config, self.load_report = base.model, base.config, base.load_report
        self.device = "cpu"
        self.task = base.task
        self.threads = int(threads or torch.get_num_threads())
        self.path = Path(path)
        self._graphs: list[_Graph] = []
        self._spec: Any = None
        self._failed_export_s = 0.0  # a dynamic export that failed before the static one
        self.output_max_abs_diff = 0.0
        if example_images is None:
            height, width = base.input_size
            rng = np.random.default_rng(0)
            example_images = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8)]
        batch = base.preprocess(list(example_images[:1]))
        static_only = _static_only_reason(base)
        dynamic = static_only is None
        dynamic_failure = None
        start = time.perf_counter()
        try:
            report = self._add_graph(self.path, batch, dynamic=dynamic)
        except OnnxExportError as exc:
            if not dynamic:
                raise
            # Symbolic sizes can break a trace that succeeds at fixed sizes (yolov7-tiny's
            # sympy cannot solve its pooling's size guards): try the example's sizes.
            dynamic_failure, dynamic = exc.reason, False
            self._failed_export_s = time.perf_counter() - start
            report = self._add_graph(self.path, batch, dynamic=False)
        if dynamic_failure is not None:
            report.shapes = f"one static graph per input shape: dynamic export: {dynamic_failure}"
        elif not dynamic:
            report.shapes = f"one static graph per input shape: {static_only}"
        elif not report.dynamic_axes:
            report.shapes = "one static graph per input shape: the trace kept no axis dynamic"
        else:
            failure = self._check_dynamic(batch)
            if failure is None:
                report.shapes = (
                    "one graph for every input shape (dynamic "
                    f"{', '.join(report.dynamic_axes)}), checked against PyTorch at a second "
                    "shape"
                )
            else:
                self._graphs[0].pin(tuple(batch["inputs"].shape))
                report.shapes = f"one static graph per input shape: {failure}"
        self._report = report

    # -- LoadedModel interface

    @property
    def export_report(self) -> ExportReport:
        """Every graph exported so far, summed (static graphs are added as shapes appear)."""
        first = self._report
        return ExportReport(
            seconds=self._failed_export_s + sum(g.report.seconds for g in self._graphs),
            opset=first.opset,
            file_mb=sum(g.report.file_mb for g in self._graphs),
            outputs=first.outputs,
            input_shapes=[list(g.shape_label) for g in self._graphs],
            dynamic_axes=dict(self._graphs[0].report.dynamic_axes) if self._dynamic else {},
            shapes=first.shapes,
        )

    @property
    def forward_description(self) -> str:
        return "ONNX Runtime session (CPU EP): the exported network, tensor mode"

    def preprocess(self, images: Sequence[np.ndarray]) -> Any:
        """The base model's test pipeline and data preprocessor; a new input shape without a
        graph gets its static graph here (exported and checked), not in the timed forward."""
        batch = self.base.preprocess(images)
        self._graph_for(batch)
        return batch

    def forward_network(self, inputs: Any) -> list[np.ndarray]:
        """The ONNX Runtime session on the preprocessed batch: numpy in, numpy out (flat)."""
        graph = self._graph_for(inputs)
        array = np.ascontiguousarray(inputs["inputs"].detach().numpy())
        return list(graph.session.run(None, {_INPUT_NAME: array}))

    def forward_tensor(self, inputs: Any) -> Any:
        """ONNX Runtime's outputs as torch tensors, structured like the base's tensor mode."""
        import torch

        leaves = [torch.from_numpy(a) for a in self.forward_network(inputs)]
        return torch.utils._pytree.tree_unflatten(leaves, self._spec)

    def postprocess(self, batch: Any) -> list[Prediction]:
        """ONNX Runtime's network, then the architecture's own post-processing on the host."""
        return self.postprocess_outputs(self.forward_network(batch), batch)

    def postprocess_outputs(self, outputs: Sequence[np.ndarray], batch: Any) -> list[Prediction]:
        """Host-side post-processing of the session's ``outputs`` for ``batch``: the head's own
        ``predict_by_feat`` (decoding, NMS / resizing) and the conversion to predictions."""
        import torch

        structured = torch.utils._pytree.tree_unflatten(
            [torch.from_numpy(np.asarray(a)) for a in outputs], self._spec
        )
        samples = batch["data_samples"]
        metas = [s.metainfo for s in samples]
        model = self.base.model
        with torch.no_grad():
            if self.base.arch.package == "mmseg":
                logits = model.decode_head.predict_by_feat(structured, metas)
                results = model.postprocess_result(logits, samples)
                # As MMSegModel.postprocess converts mode='predict' results.
                return [
                    SemanticMap(r.pred_sem_seg.data[0].detach().cpu().numpy().astype(np.int64))
                    for r in results
                ]
            # As SingleStageDetector.predict does after the network (rescale=True).
            instances = model.bbox_head.predict_by_feat(
                *structured, batch_img_metas=metas, rescale=True
            )
            results = model.add_pred_to_datasample(samples, instances)
            # MMDetModel._convert is the adapter's conversion of mode='predict' results.
            return [self.base._convert(r) for r in results]  # type: ignore[attr-defined]

    def predict(self, images: Sequence[np.ndarray]) -> list[Prediction]:
        """Predict on RGB images; segmentation batches equal-sized images only, as the base."""
        return predict_by_shape(self, images, by_shape=self.base.arch.package == "mmseg")

    # -- graphs

    @property
    def _dynamic(self) -> bool:
        return bool(self._graphs) and self._graphs[0].pattern.count(None) > 0

    def _add_graph(self, path: Path, batch: Any, *, dynamic: bool) -> ExportReport:
        import torch

        report = export_onnx(self.base, path, batch, dynamic=dynamic)
        session = _session(path, self.threads, self.base.arch.id)
        shape = report.input_shapes[0]
        pattern = tuple(None if isinstance(d, str) else int(d) for d in shape)
        self._graphs.append(_Graph(session, pattern, report))
        if self._spec is None:
            with torch.no_grad():
                self._spec = torch.utils._pytree.tree_flatten(self.base.forward_tensor(batch))[1]
        diff = max_abs_output_diff(self.base, self, batch)
        self.output_max_abs_diff = max(self.output_max_abs_diff, diff)
        return report

    def _graph_for(self, batch: Any) -> _Graph:
        shape = tuple(batch["inputs"].shape)
        for graph in self._graphs:
            if graph.accepts(shape):
                return graph
        if len(self._graphs) >= MAX_STATIC_GRAPHS:
            raise OnnxExportUnsupported(
                self.arch.id,
                f"more than {MAX_STATIC_GRAPHS} input shapes without a dynamic graph (one static "
                f"graph, with its own copy of the weights, per shape); this one is {shape}",
            )
        n, _, height, width = shape
        path = self.path.with_name(f"{self.path.stem}_{n}x{height}x{width}{self.path.suffix}")
        self._add_graph(path, batch, dynamic=False)
        return self._graphs[-1]

    def _check_dynamic(self, batch: Any) -> str | None:
        """None if the dynamic graph matches PyTorch at a second shape, else what went wrong."""
        import torch

        x = batch["inputs"]
        height, width = x.shape[2] + _PROBE_EXTRA_HW[0], x.shape[3] + _PROBE_EXTRA_HW[1]
        resized = torch.nn.functional.interpolate(x, size=(height, width), mode="bilinear")
        probe = torch.cat([resized, resized.flip(-1)] * _PROBE_BATCH)[:_PROBE_BATCH]
        where = f"{_PROBE_BATCH}x3x{height}x{width}"
        with torch.no_grad():
            try:
                reference = _flat_numpy(
                    self.base.forward_tensor({"inputs": probe, "data_samples": None})
                )
            except Exception as exc:
                return f"PyTorch cannot run the check shape {where} ({_cause(exc)})"
        import onnxruntime as ort

        quiet = ort.RunOptions()
        quiet.log_severity_level = 4  # a failure here is expected and reported, not logged
        try:
            served = self._graphs[0].session.run(None, {_INPUT_NAME: probe.numpy()}, quiet)
        except Exception as exc:
            return f"the dynamic graph fails at {where} ({_cause(exc)})"
        diff = _max_abs_diff(reference, served)
        scale = max(1.0, max(float(np.abs(r[np.isfinite(r)]).max(initial=0.0)) for r in reference))
        if not diff <= DYNAMIC_CHECK_TOLERANCE * scale:
            return f"the dynamic graph differs from PyTorch by {diff:.3g} at {where}"
        return None


def _static_only_reason(base: LoadedModel) -> str | None:
    """Why ``base`` is exported at fixed sizes only (None: try a dynamic graph first)."""
    if base.arch.fixed_input_size:
        return f"{base.arch.id} runs only at its fixed size"
    padding = [m for m in base.model.modules() if type(m).__name__ == "Conv2dAdaptivePadding"]
    if padding:
        # EfficientNet's "same" padding computes pads with math.ceil of the input size: with
        # symbolic sizes torch.export's sympy solver did not finish in 20 minutes (torch 2.13).
        return "its Conv2dAdaptivePadding (TF 'same' padding) stalls symbolic-shape export"
    return None


@dataclass
class _Graph:
    """An ONNX Runtime session and the input shapes it serves (None: any size on that axis)."""

    session: Any
    pattern: tuple[int | None, ...]
    report: ExportReport

    def accepts(self, shape: tuple[int, ...]) -> bool:
        return len(shape) == len(self.pattern) and all(
            p is None or p == s for p, s in zip(self.pattern, shape, strict=True)
        )

    def pin(self, shape: tuple[int, ...]) -> None:
        """Serve only ``shape`` (the one the graph was checked at)."""
        self.pattern = tuple(shape)
        self.report.dynamic_axes = {}
        self.report.input_shapes = [list(shape)]

    @property
    def shape_label(self) -> list[int | str]:
        names = {0: "batch", 2: "height", 3: "width"}
        return [names[i] if p is None else p for i, p in enumerate(self.pattern)]


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


def _session(path: Path, threads: int, arch_id: str) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only
    # Idle workers sleep instead of spinning: the host post-processing runs next on these cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        reason = f"ONNX Runtime cannot load the exported graph: {_cause(exc)}"
        raise OnnxExportFailed(arch_id, reason) from exc


def _cpu_copy(base: LoadedModel) -> LoadedModel:
    """A copy of ``base`` on the CPU (ONNX Runtime's CPU provider; host post-processing)."""
    copied = copy.deepcopy(base)
    copied.model.to("cpu")
    copied.device = "cpu"
    return copied


def _flat_numpy(outputs: Any) -> list[np.ndarray]:
    import torch

    leaves = torch.utils._pytree.tree_flatten(outputs)[0]
    return [t.detach().float().cpu().numpy() for t in leaves]


def _max_abs_diff(reference: Sequence[np.ndarray], served: Sequence[np.ndarray]) -> float:
    if len(reference) != len(served):
        return float("inf")
    diff = 0.0
    for ref, got in zip(reference, served, strict=True):
        if ref.shape != got.shape:
            return float("inf")
        if ref.size:
            a, b = ref.astype(np.float64), got.astype(np.float64)
            # Equal infinities and NaN on both sides agree; NaN or inf on one side is an
            # infinite difference (a plain max() would silently skip a NaN).
            agree = (a == b) | (np.isnan(a) & np.isnan(b))
            with np.errstate(invalid="ignore"):
                gaps = np.where(agree, 0.0, np.abs(a - b))
            gaps = np.nan_to_num(gaps, nan=np.inf, posinf=np.inf)
            diff = max(diff, float(gaps.max()))
    return diff


def _cause(exc: BaseException) -> str:
    """The underlying error of an export failure, in one line (the exporter wraps it)."""
    root = exc
    while root.__cause__ is not None:
        root = root.__cause__
    text = " ".join(line.strip() for line in str(root).splitlines() if line.strip())
    return f"{type(root).__name__}: {text}"[:300]

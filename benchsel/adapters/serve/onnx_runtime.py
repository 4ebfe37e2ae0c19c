"""The trained model served by ONNX Runtime: deployed latency and accuracy.

What runs in the session: the network exported by ``benchsel.adapters.serve.onnx_export``
(tensor mode, raw head outputs). What runs on the host: the base model's own test pipeline and
data preprocessor (before), and the architecture's own post-processing on the session's
outputs (after): mmdet / mmyolo ``bbox_head.predict_by_feat(..., rescale=True)`` (box decoding,
score threshold, NMS, masks) and ``add_pred_to_datasample``; mmseg
``decode_head.predict_by_feat`` (resize to the padded input) and ``postprocess_result`` (crop,
resize to the image); then the adapters' conversion to canonical predictions. It is the same
code ``mode='predict'`` runs after the network.

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
spin-wait after a run (``allow_spinning=0``): spinning, they hold the cores the host
post-processing needs next, which slows it by more than spinning speeds the forward (compare
the forward and e2e phases of ``benchmarks/onnxruntime_latency.py`` with spinning on and off).

A network a known limit rules out raises :class:`OnnxExportUnsupported`; an export or session
that fails otherwise raises :class:`OnnxExportFailed` (both from ``onnx_export``).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchsel.adapters.base import LoadedModel, predict_by_shape
from benchsel.adapters.serve.onnx_export import (
    INPUT_NAME,
    ExportReport,
    OnnxExportError,
    OnnxExportFailed,
    OnnxExportUnsupported,
    export_onnx,
    static_only_reason,
    underlying_error,
    unsupported_reason,
)
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
        static_only = static_only_reason(base)
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
        return list(graph.session.run(None, {INPUT_NAME: array}))

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
                return f"PyTorch cannot run the check shape {where} ({underlying_error(exc)})"
        import onnxruntime as ort

        quiet = ort.RunOptions()
        quiet.log_severity_level = 4  # a failure here is expected and reported, not logged
        try:
            served = self._graphs[0].session.run(None, {INPUT_NAME: probe.numpy()}, quiet)
        except Exception as exc:
            return f"the dynamic graph fails at {where} ({underlying_error(exc)})"
        diff = _max_abs_diff(reference, served)
        scale = max(1.0, max(float(np.abs(r[np.isfinite(r)]).max(initial=0.0)) for r in reference))
        if not diff <= DYNAMIC_CHECK_TOLERANCE * scale:
            return f"the dynamic graph differs from PyTorch by {diff:.3g} at {where}"
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
        reason = f"ONNX Runtime cannot load the exported graph: {underlying_error(exc)}"
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

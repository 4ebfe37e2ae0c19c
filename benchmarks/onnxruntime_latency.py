"""PyTorch eager vs ONNX Runtime (CPU provider) on the same model and images, side by side.

For each model one network is built (seeded LeCun-normal weights with zero biases, so that the
heads emit varied scores and boxes as a trained model does, rather than an untrained head's
constant prior; eval mode; score thresholds 0), exported
by benchsel (``OnnxRuntimeModel``: tensor-mode export with ``torch.onnx.export(dynamo=True)``,
the head's own post-processing on the host) and timed both ways, one image per call:

  e2e        ``predict([rgb])``: test pipeline + data preprocessor + network + post-processing
             + conversion; PyTorch runs the network eagerly, ONNX Runtime runs the export.
  forward    the network alone on one preprocessed batch (``forward_network``).

Each block times both runtimes back to back in alternating order (AB, BA, ...), so load changes
on a shared machine hit both alike. Prints the medians, the ratio PyTorch / ONNX Runtime (above
1: ONNX Runtime is faster), the lowest and highest per-block e2e ratio, the export time, the
largest raw-output difference and whether both return the same detections (count and scores
within 1e-4) / label maps.
ONNX Runtime gets as many intra-op threads as torch.

    python benchmarks/onnxruntime_latency.py [--models ID[:VARIANT] ...] [--size 320]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from latency_overhead import keep_all_detections, load_images

# One entry per exportable family and generation (single-stage detectors, mmseg CNNs).
MODELS = (
    "rtmdet-tiny",
    "yolox-tiny",
    "yolov3-d53-320",
    "yolov5-n",
    "yolov6-s",
    "yolov7-tiny",
    "yolov8-n",
    "ssdlite-mobilenetv2",
    "retinanet-r50",
    "retinanet-effb3",
    "unet-s5-d16:light",
    "fcn-r50",
    "deeplabv3plus-r50",
)


def spread_weights(network: Any, seed: int = 0) -> None:
    """Seeded unit-scale weights: every convolution and linear layer LeCun normal, biases 0."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, torch.nn.Conv2d | torch.nn.Linear):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) / fan_in**0.5)
                if module.bias is not None:
                    module.bias.zero_()


def _same(a: Any, b: Any) -> bool:
    if hasattr(a, "labels") and not hasattr(a, "boxes"):
        return bool(np.array_equal(a.labels, b.labels))
    return len(a.boxes) == len(b.boxes) and bool(
        np.allclose(np.sort(a.scores), np.sort(b.scores), atol=1e-4)
    )


def compare(model_id: str, size: int, images: list[np.ndarray], blocks: int) -> dict[str, Any]:
    import torch

    from benchsel.adapters import ClassSpec, build_model
    from benchsel.adapters.serve.onnx_runtime import OnnxRuntimeModel
    from benchsel.catalog import load_catalog
    from benchsel.profiling.latency import PerfCounterTimer, time_loop

    arch_id, _, variant = model_id.partition(":")
    arch = load_catalog().get(arch_id)
    input_size = arch.input_size if arch.fixed_input_size else (size, size)
    model = build_model(
        arch,
        ClassSpec.coco_like(arch, 80 if arch.package != "mmseg" else 19),
        variant=variant or None,
        input_size=input_size,
    )
    spread_weights(model.model)
    keep_all_detections(model.model)
    model.reparameterize()
    with tempfile.TemporaryDirectory() as tmp:
        deployed = OnnxRuntimeModel(
            model,
            Path(tmp) / "model.onnx",
            threads=torch.get_num_threads(),
            example_images=images[:1],
        )
        same = _same(model.predict(images[:1])[0], deployed.predict(images[:1])[0])
        batch = model.preprocess(images[:1])
        sides = {"pytorch": model, "onnxruntime": deployed}
        position = dict.fromkeys(sides, 0)

        def e2e(name: str) -> None:
            sides[name].predict([images[position[name] % len(images)]])
            position[name] += 1

        timer = PerfCounterTimer()
        samples: dict[str, dict[str, list[float]]] = {"e2e": {}, "forward": {}}
        for name, side in sides.items():
            with torch.no_grad():
                time_loop(lambda n=name: e2e(n), timer, warmup=3, min_iters=0, min_seconds=0)
                side.forward_network(batch)
        ratios = []
        with torch.no_grad():
            for block in range(blocks):
                order = list(sides) if block % 2 == 0 else list(sides)[::-1]
                pair = {}
                for name in order:
                    ms = time_loop(
                        lambda n=name: e2e(n), timer, warmup=0, min_iters=3, min_seconds=0
                    )
                    samples["e2e"].setdefault(name, []).extend(ms)
                    pair[name] = statistics.median(ms)
                    fwd = time_loop(
                        lambda s=sides[name]: s.forward_network(batch),
                        timer,
                        warmup=0,
                        min_iters=2,
                        min_seconds=0,
                    )
                    samples["forward"].setdefault(name, []).extend(fwd)
                ratios.append(pair["pytorch"] / pair["onnxruntime"])
        med = {
            phase: {name: statistics.median(v) for name, v in by.items()}
            for phase, by in samples.items()
        }
        return {
            "model": model_id,
            "input": f"{input_size[0]}x{input_size[1]}",
            "torch_e2e": med["e2e"]["pytorch"],
            "ort_e2e": med["e2e"]["onnxruntime"],
            "ratio": med["e2e"]["pytorch"] / med["e2e"]["onnxruntime"],
            "block_ratios": (min(ratios), max(ratios)),
            "fwd_ratio": med["forward"]["pytorch"] / med["forward"]["onnxruntime"],
            "export_s": deployed.export_report.seconds,
            "max_diff": deployed.output_max_abs_diff,
            "same": same,
            "n": len(samples["e2e"]["pytorch"]),
        }


def main() -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), help="id or id:variant")
    parser.add_argument("--size", type=int, default=320, help="square input size (not SSD's)")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--blocks", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2, help="torch and ONNX Runtime threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    images, where = load_images(args.images)
    print(f"images: {where}; threads: {args.threads}; one image per call; medians in ms")
    header = (
        f"{'model':<22} {'input':>8} {'torch e2e':>10} {'ORT e2e':>9} {'ratio':>6} "
        f"{'(blocks)':>13} {'fwd ratio':>9} {'export s':>8} {'max diff':>9} same  n"
    )
    print(header)
    for model_id in args.models:
        try:
            r = compare(model_id, args.size, images, args.blocks)
        except Exception as exc:  # one model's failure must not hide the others' numbers
            print(f"{model_id:<22} failed: {type(exc).__name__}: {exc}"[:200])
            continue
        lo, hi = r["block_ratios"]
        print(
            f"{r['model']:<22} {r['input']:>8} {r['torch_e2e']:>10.1f} {r['ort_e2e']:>9.1f} "
            f"{r['ratio']:>6.2f} {f'({lo:.2f}-{hi:.2f})':>13} {r['fwd_ratio']:>9.2f} "
            f"{r['export_s']:>8.1f} {r['max_diff']:>9.1e} {'yes' if r['same'] else 'NO':>4} "
            f"{r['n']:>2}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

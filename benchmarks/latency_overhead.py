"""End-to-end latency: benchsel's predict vs OpenMMLab's own inference API, same model and images.

For each model, one built network (random weights, eval mode) is timed two ways on the same
images, one image per call. Detection score thresholds are set to 0, so that the untrained
Mask R-CNN still returns ``max_per_img`` detections with masks and post-processing and conversion
have work to do (``--stock-thresholds`` keeps the config's). An untrained dense head's boxes have
zero size and its ``min_bbox_size`` filter drops them before NMS: the ``dets`` column shows it.

  benchsel    ``LoadedModel.predict([rgb])``: what benchsel's e2e phase times (test pipeline +
              data preprocessor + predict with post-processing + conversion to canonical
              predictions).
  OpenMMLab   ``mmdet.apis.inference_detector(model, bgr)`` / ``mmseg.apis.inference_model``,
              as a user would call it, with ``model.cfg`` holding the stock config whose test
              pipeline sizes are set to the same input size (it rebuilds its pipeline per call).

Both loops use benchsel's harness (``time_loop`` with ``PerfCounterTimer``, no warm-up inside a
block). Each block times both sides back to back, in alternating order (AB, BA, ...), so drift
on a shared machine hits both alike. Prints the median ms of each side, the ratio benchsel /
OpenMMLab, the lowest and highest ratio of the two medians within one block (a wide range means
the machine's load changed within blocks) and the sample counts. Real images are the COCO
val2017 jpgs of ../shared/data/coco_tiny when present, else a generated sample.

    python benchmarks/latency_overhead.py [--models ID[:VARIANT] ...] [--threads 1] [--blocks 16]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

COCO_TINY = Path(__file__).resolve().parents[1].parent / "shared/data/coco_tiny/val2017"
# (architecture id, variant): a one-stage and a two-stage detector, and a segmenter.
MODELS = ("rtmdet-tiny", "mask-rcnn-r50:r18-light", "unet-s5-d16:light")


def load_images(count: int) -> tuple[list[np.ndarray], str]:
    """``count`` RGB images decoded once: COCO val2017 jpgs if present, else generated."""
    from benchsel.data.images import read_rgb

    files = sorted(COCO_TINY.glob("*.jpg"))[:count] if COCO_TINY.is_dir() else []
    if not files:
        from benchsel.data.sample import generate_sample

        root = Path(tempfile.mkdtemp(prefix="benchsel-latency-"))
        generate_sample(root, count, 256, 0)
        files = sorted((root / "images").glob("*.png"))[:count]
        where = f"generated sample ({len(files)} images, 256x256)"
    else:
        where = f"{COCO_TINY} ({len(files)} jpgs)"
    return [read_rgb(f) for f in files], where


def user_config(model: Any) -> Any:
    """The stock config as a user holds it, its test pipeline sizes set to the model's size."""
    cfg = copy.deepcopy(model.config)
    height, width = model.input_size
    for pipeline in (cfg.test_pipeline, cfg.test_dataloader.dataset.pipeline):
        for step in pipeline:
            kind = str(step["type"]).split(".")[-1]
            if kind == "Resize":
                step["scale"] = (width, height)
            elif kind == "Pad" and step.get("size") is not None:
                step["size"] = (width, height)
    return cfg


def openmmlab_call(model: Any) -> Callable[[np.ndarray], Any]:
    """One image (BGR, as OpenMMLab reads files) through the package's own inference API."""
    from mmengine.registry import init_default_scope

    model.model.cfg = user_config(model)
    scope = model.arch.package
    init_default_scope(scope)  # what init_detector / init_model do
    if scope == "mmdet":
        from mmdet.apis import inference_detector

        return lambda bgr: inference_detector(model.model, bgr)
    from mmseg.apis import inference_model

    return lambda bgr: inference_model(model.model, bgr)


def keep_all_detections(network: Any) -> None:
    """Score threshold 0 in every head that has one."""
    for module in network.modules():
        cfg = getattr(module, "test_cfg", None)
        if isinstance(cfg, dict) and "score_thr" in cfg:
            cfg["score_thr"] = 0.0


def compare(
    model_id: str,
    size: int | None,
    images: list[np.ndarray],
    blocks: int,
    iters: int,
    keep_all: bool,
) -> dict[str, Any]:
    from benchsel.adapters import ClassSpec, build_model
    from benchsel.catalog import load_catalog
    from benchsel.profiling.latency import PerfCounterTimer, time_loop

    arch_id, _, variant = model_id.partition(":")
    arch = load_catalog().get(arch_id)
    var = arch.variant(variant) if variant else None
    input_size = (size, size) if size else (var.input_size if var and var.input_size else None)
    model = build_model(
        arch,
        ClassSpec.coco_like(arch, 80 if arch.package == "mmdet" else 19),
        variant=variant or None,
        input_size=input_size or arch.input_size,
    )
    if keep_all:
        keep_all_detections(model.model)
    mm = openmmlab_call(model)
    bgr = [np.ascontiguousarray(im[..., ::-1]) for im in images]
    ours = model.predict([images[0]])[0]
    same = same_output(ours, mm(bgr[0]))
    detections = len(ours.boxes) if hasattr(ours, "boxes") else None
    position = {"benchsel": 0, "openmmlab": 0}

    def benchsel_step() -> None:
        i = position["benchsel"]
        model.predict([images[i % len(images)]])
        position["benchsel"] = i + 1

    def openmmlab_step() -> None:
        i = position["openmmlab"]
        mm(bgr[i % len(bgr)])
        position["openmmlab"] = i + 1

    timer = PerfCounterTimer()
    samples: dict[str, list[float]] = {"benchsel": [], "openmmlab": []}
    steps = {"benchsel": benchsel_step, "openmmlab": openmmlab_step}
    for name in ("openmmlab", "benchsel"):  # warm-up: caches, allocator, lazy imports
        time_loop(steps[name], timer, warmup=2, min_iters=0, min_seconds=0)
    block_ratios = []  # per block: a load change between blocks hits both sides alike
    for block in range(blocks):
        order = ("benchsel", "openmmlab") if block % 2 == 0 else ("openmmlab", "benchsel")
        pair: dict[str, float] = {}
        for name in order:
            block_ms = time_loop(steps[name], timer, warmup=0, min_iters=iters, min_seconds=0)
            samples[name] += block_ms
            pair[name] = statistics.median(block_ms)
        block_ratios.append(pair["benchsel"] / pair["openmmlab"])
    b, o = statistics.median(samples["benchsel"]), statistics.median(samples["openmmlab"])
    height, width = model.input_size
    return {
        "model": model_id,
        "input": f"{height}x{width}",
        "benchsel_ms": b,
        "openmmlab_ms": o,
        "ratio": b / o,
        "block_ratios": (min(block_ratios), max(block_ratios)),
        "n_benchsel": len(samples["benchsel"]),
        "n_openmmlab": len(samples["openmmlab"]),
        "same_output": same,
        "detections": detections,
    }


def same_output(ours: Any, theirs: Any) -> bool:
    """Whether both sides predicted the same thing on an image (boxes and scores, or labels)."""
    if hasattr(theirs, "pred_sem_seg"):
        return bool(np.array_equal(ours.labels, theirs.pred_sem_seg.data[0].cpu().numpy()))
    inst = theirs.pred_instances
    boxes = inst.bboxes.cpu().numpy()
    return len(boxes) == len(ours.boxes) and bool(
        np.allclose(np.sort(inst.scores.cpu().numpy()), np.sort(ours.scores), atol=1e-5)
    )


def main() -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), help="id or id:variant")
    parser.add_argument("--size", type=int, help="square input size (default: each model's)")
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--blocks", type=int, default=16, help="blocks, each timing both sides")
    parser.add_argument("--iters", type=int, default=2, help="timed calls per side per block")
    parser.add_argument(
        "--stock-thresholds",
        action="store_true",
        help="keep the configs' score thresholds (random weights then give ~0 detections)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1: on a shared machine, more threads than free cores make OpenMP "
        "spin and the times swing several-fold)",
    )
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    images, where = load_images(args.images)
    thresholds = "stock" if args.stock_thresholds else "0"
    print(
        f"CPU, {torch.get_num_threads()} torch threads, batch 1, fp32, random weights, "
        f"detection score threshold {thresholds}; images: {where}"
    )
    print(
        "timed per call with benchsel.profiling.latency.time_loop + PerfCounterTimer, "
        f"{args.blocks} blocks (AB, BA, ...) of {args.iters} calls per side, "
        "after 2 untimed calls each"
    )
    header = (
        f"{'model':<24} {'input':>8} {'benchsel ms':>12} {'OpenMMLab ms':>13} {'ratio':>6} "
        f"{'block ratios':>13} {'n':>7} {'dets':>5} {'same output':>11}"
    )
    print(header)
    for model_id in args.models:
        r = compare(model_id, args.size, images, args.blocks, args.iters, not args.stock_thresholds)
        print(
            f"{r['model']:<24} {r['input']:>8} {r['benchsel_ms']:>12.1f} "
            f"{r['openmmlab_ms']:>13.1f} {r['ratio']:>6.3f} "
            f"{r['block_ratios'][0]:>6.2f}-{r['block_ratios'][1]:<6.2f} "
            f"{r['n_benchsel']:>3}/{r['n_openmmlab']:<3} "
            f"{'-' if r['detections'] is None else r['detections']:>5} "
            f"{'yes' if r['same_output'] else 'NO':>11}"
        )
    print(
        "ratio = median benchsel / median OpenMMLab over all calls; block ratios = lowest and "
        "highest ratio of the two sides' medians within one block; "
        "n = timed calls benchsel/OpenMMLab; dets = detections on the first image; "
        "same output = equal predictions on the first image"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

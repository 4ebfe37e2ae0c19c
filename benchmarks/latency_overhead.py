"""Latency harness overhead: benchsel's timed loop vs a bare loop around the same forward.

Blocks of the two loops alternate, so load on the machine hits both alike; the medians of
per-iteration times are compared. Target: the harness within 3% of the bare loop.

    python benchmarks/latency_overhead.py [--arch rtmdet-tiny] [--size 320] [--blocks 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time


def main() -> int:
    import torch

    from benchsel.adapters import ClassSpec, build_model
    from benchsel.measure.latency import PerfCounterTimer, time_loop

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="rtmdet-tiny")
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--blocks", type=int, default=5)
    args = parser.parse_args()

    model = build_model(args.arch, ClassSpec.generic(80), input_size=(args.size, args.size))
    import numpy as np

    image = np.zeros((args.size, args.size, 3), np.uint8)
    with torch.no_grad():
        batch = model.preprocess([image])

        def forward() -> None:
            model.forward_tensor(batch)

        for _ in range(5):
            forward()
        harness: list[float] = []
        bare: list[float] = []
        for _ in range(args.blocks):
            harness += time_loop(
                forward, PerfCounterTimer(), warmup=0, min_iters=args.iters, min_seconds=0
            )
            for _ in range(args.iters):
                start = time.perf_counter()
                forward()
                bare.append((time.perf_counter() - start) * 1000)
    h, b = statistics.median(harness), statistics.median(bare)
    print(
        f"{args.arch} forward at {args.size}x{args.size}, batch 1, CPU, "
        f"{torch.get_num_threads()} threads, {len(bare)} iterations each"
    )
    print(
        f"bare loop median {b:.2f} ms | harness median {h:.2f} ms | "
        f"overhead {100 * (h / b - 1):+.2f}% (target within 3%)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

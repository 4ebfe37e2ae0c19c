"""FLOPs counting time per catalog architecture at its default input size (80 classes).

python benchmarks/flops_time.py [--ids rtmdet-tiny,yolox-s]
"""

from __future__ import annotations

import argparse
import sys
import time


def main() -> int:
    from benchsel.adapters import ClassSpec, build_model
    from benchsel.catalog import load_catalog
    from benchsel.profiling.complexity import count_complexity

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", default="", help="Comma-separated ids (default: all).")
    args = parser.parse_args()
    catalog = load_catalog()
    ids = args.ids.split(",") if args.ids else catalog.ids()
    print(
        f"{'architecture':<26} {'input':>10} {'params M':>9} {'GFLOPs':>9} {'build s':>8} "
        f"{'count s':>8}  uncounted ops with arithmetic"
    )
    for arch_id in ids:
        arch = catalog.get(arch_id)
        if "panoptic" in arch.tasks:
            classes = ClassSpec.generic(133, num_things=80)
        elif arch.primary_task == "semantic":
            classes = ClassSpec.semantic([str(i) for i in range(19)])
        else:
            classes = ClassSpec.generic(80)
        start = time.perf_counter()
        model = build_model(arch, classes)
        built = time.perf_counter() - start
        result = count_complexity(model)
        heavy = [op for op in result.unsupported_ops if op.startswith("prim::PythonOp")]
        h, w = result.input_size
        print(
            f"{arch_id:<26} {f'{h}x{w}':>10} {result.params_m:>9.2f} {result.gflops:>9.2f} "
            f"{built:>8.1f} {result.count_seconds:>8.1f}  {', '.join(heavy) or '-'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

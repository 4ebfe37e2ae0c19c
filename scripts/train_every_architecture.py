"""Two training iterations and an evaluation for every catalog architecture, on CPU.

A check that the generated training configs work for each family (about 15 minutes on 2 cores,
Mask2Former dominating); prints one line per architecture and exits 1 if any failed.

    python scripts/train_every_architecture.py [--ids dino-4scale-r50,ssd300]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from pathlib import Path


def main() -> int:
    from benchsel.adapters import build_model
    from benchsel.adapters.train.training import train
    from benchsel.catalog import load_catalog
    from benchsel.evaluation.driver import evaluate
    from benchsel.pipeline.layout import RunLayout
    from benchsel.pipeline.prepare import prepare
    from benchsel.pipeline.trial import class_spec
    from benchsel.suite import parse_suite

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", default="", help="Comma-separated ids (default: all).")
    args = parser.parse_args()
    catalog = load_catalog()
    ids = args.ids.split(",") if args.ids else catalog.ids()
    work = Path(tempfile.mkdtemp(prefix="benchsel-sweep-"))
    suite = parse_suite(
        {
            "name": "sweep",
            "dataset": {"sample": {"images": 12, "size": 128}},
            "candidates": [{"id": "rtmdet-tiny"}],
            "output": str(work),
        }
    )
    prepared = prepare(suite, {"detection", "instance", "semantic", "panoptic"}, RunLayout(work))
    failed = 0
    for arch_id in ids:
        arch = catalog.get(arch_id)
        task = "panoptic" if "panoptic" in arch.tasks else arch.primary_task
        size = arch.input_size if arch.fixed_input_size else max((128, 128), arch.min_input_size)
        start = time.perf_counter()
        try:
            model = build_model(arch, class_spec(prepared, task), input_size=size)
            result = train(
                model,
                prepared.train_split_cfg(task, 1.0),
                work / arch_id,
                iterations=2,
                batch_size=2,
                seed=0,
            )
            evaluate(model, task, prepared.val_dataset(task), limit=2)
            status = f"ok      loss {result.loss_curve[-1].get('loss', float('nan')):.3f}"
        except Exception as exc:
            failed += 1
            status = f"FAILED  {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=-3)}"
        print(
            f"{arch_id:<26} {task:<10} {size[0]}x{size[1]:<5} "
            f"{time.perf_counter() - start:6.1f} s  {status}",
            flush=True,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

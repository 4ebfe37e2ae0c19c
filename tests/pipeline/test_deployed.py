"""A suite with test-time augmentation and ONNX Runtime on: every trial is scored and timed
both ways, or says why it cannot be; the report shows both sections."""

from __future__ import annotations

import math

import pytest
import yaml

from benchsel.pipeline.executors import LocalExecutor
from benchsel.pipeline.run import run_suite
from benchsel.report import write_report
from benchsel.store import ResultsStore
from benchsel.suite import load_suite
from tests.pipeline.test_run import FAST

pytestmark = pytest.mark.slow


def test_tta_and_onnxruntime_end_to_end(tmp_path):
    suite_file = tmp_path / "suite.yaml"
    suite_file.write_text(
        yaml.safe_dump(
            {
                "name": "t",
                "dataset": {"sample": {"images": 16, "size": 64, "seed": 0}},
                "candidates": [
                    {"id": "yolov8-n", "task": "detection", "input_size": [64, 64]},
                    {
                        "id": "unet-s5-d16",
                        "task": "semantic",
                        "variants": ["light"],
                        "losses": ["boundary"],
                        "input_size": [64, 64],
                    },
                    {
                        "id": "mask-rcnn-r50",
                        "task": "instance",
                        "variants": ["r18-light"],
                        "input_size": [64, 64],
                    },
                ],
                "training": FAST["training"],
                "measurement": {
                    **FAST["measurement"],
                    "tta": True,
                    "runtimes": ["pytorch", "onnxruntime"],
                    "input_size": [96, 96],  # deployed at another size than trained
                },
                "output": "out",
            }
        )
    )
    summary = run_suite(load_suite(suite_file), executor=LocalExecutor())
    with ResultsStore(summary.store_path) as store:
        trials = {t.arch_id: t for t in store.trials()}
    assert {t.status for t in trials.values()} == {"ok"}, {
        k: t.error for k, t in trials.items() if t.error
    }
    for arch_id in ("yolov8-n", "unet-s5-d16"):
        m, c = trials[arch_id].metrics, trials[arch_id].conditions
        assert m["tta_views"] >= 2 and c["tta"]["views"] == m["tta_views"]
        for key in ("tta_accuracy", "tta_gain", "tta_latency_e2e_p50_ms"):
            assert m[key] is not None and math.isfinite(m[key]), (arch_id, key)
        # compared with PyTorch at the deployment size, where TTA and ONNX Runtime run
        assert c["deploy_accuracy"]["input_size"] == [96, 96]
        plain = m["deploy_accuracy"]
        assert m["deploy_accuracy_ci_low"] <= plain <= m["deploy_accuracy_ci_high"]
        assert m["tta_gain"] == pytest.approx(m["tta_accuracy"] - plain, abs=1e-9)
        assert m["onnxruntime_latency_e2e_p50_ms"] > 0 and m["onnxruntime_fps"] > 0
        assert m["onnxruntime_output_max_abs_diff"] < 1e-3
        assert m["onnxruntime_accuracy_delta"] == pytest.approx(
            m["onnxruntime_accuracy"] - plain, abs=1e-9
        )
        assert c["onnxruntime"]["agreement"].startswith("within tolerance"), c["onnxruntime"]
        assert c["onnxruntime"]["agrees"] is True
        assert "measurement_failures" not in c, c["measurement_failures"]
    semantic = trials["unet-s5-d16"].metrics
    assert 0 <= semantic["boundary_IoU"] <= 1 and semantic["boundary_IoU_ci_low"] is not None
    mask = trials["mask-rcnn-r50"]
    assert mask.conditions["tta"]["unavailable"].startswith("TTA not available upstream")
    assert "RoIAlign" in mask.conditions["onnxruntime"]["export_error"]
    assert "tta_accuracy" not in mask.metrics and "onnxruntime_fps" not in mask.metrics
    # documented upstream limits, stored with their kind (benchsel.store.failures)
    assert [(f["part"], f["kind"]) for f in mask.conditions["measurement_failures"]] == [
        ("tta", "unsupported"),
        ("onnxruntime", "unsupported"),
    ]
    assert mask.conditions["onnxruntime"]["failure"]["type"] == "OnnxExportUnsupported"
    html = write_report(summary.store_path, tmp_path / "report.html").read_text()
    assert 'id="tta"' in html and 'id="runtime"' in html
    assert "TTA not available upstream" in html and "RoIAlign" in html
    assert "does not export to ONNX" in html and "measurement failed" not in html

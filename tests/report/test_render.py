"""The HTML report: escaping of every user string, and a real report in headless Chromium."""

from __future__ import annotations

import json
import shutil

import pytest

from benchsel.report import build_report, write_report
from benchsel.store import ResultsStore

# The hostile class name and error the `synthetic_store` fixture plants, written out here as the
# expected strings.
HOSTILE = "<script>alert(1)</script>"
HOSTILE_ERROR = '<img src=x onerror="alert(2)">'
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def test_user_strings_are_escaped(synthetic_store):
    with ResultsStore(synthetic_store) as store:
        page = build_report(store)
    assert HOSTILE not in page and HOSTILE_ERROR not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the class list, as text
    assert "&lt;img src=x onerror=" in page  # the failed trial's error, as text
    assert "\\u0026lt;script\\u0026gt;" in page  # figure data: HTML-escaped, then JSON
    assert page.count("<script>") == 2  # plotly.js and our own code, nothing else


def test_report_write_is_atomic_and_clear_on_failure(synthetic_store, tmp_path):
    out = write_report(synthetic_store, tmp_path / "out" / "report.html")
    assert out.read_text().startswith("<!DOCTYPE html>")
    from benchsel.errors import BenchselError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(BenchselError, match="cannot write the report"):
        write_report(synthetic_store, blocker / "report.html")
    assert not list(tmp_path.glob("**/*.tmp"))


def _why_store(tmp_path) -> str:
    """A store whose detection trial has every "why" result and val predictions on a real
    image; the first class name is hostile HTML."""
    import numpy as np
    from PIL import Image

    from benchsel.evaluation.thresholds import confusion_json
    from benchsel.evaluation.val_predictions import ValPredictions
    from benchsel.store import TrialRecord

    classes = (HOSTILE, "square", "triangle")
    image = tmp_path / "img.png"
    Image.fromarray(np.full((96, 128, 3), 90, np.uint8)).save(image)
    preds = ValPredictions(
        kind="boxes",
        classes=classes,
        image_ids=np.array([7]),
        image_files=np.array([str(image)]),
        image_sizes=np.array([[96, 128]]),
        gt_image=np.array([0, 0]),
        gt_id=np.array([31, 32]),
        gt_label=np.array([0, 1]),
        gt_box=np.array([[10, 10, 40, 40], [60, 40, 100, 80]], dtype=np.float32),
        gt_crowd=np.zeros(2, bool),
        det_image=np.zeros(3, np.int64),
        det_label=np.array([0, 2, 1]),
        det_box=np.array([[10, 10, 40, 40], [60, 40, 100, 80], [5, 60, 30, 90]], np.float32),
        det_score=np.array([0.9, 0.9, 0.8], np.float32),
    )
    thresholds = [0.0, 0.5, 1.0]
    metrics = {
        "accuracy": 0.4,
        "bbox_AP": 0.4,
        "f1_best": 0.6,
        "f1_best_threshold": 0.5,
        "tide_AP50": 0.5,
        **{f"tide_{k}": 0.05 for k in ("cls", "loc", "both", "dupe", "bkg", "miss", "fp", "fn")},
        **{f"analysis_{k}": v for k, v in zip(("C75", "C50", "Loc", "Oth", "BG", "FN"),
                                               (0.2, 0.4, 0.5, 0.6, 0.7, 1.0), strict=True)},
    }  # fmt: skip
    for name in classes:
        metrics |= {f"bbox_AP/{name}": 0.4, f"bbox_AP/{name}_ci_low": 0.3}
        metrics[f"bbox_AP/{name}_ci_high"] = 0.5
    path = tmp_path / "why.sqlite"
    with ResultsStore(path) as store:
        store.start_run("why", {}, {}, {"prepared": {"classes": list(classes), "num_things": 3}})
        store.save_trial(
            TrialRecord(
                hash="w", suite_name="why", arch_id="rtmdet-tiny", family="yolo",
                task="detection", variant="default", loss=None, data_fraction=1.0, seed=0,
                spec={}, status="ok", metrics=metrics, val_predictions=preds.to_bytes(),
                curves={
                    "f1": {"thresholds": thresholds, "mean_f1": [0.3, 0.6, 0.0],
                           "best_threshold": 0.5},
                    "confusion": confusion_json(
                        np.eye(4, dtype=int), list(classes), "objects", True, "test"
                    ),
                },
            )
        )  # fmt: skip
    return str(path)


def test_why_section_draws_breakdowns_and_a_label_issue_gallery(tmp_path):
    from pathlib import Path

    with ResultsStore(Path(_why_store(tmp_path))) as store:
        page = build_report(store)
    assert 'id="why-detection"' in page and 'id="issues-detection"' in page
    assert page.count("data:image/jpeg;base64,") >= 2  # the wrong class and the missing box
    assert "wrong class" in page and "missing" in page and "annotation 32" in page
    assert HOSTILE not in page and page.count("<script>") == 2
    assert "labelled &lt;script&gt;alert(1)&lt;/script&gt;" in page  # a caption, as text
    for title in ("AP lost to each error type", "F1 against confidence", "confusion of"):
        assert title in page
    assert len(page) < 6_000_000  # plotly.js is ~4.6 MB; the crops add kilobytes


@pytest.mark.slow
@pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian chromium not installed "
    "(scripts/install_browser.sh installs it; `make test` runs that)",
)
def test_real_report_in_headless_chromium(tmp_path):
    pytest.importorskip("playwright")
    from playwright.sync_api import sync_playwright

    from benchsel.data.sample import generate_sample
    from benchsel.pipeline.executors import LocalExecutor
    from benchsel.pipeline.run import run_suite
    from benchsel.suite import parse_suite

    data = tmp_path / "data"
    generate_sample(data, images=16, size=64, seed=0)
    pan = data / "annotations" / "panoptic_all.json"
    content = json.loads(pan.read_text())
    content["categories"][0]["name"] = HOSTILE  # a user's class name
    pan.write_text(json.dumps(content))
    suite = parse_suite(
        {
            "name": "browser",
            "dataset": {"path": str(data), "format": "coco_panoptic"},
            "candidates": [
                {"id": "rtmdet-tiny", "task": "detection", "input_size": [64, 64]},
                {
                    "id": "unet-s5-d16",
                    "task": "semantic",
                    "variants": ["light"],
                    "input_size": [64, 64],
                },
            ],
            "training": {"iterations": 3, "batch_size": 2, "data_fractions": [0.5, 1.0]},
            "measurement": {"batch_sizes": [1], "device": "cpu", "min_iters": 2, "min_seconds": 0},
            "constraints": {"min_fps": 1},  # a line on the plot; met on a loaded machine
            "output": str(tmp_path / "out"),
        }
    )
    summary = run_suite(suite, executor=LocalExecutor())
    assert not summary.failed
    report = write_report(summary.store_path, tmp_path / "report.html")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        errors: list[str] = []
        dialogs: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(report.as_uri())
        page.wait_for_selector(".main-svg")
        plots = page.locator("div.plot")
        # 6 figures per task, and "why": 5 for detection, 2 for semantic (no TIDE, no F1)
        assert plots.count() >= 19
        for i in range(plots.count()):
            assert plots.nth(i).locator(".main-svg").count() > 0, f"plot {i} did not render"
        assert page.locator(".scatterlayer .point").count() >= 8
        assert page.locator(".heatmaplayer image, .heatmaplayer .hm").count() >= 1
        for task, plotted in (("detection", 5), ("semantic", 2)):
            why = page.locator(f"#why-{task} + div.why div.plot")
            assert why.count() == plotted, task
            for i in range(why.count()):
                assert why.nth(i).locator(".main-svg").count() > 0, f"{task} why plot {i}"
        assert page.locator("#why-detection + div.why .barlayer .trace").count() >= 1  # TIDE
        assert page.locator("#why-semantic + div.why .heatmaplayer image").count() >= 1
        crops = page.locator("#issues-semantic img")
        assert crops.count() >= 1  # images whose masks disagree, as embedded JPEGs
        assert crops.first.evaluate("img => img.complete && img.naturalWidth") > 0
        text = page.inner_text("body")
        assert HOSTILE in text  # shown as text...
        assert not dialogs, dialogs  # ...and never run
        assert not errors, errors
        assert "Recommended: unet-s5-d16" in text
        # Three iterations leave rtmdet-tiny at AP 0: the verdict says so instead of picking it.
        assert "Recommended: rtmdet-tiny" in text or "no signal in the accuracies" in text
        header = page.locator("#results th", has_text="accuracy")
        header.click()
        assert header.get_attribute("data-dir") == "asc"
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert (tmp_path / "report.png").stat().st_size > 10_000


# ---------------------------------------------------------------- TTA, ONNX Runtime, backbones

TTA_SETTING = "mmdet rtmdet_tta.py: scales 160/320/480 x flip, merge nms iou 0.6"
TTA_UNAVAILABLE = "TTA not available upstream: mmdet has no TTA merge for instance masks"
EXPORT_ERROR = "torch.onnx.export failed: RoIAlign has no symbolic <img src=x onerror=alert(3)>"
DISAGREEMENT = "DISAGREES: max |diff| 0.31 on boxes, above tolerance 0.005"


def _trial(arch_id: str, family: str, task: str, variant: str = "default", **extra):
    from benchsel.store import TrialRecord

    metrics = {
        "accuracy": 0.30,
        "accuracy_ci_low": 0.25,
        "accuracy_ci_high": 0.35,
        "latency_e2e_p50_ms": 25.0,
        "params_m": 10.0,
        "gflops": 5.0,
        **extra.pop("metrics", {}),
    }
    speed = {"device": "cpu", "threads": 2, "input_size": [128, 128], "batch": 1}
    return TrialRecord(
        hash=f"{arch_id}-{task}-{variant}", suite_name="contract", arch_id=arch_id,
        family=family, task=task, variant=variant, loss=None, data_fraction=1.0, seed=0,
        spec={}, status="ok", conditions={"speed": [speed], **extra.pop("conditions", {})},
        metrics=metrics, **extra,
    )  # fmt: skip


def _tta(plain: float, gain: float, low: float, high: float, plain_ms: float, tta_ms: float):
    metrics = {
        "accuracy": plain,
        "accuracy_ci_low": plain - 0.05,
        "accuracy_ci_high": plain + 0.05,
        "tta_accuracy": plain + gain,
        "tta_accuracy_ci_low": plain + gain - 0.05,
        "tta_accuracy_ci_high": plain + gain + 0.05,
        "tta_gain": gain,
        "tta_gain_ci_low": low,
        "tta_gain_ci_high": high,
        "latency_e2e_p50_ms": plain_ms,
        "tta_latency_e2e_p50_ms": tta_ms,
        "tta_views": 6.0,
    }
    return {
        "metrics": metrics,
        "conditions": {"tta": {"views": 6, "setting": TTA_SETTING, "device": "cpu (2 threads)"}},
    }


def _ort(torch_ms: float, ort_ms: float, delta: float, agreement: str):
    metrics = {
        "latency_e2e_p50_ms": torch_ms,
        "onnxruntime_latency_e2e_p50_ms": ort_ms,
        "onnxruntime_latency_preprocess_p50_ms": 1.0,
        "onnxruntime_latency_forward_p50_ms": ort_ms - 3.0,
        "onnxruntime_latency_postprocess_p50_ms": 2.0,
        "onnxruntime_fps": 1000.0 / ort_ms,
        "onnxruntime_accuracy": 0.30 + delta,
        "onnxruntime_accuracy_ci_low": 0.25 + delta,
        "onnxruntime_accuracy_ci_high": 0.35 + delta,
        "onnxruntime_accuracy_delta": delta,
        "onnxruntime_output_max_abs_diff": 3e-6,
        "onnxruntime_export_s": 4.2,
    }
    ort = {
        "device": "cpu (CPUExecutionProvider)",
        "threads": 2,
        "export": {"opset": 18, "dynamo": True},
        "agreement": agreement,
        "tolerance": 0.005,
    }
    return {"metrics": metrics, "conditions": {"onnxruntime": ort}}


def _contract_store(tmp_path, *, tta=False, runtime=False, backbones=False):
    """A store with the trial pipeline's TTA / ONNX Runtime metrics and conditions (by the
    contract's names) where asked, and detection heads with two backbones where asked."""
    trials = []

    def both(*parts):
        merged: dict = {"metrics": {}, "conditions": {}}
        for part in parts:
            merged["metrics"] |= part["metrics"]
            merged["conditions"] |= part["conditions"]
        return merged

    # rtmdet-tiny: TTA gain separable from 0; ORT 25 -> 20 ms, agrees
    first = [_tta(0.30, 0.04, 0.01, 0.07, 25.0, 75.0)] if tta else []
    first += [_ort(25.0, 20.0, 0.0, "within tolerance 0.005")] if runtime else []
    trials.append(_trial("rtmdet-tiny", "yolo", "detection", **both(*first)))
    # dino-4scale-r50: TTA gain whose interval contains 0; ORT disagrees
    second = [_tta(0.40, 0.01, -0.02, 0.04, 40.0, 200.0)] if tta else []
    second += [_ort(40.0, 50.0, -0.08, DISAGREEMENT)] if runtime else []
    trials.append(_trial("dino-4scale-r50", "dino", "detection", **both(*second)))
    extra: dict = {"conditions": {}}
    if tta:
        extra["conditions"]["tta"] = {"unavailable": TTA_UNAVAILABLE}
    if runtime:
        extra["conditions"]["onnxruntime"] = {"export_error": EXPORT_ERROR}
    trials.append(_trial("mask-rcnn-r50", "mask_rcnn", "instance", "r18-light", **extra))
    if backbones:
        trials += [
            _trial("dino-5scale-swin-l", "dino", "detection",
                   metrics={"accuracy": 0.55, "latency_e2e_p50_ms": 300.0, "params_m": 218.3}),
            _trial("retinanet-r50", "retinanet", "detection",
                   metrics={"accuracy": 0.35, "latency_e2e_p50_ms": 60.0}),
            _trial("retinanet-r50", "retinanet", "detection", "r18-light",
                   metrics={"accuracy": 0.28, "latency_e2e_p50_ms": 20.0}),
        ]  # fmt: skip
    path = tmp_path / "contract.sqlite"
    with ResultsStore(path) as store:
        store.start_run("contract", {}, {}, {"prepared": {"classes": ["a"], "num_things": 1}})
        for t in trials:
            store.save_trial(t)
    return path


def _page(path) -> str:
    with ResultsStore(path) as store:
        return build_report(store)


def _figures(page: str) -> list[dict]:
    """The figure data the page hands to plotly."""
    start = page.index("var figures = ") + len("var figures = ")
    return json.loads(page[start : page.index(";\n", start)])


def _figure(page: str, title: str) -> dict:
    matches = [f for f in _figures(page) if title in f["layout"]["title"]["text"]]
    assert len(matches) == 1, [f["layout"]["title"]["text"] for f in _figures(page)]
    return matches[0]


SECTION_IDS = ('id="tta"', 'id="runtime"', 'id="backbones"')


def test_tta_section_plots_gain_against_latency_paid(tmp_path):
    page = _page(_contract_store(tmp_path, tta=True))
    assert 'id="tta"' in page and 'id="tta-detection"' in page and 'href="#tta"' in page
    assert 'id="tta-instance"' in page  # the instance model's row says why there is no TTA
    assert 'id="runtime"' not in page and 'id="backbones"' not in page
    assert TTA_UNAVAILABLE in page and TTA_SETTING in page
    assert "cpu (2 threads)" in page  # the TTA device, in the table
    assert "0.040 [0.010, 0.070]" in page  # rtmdet-tiny's gain with its interval
    assert "not separable from no gain" in page
    fig = _figure(page, "detection: accuracy gained by test-time augmentation")
    traces = {t["name"]: t for t in fig["data"]}
    gain = traces["gain (interval above 0)"]
    assert gain["text"] == ["rtmdet-tiny"] and gain["x"] == [75.0 - 25.0] and gain["y"] == [0.04]
    assert gain["error_y"]["array"] == pytest.approx([0.07 - 0.04])
    assert gain["error_y"]["arrayminus"] == pytest.approx([0.04 - 0.01])
    none = traces["not separable from no gain (interval contains 0)"]
    assert none["text"] == ["dino-4scale-r50"] and none["x"] == [200.0 - 40.0]
    assert "minus plain e2e p50 (ms" in fig["layout"]["xaxis"]["title"]["text"]
    # the instance task has only an unavailable row: one sentence, no plot
    assert "No instance candidate has test-time augmentation upstream" in page
    assert not [
        f for f in _figures(page) if "instance: accuracy gained" in f["layout"]["title"]["text"]
    ]


def test_runtime_section_compares_pytorch_and_onnxruntime(tmp_path):
    page = _page(_contract_store(tmp_path, runtime=True))
    assert 'id="runtime"' in page and 'id="runtime-detection"' in page
    assert 'href="#runtime"' in page
    assert 'id="tta"' not in page and 'id="backbones"' not in page
    # the export error is shown in its row, escaped
    assert "does not export to ONNX: torch.onnx.export failed: RoIAlign has no symbolic" in page
    assert "&lt;img src=x onerror=alert(3)&gt;" in page and "<img src=x" not in page
    # the disagreement is an alert above the table and a highlighted row
    assert 'id="runtime-disagree-detection"' in page
    assert "ONNX Runtime disagrees with PyTorch" in page and DISAGREEMENT in page
    assert '<tr class="disagrees">' in page
    assert f"{25.0 / 20.0:.2f}x" in page and f"{40.0 / 50.0:.2f}x" in page
    assert "cpu (CPUExecutionProvider), 2 threads" in page and "cpu, 2 threads, 128x128" in page
    fig = _figure(page, "detection: PyTorch vs ONNX Runtime latency")
    torch_bars, ort_bars = fig["data"]
    assert torch_bars["name"] == "PyTorch" and ort_bars["name"] == "ONNX Runtime"
    assert torch_bars["x"] == ort_bars["x"]
    assert dict(zip(torch_bars["x"], torch_bars["y"], strict=True)) == {
        "rtmdet-tiny": 25.0,
        "dino-4scale-r50": 40.0,
    }
    assert dict(
        zip(ort_bars["x"], zip(ort_bars["y"], ort_bars["text"], strict=True), strict=True)
    ) == {
        "rtmdet-tiny": (20.0, "1.25x"),
        "dino-4scale-r50": (50.0, "0.80x"),
    }
    assert "No instance candidate was timed in both runtimes" in page


def test_backbone_section_sets_yours_beside_published(tmp_path):
    import yaml

    from benchsel.catalog import registry

    page = _page(_contract_store(tmp_path, backbones=True))
    assert 'id="backbones"' in page and 'href="#backbones"' in page
    assert 'id="tta"' not in page and 'id="runtime"' not in page
    assert "backbones under dino (ResNet-50 vs Swin-L)" in page
    assert "backbones under retinanet (ResNet-18 vs ResNet-50)" in page
    assert "backbones under yolo" not in page  # one backbone only
    assert "variant r18-light is not a published config" in page
    # published numbers read here from the catalog file itself, in percent -> fraction
    catalog_file = registry.__file__.replace("registry.py", "architectures.yaml")
    with open(catalog_file) as f:
        entries = {a["id"]: a for a in yaml.safe_load(f)["architectures"]}
    published = {
        i: entries[i]["reference"]["metrics"]["bbox_AP"] / 100
        for i in ("dino-4scale-r50", "dino-5scale-swin-l", "retinanet-r50")
    }
    dataset = entries["dino-4scale-r50"]["reference"]["dataset"]
    label = f"published ({dataset}, full schedule)"
    assert label in page and f"{published['dino-5scale-swin-l']:.3f}" in page
    fig = _figure(page, "detection: backbones under dino")
    traces = {t["name"]: t for t in fig["data"]}
    assert set(traces) == {"ResNet-50 (yours)", "Swin-L (yours)", label}
    assert traces["Swin-L (yours)"]["x"] == [300.0] and traces["Swin-L (yours)"]["y"] == [0.55]
    assert traces["Swin-L (yours)"]["customdata"][0][1] == 218.3  # params in the hover
    marks = traces[label]
    assert sorted(zip(marks["x"], marks["y"], strict=True)) == [
        (25.0, pytest.approx(published["dino-4scale-r50"])),
        (300.0, pytest.approx(published["dino-5scale-swin-l"])),
    ]
    retina = {t["name"]: t for t in _figure(page, "backbones under retinanet")["data"]}
    assert retina[label]["x"] == [60.0]  # the r18-light variant has no published number


def test_stores_without_the_new_results_have_no_new_sections(synthetic_store, tmp_path):
    for page in (_page(synthetic_store), _page(_contract_store(tmp_path))):
        for section in SECTION_IDS:
            assert section not in page
        assert 'href="#tta"' not in page and "backbones under" not in page
        assert 'id="toc"' in page and 'href="#all-results"' in page


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed")
def test_new_sections_in_headless_chromium(tmp_path):
    pytest.importorskip("playwright")
    from playwright.sync_api import sync_playwright

    report = write_report(
        _contract_store(tmp_path, tta=True, runtime=True, backbones=True), tmp_path / "r.html"
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        errors: list[str] = []
        dialogs: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(report.as_uri())
        page.wait_for_selector(".main-svg")
        for section in ("#tta", "#runtime", "#backbones"):
            plots = page.locator(f"{section} ~ .grid div.plot")
            assert plots.count() >= 1, section
        for plot in page.locator("div.plot").all():
            assert plot.locator(".main-svg").count() > 0
        runtime_plot = page.locator("#runtime-detection ~ .grid div.plot").first
        assert runtime_plot.locator(".barlayer .point").count() == 4  # 2 trials x 2 runtimes
        tta_plot = page.locator("#tta-detection ~ .grid div.plot").first
        assert tta_plot.locator(".scatterlayer .point").count() == 2
        assert page.locator("#runtime-disagree-detection").is_visible()
        text = page.inner_text("body")
        assert "RoIAlign has no symbolic <img src=x onerror=alert(3)>" in text  # as text
        assert TTA_UNAVAILABLE in text and "Swin-L" in text
        page.click('nav a[href="#backbones"]')
        assert page.locator("#backbones").is_visible()
        assert not dialogs and not errors, (dialogs, errors)
        browser.close()


def test_different_heads_of_one_family_are_not_a_backbone_sweep():
    """YOLOv8-n and RTMDet-tiny are both family yolo but different heads (the catalog's
    ``head``): nothing to compare; two RetinaNet backbones are."""
    from benchsel.report.figures.backbones import backbone_groups

    yolo = [_trial("yolov8-n", "yolo", "detection"), _trial("rtmdet-tiny", "yolo", "detection")]
    assert backbone_groups(yolo, "detection") == {}
    retina = [
        _trial("retinanet-r50", "retinanet", "detection"),
        _trial("retinanet-effb3", "retinanet", "detection"),
    ]
    groups = backbone_groups(yolo + retina, "detection")
    assert list(groups) == ["retinanet"]
    assert sorted(b for _, b in groups["retinanet"]) == ["EfficientNet-B3", "ResNet-50"]


def _failed_only_store(tmp_path, suite: dict):
    """A store whose only detection trial failed: the report's recommendation is the prior,
    where a budget in dollars becomes GPU-hours at the run's price."""
    from benchsel.store import TrialRecord

    path = tmp_path / f"priced-{len(list(tmp_path.iterdir()))}.sqlite"
    with ResultsStore(path) as store:
        store.start_run("priced", suite, {}, {})
        store.save_trial(
            TrialRecord(
                hash="f", suite_name="priced", arch_id="rtmdet-tiny", family="yolo",
                task="detection", variant="default", loss=None, data_fraction=1.0, seed=0,
                spec={}, status="failed", error="RuntimeError: boom",
            )
        )  # fmt: skip
    return path


def test_a_usd_budget_is_priced_at_the_runs_gpu_hour_as_on_the_console(tmp_path, benchsel):
    """$100 at the run's $10 a GPU-hour is 10 GPU-hours: a limited budget (<= 24 h). At the
    2.5 default it would be 40 hours and a different row of the decision table."""
    budget = {"constraints": {"gpu_budget_usd": 100}}
    priced = _failed_only_store(tmp_path, {**budget, "cost": {"gpu_hour_usd": 10.0}})
    page = _page(priced)
    assert "limited GPU budget" in page and "here yolov8-n" in page
    console = benchsel(
        "recommend", "--task", "detection", "--results", str(priced),
        "--gpu-budget-usd", "100", "--json",
    ).report()  # fmt: skip
    assert console["recommended"]["id"] == "yolov8-n"
    assert console["reasons"][0] in page.replace("&#39;", "'")
    default = _page(_failed_only_store(tmp_path, budget))
    assert "limited GPU budget" not in default
    assert "highest accuracy, no latency constraint" in default

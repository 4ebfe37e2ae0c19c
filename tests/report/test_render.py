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
    from benchsel.pipeline.executors import SubprocessExecutor
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
            "constraints": {"min_fps": 5},
            "output": str(tmp_path / "out"),
        }
    )
    summary = run_suite(suite, executor=SubprocessExecutor(600))
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
        assert plots.count() >= 12  # 6 figures per task, 2 tasks
        for i in range(plots.count()):
            assert plots.nth(i).locator(".main-svg").count() > 0, f"plot {i} did not render"
        assert page.locator(".scatterlayer .point").count() >= 8
        assert page.locator(".heatmaplayer image, .heatmaplayer .hm").count() >= 1
        text = page.inner_text("body")
        assert HOSTILE in text  # shown as text...
        assert not dialogs, dialogs  # ...and never run
        assert not errors, errors
        assert "Recommended: rtmdet-tiny" in text and "Recommended: unet-s5-d16" in text
        header = page.locator("#results th", has_text="accuracy")
        header.click()
        assert header.get_attribute("data-dir") == "asc"
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert (tmp_path / "report.png").stat().st_size > 10_000

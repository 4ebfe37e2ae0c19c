from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from benchsel.cli import app

runner = CliRunner()


def test_help_lists_commands_without_importing_torch():
    code = (
        "import sys; from typer.testing import CliRunner; from benchsel.cli import app; "
        "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output; "
        "assert 'list' in r.output and 'suite' in r.output, r.output; "
        "heavy = [m for m in ('torch', 'mmdet', 'mmseg', 'mmcv', 'plotly') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_list_json_has_required_fields():
    result = runner.invoke(app, ["list", "--json"])
    assert result.exit_code == 0
    entries = json.loads(result.output)
    assert len(entries) >= 19
    for e in entries:
        assert {"id", "family", "tasks", "package", "config", "input_size", "reference"} <= set(e)
        assert e["reference"]["source"]


def test_list_filters_by_task():
    result = runner.invoke(app, ["list", "--task", "semantic", "--json"])
    ids = {e["id"] for e in json.loads(result.output)}
    assert ids == {"unet-s5-d16", "fcn-r50", "deeplabv3plus-r50", "mask2former-r50-semantic"}


def test_list_table_mentions_mmyolo():
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0
    assert "rtmdet-tiny" in result.output and "mmyolo" in result.output


def test_bad_task_is_a_clean_usage_error():
    bin_dir = Path(sys.executable).parent
    result = subprocess.run(
        [str(bin_dir / "benchsel"), "list", "--task", "depth"], capture_output=True, text=True
    )
    assert result.returncode == 2  # click's usage-error code
    assert "'depth' is not one of" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_suite_check_reports_key_paths(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("name: t\ntask: detection\ndataset: {path: d}\ncandidates: [{id: rtmdet-tni}]\n")
    result = runner.invoke(app, ["suite", "check", str(f)])
    assert result.exit_code == 1
    assert "candidates.0.id" in result.output and "rtmdet-tiny" in result.output
    assert "Traceback" not in result.output


def test_suite_check_ok_counts_trials(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(
        "name: t\ntask: semantic\ndataset: {path: d}\n"
        "candidates: [{id: unet-s5-d16, variants: [default, light], losses: [ce, dice_ce]}]\n"
        "training: {iterations: 5, seeds: [0, 1]}\n"
    )
    result = runner.invoke(app, ["suite", "check", str(f)])
    assert result.exit_code == 0, result.output
    assert "8 trials" in result.output


def test_suite_schema_is_json_schema():
    result = runner.invoke(app, ["suite", "schema"])
    schema = json.loads(result.output)
    assert schema["title"] == "benchsel suite"
    assert {"name", "dataset", "candidates"} <= set(schema["properties"])

"""The installed ``benchsel`` console script: one or more cases per command, in a subprocess."""

from __future__ import annotations

import csv

HEAVY = ("torch", "mmdet", "mmseg", "mmcv", "plotly")


def _imported_modules(importtime_log: str) -> set[str]:
    """Module names in ``-X importtime`` output ("import time: self | cumulative | name")."""
    names = set()
    for line in importtime_log.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.add(name)
    return names


def test_help_lists_commands_without_importing_torch(benchsel):
    result = benchsel("--help", env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert result.code == 0, result.output
    assert "list" in result.stdout and "suite" in result.stdout and "doctor" in result.stdout
    imported = _imported_modules(result.stderr)
    assert "benchsel.cli" in imported, "no import log: the check below would pass vacuously"
    heavy = sorted(m for m in imported if m.split(".")[0] in HEAVY)
    assert not heavy, heavy


def test_list_json_has_required_fields(benchsel):
    result = benchsel("list", "--json")
    assert result.code == 0, result.output
    entries = result.report()
    assert len(entries) >= 19
    for e in entries:
        assert {"id", "family", "tasks", "package", "config", "input_size", "reference"} <= set(e)
        assert e["reference"]["source"]


def test_list_filters_by_task(benchsel):
    result = benchsel("list", "--task", "semantic", "--json")
    assert result.code == 0, result.output
    ids = {e["id"] for e in result.report()}
    assert ids == {"unet-s5-d16", "fcn-r50", "deeplabv3plus-r50", "mask2former-r50-semantic"}


def test_list_table_mentions_mmyolo(benchsel):
    result = benchsel("list")
    assert result.code == 0, result.output
    assert "rtmdet-tiny" in result.stdout and "mmyolo" in result.stdout


def test_bad_task_is_a_clean_usage_error(benchsel):
    result = benchsel("list", "--task", "depth")
    assert result.code == 2  # click's usage-error code
    assert "'depth' is not one of" in result.stderr


def test_suite_check_reports_key_paths(tmp_path, benchsel):
    f = tmp_path / "s.yaml"
    f.write_text("name: t\ntask: detection\ndataset: {path: d}\ncandidates: [{id: rtmdet-tni}]\n")
    result = benchsel("suite", "check", str(f))
    assert result.code == 1
    assert result.stderr.startswith("error: ")
    assert "candidates.0.id" in result.stderr and "rtmdet-tiny" in result.stderr


def test_suite_check_ok_counts_trials(tmp_path, benchsel):
    f = tmp_path / "s.yaml"
    f.write_text(
        "name: t\ntask: semantic\ndataset: {path: d}\n"
        "candidates: [{id: unet-s5-d16, variants: [default, light], losses: [ce, dice_ce]}]\n"
        "training: {iterations: 5, seeds: [0, 1]}\n"
    )
    result = benchsel("suite", "check", str(f))
    assert result.code == 0, result.output
    assert "8 trials" in result.stdout


def test_suite_schema_is_json_schema(benchsel):
    result = benchsel("suite", "schema")
    assert result.code == 0, result.output
    schema = result.report()
    assert schema["title"] == "benchsel suite"
    assert {"name", "dataset", "candidates"} <= set(schema["properties"])


def test_data_sample_writes_data_that_checks_clean(tmp_path, benchsel):
    out = tmp_path / "sample"
    result = benchsel("data", "sample", str(out), "--images", "4", "--size", "32")
    assert result.code == 0, result.output
    assert "wrote 4 images (32x32" in result.stdout
    for fmt in ("coco", "coco_panoptic", "mask_folder", "voc"):
        assert fmt in result.stdout
    report = benchsel("data", "check", str(out), "--format", "coco_panoptic", "--json")
    assert report.code == 0, report.output
    assert not report.report()["errors"] and not report.report()["warnings"]


def test_data_sample_below_the_minimum_is_a_usage_error(tmp_path, benchsel):
    result = benchsel("data", "sample", str(tmp_path / "s"), "--images", "2")
    assert result.code == 2
    assert "--images" in result.stderr
    assert not (tmp_path / "s").exists()


def test_results_json_and_csv(synthetic_store, tmp_path, benchsel):
    rows = benchsel("results", str(synthetic_store), "--json")
    assert rows.code == 0, rows.output
    by_id = {r["arch_id"]: r for r in rows.report()}
    assert set(by_id) == {"rtmdet-tiny", "dino-4scale-r50"}
    assert by_id["rtmdet-tiny"]["status"] == "ok" and by_id["rtmdet-tiny"]["bbox_AP"] == 0.4
    assert by_id["dino-4scale-r50"]["status"] == "failed"
    table = tmp_path / "r.csv"
    written = benchsel("results", str(synthetic_store), "--csv", str(table))
    assert written.code == 0, written.output
    assert "wrote 2 rows" in written.stdout
    with table.open(newline="") as f:
        assert sorted(r["arch_id"] for r in csv.DictReader(f)) == ["dino-4scale-r50", "rtmdet-tiny"]


def test_results_of_a_missing_file_is_a_clean_error(tmp_path, benchsel):
    result = benchsel("results", str(tmp_path / "none.sqlite"))
    assert result.code == 1
    assert result.stderr.startswith("error: ") and "not found" in result.stderr
    assert not (tmp_path / "none.sqlite").exists()


def test_report_writes_html(synthetic_store, tmp_path, benchsel):
    out = tmp_path / "reports" / "r.html"
    result = benchsel("report", str(synthetic_store), "-o", str(out))
    assert result.code == 0, result.output
    assert f"wrote {out}" in result.stdout
    assert out.read_text().startswith("<!DOCTYPE html>")


def test_report_of_a_missing_file_is_a_clean_error(tmp_path, benchsel):
    result = benchsel("report", str(tmp_path / "none.sqlite"), "-o", str(tmp_path / "r.html"))
    assert result.code == 1
    assert result.stderr.startswith("error: ") and "not found" in result.stderr
    assert not (tmp_path / "r.html").exists()


def test_flops_of_an_unknown_id_is_a_clean_error(benchsel):
    result = benchsel("flops", "rtmdet-tiyn")
    assert result.code == 1
    assert result.stderr.startswith("error: unknown architecture 'rtmdet-tiyn'")
    assert "Did you mean: rtmdet-tiny" in result.stderr


def _commands() -> list[tuple[list[str], list[str]]]:
    """(command path, option names) of every command, read from the command tree."""
    import typer.main

    from benchsel.cli import app

    out = []

    def walk(cmd, path: list[str]) -> None:  # typer's own click-like command classes
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])
        else:
            options = [p for p in cmd.params if getattr(p, "param_type_name", "") == "option"]
            out.append((path, [o for p in options for o in [*p.opts, *p.secondary_opts]]))

    walk(typer.main.get_command(app), [])
    return out


def test_help_at_80_columns_shows_every_option_whole(benchsel):
    commands = _commands()
    assert len(commands) >= 13
    for path, names in commands:
        result = benchsel(*path, "--help", env={"COLUMNS": "80"})
        assert result.code == 0, result.output
        assert max(len(line) for line in result.stdout.splitlines()) <= 80, path
        assert "…" not in result.stdout, path
        for name in names:
            assert name in result.stdout, (path, name)


def test_report_defaults_to_the_suites_report_path(synthetic_store, tmp_path, benchsel):
    """Without -o the report goes where the run's suite says (else reports/<stem>.html)."""
    result = benchsel("report", str(synthetic_store), cwd=tmp_path)
    assert result.code == 0, result.output
    written = tmp_path / result.stdout.strip().removeprefix("wrote ")
    assert written.read_text().startswith("<!DOCTYPE html>")
    assert written.parent.name == "reports"


def test_suite_report_path_resolves_beside_the_suite(tmp_path):
    from benchsel.suite import load_suite

    f = tmp_path / "s.yaml"
    f.write_text("name: t\ntask: detection\ndataset: {path: d}\ncandidates: [{id: rtmdet-tiny}]\n")
    assert load_suite(f).report == (tmp_path / "reports" / "t.html").resolve()
    f.write_text(f.read_text() + "report: out/x.html\n")
    assert load_suite(f).report == (tmp_path / "out" / "x.html").resolve()

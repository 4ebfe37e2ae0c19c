from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchsel.errors import SuiteError
from benchsel.suite import load_suite, parse_suite

SUITES = sorted((Path(__file__).resolve().parents[1] / "suites").glob("*.yaml"))

MINIMAL = {
    "name": "t",
    "task": "detection",
    "dataset": {"path": "data", "format": "coco"},
    "candidates": [{"id": "rtmdet-tiny"}],
}


def _with(**changes):
    data = json.loads(json.dumps(MINIMAL))
    data.update(changes)
    return data


@pytest.mark.parametrize("path", SUITES, ids=lambda p: p.name)
def test_example_suites_validate(path):
    suite = load_suite(path)
    assert suite.candidates
    assert suite.output.is_absolute()


def test_minimal_suite_defaults():
    suite = parse_suite(MINIMAL)
    assert suite.training.iterations == 0  # no budget given: evaluate as is
    assert suite.labelling.box.typical == 0.10
    assert suite.task_of(suite.candidates[0]) == "detection"


def test_unknown_key_is_named_with_its_path():
    data = _with(training={"iterations": 10, "batchsize": 4})
    with pytest.raises(SuiteError, match=r"training\.batchsize: Extra inputs are not permitted"):
        parse_suite(data)


def test_wrong_type_and_range_name_the_key():
    with pytest.raises(SuiteError) as err:
        parse_suite(_with(measurement={"batch_sizes": [0], "min_iters": "many"}))
    text = str(err.value)
    assert "measurement.batch_sizes" in text and "measurement.min_iters" in text


def test_unknown_candidate_suggests_ids():
    with pytest.raises(SuiteError, match=r"candidates\.0\.id: .*Did you mean: yolox-s"):
        parse_suite(_with(candidates=[{"id": "yolox-ss"}]))


def test_candidate_task_must_be_supported():
    with pytest.raises(SuiteError, match="does not support task 'semantic'"):
        parse_suite(_with(candidates=[{"id": "rtmdet-tiny", "task": "semantic"}]))


def test_path_and_sample_are_exclusive():
    with pytest.raises(SuiteError, match="exactly one of"):
        parse_suite(_with(dataset={"path": "d", "sample": {"images": 8}}))


def test_price_ranges_must_be_ordered():
    with pytest.raises(SuiteError, match=r"labelling\.box"):
        parse_suite(_with(labelling={"box": {"low": 1, "typical": 0.5, "high": 2}}))


def test_yaml_syntax_error_gives_line(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("name: t\ncandidates: [\n  - id: x\n")
    with pytest.raises(SuiteError, match="not valid YAML at line"):
        load_suite(f)


def test_yaml_objects_are_not_constructed(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("name: !!python/object/apply:os.system ['touch pwned']\n")
    with pytest.raises(SuiteError, match="not valid YAML"):
        load_suite(f)
    assert not (tmp_path / "pwned").exists()


def test_non_mapping_suite_is_rejected(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("- just\n- a list\n")
    with pytest.raises(SuiteError, match="expected a mapping"):
        load_suite(f)


def test_relative_paths_resolve_against_suite_folder(tmp_path):
    sub = tmp_path / "cfg"
    sub.mkdir()
    f = sub / "s.yaml"
    f.write_text(json.dumps(_with(output="out")))
    suite = load_suite(f)
    assert suite.dataset.path == (sub / "data").resolve()
    assert suite.output == (sub / "out").resolve()


def test_a_candidate_can_take_its_own_iteration_budget():
    from benchsel.pipeline.plan import expand_trials
    from benchsel.suite import parse_suite

    suite = parse_suite(
        {
            "name": "x",
            "dataset": {"sample": {"images": 8}},
            "candidates": [{"id": "rtmdet-tiny", "iterations": 5}, {"id": "yolox-tiny"}],
            "training": {"epochs": 3},
        }
    )
    budgets = {t.arch_id: (t.training.iterations, t.training.epochs) for t in expand_trials(suite)}
    assert budgets == {"rtmdet-tiny": (5, None), "yolox-tiny": (None, 3)}


def test_tta_per_candidate_and_runtimes_keep_pytorch_first():
    from benchsel.pipeline.plan import expand_trials
    from benchsel.suite import parse_suite

    suite = parse_suite(
        {
            "name": "x",
            "dataset": {"sample": {"images": 8}},
            "candidates": [{"id": "rtmdet-tiny"}, {"id": "yolox-tiny", "tta": False}],
            "measurement": {"tta": True, "runtimes": ["onnxruntime", "pytorch"]},
        }
    )
    tta = {t.arch_id: t.measurement.tta for t in expand_trials(suite)}
    assert tta == {"rtmdet-tiny": True, "yolox-tiny": False}
    assert suite.measurement.runtimes == ["pytorch", "onnxruntime"]
    with pytest.raises(SuiteError, match="runtimes must include pytorch"):
        parse_suite(_with(measurement={"runtimes": ["onnxruntime"]}))


def test_new_measurement_settings_leave_old_trial_hashes_alone():
    """Hashes computed by benchsel before tta/runtimes existed (commit f3f3392): a suite that
    does not use them must find its stored results again."""
    from benchsel.pipeline.plan import expand_trials
    from benchsel.suite import parse_suite

    data = {
        "name": "q",
        "dataset": {"sample": {}},
        "candidates": [{"id": "rtmdet-tiny"}, {"id": "yolox-tiny"}],
    }
    hashes = [t.hash for t in expand_trials(parse_suite(data))]
    assert hashes == ["68039e5b9089a086", "a9ff0aece4867696"]
    data["measurement"] = {"tta": True}
    assert next(t.hash for t in expand_trials(parse_suite(data))) != hashes[0]


# ---------------------------------------------------------------- candidates with names


def test_one_architecture_entered_twice_needs_names():
    twice = [{"id": "rtmdet-tiny"}, {"id": "rtmdet-tiny"}]
    with pytest.raises(SuiteError, match=r"candidates\.1\.name: 'rtmdet-tiny' is also"):
        parse_suite(_with(candidates=twice))
    named = [{"id": "rtmdet-tiny", "name": "scratch"}, {"id": "rtmdet-tiny", "name": "lr-low"}]
    suite = parse_suite(_with(candidates=named))
    assert [c.option_names() for c in suite.candidates] == [["scratch"], ["lr-low"]]


def test_candidate_training_merges_over_the_suite_training():
    cands = [
        {"id": "rtmdet-tiny", "name": "a", "training": {"seeds": [0, 1, 2], "lr": 0.001}},
        {"id": "rtmdet-tiny", "name": "b", "training": {"epochs": 3}},
        {"id": "yolox-tiny"},
    ]
    suite = parse_suite(_with(candidates=cands, training={"iterations": 100, "batch_size": 4}))
    a, b, c = (cand.training_over(suite.training) for cand in suite.candidates)
    assert (a.seeds, a.lr, a.iterations, a.batch_size) == ([0, 1, 2], 0.001, 100, 4)
    assert (b.epochs, b.iterations, b.seeds) == (3, None, [0])
    assert c == suite.training


def test_candidate_training_errors_name_the_key():
    bad = [{"id": "rtmdet-tiny", "training": {"sedes": [0]}}]
    with pytest.raises(SuiteError, match=r"candidates\.0\.training.*unknown training key.*sedes"):
        parse_suite(_with(candidates=bad))
    bad = [{"id": "rtmdet-tiny", "training": {"batch_size": 0}}]
    with pytest.raises(SuiteError, match=r"candidates\.0\.training: batch_size"):
        parse_suite(_with(candidates=bad))


def test_seed_range_races():
    suite = parse_suite(_with(training={"iterations": 10, "seeds": {"min": 1, "max": 4}}))
    assert suite.training.seeds == [0] and suite.training.max_seeds == 4
    with pytest.raises(SuiteError, match="seeds as a range"):
        parse_suite(_with(training={"seeds": {"min": 3, "max": 2}}))


def test_margin_is_a_constraint():
    assert parse_suite(MINIMAL).constraints.margin == 0.01
    assert parse_suite(_with(constraints={"margin": 0.03})).constraints.margin == 0.03
    with pytest.raises(SuiteError, match=r"constraints\.margin"):
        parse_suite(_with(constraints={"margin": -1}))

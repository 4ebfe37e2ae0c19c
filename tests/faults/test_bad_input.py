"""Bad input: property-based suite files, the same kinds through the CLI, broken data files."""

from __future__ import annotations

import contextlib
import json
import string
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from benchsel.data.coco_panoptic import id2rgb
from benchsel.errors import SuiteError
from benchsel.suite import load_suite, parse_suite

VALID = {
    "name": "s",
    "task": "detection",
    "dataset": {"path": "data", "format": "coco"},
    "candidates": [{"id": "rtmdet-tiny"}],
    "training": {"iterations": 10, "batch_size": 4},
    "measurement": {"batch_sizes": [1], "min_iters": 5},
    "constraints": {"min_fps": 30},
}
# (key path, kind) pairs the mutations target.
PATHS = [
    ("name",),
    ("task",),
    ("dataset",),
    ("dataset", "path"),
    ("dataset", "format"),
    ("candidates",),
    ("candidates", 0),
    ("candidates", 0, "id"),
    ("training",),
    ("training", "iterations"),
    ("training", "batch_size"),
    ("measurement", "batch_sizes"),
    ("measurement", "min_iters"),
    ("constraints", "min_fps"),
    ("labelling",),
    ("output",),
]
SECTIONS = ["", "dataset", "training", "measurement", "constraints", "cost"]
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _mutated(path: tuple, value: object) -> dict:
    data = json.loads(json.dumps(VALID))
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


def _dotted(path: tuple) -> str:
    return ".".join(str(p) for p in path)


# Values no key in PATHS accepts: a mapping with keys no section has, a list of words.
never_valid = st.one_of(
    st.dictionaries(
        st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=6).map("zz_".__add__),
        st.integers(),
        min_size=1,
        max_size=2,
    ),
    st.lists(st.text(alphabet=string.ascii_letters, min_size=1, max_size=6), min_size=1),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), value=junk)
def test_wrong_types_and_ranges_name_the_key_path(path, value):
    """Junk that happens to be valid (10 iterations) may pass; when it fails, it says where."""
    data = _mutated(path, value)
    try:
        parse_suite(data)
    except SuiteError as exc:
        text = str(exc)
        # the reported location is the mutated key or one of its parents/children
        prefix = _dotted(path[:1])
        assert prefix in text or "expected a mapping" in text, text


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), value=never_valid)
def test_invalid_values_are_rejected_at_their_key_path(path, value):
    with pytest.raises(SuiteError) as err:
        parse_suite(_mutated(path, value))
    assert _dotted(path[:1]) in str(err.value), str(err.value)


@settings(max_examples=60, deadline=None)
@given(
    section=st.sampled_from(SECTIONS),
    key=st.text(alphabet=string.ascii_lowercase + "_", min_size=3, max_size=12),
)
def test_unknown_keys_are_rejected_by_path(section, key):
    data = json.loads(json.dumps(VALID))
    target = data if not section else data.setdefault(section, {})
    if (
        key in target
        or (
            not section
            and key
            in (
                "name",
                "task",
                "dataset",
                "candidates",
                "training",
                "measurement",
                "constraints",
                "labelling",
                "cost",
                "output",
            )
        )
        or key in _fields(section)
    ):
        return
    target[key] = 1
    with pytest.raises(SuiteError) as err:
        parse_suite(data)
    assert f"{section + '.' if section else ''}{key}: Extra inputs are not permitted" in str(
        err.value
    )


def _fields(section: str) -> set[str]:
    from benchsel import suite as s

    model = {
        "dataset": s.DatasetSpec,
        "training": s.TrainingSpec,
        "measurement": s.MeasurementSpec,
        "constraints": s.Constraints,
        "cost": s.CostSpec,
    }.get(section)
    return set(model.model_fields) if model else set()


@settings(max_examples=60, deadline=None)
@given(arch=st.text(min_size=1, max_size=30))
def test_unknown_ids_point_at_the_candidate(arch):
    from benchsel.catalog import load_catalog

    if arch in load_catalog().ids():
        return
    with pytest.raises(SuiteError, match=r"candidates\.0\.id"):
        parse_suite(_mutated(("candidates", 0, "id"), arch))


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=200))
def test_arbitrary_yaml_text_never_escapes_as_a_traceback(tmp_path, text):
    path = tmp_path / "suite.yaml"
    path.write_text(text, encoding="utf-8")
    with contextlib.suppress(SuiteError):  # valid suites are fine; anything else must not escape
        load_suite(path)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    doc=st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8)),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(max_size=8), children, max_size=3)
        ),
        max_leaves=12,
    )
)
def test_arbitrary_yaml_documents_give_a_suite_error(tmp_path, doc):
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(SuiteError):
        load_suite(path)


# ---------------------------------------------------------------- the same kinds through the CLI

# The properties above call the parser directly (hundreds of examples); these fixed cases, one or
# more per kind, go through the installed console script: exit 1, `error: ...`, no traceback.
SUITE_BODY = (
    "name: s\ntask: detection\ndataset: {path: data, format: coco}\n"
    "candidates: [{id: rtmdet-tiny}]\noutput: out\n"
)
BAD_SUITES = {
    "wrong_type": (
        SUITE_BODY + "training: {iterations: 10, batch_size: four}\n",
        "training.batch_size: Input should be a valid integer",
    ),
    "out_of_range": (
        SUITE_BODY + "measurement: {min_iters: 0}\n",
        "measurement.min_iters: Input should be greater than or equal to 1",
    ),
    "nan": (SUITE_BODY + "constraints: {min_fps: .nan}\n", "constraints.min_fps:"),
    "unknown_key": (
        SUITE_BODY + "training: {epocs: 3}\n",
        "training.epocs: Extra inputs are not permitted",
    ),
    "unknown_id": (
        SUITE_BODY.replace("rtmdet-tiny", "rtmdet-tni"),
        "candidates.0.id: unknown architecture 'rtmdet-tni'. Did you mean: rtmdet-tiny",
    ),
    "yaml_syntax": ("name: [unclosed\n", "is not valid YAML at line 2"),
    "yaml_tab_indent": ("name: s\ntraining:\n\tepochs: 1\n", "is not valid YAML at line 3"),
    "not_utf8": (b"\xff\xfename: s\n", "cannot read suite file"),
    "document_is_a_list": ("- 1\n- 2\n", "expected a mapping of suite keys, got list"),
    "empty_document": ("", "expected a mapping of suite keys"),
    "self_referencing_alias": ("a: &x [*x]\n", "name: Field required"),
}


@pytest.mark.parametrize("case", list(BAD_SUITES))
def test_bad_suite_files_are_clean_cli_errors(tmp_path, benchsel, case):
    text, message = BAD_SUITES[case]
    path = tmp_path / "suite.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    result = benchsel("suite", "check", str(path))
    assert result.code == 1, result.output
    assert result.stderr.startswith("error: "), result.output
    assert message in result.stderr, result.stderr


@pytest.mark.parametrize("case", ["unknown_key", "yaml_syntax"])
def test_run_of_a_bad_suite_is_a_clean_error_before_anything_is_written(tmp_path, benchsel, case):
    text, message = BAD_SUITES[case]
    (tmp_path / "suite.yaml").write_text(text, encoding="utf-8")
    before = sorted(tmp_path.rglob("*"))
    result = benchsel("run", str(tmp_path / "suite.yaml"), cwd=tmp_path)
    assert result.code == 1, result.output
    assert result.stderr.startswith("error: ") and message in result.stderr, result.output
    assert sorted(tmp_path.rglob("*")) == before


# ---------------------------------------------------------------- broken data files


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _coco(root: Path, **edit) -> Path:
    (root / "images").mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((40, 60, 3), 90, np.uint8)).save(root / "images/1.jpg")
    data = {
        "images": [{"id": 1, "file_name": "1.jpg", "width": 60, "height": 40}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [1, 1, 10, 10],
                "area": 100,
                "iscrowd": 0,
                "segmentation": [[1, 1, 11, 1, 11, 11, 1, 11]],
            }
        ],
        "categories": [{"id": 1, "name": "a"}],
    }
    for key, value in edit.items():
        section, _, field = key.partition("__")
        if field:
            data[section][0][field] = value
        else:
            data[section] = value
    path = root / "ann.json"
    path.write_text(json.dumps(data))
    return path


def _truncate_jpeg(root: Path) -> Path:
    path = _coco(root)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 60, 3), np.uint8)).save(
        root / "images/1.jpg", quality=95
    )
    raw = (root / "images/1.jpg").read_bytes()
    (root / "images/1.jpg").write_bytes(raw[: len(raw) // 2])
    return path


def _masks(root: Path, label: Image.Image) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(root / "images/a.png")
    label.save(root / "labels/a.png")
    (root / "classes.txt").write_text("bg\nfg\n")
    return root


def _panoptic_missing_ids(root: Path) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "pan").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "images/a.png")
    ids = np.full((8, 8), 3)
    ids[:2] = 9
    Image.fromarray(id2rgb(ids)).save(root / "pan/a.png")
    path = root / "pan.json"
    path.write_text(
        json.dumps(
            {
                "images": [{"id": 1, "file_name": "a.png", "width": 8, "height": 8}],
                "annotations": [
                    {
                        "image_id": 1,
                        "file_name": "a.png",
                        "segments_info": [{"id": 3, "category_id": 1}],
                    }
                ],
                "categories": [{"id": 1, "name": "road", "isthing": 0}],
            }
        )
    )
    return path


BROKEN = {
    "truncated_jpeg": (_truncate_jpeg, 1, "corrupt or truncated image"),
    "missing_key": (
        lambda r: _coco(r, images=[{"id": 1, "file_name": "1.jpg"}]),
        1,
        "lacks width, height",
    ),
    "bbox_wrong_type": (
        lambda r: _coco(r, annotations__bbox="10,10,5,5"),
        1,
        "bbox must be 4 finite numbers",
    ),
    "huge_width": (
        lambda r: _coco(r, images__width=1e308 * 10),
        1,
        "width/height must be positive numbers",
    ),
    "huge_id": (
        lambda r: _coco(r, annotations__category_id=10**30),
        1,
        "is not in the category list",
    ),
    "id_as_float": (lambda r: _coco(r, annotations__id=1.5), 1, "annotation id must be an integer"),
    "categories_not_a_list": (
        lambda r: _coco(r, categories={"id": 1}),
        1,
        "missing or empty 'categories' list",
    ),
    "short_polygon": (
        lambda r: _coco(r, annotations__segmentation=[[1, 1, 5, 5]]),
        0,
        "polygon with 2 points (< 3) dropped",
    ),
    "rle_size": (
        lambda r: _coco(r, annotations__segmentation={"size": [4, 4], "counts": [0, 16]}),
        1,
        "RLE size [4, 4] disagrees",
    ),
    "not_json": (
        lambda r: (
            r.mkdir(parents=True, exist_ok=True),
            (r / "a.json").write_text('{"images": [}'),
            r / "a.json",
        )[-1],
        1,
        "not valid json at line 1",
    ),
    "label_rgb_mode": (
        lambda r: _masks(r, Image.fromarray(np.zeros((16, 16, 3), np.uint8))),
        1,
        "expected a single-channel index or palette PNG",
    ),
    "label_1bit_mode": (
        lambda r: _masks(r, Image.fromarray(np.zeros((16, 16), bool))),
        1,
        "expected a single-channel index or palette PNG",
    ),
    "label_16bit_values": (
        lambda r: _masks(r, Image.fromarray(np.full((16, 16), 300, np.uint16))),
        1,
        "label values [300] exceed the 2 classes",
    ),
    "label_above_classes": (
        lambda r: _masks(r, Image.fromarray(np.full((16, 16), 7, np.uint8))),
        1,
        "label values [7] exceed the 2 classes",
    ),
    "panoptic_ids_missing": (_panoptic_missing_ids, 1, "segment ids 9 in the PNG are absent"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_data_matrix(tmp_path, benchsel, case):
    make, code, message = BROKEN[case]
    root = tmp_path / "d"
    target = make(root)
    before = _snapshot(tmp_path)
    result = benchsel("data", "check", str(target), "--json")
    assert result.code == code, result.output
    report = result.report()
    kind = "errors" if code else "warnings"
    assert any(message in m["message"] for m in report[kind]), report
    assert _snapshot(tmp_path) == before, "data check wrote something"
    human = benchsel("data", "check", str(target))
    assert human.code == code, human.output
    assert message in human.output, human.output


def test_run_refuses_broken_data_before_any_trial(tmp_path, benchsel):
    _coco(tmp_path / "d", annotations__category_id=9)
    suite = {
        "name": "s",
        "task": "detection",
        "dataset": {"path": "d/ann.json"},
        "candidates": [{"id": "rtmdet-tiny"}],
        "output": "out",
    }
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(suite))
    result = benchsel("run", str(tmp_path / "s.yaml"))
    assert result.code == 1, result.output
    assert result.stderr.startswith("error: "), result.output
    assert "has errors" in result.stderr and "category id 9" in result.output
    assert not (tmp_path / "out" / "trials").exists()

"""Label issues: cleanlab's ranking on kept val predictions, and on a real run whose val labels
were corrupted on purpose (boxes removed, classes swapped)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from benchsel.evaluation.label_issues import box_issues, label_issues, map_issues
from benchsel.evaluation.thresholds import box_iou
from benchsel.evaluation.val_predictions import ValPredictions
from benchsel.store import TrialRecord

CLASSES = ("circle", "square", "triangle")


def _boxes(
    gt: list[tuple[int, int, int, list[float]]], det: list[tuple[int, int, list[float], float]]
):
    """ValPredictions of two images from (image, id, label, box) and (image, label, box, score)."""
    return ValPredictions(
        kind="boxes",
        classes=CLASSES,
        image_ids=np.array([10, 11]),
        image_files=np.array(["a.png", "b.png"]),
        image_sizes=np.array([[100, 100], [100, 100]]),
        gt_image=np.array([g[0] for g in gt]),
        gt_id=np.array([g[1] for g in gt]),
        gt_label=np.array([g[2] for g in gt]),
        gt_box=np.array([g[3] for g in gt], dtype=np.float32),
        gt_crowd=np.zeros(len(gt), bool),
        det_image=np.array([d[0] for d in det]),
        det_label=np.array([d[1] for d in det]),
        det_box=np.array([d[2] for d in det], dtype=np.float32),
        det_score=np.array([d[3] for d in det], dtype=np.float32),
    )


def test_box_issues_rank_a_swapped_class_and_a_missing_box_first():
    a, b, c = [10, 10, 40, 40], [50, 50, 90, 90], [55, 5, 95, 45]
    preds = _boxes(
        gt=[(0, 1, 0, a), (0, 2, 1, b), (1, 3, 2, a)],  # id 2 is labelled square, is a triangle
        det=[
            (0, 0, a, 0.9),
            (0, 2, b, 0.85),
            (1, 2, a, 0.9),
            (1, 1, c, 0.95),  # a square nobody labelled
            (1, 0, [0, 60, 20, 80], 0.05),  # an unconfident guess: no issue
        ],
    )
    issues = box_issues(preds, high_confidence=0.5)
    assert [(i.kind, i.annotation_id, i.image_id) for i in issues[:2]] == [
        ("wrong_class", 2, 10),
        ("missing", None, 11),
    ] or [(i.kind, i.annotation_id, i.image_id) for i in issues[:2]] == [
        ("missing", None, 11),
        ("wrong_class", 2, 10),
    ]
    swapped = next(i for i in issues if i.kind == "wrong_class")
    assert swapped.class_name == "square" and swapped.predicted == "triangle"
    missing = next(i for i in issues if i.kind == "missing")
    assert missing.box == c and missing.class_name == "square"
    clean = [i for i in issues if i.annotation_id in (1, 3)]
    assert all(i.score > 0.9 for i in clean)  # ranked, but far below the real problems


def test_map_issues_rank_the_image_whose_mask_disagrees_first():
    gt = np.zeros((3, 8, 8), np.uint8)
    gt[:, :4] = 1
    pred = gt.copy()
    bad = gt.copy()
    bad[1, 4:, :] = 2  # image 1: a third of the mask labelled another class
    preds = ValPredictions(
        kind="maps",
        classes=("sky", "grass", "sand"),
        image_ids=np.array([5, 6, 7]),
        image_files=np.array(["x.png", "y.png", "z.png"]),
        image_sizes=np.full((3, 2), 8),
        map_pred=pred,
        map_gt=bad,
    )
    issues = map_issues(preds)
    assert issues[0].image_id == 6
    assert issues[0].class_name == "sand" and issues[0].predicted == "sky"
    assert issues[0].score < issues[1].score


def test_val_predictions_round_trip_and_best_trial_is_used():
    preds = _boxes(gt=[(0, 1, 0, [1, 1, 9, 9])], det=[(1, 1, [1, 1, 9, 9], 0.9)])
    back = ValPredictions.from_bytes(preds.to_bytes())
    assert back.classes == CLASSES and back.kind == "boxes"
    assert np.array_equal(back.det_box, preds.det_box) and back.image_files[1] == "b.png"

    def trial(h: str, acc: float) -> TrialRecord:
        return TrialRecord(
            hash=h, suite_name="s", arch_id=h, family="f", task="detection", variant="default",
            loss=None, data_fraction=1.0, seed=0, spec={}, status="ok",
            metrics={"accuracy": acc, "f1_best_threshold": 0.5}, val_predictions=preds.to_bytes(),
        )  # fmt: skip

    issues = label_issues([trial("worse", 0.1), trial("better", 0.3)])
    assert issues and {i.trial for i in issues} == {"better"}


# ---------------------------------------------------------------- a real run, corrupted labels


def _corrupt_split(data: Path, out: Path, fraction: float, seed: int) -> dict[str, list]:
    """Train / val COCO files from the sample's; ``fraction`` of the val annotations corrupted,
    half removed and half given another class. Returns what was done."""
    coco = json.loads((data / "annotations" / "instances_all.json").read_text())
    rng = np.random.default_rng(seed)
    ids = sorted(im["id"] for im in coco["images"])
    val_ids = set(rng.permutation(ids)[: len(ids) // 5].tolist())
    for name, keep in (("train", lambda i: i not in val_ids), ("val", lambda i: i in val_ids)):
        part = {
            **coco,
            "images": [im for im in coco["images"] if keep(im["id"])],
            "annotations": [a for a in coco["annotations"] if keep(a["image_id"])],
        }
        if name == "val":
            anns = part["annotations"]
            n = max(2, round(fraction * len(anns)))
            chosen = rng.choice(len(anns), size=n, replace=False)
            removed = [anns[k] for k in chosen[: n // 2]]
            swapped = []
            cats = [c["id"] for c in coco["categories"]]
            for k in chosen[n // 2 :]:
                other = [c for c in cats if c != anns[k]["category_id"]]
                anns[k] = {**anns[k], "category_id": int(rng.choice(other))}
                swapped.append(anns[k])
            gone = {a["id"] for a in removed}
            part["annotations"] = [a for a in anns if a["id"] not in gone]
        (out / f"instances_{name}.json").write_text(json.dumps(part))
    return {"removed": removed, "swapped": swapped}


def _found(issue: dict, corrupted: dict, kind: str) -> bool:
    """Whether ``issue`` points at the corrupted annotation: its id for a swapped class; for a
    removed box, a missing-box issue in its image overlapping it (IoU >= 0.3)."""
    if kind == "swapped":
        return issue["annotation_id"] == corrupted["id"]
    x, y, w, h = corrupted["bbox"]
    if issue["kind"] != "missing" or issue["image_id"] != corrupted["image_id"]:
        return False
    iou = box_iou(np.array([[x, y, x + w, y + h]]), np.array([issue["box"]]))[0, 0]
    return bool(iou >= 0.3)


@pytest.mark.slow
def test_corrupted_val_labels_rank_in_the_top_2n(tmp_path, benchsel):
    """yolov8-n, 300 iterations at 128 px on the sample; 10% of the val boxes corrupted."""
    from benchsel.data.sample import generate_sample

    data = tmp_path / "data"
    generate_sample(data, images=300, size=128, seed=0)
    done = _corrupt_split(data, data / "annotations", fraction=0.1, seed=1)
    n = len(done["removed"]) + len(done["swapped"])
    suite = {
        "name": "noisy",
        "dataset": {
            "path": str(data),
            "format": "coco",
            "train": "annotations/instances_train.json",
            "val": "annotations/instances_val.json",
        },
        "candidates": [{"id": "yolov8-n", "task": "detection", "input_size": [128, 128]}],
        "training": {"iterations": 300, "batch_size": 8, "lr_scale": "none"},
        "measurement": {
            "batch_sizes": [1],
            "device": "cpu",
            "warmup_iters": 1,
            "min_iters": 2,
            "min_seconds": 0,
        },
        "output": str(tmp_path / "out"),
        "report": str(tmp_path / "noisy.html"),
    }
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite))
    run = benchsel("run", str(tmp_path / "suite.yaml"), timeout=1200)
    assert run.code == 0, run.output
    result = benchsel(
        "data",
        "label-issues",
        str(tmp_path / "out" / "noisy.sqlite"),
        "--top",
        str(2 * n),
        "--json",
    )
    assert result.code == 0, result.output
    top = result.report()["issues"]
    assert len(top) <= 2 * n
    hits = {
        kind: sum(any(_found(i, c, kind) for i in top) for c in done[kind])
        for kind in ("removed", "swapped")
    }
    recall = (hits["removed"] + hits["swapped"]) / n
    print(
        f"label issues: {hits} of N={n} corrupted ({len(done['removed'])} removed, "
        f"{len(done['swapped'])} swapped) in the top 2N={2 * n}: recall {recall:.2f}"
    )
    (tmp_path.parent / "label_issue_recall.json").write_text(
        json.dumps({"n": n, "hits": hits, "recall": recall, "top": top})
    )
    assert recall > 0.5
    text = benchsel("data", "label-issues", str(tmp_path / "out" / "noisy.sqlite"), "--top", "5")
    assert text.code == 0 and "detection: val labels ranked by yolov8-n" in text.stdout


def test_cli_ranks_issues_as_text_and_json(tmp_path, benchsel):
    from benchsel.store import ResultsStore

    a, b = [10, 10, 40, 40], [50, 50, 90, 90]
    preds = _boxes(gt=[(0, 1, 0, a), (0, 2, 1, b)], det=[(0, 0, a, 0.9), (0, 2, b, 0.9)])
    path = tmp_path / "r.sqlite"
    with ResultsStore(path) as store:
        record = TrialRecord(
            hash="t", suite_name="s", arch_id="rtmdet-tiny", family="yolo", task="detection",
            variant="default", loss=None, data_fraction=1.0, seed=0, spec={}, status="ok",
            metrics={"accuracy": 0.5, "f1_best_threshold": 0.5}, val_predictions=preds.to_bytes(),
        )  # fmt: skip
        store.save_trial(record)
        store.save_trial(TrialRecord(**{**record.__dict__, "hash": "u", "val_predictions": None}))
    out = benchsel("data", "label-issues", str(path), "--json")
    assert out.code == 0, out.output
    first = out.report()["issues"][0]
    assert {"image", "annotation_id", "kind", "score"} <= first.keys()
    assert (first["image"], first["annotation_id"], first["kind"]) == ("a.png", 2, "wrong_class")
    text = benchsel("data", "label-issues", str(path), "--top", "1")
    assert text.code == 0
    assert (
        "wrong_class" in text.stdout
        and "a.png" in text.stdout
        and "square -> triangle" in text.stdout
    )
    assert len([line for line in text.stdout.splitlines() if "a.png" in line]) == 1

    empty = tmp_path / "empty.sqlite"
    with ResultsStore(empty) as store:
        store.save_trial(TrialRecord(**{**record.__dict__, "val_predictions": None}))
    refused = benchsel("data", "label-issues", str(empty))
    assert refused.code == 1 and "no finished trial kept its val predictions" in refused.stderr
    missing = benchsel("data", "label-issues", str(tmp_path / "nope.sqlite"))
    assert missing.code == 1 and "not found" in missing.stderr

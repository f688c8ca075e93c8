"""The positive control's tools: `data holdout` (disjoint real / val / extra-real parts),
`fake relabel` (extra real with the teacher's labels), `train --no-augment`, and the "+ extra real"
arm they make, named apart from cGAN-KD in the run's identity."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cgankd.arms import arm_label
from cgankd.data import load_dataset, read_fake_h5
from cgankd.data.holdout import HoldoutSizes, split_indices
from cgankd.models.trained import TrainedNet

from conftest import cli


def _holdout(data, out, *extra) -> int:
    return cli("data", "holdout", "--data", data, "--n-real", 200, "--n-val", 100, "--n-extra", 120, "--seed", 3,
               "--out", out, *extra)


@pytest.fixture(scope="module")
def parts(tiny_classification_h5, tmp_path_factory):
    out = tmp_path_factory.mktemp("holdout")
    assert _holdout(tiny_classification_h5, out) == 0
    return {p.name.split("_", 1)[1]: p for p in out.iterdir()}


def test_parts_are_disjoint_balanced_and_drawn_from_the_training_split():
    labels = np.repeat(np.arange(4), [200, 150, 100, 70])
    sizes = HoldoutSizes(real=200, val=80, extra=120)
    parts = split_indices(labels, "classification", sizes, seed=0)
    assert len(np.unique(np.concatenate(list(parts.values())))) == 400
    counts = {p: np.bincount(labels[parts[p]], minlength=4).tolist() for p in parts}
    # Each part is balanced over what the parts before it left: class 3 (70) is used up by real and
    # val, so extra splits 120 over the other three as evenly as class 2's 30 left allow.
    assert counts == {"real": [50, 50, 50, 50], "val": [20, 20, 20, 20], "extra": [45, 45, 30, 0]}
    again = split_indices(labels, "classification", sizes, seed=0)
    assert all(np.array_equal(parts[p], again[p]) for p in parts)


def test_holdout_files_hold_the_parts_with_their_roles(parts, tiny_classification_h5):
    source = load_dataset(tiny_classification_h5)
    real = load_dataset(parts["real200_seed3.h5"])
    val = load_dataset(parts["real200_val100_seed3.h5"])
    extra, attrs = read_fake_h5(parts["extra120_seed3.h5"])
    assert len(real.train) == 200 and np.array_equal(real.test.images, source.test.images)
    assert np.array_equal(val.train.images, real.train.images) and len(val.test) == 100
    assert attrs["origin"] == "real" and attrs["labels"] == "true" and len(extra) == 120
    rows = {img.tobytes() for img in source.train.images}
    seen = [{img.tobytes() for img in split.images} for split in (real.train, val.test, extra)]
    assert all(s <= rows for s in seen)
    assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])


def test_holdout_refuses_more_images_than_the_split_and_existing_files(parts, tiny_classification_h5, capsys):
    folder = parts["real200_seed3.h5"].parent
    before = {p: p.read_bytes() for p in folder.iterdir()}
    assert cli("data", "holdout", "--data", tiny_classification_h5, "--n-real", 500, "--n-val", 100,
               "--out", folder / "more") == 2
    assert "the training split has only 512" in capsys.readouterr().err
    assert _holdout(tiny_classification_h5, folder) == 2
    assert "pass --force" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in folder.iterdir()} == before


def test_relabel_gives_the_teachers_labels(parts, cls_teacher, tmp_path, capsys):
    out = tmp_path / "extra_teacher.h5"
    assert cli("fake", "relabel", "--data", parts["extra120_seed3.h5"], "--teacher", cls_teacher, "--out", out,
               "--device", "cpu") == 0
    images, _ = read_fake_h5(parts["extra120_seed3.h5"])
    relabelled, attrs = read_fake_h5(out)
    expected = TrainedNet.load(cls_teacher).outputs(images.images).argmax(1).numpy()
    assert np.array_equal(relabelled.labels, expected) and np.array_equal(relabelled.images, images.images)
    assert attrs["labels"] == "teacher" and attrs["origin"] == "real"
    assert attrs["label_changed_share"] == pytest.approx(float(np.mean(expected != images.labels)))
    assert cli("fake", "relabel", "--data", out, "--teacher", cls_teacher, "--out", out) == 2
    assert "pass --force" in capsys.readouterr().err


def _train(data, out, *extra) -> dict:
    assert cli("train", "--data", data, "--arch", "resnet8", "--epochs", 1, "--batch-size", 64, "--device", "cpu",
               "--preset", "fashion-mnist", "--out", out, "--quiet", *extra) == 0
    return json.loads((out / "config.json").read_text())


def test_extra_real_is_an_arm_of_its_own_and_no_augment_is_recorded(parts, cls_teacher, tmp_path):
    data = parts["real200_val100_seed3.h5"]
    teacher_labelled = tmp_path / "extra_teacher.h5"
    assert cli("fake", "relabel", "--data", parts["extra120_seed3.h5"], "--teacher", cls_teacher,
               "--out", teacher_labelled, "--device", "cpu") == 0
    true = _train(data, tmp_path / "true", "--fake", parts["extra120_seed3.h5"], "--no-augment")
    taught = _train(data, tmp_path / "taught", "--fake", teacher_labelled, "--no-augment")
    plain = _train(data, tmp_path / "plain")
    assert true["arm"]["kind"] == taught["arm"]["kind"] == "extra_real"
    assert arm_label(true["arm"]).startswith("+ extra real (120 extra real, true labels")
    assert "teacher labels" in arm_label(taught["arm"])
    assert true["no_augment"] is True and true["augment"] is None and true["arm"]["schedule"]["no_augment"]
    assert "no_augment" not in plain and plain["augment"] is not None
    assert true["n_fake"] == 120 and torch.load(tmp_path / "true" / "model.pt", weights_only=False)

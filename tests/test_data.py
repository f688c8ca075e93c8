"""h5 read/write in both key schemes, fake sets, CIFAR-100 folders, and every bad-file message through the CLI."""

import os
import pickle

import h5py
import numpy as np
import pytest

from cgankd.cli import main
from cgankd.common.errors import UserError
from cgankd.data import (DataBundle, Split, load_dataset, read_fake_h5, summarize, write_dataset_h5,
                         write_fake_h5)


def _images(n, c=1, size=8, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, c, size, size), dtype=np.uint8)


def _write_h5(path, attrs=None, **datasets):
    with h5py.File(path, "w") as f:
        for key, value in datasets.items():
            f.create_dataset(key, data=value)
        for key, value in (attrs or {}).items():
            f.attrs[key] = value
    return path


def _valid_keys(n_train=10, n_test=4, c=1, size=8, labels_dtype=np.int64):
    def labels(n):
        return (np.arange(n) % 3).astype(labels_dtype)
    return {"images_train": _images(n_train, c, size), "labels_train": labels(n_train),
            "images_test": _images(n_test, c, size, seed=1), "labels_test": labels(n_test)}


def _check(capsys, *argv):
    rc = main(["data", "check", *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err


# ---------------------------------------------------------------- round trips

@pytest.mark.parametrize("channels", [1, 3])
def test_dataset_round_trip_classification(tmp_path, channels):
    train = Split(_images(12, channels, 16), np.arange(12) % 4)
    test = Split(_images(5, channels, 16, seed=2), np.array([0, 1, 2, 3, 3]))
    path = tmp_path / "set.h5"
    write_dataset_h5(path, train, test, {"task": "classification", "source": "unit test"})
    with h5py.File(path) as f:
        assert sorted(f) == ["images_test", "images_train", "labels_test", "labels_train"]
    bundle = load_dataset(path)
    assert bundle.task == "classification" and bundle.num_classes == 4
    assert bundle.channels == channels and bundle.img_size == 16
    np.testing.assert_array_equal(bundle.train.images, train.images)
    np.testing.assert_array_equal(bundle.test.labels, test.labels)
    assert bundle.train.labels.dtype == np.int64
    assert bundle.attrs["source"] == "unit test" and bundle.name == "set"
    assert [p.name for p in tmp_path.iterdir()] == ["set.h5"]   # no temp file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask          # not mkstemp's private 0600


def test_dataset_round_trip_regression_float_labels(tmp_path):
    train = Split(_images(6, 3, 8), np.linspace(-88.13, 97.92, 6))
    test = Split(_images(3, 3, 8), np.array([1.5, -2.25, 0.0]))
    write_dataset_h5(tmp_path / "steer.h5", train, test, {})
    bundle = load_dataset(tmp_path / "steer.h5")
    assert bundle.task == "regression" and bundle.num_classes is None
    assert bundle.train.labels.dtype == np.float32
    np.testing.assert_allclose(bundle.train.labels, train.labels, rtol=1e-6)


def test_valid_key_scheme_and_column_labels(tmp_path):
    keys = _valid_keys(c=3)
    path = _write_h5(tmp_path / "imagenet.h5", images_train=keys["images_train"],
                     labels_train=keys["labels_train"][:, None], images_valid=keys["images_test"],
                     labels_valid=keys["labels_test"])
    bundle = load_dataset(path)
    assert len(bundle.train) == 10 and len(bundle.test) == 4
    assert bundle.train.labels.shape == (10,)
    np.testing.assert_array_equal(bundle.test.images, keys["images_test"])


def test_task_resolution_and_num_classes(tmp_path):
    keys = _valid_keys(labels_dtype=np.float64)
    # Float labels: regression by default; the argument makes integer-valued floats class ids.
    path = _write_h5(tmp_path / "a.h5", **keys)
    assert load_dataset(path).task == "regression"
    as_classes = load_dataset(path, task="classification")
    assert as_classes.train.labels.dtype == np.int64 and as_classes.num_classes == 3
    # The file's attribute decides when no argument is given; num_classes comes from attrs, but its
    # classes 3..6 have no training image: an error, unless the user states the class count.
    path = _write_h5(tmp_path / "b.h5", attrs={"task": "classification", "num_classes": 7}, **keys)
    with pytest.raises(UserError, match=r"no image of class id 3, 4, 5, 6 of 0\.\.6"):
        load_dataset(path)
    assert load_dataset(path, num_classes=7).num_classes == 7
    # Integer labels read as a regression task (e.g. ages) become float32.
    path = _write_h5(tmp_path / "c.h5", **_valid_keys())
    bundle = load_dataset(path, task="regression")
    assert bundle.train.labels.dtype == np.float32 and bundle.task == "regression"


def test_fake_round_trip_with_attrs(tmp_path):
    images, labels = _images(7, 3, 8), np.array([0, 1, 2, 0, 1, 2, 0])
    attrs = {"gan_ckpt": "runs/gan/last.pt", "nfake": 7, "rho": 0.9, "adjust_labels": True,
             "subsample": {"method": "cdr-rs", "burn_in": 500}, "kept_per_class": [3, 2, 2], "commit": None}
    path = tmp_path / "fake.h5"
    write_fake_h5(path, images, labels, attrs)
    split, read_attrs = read_fake_h5(path)
    np.testing.assert_array_equal(split.images, images)
    np.testing.assert_array_equal(split.labels, labels)
    assert read_attrs == attrs
    with h5py.File(path) as f:
        assert sorted(f) == ["fake_images", "fake_labels"]
        assert isinstance(f.attrs["subsample"], str)   # dicts are stored as JSON strings
    reg_split, _ = read_fake_h5(_write_fake(tmp_path / "reg.h5", labels=np.array([0.5, -1.0])))
    assert reg_split.labels.dtype == np.float32


def _write_fake(path, images=None, labels=None, attrs=None):
    images = _images(2, 3, 8) if images is None else images
    return _write_h5(path, attrs=attrs, fake_images=images, fake_labels=labels)


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "fake.h5"
    write_fake_h5(path, _images(3), np.array([0, 1, 2]), {"nfake": 3})
    with pytest.raises(UserError, match="expected uint8"):
        write_fake_h5(path, np.zeros((3, 1, 8, 8), np.float32), np.array([0, 1, 2]), {"nfake": 99})
    split, attrs = read_fake_h5(path)
    assert attrs["nfake"] == 3 and len(split) == 3
    assert os.listdir(tmp_path) == ["fake.h5"]


# ---------------------------------------------------------------- the summary (data check)

def test_check_prints_a_summary(tmp_path, capsys):
    path = _write_h5(tmp_path / "good.h5", attrs={"task": "classification", "num_classes": 4}, **_valid_keys())
    rc, out, err = _check(capsys, path, "--num-classes", 4)          # class 3 empty on purpose
    assert rc == 0 and err == ""
    assert "good: classification, 4 classes, 1x8x8 images" in out
    assert "train      10 images uint8 1x8x8" in out
    assert "counts 0:4 1:3 2:3 3:0" in out
    path = _write_h5(tmp_path / "reg.h5", **_valid_keys(labels_dtype=np.float32))
    rc, out, _ = _check(capsys, path)
    assert rc == 0 and "regression" in out and "min 0 max 2 mean 0.9 std" in out


def test_check_fake_set_and_cifar_folder(tmp_path, capsys):
    rc, out, _ = _check(capsys, _write_fake(tmp_path / "fake.h5", labels=np.array([0.25, 0.75])))
    assert rc == 0 and "fake set, regression" in out and "min 0.25 max 0.75" in out
    _fake_cifar(tmp_path)
    rc, out, _ = _check(capsys, tmp_path)
    assert rc == 0 and "CIFAR-100: classification, 100 classes, 3x32x32 images" in out


def test_summarize_many_classes_is_compact():
    labels = np.arange(300) % 100
    bundle = DataBundle(Split(_images(300, 3, 4), labels), Split(_images(3, 3, 4), labels[:3]),
                        "classification", 100, "x", {})
    text = summarize(bundle)
    assert "min 3 max 3 mean 3.0 per class" in text and len(text.splitlines()) == 3


# ---------------------------------------------------------------- CIFAR-100 folders

def _fake_cifar(root, n_train=200, n_test=10):
    folder = root / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, n in (("train", n_train), ("test", n_test)):
        labels = np.arange(n) % 100 if name == "train" else rng.integers(0, 100, n)   # every class trains
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 b"fine_labels": [int(i) for i in labels], b"coarse_labels": [0] * n}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    with open(folder / "meta", "wb") as f:
        pickle.dump({b"fine_label_names": [f"class{i}".encode() for i in range(100)]}, f)
    return folder


def test_cifar_folder_or_parent(tmp_path):
    folder = _fake_cifar(tmp_path)
    with open(folder / "train", "rb") as f:
        raw = pickle.load(f, encoding="bytes")
    for path in (folder, tmp_path):
        bundle = load_dataset(path)
        assert bundle.num_classes == 100 and bundle.task == "classification"
        assert bundle.train.images.shape == (200, 3, 32, 32) and len(bundle.test) == 10
        # Channel-major rows: the first 1024 bytes are the red plane, row by row.
        np.testing.assert_array_equal(bundle.train.images[3, 0], raw[b"data"][3, :1024].reshape(32, 32))
        np.testing.assert_array_equal(bundle.train.images[3, 2, 31], raw[b"data"][3, -32:])
        np.testing.assert_array_equal(bundle.train.labels, raw[b"fine_labels"])
        assert bundle.attrs["class_names"][5] == "class5"
    with pytest.raises(UserError, match="classification dataset"):
        load_dataset(folder, task="regression")


# ---------------------------------------------------------------- every bad file, through the CLI

def _bad_files(tmp):
    """(path, text the error must contain) for every way a file can be wrong."""
    k = _valid_keys
    cases = []

    def add(name, expected, attrs=None, **changes):
        keys = {**k(), **changes}
        keys = {key: value for key, value in keys.items() if value is not None}
        cases.append((_write_h5(tmp / f"{name}.h5", attrs=attrs, **keys), expected))

    cases.append((tmp / "absent.h5", "no such file"))
    (tmp / "emptydir").mkdir()
    cases.append((tmp / "emptydir", "no CIFAR-100 folder here"))
    (tmp / "empty.h5").write_bytes(b"")
    cases.append((tmp / "empty.h5", "the file is empty (0 bytes), expected an HDF5 file"))
    (tmp / "text.h5").write_text("images_train,labels_train\n1,2\n")
    cases.append((tmp / "text.h5", "not an HDF5 file"))
    add("missing", "missing key 'labels_test' (expected images_train, labels_train and images_test, labels_test "
                   "(or images_valid, labels_valid); found: images_test, images_train, labels_train)",
        labels_test=None)
    add("nothing", "missing key 'images_train'", images_train=None, labels_train=None,
        images_test=None, labels_test=None, other=np.zeros(3))
    add("dtype", "key 'images_train' has dtype float32, expected uint8 images",
        images_train=np.zeros((10, 1, 8, 8), np.float32))
    add("labeldtype", "key 'labels_test' has dtype |S3, expected integer or float labels",
        labels_test=np.array([b"cat"] * 4))
    add("rank", "key 'images_test' has shape (4, 8, 8), expected 4 dimensions N x C x H x W",
        images_test=np.zeros((4, 8, 8), np.uint8))
    add("labelrank", "key 'labels_train' has shape (10, 2), expected one label per image, shape (N,)",
        labels_train=np.zeros((10, 2), np.int64))
    add("channels", "key 'images_train' has 2 channels (shape (10, 2, 8, 8)), expected 1 or 3 channels",
        images_train=np.zeros((10, 2, 8, 8), np.uint8))
    add("nhwc", "key 'images_train' has 8 channels (shape (10, 8, 8, 3))",
        images_train=np.zeros((10, 8, 8, 3), np.uint8))
    add("square", "key 'images_train' has images of H x W = 8 x 6, expected square images (H == W)",
        images_train=np.zeros((10, 1, 8, 6), np.uint8))
    add("count", "key 'labels_train' has 9 labels but 'images_train' has 10 images, expected one label per image",
        labels_train=np.zeros(9, np.int64))
    add("nan", "key 'labels_train' has 2 NaN/inf values, expected finite labels",
        labels_train=np.array([0.5, np.nan, 1, 2, 3, 4, 5, 6, 7, np.nan]))
    add("inf", "key 'labels_test' has 1 NaN/inf values, expected finite labels",
        labels_test=np.array([0.5, np.inf, 1.0, 2.0]), labels_train=np.linspace(0, 1, 10))
    add("negative", "key 'labels_test' has class id -1, expected class ids >= 0",
        labels_test=np.array([0, -1, 2, 1]))
    add("toolarge", "key 'labels_train' has class id 12, expected class ids 0..9 (num_classes 10)",
        attrs={"num_classes": 10}, labels_train=np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 12]))
    add("fractional", "key 'labels_train' has non-integer class id 1.5, expected integer class ids",
        attrs={"task": "classification"}, labels_train=np.array([0, 1.5, 2, 0, 1, 2, 0, 1, 2, 0]))
    add("emptysplit", "key 'images_test' holds 0 images, expected a non-empty split",
        images_test=np.zeros((0, 1, 8, 8), np.uint8), labels_test=np.zeros(0, np.int64))
    add("sizes", "key 'images_test' has images of 1x16x16 but 'images_train' has 1x8x8, expected the same",
        images_test=_images(4, 1, 16))
    add("task", "attribute 'task' is 'segmentation', expected 'classification' or 'regression'",
        attrs={"task": "segmentation"})
    add("numclasses", "attribute 'num_classes' is 0, expected a positive integer", attrs={"num_classes": 0})
    cases.append((_write_fake(tmp / "fake_nan.h5", labels=np.array([np.nan, 1.0])),
                  "key 'fake_labels' has 1 NaN/inf values"))
    cases.append((_write_fake(tmp / "fake_count.h5", labels=np.array([1, 2, 3])),
                  "key 'fake_labels' has 3 labels but 'fake_images' has 2 images"))
    truncated = tmp / "truncated.h5"
    write_dataset_h5(truncated, Split(_images(200, 3, 32), np.zeros(200, np.int64)),
                     Split(_images(4, 3, 32), np.zeros(4, np.int64)), {})
    truncated.write_bytes(truncated.read_bytes()[:4096])
    cases.append((truncated, "cannot be read as HDF5"))
    return cases


def test_every_bad_file_gives_one_line_and_exit_2(tmp_path, capsys):
    cases = _bad_files(tmp_path)
    assert len(cases) == 26
    for path, expected in cases:
        rc, out, err = _check(capsys, path)
        assert rc == 2, (path, out, err)
        assert expected in err, (path, err)
        assert err.startswith(f"error: {path}"), err
        assert err.count("\n") == 1 and "Traceback" not in out + err, err
        assert out == ""


def test_bad_task_argument_and_fake_class_ids(tmp_path):
    path = _write_fake(tmp_path / "fake.h5", labels=np.array([0, 12]), attrs={"num_classes": 10})
    with pytest.raises(UserError, match="'fake_labels' has class id 12, expected class ids 0..9"):
        read_fake_h5(path)
    with pytest.raises(UserError, match="'fake_labels' has class id 12, expected class ids 0..4"):
        read_fake_h5(_write_fake(tmp_path / "b.h5", labels=np.array([0, 12])), num_classes=5)


def test_a_gap_in_the_class_ids_is_an_error_unless_the_class_count_is_stated(tmp_path, capsys):
    """Class 3 of 10 replaced by 250: not a 251-way task with 241 empty classes."""
    from cgankd.cli import main
    labels = np.arange(40) % 10
    labels[labels == 3] = 250
    keys = dict(images_train=_images(40, 1, 8), labels_train=labels.astype(np.int64),
                images_test=_images(10, 1, 8), labels_test=np.arange(10).astype(np.int64))
    path = _write_h5(tmp_path / "gap.h5", **keys)
    assert main(["data", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no image of class id 3, 10, 11" in err and "--num-classes" in err
    # Stated: ids 0..250 are then allowed to be empty, but an id at or above K is still an error.
    assert main(["data", "check", str(path), "--num-classes", "251"]) == 0
    assert main(["data", "check", str(path), "--num-classes", "10"]) == 2
    assert "class id 250, expected class ids 0..9" in capsys.readouterr().err
    # The top class missing from the training split (the test split has it) is caught too.
    top = dict(keys, labels_train=(np.arange(40) % 9).astype(np.int64))
    assert main(["data", "check", str(_write_h5(tmp_path / "top.h5", **top))]) == 2
    assert "no image of class id 9" in capsys.readouterr().err

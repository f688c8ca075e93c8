"""idx parsing, the Fashion-MNIST / Rotated Fashion-MNIST preparation, and the rotation itself."""

import gzip
import struct

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from torchvision.transforms import InterpolationMode

from cgankd.cli import main
from cgankd.common.errors import UserError
from cgankd.data import load_dataset
from cgankd.data import prepare as prep
from cgankd.presets import get_preset


def _write_idx(path, array, magic=None, gz=True):
    magic = magic if magic is not None else 0x0800 + array.ndim
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)
    return path


def _tiny_raw(folder, n_train=30, n_test=10):
    """Four idx files like Fashion-MNIST's, with 28x28 images and labels 0..9."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        _write_idx(folder / f"{split}-images-idx3-ubyte.gz", images)
        _write_idx(folder / f"{split}-labels-idx1-ubyte.gz", labels)
        arrays[split] = (images, labels)
    return arrays


@pytest.fixture
def no_system_data(monkeypatch, tmp_path):
    """Hide the Debian package's folder and make every download fail."""
    monkeypatch.setattr(prep, "SYSTEM_DIR", tmp_path / "no-system-data")
    monkeypatch.setattr(prep, "download_raw", lambda raw_dir, timeout=30.0: None)


# ---------------------------------------------------------------- idx files

def test_read_idx_gz_and_plain(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(prep.read_idx(_write_idx(tmp_path / "a.gz", images), ndim=3), images)
    labels = np.array([3, 1, 4], np.uint8)
    np.testing.assert_array_equal(prep.read_idx(_write_idx(tmp_path / "b", labels, gz=False), ndim=1), labels)


def test_read_idx_rejects_bad_files(tmp_path):
    labels = np.array([3, 1, 4], np.uint8)
    with pytest.raises(UserError, match="bad idx magic number 00000801, expected 00000803"):
        prep.read_idx(_write_idx(tmp_path / "labels.gz", labels), ndim=3)
    with pytest.raises(UserError, match="bad idx magic number 00000d01"):
        prep.read_idx(_write_idx(tmp_path / "float.gz", labels, magic=0x0D01), ndim=1)
    path = _write_idx(tmp_path / "short", labels, gz=False)
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(UserError, match="holds 2 bytes of data, expected 3 for shape"):
        prep.read_idx(path, ndim=1)


# ---------------------------------------------------------------- prepare

def test_missing_data_message(tmp_path, capsys, no_system_data):
    rc = main(["data", "prepare", "fashion-mnist", "--out", str(tmp_path / "fm")])
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert "apt-get install dataset-fashion-mnist" in err
    assert f"to {tmp_path / 'fm' / 'raw'}/" in err
    assert not (tmp_path / "fm" / "FashionMNIST_28x28.h5").exists()


def test_prepare_from_raw_folder_then_no_op(tmp_path, capsys, no_system_data):
    out_dir = tmp_path / "fm"
    arrays = _tiny_raw(out_dir / "raw")
    assert main(["data", "prepare", "fashion-mnist", "--out", str(out_dir)]) == 0
    assert "wrote" in capsys.readouterr().out
    path = out_dir / "FashionMNIST_28x28.h5"
    bundle = load_dataset(path)
    assert bundle.task == "classification" and bundle.num_classes == 10
    assert bundle.train.images.shape == (30, 1, 28, 28) and len(bundle.test) == 10
    np.testing.assert_array_equal(bundle.train.images[:, 0], arrays["train"][0])
    np.testing.assert_array_equal(bundle.test.labels, arrays["t10k"][1])
    assert bundle.attrs["class_names"][9] == "Ankle boot"
    stamp = path.stat().st_mtime_ns
    assert main(["data", "prepare", "fashion-mnist", "--out", str(out_dir)]) == 0
    assert "nothing to do" in capsys.readouterr().out and path.stat().st_mtime_ns == stamp


def test_prepare_rotated_is_seeded(tmp_path, no_system_data):
    out_dir = tmp_path / "fm"
    arrays = _tiny_raw(out_dir / "raw")
    path, written = prep.prepare("rotated-fashion-mnist", out_dir, seed=3)
    first = load_dataset(path)
    assert written and first.task == "regression" and first.attrs["seed"] == 3
    assert first.attrs["angle_range"] == [-90.0, 90.0]
    labels = np.concatenate([first.train.labels, first.test.labels])
    assert labels.dtype == np.float32 and labels.min() >= -90 and labels.max() <= 90 and labels.std() > 20
    assert not np.array_equal(first.train.images[:, 0], arrays["train"][0])
    assert prep.prepare("rotated-fashion-mnist", out_dir, seed=3) == (path, False)
    _, written = prep.prepare("rotated-fashion-mnist", out_dir, seed=4)    # other seed: made again
    second = load_dataset(path)
    assert written and second.attrs["seed"] == 4 and not np.allclose(second.train.labels, first.train.labels)



def test_prepare_rotated_45_is_a_file_of_its_own_with_angles_within_45(tmp_path, no_system_data):
    out_dir = tmp_path / "fm"
    _tiny_raw(out_dir / "raw")
    wide, _ = prep.prepare("rotated-fashion-mnist", out_dir, seed=3)
    narrow, written = prep.prepare("rotated-fashion-mnist-45", out_dir, seed=3)
    assert written and narrow.name == "RotatedFashionMNIST45_28x28.h5" and wide.exists()
    data = load_dataset(narrow)
    labels = np.concatenate([data.train.labels, data.test.labels])
    assert data.attrs["angle_range"] == [-45.0, 45.0] and data.attrs["preset"] == "rotated-fashion-mnist-45"
    assert labels.min() >= -45 and labels.max() <= 45 and labels.std() > 10
    assert get_preset("rotated-fashion-mnist-45")["data"]["label_norm"] == {"low": -45.0, "high": 45.0}
    assert load_dataset(wide).attrs["preset"] == "rotated-fashion-mnist"

def test_invalid_existing_file_is_replaced(tmp_path, no_system_data):
    out_dir = tmp_path / "fm"
    _tiny_raw(out_dir / "raw")
    (out_dir / "FashionMNIST_28x28.h5").write_bytes(b"half a file")
    path, written = prep.prepare("fashion-mnist", out_dir)
    assert written and len(load_dataset(path).train) == 30


# ---------------------------------------------------------------- rotation

def _smooth_images(n, size=28, seed=0):
    """Low-frequency images (upsampled noise), so bilinear resampling loses little."""
    coarse = torch.from_numpy(np.random.default_rng(seed).uniform(0, 255, (n, 1, 7, 7)).astype(np.float32))
    return torch.nn.functional.interpolate(coarse, size=size, mode="bicubic").clamp(0, 255).round().byte().numpy()


def test_rotation_matches_torchvision_convention():
    images = _smooth_images(3)
    angles = np.array([30.0, -45.0, 90.0], np.float32)
    ours = prep.rotate_images(images, angles).astype(np.float32)
    for i, angle in enumerate(angles):
        ref = TF.rotate(torch.from_numpy(images[i]).float(), float(angle), interpolation=InterpolationMode.BILINEAR)
        assert np.abs(ours[i] - ref.numpy()).max() <= 1.0   # counter-clockwise positive, as torchvision


def test_rotated_back_matches_source_in_the_centre():
    images = _smooth_images(16)
    angles = np.random.default_rng(1).uniform(-90, 90, 16).astype(np.float32)
    rotated = prep.rotate_images(images, angles)
    back = prep.rotate_images(rotated, -angles).astype(np.float32)
    twice = prep.rotate_images(rotated, angles).astype(np.float32)
    yy, xx = np.mgrid[:28, :28]
    centre = (yy - 13.5) ** 2 + (xx - 13.5) ** 2 <= 9 ** 2
    source = images.astype(np.float32)
    err_back = np.abs(back - source)[:, 0, centre].mean()
    err_twice = np.abs(twice - source)[:, 0, centre].mean()
    assert err_back < 6.0 and err_twice > 5 * err_back
    # A rotation by 0 is exact, and the corners of a 45-degree turn are zero-filled.
    np.testing.assert_array_equal(prep.rotate_images(images[:2], np.zeros(2, np.float32)), images[:2])
    full = np.full((1, 1, 28, 28), 255, np.uint8)
    assert prep.rotate_images(full, np.array([45.0], np.float32))[0, 0, 0, 0] == 0


# ---------------------------------------------------------------- the real data (Debian package)

def test_real_prepare_from_debian_package(tmp_path):
    # tools/bootstrap.sh installs the package on a fresh machine; without it this test must fail.
    assert prep.SYSTEM_DIR.is_dir(), "install the Debian package dataset-fashion-mnist"
    path, written = prep.prepare("fashion-mnist", tmp_path, allow_download=False)
    bundle = load_dataset(path)
    assert written and bundle.attrs["source"] == str(prep.SYSTEM_DIR)
    assert (len(bundle.train), len(bundle.test)) == (60000, 10000)
    assert bundle.train.images.shape[1:] == (1, 28, 28)
    np.testing.assert_array_equal(np.bincount(bundle.train.labels), [6000] * 10)
    path, _ = prep.prepare("rotated-fashion-mnist", tmp_path, seed=0, allow_download=False)
    rotated = load_dataset(path)
    assert (len(rotated.train), len(rotated.test)) == (60000, 10000)
    assert -90 <= rotated.train.labels.min() < -89 and 89 < rotated.train.labels.max() <= 90
    assert abs(float(rotated.train.labels.mean())) < 1.5

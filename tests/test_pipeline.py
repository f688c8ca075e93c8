"""The device-side pipeline (pixel norm, batched augmentation, DeviceLoader) and the seeded splits."""

import pickle

import numpy as np
import pytest
import torch

from cgankd.common.errors import UserError
from cgankd.data import Augment, DeviceLoader, LabelNorm, PixelNorm, stratified_subset, train_val_split
from cgankd.data.pipeline import _crop_boxes, crop_and_flip, random_resized_crop
from cgankd.presets import PRESETS


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _images(n, c=1, size=8, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, c, size, size), dtype=np.uint8))


# ---------------------------------------------------------------- pixel norm

def test_pixel_norm_round_trip_and_dataset_stats():
    images = _images(50, 3)
    norm = PixelNorm.from_spec("dataset", images.numpy())
    x = norm.normalize(images)
    assert x.dtype == torch.float32
    torch.testing.assert_close(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(x.std(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(norm.denormalize(x), images.float() / 255, atol=1e-6, rtol=0)
    # Stats over several arrays equal the stats over their concatenation.
    parts = PixelNorm.dataset_stats([images[:20].numpy(), images[20:].numpy()], chunk=7)
    np.testing.assert_allclose(parts, PixelNorm.dataset_stats(images.numpy()), rtol=1e-9)
    assert PixelNorm.from_dict(norm.to_dict()) == norm
    copied = pickle.loads(pickle.dumps(norm))
    assert copied == norm and copied._cache == {} and len(norm._cache) == 1
    torch.testing.assert_close(copied.normalize(images), x)


def test_pixel_norm_specs():
    pm1 = PixelNorm.from_spec("minus_one_one")
    x = torch.tensor([0, 255], dtype=torch.uint8).view(1, 1, 1, 2).expand(1, 3, 1, 2)
    torch.testing.assert_close(pm1.normalize(x)[0, :, 0], torch.tensor([[-1.0, 1.0]] * 3))
    cifar = PixelNorm.from_spec(PRESETS["cifar100"]["data"]["pixel_norm"])
    torch.testing.assert_close(cifar.normalize(torch.zeros(1, 3, 1, 1, dtype=torch.uint8)).view(-1),
                               -torch.tensor([0.5071 / 0.2675, 0.4867 / 0.2565, 0.4408 / 0.2761]))
    with pytest.raises(UserError, match="expected 'dataset', 'minus_one_one'"):
        PixelNorm.from_spec("imagenet")


# ---------------------------------------------------------------- augmentation

def test_random_crop_keeps_shape_and_shifts_content():
    x = torch.zeros(64, 1, 8, 8, dtype=torch.uint8)
    x[:, 0, 3, 4] = 200
    out, flipped = crop_and_flip(x, 2, False, _gen())
    assert out.shape == x.shape and out.dtype == torch.uint8 and not flipped.any()
    shifts = set()
    for img in out[:, 0]:
        # Each output is the input shifted by (dy, dx) in [-2, 2] with zero fill.
        (r,), (c,) = torch.nonzero(img == 200, as_tuple=True)
        assert img.sum() == 200 and abs(r - 3) <= 2 and abs(c - 4) <= 2
        shifts.add((int(r) - 3, int(c) - 4))
    assert len(shifts) >= 15   # of the 25 possible offsets


def test_crop_and_flip_is_a_shifted_copy_mirrored_where_flipped():
    x = _images(40, 3, 6)
    out, flipped = crop_and_flip(x, 2, True, _gen(4))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    windows = [padded[:, :, dy:dy + 6, dx:dx + 6] for dy in range(5) for dx in range(5)]
    for b in range(40):
        unmirrored = out[b].flip(2) if flipped[b] else out[b]
        assert any(torch.equal(unmirrored, win[b]) for win in windows), b
    assert 8 < int(flipped.sum()) < 32


def test_random_crop_pads_with_black_before_normalising():
    x = torch.full((32, 1, 6, 6), 255, dtype=torch.uint8)
    norm = PixelNorm((0.3,), (0.2,))
    loader = DeviceLoader(x, np.zeros(32, np.int64), 32, pixel_norm=norm, augment=Augment(crop_pad=1), seed=1)
    batch, _, _ = next(iter(loader))
    assert torch.unique(batch).tolist() == pytest.approx([(0 - 0.3) / 0.2, (1 - 0.3) / 0.2])


@pytest.mark.parametrize("flip_label", ["keep", "negate"])
def test_flip_flips_images_and_labels_only_for_negate(flip_label):
    x = _images(200)
    norm = LabelNorm(-88.13, 97.92)          # not symmetric: negation must go through raw units
    raw = torch.linspace(-80, 80, 200)
    y = norm.normalize(raw)
    aug = Augment(flip=True, flip_label=flip_label, label_norm=norm)
    out, y_out = aug(x, y, _gen(5))
    flipped = (out != x).flatten(1).any(dim=1)
    assert torch.equal(out[flipped], x[flipped].flip(3)) and torch.equal(out[~flipped], x[~flipped])
    assert 70 < int(flipped.sum()) < 130
    if flip_label == "keep":
        assert torch.equal(y_out, y)
    else:
        torch.testing.assert_close(norm.denormalize(y_out[flipped]), -raw[flipped], atol=1e-4, rtol=0)
        assert torch.equal(y_out[~flipped], y[~flipped])


def test_negate_needs_float_labels_and_raw_labels_negate_directly():
    x = _images(8)
    with pytest.raises(ValueError, match="float"):
        Augment(flip=True, flip_label="negate")(x, torch.arange(8), _gen())
    y = torch.arange(8.0)
    out, y_out = Augment(flip=True, flip_label="negate")(x, y, _gen(1))
    flipped = (out != x).flatten(1).any(dim=1)
    assert torch.equal(y_out, torch.where(flipped, -y, y))


def test_random_resized_crop_shapes_and_boxes():
    x = _images(32, 3, 16)
    out = random_resized_crop(x, _gen())
    assert out.shape == (32, 3, 16, 16) and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 255
    # With the whole image as the only box it is the identity.
    torch.testing.assert_close(random_resized_crop(x, _gen(), scale=(1, 1), ratio=(1, 1)), x.float(), atol=1e-3, rtol=0)
    top, left, h, w = _crop_boxes(1000, 16, 12, (0.08, 1.0), (3 / 4, 4 / 3), _gen(3), torch.device("cpu")).unbind(1)
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= 16).all() and (left + w <= 12).all()
    area = h * w / (16 * 12)
    assert area.min() < 0.2 and area.max() > 0.8 and (h >= 1).all() and (w >= 1).all()


def test_random_resized_crop_samples_its_box():
    # On a horizontal ramp (value 10 * column) bilinear resampling is exact, so every output row
    # must read 10 * the column that output pixel j maps to inside the box.
    size = 16
    ramp = (10 * torch.arange(size, dtype=torch.float32)).expand(20, 1, size, size)
    out = random_resized_crop(ramp, _gen(11))
    _, left, _, w = _crop_boxes(20, size, size, (0.08, 1.0), (3 / 4, 4 / 3), _gen(11), torch.device("cpu")).unbind(1)
    j = torch.arange(size, dtype=torch.float32)
    column = (left[:, None] + (j + 0.5) * w[:, None] / size - 0.5).clamp(0, size - 1)
    torch.testing.assert_close(out[:, 0, 5], 10 * column, atol=1e-3, rtol=0)


def test_augment_from_every_preset():
    for name, preset in PRESETS.items():
        spec = preset["data"]["augment"]
        aug = Augment.from_spec(spec, label_norm=LabelNorm(-90, 90))
        c, size = preset["data"]["channels"], 16
        y = torch.rand(4) if preset["data"]["task"] == "regression" else torch.arange(4)
        out, y_out = aug(_images(4, c, size), y, _gen())
        assert out.shape == (4, c, size, size) and y_out.shape == (4,), name
    with pytest.raises(UserError, match="unknown setting"):
        Augment.from_spec({"rotate": 10})
    with pytest.raises(UserError, match="flip_label"):
        Augment.from_spec({"flip": True, "flip_label": "mirror"})
    assert Augment.from_spec(None).is_identity


# ---------------------------------------------------------------- DeviceLoader

def _loader(n=50, batch=8, seed=0, augment=None, **kw):
    images = _images(n, 1, 8).numpy()
    labels = np.arange(n) % 5
    return DeviceLoader(images, labels, batch, pixel_norm=PixelNorm((0.5,), (0.25,)), augment=augment,
                        seed=seed, **kw), images, labels


def _epoch(loader, epoch):
    loader.set_epoch(epoch)
    return list(loader)


def test_loader_batches_match_their_indices():
    loader, images, labels = _loader(drop_last=True)
    batches = _epoch(loader, 0)
    assert len(loader) == len(batches) == 6 and all(len(b[2]) == 8 for b in batches)
    for x, y, index in batches:
        assert x.dtype == torch.float32 and y.dtype == torch.long and x.shape == (8, 1, 8, 8)
        torch.testing.assert_close(x, (torch.from_numpy(images[index.numpy()]).float() / 255 - 0.5) / 0.25)
        assert torch.equal(y, torch.from_numpy(labels[index.numpy()]))


def test_loader_same_seed_and_epoch_same_batches():
    aug = Augment(crop_pad=2, flip=True)
    first, _, _ = _loader(augment=aug, seed=7)
    again, _, _ = _loader(augment=aug, seed=7)
    _epoch(first, 0), _epoch(first, 1)
    for (xa, ya, ia), (xb, yb, ib) in zip(_epoch(first, 2), _epoch(again, 2)):   # a "resumed" loader
        assert torch.equal(xa, xb) and torch.equal(ya, yb) and torch.equal(ia, ib)
    order0 = torch.cat([b[2] for b in _epoch(first, 0)])
    order1 = torch.cat([b[2] for b in _epoch(first, 1)])
    other_seed, _, _ = _loader(augment=aug, seed=8)
    assert not torch.equal(order0, order1)
    assert not torch.equal(order0, torch.cat([b[2] for b in _epoch(other_seed, 0)]))


def test_loader_every_index_once_without_drop_last():
    loader, _, _ = _loader(n=53, batch=8, drop_last=False)
    for epoch in range(3):
        index = torch.cat([b[2] for b in _epoch(loader, epoch)])
        assert len(loader) == 7 and torch.equal(index.sort().values, torch.arange(53))
    ordered, _, _ = _loader(n=10, batch=4, drop_last=False, shuffle=False)
    assert torch.equal(torch.cat([b[2] for b in ordered]), torch.arange(10))
    tiny, _, _ = _loader(n=5, batch=8, drop_last=True)
    assert len(tiny) == 1 and len(next(iter(tiny))[2]) == 5


def test_loader_float_labels_stay_float():
    labels = np.linspace(0, 1, 12).astype(np.float64)
    loader = DeviceLoader(_images(12).numpy(), labels, 4, pixel_norm=PixelNorm((0.5,), (0.5,)),
                          augment=Augment(flip=True, flip_label="negate", label_norm=LabelNorm(-90, 90)))
    for _, y, index in loader:
        assert y.dtype == torch.float32
        raw = y * 180 - 90
        np.testing.assert_allclose(np.abs(raw.numpy()), np.abs(labels[index.numpy()] * 180 - 90), atol=1e-4)


# ---------------------------------------------------------------- splits

def test_subset_class_balance():
    labels = np.repeat(np.arange(10), 50)
    idx = stratified_subset(labels, 100, seed=0, task="classification")
    assert len(np.unique(idx)) == 100
    np.testing.assert_array_equal(np.bincount(labels[idx]), [10] * 10)
    assert np.array_equal(idx, stratified_subset(labels, 100, seed=0, task="classification"))
    assert not np.array_equal(idx, stratified_subset(labels, 100, seed=1, task="classification"))
    # A small class gives all it has; the rest is shared evenly.
    uneven = np.repeat([0, 1, 2], [100, 50, 5])
    counts = np.bincount(uneven[stratified_subset(uneven, 60, seed=0, task="classification")])
    assert counts[2] == 5 and sorted(counts[:2].tolist()) == [27, 28]


def test_subset_regression_spreads_over_label_range():
    labels = np.random.default_rng(0).uniform(-90, 90, 1000)
    idx = stratified_subset(labels, 100, seed=0, task="regression")
    deciles = np.quantile(labels, np.linspace(0, 1, 11)[1:-1])
    np.testing.assert_array_equal(np.bincount(np.searchsorted(deciles, labels[idx]), minlength=10), [10] * 10)
    with pytest.raises(UserError, match="--subset 1001"):
        stratified_subset(labels, 1001, seed=0, task="regression")
    with pytest.raises(UserError, match="--subset 0"):
        stratified_subset(labels, 0, seed=0, task="regression")


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_val_split_is_disjoint_and_stratified(task):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), [400, 300, 200, 100]) if task == "classification" else rng.normal(size=1000)
    train, val = train_val_split(labels, 0.2, seed=0, task=task)
    assert len(val) == 200 and len(np.intersect1d(train, val)) == 0
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(1000))
    if task == "classification":
        np.testing.assert_array_equal(np.bincount(labels[val]), [80, 60, 40, 20])
    else:
        assert abs(np.median(labels[val]) - np.median(labels)) < 0.15
    train0, val0 = train_val_split(labels, 0.0, seed=0, task=task)
    assert len(val0) == 0 and len(train0) == 1000
    for bad in (1.0, -0.1):
        with pytest.raises(UserError, match=r"expected a fraction in \[0, 1\)"):
            train_val_split(labels, bad, seed=0, task=task)


def test_augment_spec_round_trips():
    from cgankd.data.pipeline import Augment
    spec = {"crop_pad": 2, "flip": True, "flip_label": "negate", "random_resized_crop": False,
            "scale": [0.5, 1.0], "ratio": [0.75, 1.25]}
    assert Augment.from_spec(spec).to_spec() == spec
    assert Augment.from_spec(Augment.from_spec(spec).to_spec()) == Augment.from_spec(spec)

"""Every dataset folder's scripts, run as written with the real `cgankd`, end to end, on a tiny h5 of
the dataset's exact schema, in the README's order: NOKD -> GAN -> fake set -> cGAN-KD students and
their controls -> KD baselines (with the TAKD, SSKD and ReviewKD scripts) and cGAN-KD + KD -> tables.

Only the settings at the top of the scripts are turned down, through the environment (SMOKE and
each dataset's GAN_SET below; docs/scripts.md lists them). Each stage's outputs are checked, and the
final table must list every arm that ran.
"""

from __future__ import annotations

import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import h5py
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
N_TRAIN, N_TEST, NFAKE = 200, 100, 100
# Folders run side by side, each script one process on one thread (OMP_NUM_THREADS below).
WORKERS = min(2, os.cpu_count() or 1)
# Variables a caller's shell may hold that would change what the scripts do.
CLEARED = ("CGANKD", "OUT", "FAKE", "FAKE_SET_NFAKE", "METHODS", "EXTRA", "BATCH_SIZE", "TA_CKPT", "METHOD_FLAGS",
           "PRESET", "VANILLA", "GAN_OUT")

# The sizes a smoke run turns down, as a user would set them (docs/scripts.md). The teacher, the
# students and the TAKD assistant are one small net.
SMOKE = {
    "OMP_NUM_THREADS": "1", "DEVICE": "cpu", "SEEDS": "0", "ARCHS": "resnet8", "TA_ARCH": "resnet8",
    "EPOCHS": "1", "INIT_EPOCHS": "1", "SSKD_T_EPOCHS": "1",
    "GAN_ITERS": "2", "GAN_BATCH_SIZE": "8", "GAN_D_STEPS": "1",
    "NFAKE": str(NFAKE), "FILTER_BURN_IN": "2", "DR_EPOCHS": "2", "RS_BURN_IN": "4", "RS_BATCH_SIZE": "32",
}
REGRESSION = {"SPARSE_AE_EPOCHS": "1"}   # the feature net of cDR-RS for continuous labels
# make_fake_datasets.sh only, through EXTRA (JSON with spaces; it merges with the cDR-RS sizes above):
# the 2-iteration GAN's fakes are trivially told from the real images, so a density ratio fitted as
# the paper fits it drives their ratios to 0 for whole classes (which rejection sampling rightly
# refuses); a strong penalty on the fakes' mean ratio (lam 1, the paper's 0.01) keeps them near 1.
# Regression: a narrow sparse autoencoder (8 channels, the paper's 64) for cDR-RS's features.
FAKE_EXTRA = {
    "classification": {"EXTRA": """--set 'cdr_rs={"dr": {"lr": 0.001, "batch_size": 20, "lam": 1.0}}'"""},
    "regression": {"EXTRA": """--set 'cdr_rs={"dr": {"lr": 0.001, "batch_size": 20, "lam": 1.0}, "sparse_ae": {"ch": 8}}'"""},
}
BIGGAN_SET = "g_ch=4 d_ch=4 dim_z=8 ema_start=0 standing_stats=1 grid_rows=2 grid_cols=2"
# ImageNet-100's BigGAN-deep settings at 128 px: no attention, 4 channels at every resolution.
BIGGAN_128_SET = BIGGAN_SET + " shared_dim=8 g_attn=0 d_attn=0 g_widths=[1,1,1,1,1,1] d_widths=[1,1,1,1,1,1]"
CCGAN_SET = ("g_ch=4 d_ch=4 dim_z=8 dim_embed=16 g_attn=0 d_attn=0 grid_rows=2 grid_cols=2 embed_arch=resnet8 "
             "embed_epochs=1 embed_batch_size=64 y2h_epochs=1")

# folder: (channels, size, test-split key, labels, GAN_SET, has the KD scripts)
DATASETS = {
    "CIFAR-100": (3, 32, "test", "classes100", BIGGAN_SET, True),
    "ImageNet-100": (3, 128, "valid", "classes100", BIGGAN_128_SET, True),
    "SteeringAngle": (3, 64, "test", "angles", CCGAN_SET, False),
    "UTKFace": (3, 64, "test", "ages", CCGAN_SET, False),
    "FashionMNIST": (1, 28, "test", "classes10", BIGGAN_SET, True),
}


def labels(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind.startswith("classes"):                       # every class present, shuffled
        return rng.permutation(np.arange(n) % int(kind[len("classes"):])).astype(np.int64)
    if kind == "angles":                                 # SteeringAngle's range, both ends included
        y = rng.uniform(-88.13, 97.92, n)
        y[:2] = -88.13, 97.92
        return y.astype(np.float64)
    return rng.integers(1, 61, n).astype(np.int64)      # UTKFace: whole ages 1..60


def write_tiny(path: Path, channels: int, size: int, test_key: str, kind: str) -> None:
    """An h5 with the dataset's keys, layout and label range (random pixels)."""
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        for split, n in (("train", N_TRAIN), (test_key, N_TEST)):
            f[f"images_{split}"] = rng.integers(0, 256, (n, channels, size, size), dtype=np.uint8)
            f[f"labels_{split}"] = labels(kind, n, rng)


def run(folder: str, script: str, env: dict[str, str], times: dict[str, float]) -> str:
    start = time.perf_counter()
    done = subprocess.run(["bash", str(ROOT / folder / "scripts" / script)], env=env, capture_output=True,
                          text=True, timeout=900)
    times[script if script not in times else f"{script} (again)"] = time.perf_counter() - start
    assert done.returncode == 0, f"{folder}/scripts/{script} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def finished(run_dir: Path) -> None:
    for name in ("config.json", "metrics.json", "model.pt"):
        assert (run_dir / name).is_file(), f"{run_dir / name} missing"


def pipeline(folder: str, tmp: Path) -> dict[str, float]:
    """Run the folder's scripts in the README's order, checking each stage's outputs; returns the
    wall time of each script."""
    channels, size, test_key, kind, gan_set, has_kd = DATASETS[folder]
    data, runs = tmp / "data.h5", tmp / "runs"
    write_tiny(data, channels, size, test_key, kind)
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update(SMOKE, DATA=str(data), RUNS=str(runs), GAN_SET=gan_set,
               TEACHER_CKPT=str(runs / "vanilla/resnet8/seed0/model.pt"))
    task = "classification" if kind.startswith("classes") else "regression"
    if task == "regression":
        env.update(REGRESSION)
    fake_env = {**env, **FAKE_EXTRA[task]}
    times: dict[str, float] = {}

    run(folder, "run_vanilla.sh", env, times)
    finished(runs / "vanilla/resnet8/seed0")
    run(folder, "run_gan.sh", env, times)
    assert (runs / "gan/last.pt").is_file() and (runs / "gan/metrics.json").is_file()

    run(folder, "make_fake_datasets.sh", fake_env, times)
    adjust = "no" if folder == "ImageNet-100" else "yes"
    rho = "0.9" if kind.startswith("classes") else "0.7"
    fake = runs / f"fake/fake_{NFAKE}_rho{rho}_cdr-rs_adjust-{adjust}.h5"
    with h5py.File(fake) as f:
        assert f["fake_images"].shape == (NFAKE, channels, size, size) and len(f["fake_labels"]) == NFAKE
    if folder == "CIFAR-100":   # run again, a set made with the same settings is reused (the same for every folder)
        assert "kept as it is" in run(folder, "make_fake_datasets.sh", fake_env, times)

    run(folder, "run_vanilla_fake.sh", env, times)
    arms = runs / f"fake_students/{fake.stem}_nfake{NFAKE}"
    expected = ["NOKD", f"cGAN-KD (cDR-RS, filter rho {rho}, ", "control (real only, same steps as cDR-RS"]
    for arm in ("cgankd", "control"):
        finished(arms / arm / "resnet8/seed0")

    if has_kd:
        run(folder, "run_distill.sh", {**env, "METHODS": "abound"}, times)
        for script in ("run_takd.sh", "run_sskd.sh", "run_reviewkd.sh"):
            run(folder, script, env, times)
        for method in ("abound", "takd", "sskd", "reviewkd"):
            finished(runs / "distill" / method / "resnet8/seed0")
        finished(runs / "distill/takd/resnet8/seed0/ta")
        run(folder, "run_distill_fake.sh", {**env, "METHODS": "takd"}, times)
        for arm in ("cgankd_takd", "control_takd"):
            finished(arms / arm / "resnet8/seed0")
        # the settings the scripts pass with --distill-set are part of each row's name
        expected += ["| AB [init_epochs=1] |", "| TAKD", "| SSKD [t_epochs=1, t_milestones=[]] |", "| ReviewKD |",
                     "cGAN-KD + TAKD (", "control + TAKD ("]

    run(folder, "make_tables.sh", env, times)
    table = (runs / "tables/results.md").read_text()
    metric = "test acc" if kind.startswith("classes") else "test mae"
    rows = [line for line in table.splitlines()[2:] if line.startswith("|")]
    assert rows and all(f"| {metric} |" in row for row in rows), table
    for arm in expected:
        assert arm in table, f"{arm!r} not in the table:\n{table}"
    assert len(rows) == len(list(runs.rglob("metrics.json"))) - 1   # one row per student run (the GAN has none)
    return times


@pytest.fixture(scope="module")
def pipelines(request, tmp_path_factory) -> dict[str, dict[str, float] | BaseException]:
    """Each selected folder's pipeline, WORKERS at a time: its script times, or what went wrong."""
    folders = [item.callspec.params["folder"] for item in request.session.items
               if item.originalname == TEST_NAME and hasattr(item, "callspec")]

    def one(folder: str) -> dict[str, float] | BaseException:
        try:
            return pipeline(folder, tmp_path_factory.mktemp(folder))
        except BaseException as err:   # noqa: BLE001 - reported by that folder's test
            return err

    with ThreadPoolExecutor(WORKERS) as pool:
        return dict(zip(folders, pool.map(one, folders)))


TEST_NAME = "test_dataset_scripts_run_end_to_end_and_tabulate_every_arm"


@pytest.mark.slow
@pytest.mark.parametrize("folder", DATASETS)
def test_dataset_scripts_run_end_to_end_and_tabulate_every_arm(folder, pipelines):
    result = pipelines[folder]
    if isinstance(result, BaseException):
        raise result
    print(f"\n{folder}: " + ", ".join(f"{s} {t:.0f} s" for s, t in result.items()) +
          f"; total {sum(result.values()):.0f} s")

"""Time and peak memory of one step of each pipeline stage at the paper presets' real sizes, on this
machine, so that a user can see what a full run needs.

    OMP_NUM_THREADS=1 python benchmarks/paper_step_cost.py                       # every paper preset and stage
    python benchmarks/paper_step_cost.py --presets cifar100 --stages student gan_d --steps 5
    python benchmarks/paper_step_cost.py --max-batch 64 --json costs.json       # cap batches; scaled rows marked
    python benchmarks/paper_step_cost.py --train-size steeringangle=10000       # per-run figures for that preset

Stages (random data of each preset's shape: channels, image size, classes or a regression label):
  student       a student's training step (batched on-device augmentation and normalisation, forward,
                backward, SGD) at the preset's "vanilla" batch, built as `cgankd train` builds it
                (build_model, the plain Distiller, channels_last, the trainer's optimizer options)
  student_fake  the same at the cGAN-KD ("fake") recipe's batch, where it differs
  teacher       the preset's teacher net (the one that filters the fakes), vanilla batch
  gan_d, gan_g  one discriminator step / one generator step of the preset's GAN (GanTrainer.d_step and
                .g_step, built as benchmarks/gan_throughput.py builds it), at the GAN's batch
  dr_fit        one step of the cDR-RS density-ratio fit (DensityRatioModel, csp_loss, Adam) at its batch,
                on feature vectors of the paper's feature net's size (3 x H x W)
  features      one batch of that feature net (ResNet34_extract for classes, the sparse autoencoder for
                regression) at the rejection-sampling batch, as cDR-RS scores proposals
  sample        one 500-image batch of the generator (LoadedGAN.generate, as `cgankd fake make` draws)

Every measurement runs in a Python process of its own (this script with a hidden argument): one
warm-up step, then `--steps` timed steps, then the process's peak resident memory (ru_maxrss). Each
step's CPU time (user + system seconds of the process, one thread) and wall time are taken; the
table gives their medians. CPU time is the figure to plan with: on a machine that other jobs share,
the wall time grows with their load and the CPU time hardly does. A baseline process that imports
torch and cgankd and builds nothing is measured in the same run; a stage's memory is its process's
peak minus the baseline's (so it includes the nets, the optimizer state and the batch's data).

Scaling, by CPU time: a stage is first run at a small probe batch (B/128, at least 2). When the real
batch B should fit by that probe, bounded from above (its time per image times B, and what its steps
added to the build's memory times B / probe), under `--safe-step-s` and `--safe-mib`, B is run.
Otherwise a second probe runs, at the largest probe x 2^k below B expected within `--probe-s`, and the
two points are extrapolated linearly to B: B is run when that fits, and otherwise the extrapolated
figures are reported, marked "scaled from batch X and Y". With `--max-batch M` a stage whose batch
exceeds M is measured at M/2 and M and reported scaled. Timed steps are fewer (at least one) where
the warm-up and `--steps` of them would take over `--stage-budget-s`.

GAN stages use 64 synthetic real images (a step draws its batch from them with replacement) and
N(0, 0.02) initial weights in place of orthogonal ones (cost per step does not depend on either).
Per-run figures multiply the CPU time per step by the steps of one run of the preset's recipe;
training-set sizes other than CIFAR-100's are not known here (`--train-size`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch

from _common import gan_trainer
from cgankd.common.devices import memory_format, optimizer_options
from cgankd.common.optim import backward_step
from cgankd.data import PixelNorm, Split
from cgankd.data.labels import LabelNorm
from cgankd.data.pipeline import Augment
from cgankd.distill import build_distiller
from cgankd.fake.make import FakeSettings
from cgankd.gans.config import gan_config
from cgankd.gans.label_embed import LabelToEmbedding
from cgankd.gans.networks import build_networks
from cgankd.gans.sampling import LoadedGAN, balanced_class_ids
from cgankd.models import build_model
from cgankd.models.resnet_extract import resnet34_extract
from cgankd.presets import get_preset, lr_for
from cgankd.subsampling import DensityRatioModel, SparseAE, SparseAENet, cdr_rs_settings, csp_loss
from cgankd.subsampling.reference_features import ReferenceResNetFeatures
from cgankd.tasks import Task
from cgankd.train.dataset import TrainingData

PAPER_PRESETS = ("cifar100", "imagenet100", "steeringangle", "utkface")
STAGES = ("student", "student_fake", "teacher", "gan_d", "gan_g", "dr_fit", "features", "sample")
# One student per dataset from the paper's tables (resnet32x4 -> resnet8x4 on CIFAR-100; resnet20 is a
# student of all four datasets' tables); the teacher is each preset's own.
STUDENTS = {"cifar100": "resnet8x4", "imagenet100": "resnet20", "steeringangle": "resnet20", "utkface": "resnet20"}
# Real training-set sizes known here (CIFAR-100's 50,000); the others' files are not part of the repo.
TRAIN_SIZES = {"cifar100": 50_000}
SAMPLE_BATCH = 500          # images per generator batch on CPUs (gan_throughput, FakeSettings.batch_size)
# GAN stages: real images the trainer holds (a step draws its batch from them with replacement; few, so
# that CcGAN's set-up check of its label embedding over them stays small), and N(0, 0.02) weights in
# place of the orthogonal init, whose QR factorisations take 30 s per network at ImageNet-100 size here
# (a step's cost does not depend on the weights' values).
GAN_IMAGES = 64
GAN_SETTINGS = {"init": "N02"}
FIRST_PROBE = 128           # the first probe runs at batch B // FIRST_PROBE ...
MIN_BATCH = 2               # ... and at least 2 (batch norm in training needs two rows)
WALL_SLACK = 8              # a worker may take this many times its expected CPU seconds of wall time
RAM_RESERVE_MIB = 2048      # a real batch runs only where it leaves this much of MemAvailable
DEVICE = torch.device("cpu")
MIB = 1024.0                # ru_maxrss is in KiB on Linux


# ---------------------------------------------------------------- what each stage runs

@dataclass(frozen=True)
class Plan:
    """One table row before it is measured: what runs, at which real batch, and how often a run does it."""
    preset: str
    stage: str
    net: str
    batch: int
    resolution: int
    steps_per_run: int | None = None
    run_note: str = ""


def _task_kind(preset: dict) -> str:
    return preset["data"]["task"]


def _cdr_settings(preset: dict) -> dict:
    return cdr_rs_settings(_task_kind(preset), preset["fake"].get("cdr_rs"))


def _gan_cfg(preset: dict) -> tuple[str, dict]:
    kind = next(iter(preset["gan"]))
    return kind, gan_config(kind, preset["gan"])


def _feature_net_name(preset: dict) -> str:
    return "ResNet34_extract" if _task_kind(preset) == "classification" else "sparse AE"


def _fit_size(n_train: int) -> int:
    """Real images a cDR-RS fit uses: at most `cgankd fake make`'s fit_size."""
    return min(n_train, FakeSettings.__dataclass_fields__["fit_size"].default)


def _training_plan(name: str, preset: dict, stage: str, arch: str, n_train: int | None) -> Plan | None:
    """A student (or the teacher) trained with the vanilla recipe on the real set, or with the fake
    recipe on real + NFAKE rows (None where that recipe's batch is the vanilla one: the same step)."""
    fake = stage == "student_fake"
    recipe = preset["train"]["fake" if fake else "vanilla"]
    if fake and recipe["batch_size"] == preset["train"]["vanilla"]["batch_size"]:
        return None
    batch, epochs, nfake = recipe["batch_size"], recipe["epochs"], preset["fake"]["nfake"]
    size = preset["data"]["img_size"]
    if not n_train:
        return Plan(name, stage, arch, batch, size, None, f"{epochs} ep; N unknown")
    rows = f"({n_train:,} + {nfake:,} fakes)" if fake else f"{n_train:,}"
    steps = epochs * ((n_train + (nfake if fake else 0)) // batch)
    return Plan(name, stage, arch, batch, size, steps, f"{epochs} ep x {rows} // {batch}")


def _gan_plan(name: str, preset: dict, stage: str) -> Plan:
    kind, cfg = _gan_cfg(preset)
    size = preset["data"]["img_size"]
    if stage == "gan_d":
        return Plan(name, stage, f"{kind} D", cfg["batch_size"], size, cfg["iters"] * cfg["d_steps"],
                    f"{cfg['iters']:,} it x {cfg['d_steps']} D steps")
    return Plan(name, stage, f"{kind} G", cfg["g_batch_size"] or cfg["batch_size"], size, cfg["iters"],
                f"{cfg['iters']:,} it")


def _cdr_rs_plan(name: str, preset: dict, stage: str, n_train: int | None) -> Plan:
    """The density-ratio fit: epochs x (fit images // batch) steps. Feature extraction and sampling:
    at least a fresh fake batch per fit step and the NFAKE kept fakes (proposals that cDR-RS or the
    filter reject come on top), in batches of the stage's size."""
    dr, size = _cdr_settings(preset)["dr"], preset["data"]["img_size"]
    fit_steps = dr["epochs"] * max(1, _fit_size(n_train) // dr["batch_size"]) if n_train else None
    if stage == "dr_fit":
        note = f"{dr['epochs']} ep x {_fit_size(n_train):,} // {dr['batch_size']}" if n_train else \
            f"{dr['epochs']} ep; N unknown"
        return Plan(name, stage, "density ratio MLP", dr["batch_size"], size, fit_steps, note)
    kind = next(iter(preset["gan"]))
    batch = _cdr_settings(preset)["rs"]["batch_size"] if stage == "features" else SAMPLE_BATCH
    net = _feature_net_name(preset) if stage == "features" else f"{kind} G"
    if fit_steps is None:
        return Plan(name, stage, net, batch, size, None, "N unknown")
    images = fit_steps * dr["batch_size"] + preset["fake"]["nfake"]
    return Plan(name, stage, net, batch, size, math.ceil(images / batch),
                f">= ({fit_steps:,} x {dr['batch_size']} + {preset['fake']['nfake']:,}) images")


def stage_plan(name: str, stage: str, student: str | None = None, teacher: str | None = None,
               train_sizes: dict[str, int] | None = None) -> Plan | None:
    """The row of (preset, stage); None where the stage does not apply (a fake recipe with the
    vanilla batch). `train_sizes`: real training images per preset, for the per-run figures."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")
    preset = get_preset(name)
    n_train = (TRAIN_SIZES if train_sizes is None else train_sizes).get(name)
    if stage in ("student", "student_fake", "teacher"):
        arch = (teacher or preset["teacher"]) if stage == "teacher" else (student or STUDENTS[name])
        return _training_plan(name, preset, stage, arch, n_train)
    if stage in ("gan_d", "gan_g"):
        return _gan_plan(name, preset, stage)
    return _cdr_rs_plan(name, preset, stage, n_train)


# ---------------------------------------------------------------- the steps themselves

def _random_labels(preset: dict, n: int) -> torch.Tensor:
    """Class ids, or regression labels normalised to [0, 1]."""
    if _task_kind(preset) == "classification":
        return torch.randint(preset["data"]["num_classes"], (n,))
    return torch.rand(n)


def _random_images(preset: dict, n: int) -> torch.Tensor:
    d = preset["data"]
    return torch.randint(0, 256, (n, d["channels"], d["img_size"], d["img_size"]), dtype=torch.uint8)


def _training_data(preset: dict, n: int) -> TrainingData:
    """n random rows with the preset's task, pixel normalisation and augmentation, as the trainer holds them."""
    d = preset["data"]
    if d["task"] == "classification":
        task = Task("classification", num_classes=d["num_classes"])
    else:
        task = Task("regression", label_norm=LabelNorm(0.0, 1.0))
    images = _random_images(preset, n).numpy()
    train = Split(images, _random_labels(preset, n).numpy())
    augment = Augment.from_spec(d["augment"], label_norm=task.label_norm) if d.get("augment") else None
    return TrainingData(task=task, pixel_norm=PixelNorm.from_spec(d["pixel_norm"], images), augment=augment,
                        train=train, val=None, test=train, n_real=n, n_fake=0)


def _endless(loader) -> Callable[[], tuple]:
    """next() over the loader's batches, epoch after epoch."""
    def batches():
        epoch = 0
        while True:
            loader.set_epoch(epoch)
            yield from loader
            epoch += 1
    it = batches()
    return lambda: next(it)


def training_step(preset: dict, arch: str, batch: int, recipe: dict) -> Callable[[], None]:
    """One student-training step of `cgankd train` (cgankd/train/loop.py, `_train_epoch`, on a CPU:
    no autocast, no gradient scaler): a batch from the device loader, the distiller's training
    forward, the summed losses, backward and SGD."""
    data = _training_data(preset, 2 * batch)
    channels, size, _ = data.img_shape
    student = build_model(arch, num_classes=data.task.num_classes or 1, in_channels=channels, img_size=size,
                          task=data.task.kind)
    distiller = build_distiller(None, student, None, data.task, {"n_real": data.n_real})
    distiller.to(device=DEVICE, memory_format=memory_format(DEVICE))
    distiller.train()
    optimizer = torch.optim.SGD(distiller.trainable_parameters(), lr=lr_for(recipe, arch),
                                momentum=recipe["momentum"], weight_decay=recipe["weight_decay"],
                                **optimizer_options(DEVICE))
    next_batch = _endless(data.loader(data.train, batch, DEVICE, train=True))

    def step() -> None:
        x, y, index = next_batch()
        _, losses = distiller.forward_train(x, y, index)
        backward_step(optimizer, sum(losses.values()))
    return step


def gan_step(name: str, stage: str, batch: int) -> Callable[[], None]:
    trainer, _ = gan_trainer(name, DEVICE, batch_size=batch, settings=GAN_SETTINGS, n_images=GAN_IMAGES)
    trainer.G.train()
    trainer.D.train()
    return (lambda: trainer.d_step(batch)) if stage == "gan_d" else (lambda: trainer.g_step(batch))


def _label_embed(preset: dict) -> LabelToEmbedding | None:
    """CcGAN's y2h net, which embeds regression labels for the generator and the density ratio."""
    kind, cfg = _gan_cfg(preset)
    return LabelToEmbedding(cfg["dim_embed"]).to(DEVICE).eval().requires_grad_(False) if kind == "ccgan" else None


def _feature_dim(preset: dict) -> int:
    """The paper feature net's output size, from the net built on the meta device (no memory)."""
    with torch.device("meta"):
        return _feature_net(preset).dim


def _feature_net(preset: dict) -> torch.nn.Module:
    d = preset["data"]
    if _task_kind(preset) == "classification":
        return resnet34_extract(d["num_classes"], d["img_size"], d["channels"])
    return SparseAENet(d["channels"], d["img_size"], _cdr_settings(preset)["sparse_ae"]["ch"])


def dr_fit_step(preset: dict, batch: int) -> Callable[[], None]:
    """One step of `train_density_ratio`: the model on a batch of real and of fake features at the
    real labels, the cSP loss, Adam (the fresh fake batch the fit draws for the step is not part of it)."""
    dr = _cdr_settings(preset)["dr"]
    dim = _feature_dim(preset)
    model = DensityRatioModel(dim, _task_kind(preset), num_classes=preset["data"].get("num_classes"),
                              widths=dr["widths"], dropout=dr["dropout"], embed_dim=dr["embed_dim"],
                              label_embed=_label_embed(preset)).to(DEVICE).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=dr["lr"], betas=(0.5, 0.999), weight_decay=dr["weight_decay"])
    real, fake = torch.rand(batch, dim), torch.rand(batch, dim)
    labels = _random_labels(preset, batch)

    def step() -> None:
        backward_step(optimizer, csp_loss(model(real, labels), model(fake, labels), dr["lam"]))
    return step


def features_step(preset: dict, batch: int) -> Callable[[], None]:
    """Features of one batch of uint8 proposals through the extractor cDR-RS scores them with."""
    net = _feature_net(preset)
    extractor = ReferenceResNetFeatures(net, DEVICE) if _task_kind(preset) == "classification" \
        else SparseAE(net, DEVICE)
    images = _random_images(preset, batch)
    return lambda: extractor(images)


def sample_step(preset: dict, batch: int) -> Callable[[], None]:
    """One generator batch as `cgankd fake make` draws it: the generator alone, channels_last, eval."""
    kind, cfg = _gan_cfg(preset)
    cfg = {**cfg, **GAN_SETTINGS}
    d = preset["data"]
    g, _ = build_networks(kind, cfg, img_size=d["img_size"], channels=d["channels"], num_classes=d.get("num_classes"))
    g.to(DEVICE, memory_format=memory_format(DEVICE)).eval().requires_grad_(False)
    gan = LoadedGAN(kind, g, _label_embed(preset), d.get("num_classes"), None, g.dim_z, d["img_size"], d["channels"],
                    0, cfg["ema"], "", DEVICE, cfg, {})
    labels = torch.rand(batch) if gan.is_regression else balanced_class_ids(batch, d["num_classes"])
    return lambda: gan.generate(labels, batch_size=SAMPLE_BATCH)


def build_step(plan: Plan, batch: int) -> Callable[[], None]:
    """The step of `plan`'s stage at `batch` (the real one or a smaller probe)."""
    preset = get_preset(plan.preset)
    if plan.stage in ("student", "student_fake", "teacher"):
        recipe = preset["train"]["fake" if plan.stage == "student_fake" else "vanilla"]
        return training_step(preset, plan.net, batch, recipe)
    if plan.stage in ("gan_d", "gan_g"):
        return gan_step(plan.preset, plan.stage, batch)
    builders = {"dr_fit": dr_fit_step, "features": features_step, "sample": sample_step}
    return builders[plan.stage](preset, batch)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / MIB


def measure_steps(plan: Plan, batch: int, steps: int, budget_s: float = math.inf) -> dict:
    """In this process: build the stage at `batch`, one warm-up step, then up to `steps` timed ones,
    fewer where the next would take the warm-up and the timed steps past `budget_s` CPU seconds (at
    least one). Returns the build's CPU seconds, each timed step's wall and CPU seconds (CPU: this
    process's user + system time, which other jobs on the machine do not inflate as they do the wall
    time), and the peak RSS (MiB) after the build and at the end."""
    cpu0 = time.process_time()
    step = build_step(plan, batch)
    setup_cpu, setup_rss = time.process_time() - cpu0, peak_rss_mib()
    c0 = time.process_time()
    step()
    spent = time.process_time() - c0
    wall, cpu = [], []
    while len(cpu) < steps and (not cpu or spent + cpu[-1] <= budget_s):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        spent += cpu[-1]
    return {"wall": wall, "cpu": cpu, "setup_cpu_s": setup_cpu, "setup_rss_mib": setup_rss,
            "peak_rss_mib": peak_rss_mib()}


# ---------------------------------------------------------------- one process per measurement

@dataclass
class Point:
    """One measurement: a stage at one batch, in a fresh process (medians over its timed steps)."""
    batch: int
    cpu_s: float
    wall_s: float
    peak_rss_mib: float
    over_baseline_mib: float
    steps: int
    setup_rss_mib: float
    setup_cpu_s: float


@dataclass
class Row:
    """A table row: the real batch's figures, measured or (scaled_from) extrapolated."""
    plan: Plan
    cpu_s: float | None = None
    wall_s: float | None = None
    over_baseline_mib: float | None = None
    scaled_from: tuple[int, int] | None = None
    points: list[Point] = field(default_factory=list)
    error: str = ""

    @property
    def cpu_hours_per_run(self) -> float | None:
        if self.cpu_s is None or self.plan.steps_per_run is None:
            return None
        return self.cpu_s * self.plan.steps_per_run / 3600


def run_worker(args: argparse.Namespace, plan: Plan | None, batch: int, steps: int, timeout: float) -> dict:
    """This script in a fresh process on one (plan, batch); plan None: the baseline (imports only)."""
    job = {"plan": asdict(plan) if plan else None, "batch": batch, "steps": steps, "budget_s": args.stage_budget_s}
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    argv = [sys.executable, __file__, "--threads", str(args.threads), "--worker", json.dumps(job)]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout:.0f} s"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        return {"error": f"exit {done.returncode}: {last[:160]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def worker_main(job: dict) -> None:
    if job["plan"] is None:
        print(json.dumps({"peak_rss_mib": peak_rss_mib()}))
        return
    print(json.dumps(measure_steps(Plan(**job["plan"]), job["batch"], job["steps"], job["budget_s"])))


def available_mib() -> float:
    """MemAvailable of /proc/meminfo (inf where there is none)."""
    try:
        with open("/proc/meminfo") as f:
            found = dict(line.split(":", 1) for line in f)
        return float(found["MemAvailable"].split()[0]) / MIB
    except (OSError, KeyError, ValueError):
        return math.inf


class Failed(Exception):
    """A measurement's process failed or ran out of time."""


class Measurer:
    """Runs the workers and applies the scaling rule of the module docstring (on CPU seconds)."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        found = run_worker(args, None, 0, 0, timeout=300)
        if "error" in found:
            raise SystemExit(f"baseline process failed: {found['error']}")
        self.baseline_mib = found["peak_rss_mib"]

    def point(self, plan: Plan, batch: int, estimate_s: float | None) -> Point:
        """A measurement at `batch`; `estimate_s`, the expected CPU seconds per step, sets the
        process's time limit. Raises Failed."""
        args = self.args
        expected = args.stage_budget_s + 2 * (estimate_s or args.probe_s)
        found = run_worker(args, plan, batch, args.steps, timeout=WALL_SLACK * expected + 600)
        if "error" in found:
            raise Failed(f"batch {batch}: {found['error']}")
        steps = len(found["cpu"])
        point = Point(batch, statistics.median(found["cpu"]), statistics.median(found["wall"]), found["peak_rss_mib"],
                      found["peak_rss_mib"] - self.baseline_mib, steps, found["setup_rss_mib"], found["setup_cpu_s"])
        print(f"  {plan.preset} {plan.stage} batch {batch}: {point.cpu_s:.3f} CPU s/step ({point.wall_s:.3f} wall, "
              f"medians of {steps}); peak RSS {point.peak_rss_mib:.0f} MiB ({point.setup_rss_mib:.0f} after a "
              f"{point.setup_cpu_s:.1f} CPU s build), {point.over_baseline_mib:.0f} over the baseline", flush=True)
        return point

    def fits(self, cpu_s: float, mib: float) -> bool:
        safe_mib = min(self.args.safe_mib, available_mib() - RAM_RESERVE_MIB)
        return cpu_s <= self.args.safe_step_s and mib <= safe_mib

    def row(self, plan: Plan) -> Row:
        row = Row(plan)
        try:
            self._measure(row)
        except Failed as err:
            row.error = str(err)
        return row

    def _measure(self, row: Row) -> None:
        plan, cap = row.plan, self.args.max_batch
        if cap is not None and plan.batch > cap:
            for batch in (max(MIN_BATCH, cap // 2), max(MIN_BATCH + 1, cap)):
                row.points.append(self.point(plan, batch, 2 * row.points[-1].cpu_s if row.points else None))
            return self._scaled(row)
        first = self.point(plan, max(MIN_BATCH, plan.batch // FIRST_PROBE), None)
        row.points.append(first)
        ratio = plan.batch / first.batch
        # Bounds from above: time on a line through zero; what the steps added to the build's memory too.
        estimate = (first.cpu_s * ratio,
                    (first.peak_rss_mib - first.setup_rss_mib) * ratio + first.setup_rss_mib - self.baseline_mib)
        if first.batch < plan.batch and not self.fits(*estimate):
            second = self._second_batch(first, plan.batch)
            row.points.append(self.point(plan, second, first.cpu_s * second / first.batch))
            estimate = extrapolate(row.points[0], row.points[1], plan.batch)
            if not self.fits(*estimate):
                return self._scaled(row)
        if row.points[-1].batch != plan.batch:
            row.points.append(self.point(plan, plan.batch, estimate[0]))
        real = row.points[-1]
        row.cpu_s, row.wall_s, row.over_baseline_mib = real.cpu_s, real.wall_s, real.over_baseline_mib

    def _second_batch(self, first: Point, batch: int) -> int:
        """The largest of first.batch x 2^k below `batch` whose step should take at most --probe-s CPU
        seconds (by the first probe's time per image), and at least twice the first."""
        second = 2 * first.batch
        while 2 * second < batch and first.cpu_s * 2 * second / first.batch <= self.args.probe_s:
            second *= 2
        return min(second, max(first.batch + 1, batch // 2))

    @staticmethod
    def _scaled(row: Row) -> None:
        """CPU time and memory on the line through the last two probes (no wall time: it depends on
        the machine's load at each probe)."""
        low, high = row.points[-2], row.points[-1]
        row.cpu_s, row.over_baseline_mib = extrapolate(low, high, row.plan.batch)
        row.scaled_from = (low.batch, high.batch)


def extrapolate(low: Point, high: Point, batch: int) -> tuple[float, float]:
    """CPU seconds per step and MiB over the baseline at `batch`, on the lines through two measurements."""
    def line(a: float, b: float) -> float:
        return a + (b - a) * (batch - low.batch) / (high.batch - low.batch)
    return line(low.cpu_s, high.cpu_s), line(low.over_baseline_mib, high.over_baseline_mib)


# ---------------------------------------------------------------- report

def _hours(h: float | None) -> str:
    if h is None:
        return "n/a"
    return f"{h:,.0f} h ({h / 24:,.1f} d)" if h >= 24 else f"{h:,.2f} h"


def table(rows: list[Row]) -> str:
    """The rows as a markdown table."""
    head = ["preset", "stage", "net", "batch", "px", "CPU s / step", "wall s / step", "MiB over baseline",
            "steps / run", "CPU time / run", "how measured"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        p = r.plan
        if r.error:
            how = f"failed: {r.error}"
        elif r.scaled_from:
            how = f"**scaled from batch {r.scaled_from[0]} and {r.scaled_from[1]}**"
        else:
            how = f"median of {r.points[-1].steps}"
        steps = "n/a" if p.steps_per_run is None else f"{p.steps_per_run:,}"
        cells = [p.preset, p.stage, p.net, str(p.batch), str(p.resolution),
                 "-" if r.cpu_s is None else f"{r.cpu_s:.3g}", "-" if r.wall_s is None else f"{r.wall_s:.3g}",
                 "-" if r.over_baseline_mib is None else f"{r.over_baseline_mib:,.0f}",
                 f"{steps} ({p.run_note})", _hours(r.cpu_hours_per_run), how]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _train_sizes(pairs: list[str]) -> dict[str, int]:
    sizes = dict(TRAIN_SIZES)
    for pair in pairs:
        name, _, value = pair.partition("=")
        if name not in PAPER_PRESETS or not value.isdigit():
            raise SystemExit(f"--train-size {pair!r}: expected PRESET=N with PRESET one of {', '.join(PAPER_PRESETS)}")
        sizes[name] = int(value)
    return sizes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=list(PAPER_PRESETS), choices=PAPER_PRESETS)
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    parser.add_argument("--steps", type=int, default=2, help="timed steps after one warm-up (medians reported)")
    parser.add_argument("--max-batch", type=int, help="measure larger batches at M/2 and M and extrapolate (marked)")
    parser.add_argument("--safe-mib", type=float, default=16_384,
                        help="run the real batch only where it should need less memory than this (MiB over the "
                             "baseline; also at most MemAvailable - 2 GiB)")
    parser.add_argument("--safe-step-s", type=float, default=30,
                        help="... and less CPU time per step than this (the default keeps the whole run near "
                             "15 CPU minutes; 180 runs every real batch of the paper presets but ImageNet-100's "
                             "GAN steps and sampling)")
    parser.add_argument("--probe-s", type=float, default=15, help="the largest expected CPU s per step of a probe")
    parser.add_argument("--stage-budget-s", type=float, default=30,
                        help="a measurement times no further step once its warm-up and timed steps would pass "
                             "this many CPU seconds (it times one at least)")
    parser.add_argument("--student", help="student arch for every preset (default: one per preset)")
    parser.add_argument("--teacher", help="teacher arch for every preset (default: the preset's)")
    parser.add_argument("--train-size", action="append", default=[], metavar="PRESET=N",
                        help="real training images, for the per-run figures (known: cifar100=50000)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (and OMP_NUM_THREADS) per process")
    parser.add_argument("--json", metavar="FILE", help="also write the rows (with every measured point) here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _load() -> str:
    return " / ".join(f"{v:.1f}" for v in os.getloadavg())


def _children_cpu_s() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.worker:
        worker_main(json.loads(args.worker))
        return
    sizes = _train_sizes(args.train_size)
    plans = [plan for name in args.presets for stage in args.stages
             if (plan := stage_plan(name, stage, args.student, args.teacher, sizes)) is not None]
    start, load_before = time.perf_counter(), _load()
    measurer = Measurer(args)
    print(f"torch {torch.__version__}, {args.threads} thread(s) per process; load average {load_before} (1/5/15 min); "
          f"baseline process (imports only): peak RSS {measurer.baseline_mib:.0f} MiB", flush=True)
    rows = [measurer.row(plan) for plan in plans]
    wall, cpu = time.perf_counter() - start, _children_cpu_s()
    print()
    print(table(rows))
    print(f"\nbaseline peak RSS {measurer.baseline_mib:.0f} MiB; wall time {wall:.0f} s, CPU time of the measuring "
          f"processes {cpu:.0f} s; load average {load_before} before, {_load()} after")
    if args.json:
        found = [{**asdict(r), "cpu_hours_per_run": r.cpu_hours_per_run} for r in rows]
        with open(args.json, "w") as f:
            json.dump({"torch": torch.__version__, "threads": args.threads, "baseline_peak_rss_mib":
                       measurer.baseline_mib, "wall_s": wall, "cpu_s": cpu, "rows": found}, f, indent=1)


if __name__ == "__main__":
    main()

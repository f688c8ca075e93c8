"""`cgankd demo`: the whole cGAN-KD pipeline on the embedded datasets (or any h5 file in the
reference schema, `--data`), on a CPU.

Per task (Fashion-MNIST classification, Rotated Fashion-MNIST angle regression, or the file's):
  data      a seeded, stratified subset of the real training split (test split kept whole), and
            NFAKE other training images held out as "extra real" (the positive control's data)
  teacher   NOKD resnet20 on that subset
  gan       BigGAN (classes) or CcGAN (angles) on that subset
  fakes     GAN samples -> cDR-RS -> teacher filter -> label adjustment (cgankd fake make)
  students  per seed: NOKD; then, from that NOKD checkpoint, the same extra schedule on
            real data only (the control), on real + NFAKE extra real images with true labels
            (the positive control: can this protocol see a data effect at all?), on the same
            images with the teacher's labels, and on real + fake (cGAN-KD)
Every stage writes a run folder under --out and is reused when the demo runs again.
The table (markdown + CSV) and plots land in --out; the table is printed at the end.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .common.devices import pick_device
from .common.errors import UserError
from .common.files import atomic_path, check_output_dir, write_json
from .common.settings import parse_settings
from .common.files import file_fingerprint
from .data import Split, load_dataset, read_fake_h5, stratified_subset, write_dataset_h5, write_fake_h5
from .data.preset_choice import choose_preset
from .data.h5 import dataset_attrs
from .data.prepare import prepare as prepare_dataset
from .fake.commands import build_fake_file, preset_settings
from .fake.relabel import relabel
from .demo_assets import (ASSETS, explained, export, install, provenance, read_manifest, refuse_installed,
                          shipped_runs, verify)
from .gans.commands import gan_quality, train_gan
from .gans.networks import gan_task
from .gans.sampling import load_gan, sample_labels
from .report.plots import image_grid, metric_bars
from .report.tables import ArmSummary, find_runs, summarize, write_csv
from .train.config import recipe_config
from .models.trained import MODEL_FILE
from .presets import get_preset
from .train.loop import fit

DATA_DIR = Path("datasets/FashionMNIST")
VALIDATION_SIZE = 5000   # --validate: held-out training images that stand in for the test split
EVAL_EVERY = 5           # epochs between scorings of the held-out split (the last epoch is always scored)
FEATURE_NET_SEED = 7     # not the teacher's seed: the feature net is another net
GAN_EVAL_SAMPLES = 2000  # fakes that score a GAN whose stages are written as assets


@dataclass(frozen=True)
class TaskPlan:
    """Sizes of every stage for one task."""
    dataset: str                       # `cgankd data prepare` name (also the preset)
    gan: str                           # biggan | ccgan
    n_real: int                        # real training images the whole pipeline sees
    teacher_epochs: int
    student_epochs: int                # NOKD students
    finetune_epochs: int               # cGAN-KD's extra schedule on real + fake
    nfake: int
    gan_overrides: dict[str, Any] = field(default_factory=dict)
    fake_overrides: dict[str, Any] = field(default_factory=dict)
    teacher_arch: str = "resnet20"
    student_arch: str = "resnet8"
    seeds: tuple[int, ...] = (0, 1, 2)
    data_file: str | None = None       # --data: the user's h5 file (else the embedded `dataset`)
    preset: str | None = None          # the dataset preset its stages use (embedded: `dataset`)
    nfake_sweep: tuple[int, ...] = ()  # --ablation: error vs NFAKE
    with_blkd: bool = False            # classification: also BLKD on real only and cGAN-KD + BLKD
    student_augment: bool = True       # False: students train without the preset's augmentation
    feature_arch: str | None = None    # classification: cDR-RS features from a net trained for them (None: the teacher)
    feature_epochs: int = 0

    @property
    def task(self) -> str:
        return gan_task(self.gan)

    @property
    def preset_name(self) -> str | None:
        return self.preset if self.data_file else self.dataset


# GAN and fake-set budget settings (not architecture) that a file without a preset borrows from the
# embedded preset of its task (with the demo's own GAN settings), so that the demo stays CPU-sized: the
# generic settings are the paper's.
CPU_GAN_BUDGET = ("iters", "batch_size", "d_steps", "g_ch", "d_ch", "dim_z", "ema", "ema_start", "ema_decay",
                  "ckpt_every", "standing_stats", "embed_arch", "embed_epochs", "embed_subset", "embed_batch_size",
                  "y2h_epochs", "y2h_batch_size", "label_values")
CPU_FAKE_BUDGET = ("filter_burn_in", "cdr_rs")


def plan_for_file(path: str, preset: str | None) -> TaskPlan:
    """The default plan of the file's task, run on the file. Its stages use the file's preset (or
    --preset); a file without one gets generic settings with the embedded task's CPU budget."""
    bundle = load_dataset(path)
    chosen, _ = choose_preset(path, preset)
    template = next(p for p in DEFAULT if p.task == bundle.task)
    gan, fake = {}, {}
    if chosen is None:
        embedded = get_preset(template.dataset)
        gan = {**{k: v for k, v in embedded["gan"][template.gan].items() if k in CPU_GAN_BUDGET},
               **template.gan_overrides}
        fake = {k: v for k, v in embedded["fake"].items() if k in CPU_FAKE_BUDGET}
    return replace(template, dataset=Path(path).stem, data_file=str(path), preset=chosen,
                   gan_overrides=gan, fake_overrides=fake)


# The protocol of docs/demo.md ("The protocol"), chosen on validation: a student that fits its
# 1,000 real images (no augmentation, 60 epochs: train accuracy 100 %), then a 5-epoch finetune
# over real + 5,000 others, in which 5,000 held-out real images beat the same-steps control by
# 5.2 points / 2.8 degrees (the positive control). Both GANs with DiffAugment; the BigGAN at
# learning rate 4e-4 (docs/gans.md), the CcGAN for 10,000 iterations (its Label Score then falls
# below the student's MAE). The teachers, the GANs and the NOKD students are shipped (assets/demo).
_GAN_CPU = {"diffaug": "translation,cutout"}
DEFAULT = (
    TaskPlan("fashion-mnist", "biggan", n_real=1000, teacher_epochs=100, student_epochs=60, finetune_epochs=5,
             nfake=5000, student_augment=False, nfake_sweep=(1250, 2500, 5000),
             gan_overrides={**_GAN_CPU, "g_lr": 4e-4, "d_lr": 4e-4, "iters": 3000}),
    TaskPlan("rotated-fashion-mnist-45", "ccgan", n_real=1000, teacher_epochs=100, student_epochs=60,
             finetune_epochs=5, nfake=5000, student_augment=False, nfake_sweep=(1250, 2500, 5000),
             gan_overrides={**_GAN_CPU, "iters": 10_000}),
)


def quick(plan: TaskPlan) -> TaskPlan:
    """A smoke run of every stage: far too small to show any effect."""
    small_fake = dict(plan.fake_overrides, filter_burn_in=50, fit_size=500)
    if plan.task == "regression":
        small_fake["label_values"] = 20
    gan_small = {"iters": 60, "ckpt_every": 60, "ema": False}
    if plan.gan == "ccgan":
        gan_small.update(embed_epochs=1, y2h_epochs=2)
    return replace(plan, n_real=500, teacher_epochs=2, student_epochs=2, finetune_epochs=1, nfake=500,
                   feature_epochs=min(plan.feature_epochs, 1),
                   gan_overrides={**plan.gan_overrides, **gan_small},
                   fake_overrides=small_fake, seeds=(0,), nfake_sweep=())


class Stages:
    """Banner + wall time per stage. A stage whose output exists is reused, and keeps the
    time it took when it ran (recorded in stage_times.json)."""

    def __init__(self, record: Path):
        self.record = record
        self.earlier: dict[str, float] = json.loads(record.read_text()) if record.exists() else {}
        self.seconds: dict[str, float] = {}

    def run(self, name: str, done: bool, fn: Callable[[], Any]) -> Any:
        print(f"\n=== {name}{' (reused)' if done else ''} ===", flush=True)
        start = time.perf_counter()
        result = fn()
        took = time.perf_counter() - start
        self.seconds[name] = self.earlier.get(name, took) if done else took
        write_json(self.record, {**self.earlier, **self.seconds})
        return result


def subset_files(plan: TaskPlan, folder: Path, validate: bool = False) -> tuple[Path, Path]:
    """(real, extra): a stratified subset of the real training split (seed 0) with the full test
    split, and NFAKE other training images with their true labels in the fake-set format (the
    "+ extra real" arm). With `validate`, the test split is replaced by VALIDATION_SIZE other
    training images, so that settings are chosen without looking at the test split. Both are
    remade when the source file or a size differs from what they were made from."""
    full = Path(plan.data_file or prepare_dataset(plan.dataset, DATA_DIR)[0])
    stem = full.stem.replace("_28x28", "")
    path = folder / f"{stem}_subset{plan.n_real}{f'_val{VALIDATION_SIZE}' if validate else ''}.h5"
    extra_path = folder / f"{path.stem}_extra{plan.nfake}.h5"
    made_from = {"subset_of": str(full), "subset_seed": 0, "source_fingerprint": file_fingerprint(full)}
    if path.exists() and extra_path.exists() and _made_from(path, made_from) and _made_from(extra_path, made_from):
        return path, extra_path
    bundle = load_dataset(full)
    labels = bundle.train.labels
    needed = plan.n_real + plan.nfake + (VALIDATION_SIZE if validate else 0)
    if needed > len(labels):
        raise UserError(f"{full}: the demo needs {needed} training images (n_real {plan.n_real} + nfake "
                        f"{plan.nfake} extra real{f' + {VALIDATION_SIZE} validation' if validate else ''}), "
                        f"the file has {len(labels)}; lower them with --set n_real=... --set nfake=...")
    pick = stratified_subset(labels, plan.n_real, 0, bundle.task)
    rest = np.setdiff1d(np.arange(len(labels)), pick)
    held_out = bundle.test
    if validate:
        val = rest[stratified_subset(labels[rest], VALIDATION_SIZE, 1, bundle.task)]
        held_out = Split(bundle.train.images[val], labels[val])
        rest = np.setdiff1d(rest, val)
    extra = rest[stratified_subset(labels[rest], plan.nfake, 2, bundle.task)]
    folder.mkdir(parents=True, exist_ok=True)
    write_dataset_h5(path, Split(bundle.train.images[pick], labels[pick]), held_out,
                     {**bundle.attrs, **made_from,
                      "test_split": "held-out training images (validation)" if validate else "test"})
    write_fake_h5(extra_path, bundle.train.images[extra], labels[extra],
                  {**bundle.attrs, **made_from, "task": bundle.task, "origin": "real", "labels": "true",
                   "n": plan.nfake, "source_fingerprint": made_from["source_fingerprint"]})
    return path, extra_path


def _made_from(path: Path, made_from: dict[str, Any]) -> bool:
    attrs = dataset_attrs(path)
    return all(attrs.get(k) == v for k, v in made_from.items())


def apply_settings(plan: TaskPlan, pairs: list[str]) -> TaskPlan:
    """`--set KEY=VALUE` on a plan: a TaskPlan field, or `gan_overrides.KEY` / `fake_overrides.KEY`."""
    changes: dict[str, Any] = {}
    for key, value in parse_settings(pairs).items():
        field_name, _, sub_key = key.partition(".")
        if field_name not in TaskPlan.__dataclass_fields__:
            raise UserError(f"--set {key}: unknown demo setting; known: {', '.join(TaskPlan.__dataclass_fields__)}")
        if sub_key:
            changes[field_name] = {**changes.get(field_name, getattr(plan, field_name)), sub_key: value}
        else:
            changes[field_name] = tuple(value) if isinstance(value, list) else value
    plan = replace(plan, **changes)
    if any(n > plan.nfake for n in plan.nfake_sweep):
        raise UserError(f"--set nfake_sweep={list(plan.nfake_sweep)}: every value must be at most nfake "
                        f"({plan.nfake}); the sweep draws from the one fake set of NFAKE images")
    return plan


def train_run(data: Path, arch: str, out: Path, *, device: str, preset: str, recipe: str = "vanilla",
              **overrides) -> dict:
    """One `cgankd train` run; a finished run with the same settings is reused, another is refused."""
    return fit(recipe_config(str(data), arch, str(out), preset=preset, recipe=recipe, device=device, resume=True,
                             quiet=False, eval_every=EVAL_EVERY, **overrides))


def fake_arms(plan: TaskPlan, ablation: bool) -> dict[str, dict[str, Any]]:
    """Fake-set variants (file stem -> settings): the full pipeline, plus the paper's ablation steps."""
    arms = {"cgankd": {}}
    if ablation:
        arms = {"unprocessed": {"subsample": "none", "rho": 1.0, "adjust_labels": False},
                "cdr-rs": {"subsample": "cdr-rs", "rho": 1.0, "adjust_labels": False},
                "filtered": {"subsample": "cdr-rs", "adjust_labels": False},
                "cgankd": {}}
    return arms


@dataclass
class TaskContext:
    """One task's folder, data and how its stages run."""
    plan: TaskPlan
    root: Path
    data: Path
    device: str
    stages: Stages
    assets: Path | None = None         # the shipped stages' folder, when they were installed

    def stage(self, what: str, run_dir: Path, fn: Callable[[], Any]) -> Any:
        """A stage that trains one run folder (reused when finished with the same settings)."""
        shipped = self.assets is not None and (self.assets / run_dir.relative_to(self.root)).is_dir()
        label = f"{self.plan.dataset}: {what}{' (shipped)' if shipped else ''}"
        with explained(self.assets if shipped else None, what):
            return self.stages.run(label, (run_dir / "metrics.json").exists(), fn)

    def train(self, what: str, run_dir: Path, arch: str, **overrides) -> dict:
        return self.stage(what, run_dir, lambda: train_run(self.data, arch, run_dir, device=self.device,
                                                           preset=self.plan.preset_name, **overrides))


def shared_stages(ctx: TaskContext) -> dict[str, Any]:
    """The stages every seed shares: teacher, GAN, cDR-RS feature net (what the assets can hold)."""
    plan, root = ctx.plan, ctx.root
    teacher = ctx.train(f"teacher {plan.teacher_arch}", root / "teacher", plan.teacher_arch,
                        epochs=plan.teacher_epochs, seed=0)
    gan_dir = root / "gan"
    ctx.stage(plan.gan, gan_dir, lambda: train_gan(str(ctx.data), plan.gan, str(gan_dir), preset=plan.preset_name,
                                                    overrides=plan.gan_overrides, device=ctx.device, resume=True))
    feature_net = None
    if plan.feature_arch and plan.task == "classification":
        ctx.train(f"cDR-RS feature net {plan.feature_arch}", root / "feature_net", plan.feature_arch,
                  epochs=plan.feature_epochs, seed=FEATURE_NET_SEED)
        feature_net = str(root / "feature_net" / MODEL_FILE)
    return {"teacher": teacher, "teacher_ckpt": root / "teacher" / MODEL_FILE, "gan_dir": gan_dir,
            "feature_net": feature_net}


def teacher_labelled(ctx: TaskContext, extra_real: Path, teacher_ckpt: Path) -> Path:
    """The extra real images with the teacher's labels (remade when the teacher or the images change)."""
    path = ctx.root / f"{extra_real.stem}_teacher.h5"
    made_by = {"teacher_fingerprint": file_fingerprint(teacher_ckpt),
               "source_fingerprint": dataset_attrs(extra_real)["source_fingerprint"]}
    current = path.exists() and _made_from(path, made_by)
    ctx.stages.run(f"{ctx.plan.dataset}: extra real, teacher labels", current,
                   lambda: None if current else relabel(extra_real, teacher_ckpt, path, device=pick_device(ctx.device),
                                                        force=True))
    return path


def run_task(plan: TaskPlan, out: Path, device: str, ablation: bool, validate: bool = False,
             assets: Path | None = None) -> dict[str, Any]:
    """Every stage of one task, in OUT/<dataset>; returns its rows and what the table says about it."""
    name, preset = plan.dataset, plan.preset_name
    root = out / name
    stages = Stages(root / "stage_times.json")
    data, extra_real = stages.run(f"{name}: data ({plan.n_real} real images, {plan.nfake} extra real)", False,
                                  lambda: subset_files(plan, root, validate))
    manifest = install_assets(assets, root) if assets else refuse_installed(root)
    ctx = TaskContext(plan, root, data, device, stages, assets)
    shared = shared_stages(ctx)
    teacher_ckpt, gan_dir = shared["teacher_ckpt"], shared["gan_dir"]
    extra_teacher = teacher_labelled(ctx, extra_real, teacher_ckpt)
    fakes = {}
    for arm, values in fake_arms(plan, ablation).items():
        path = root / f"fake_{arm}.h5"
        settings = preset_settings(preset, nfake=plan.nfake, **{**plan.fake_overrides, **values})
        stages.run(f"{name}: fakes, {arm}", path.exists(),
                   lambda: build_fake_file(str(gan_dir), str(teacher_ckpt), str(data), path, settings,
                                           feature_net=shared["feature_net"], device=pick_device(device), resume=True))
        fakes[arm] = path
    runs: list[Path] = []

    def student(stage: str, run_dir: Path, **overrides) -> None:
        ctx.train(f"{stage} seed {overrides['seed']}", run_dir, plan.student_arch, **overrides)
        runs.append(run_dir)

    main_fakes = fakes["cgankd"]
    augment = {} if plan.student_augment else {"no_augment": True}
    for seed in plan.seeds:
        nokd_dir = root / f"nokd/seed{seed}"
        student(f"NOKD {plan.student_arch}", nokd_dir, **nokd_settings(plan, seed))
        # Every later arm starts from this seed's NOKD student and runs the "fake" recipe.
        finetune = {"recipe": "fake", "init": str(nokd_dir / MODEL_FILE), "seed": seed, **augment}
        # Real data only, for as many steps as the finetune on real + the cGAN-KD fakes.
        same_steps = {"same_steps_as": str(main_fakes), "epochs": plan.finetune_epochs}
        student("control", root / f"control/seed{seed}", **same_steps, **finetune)
        student("+ extra real", root / f"extra_real/seed{seed}", fake=str(extra_real), epochs=plan.finetune_epochs,
                **finetune)
        student("+ extra real, teacher labels", root / f"extra_real_teacher/seed{seed}", fake=str(extra_teacher),
                epochs=plan.finetune_epochs, **finetune)
        for arm, path in fakes.items():
            student(f"fakes {arm}", root / f"students_{path.stem}/seed{seed}", fake=str(path),
                    epochs=plan.finetune_epochs, **finetune)
        if plan.with_blkd and plan.task == "classification":
            kd = {"teacher": str(teacher_ckpt), "distill": "kd", **finetune}
            student("BLKD", root / f"blkd/seed{seed}", **same_steps, **kd)
            student("cGAN-KD + BLKD", root / f"students_blkd_{main_fakes.stem}/seed{seed}",
                    fake=str(main_fakes), epochs=plan.finetune_epochs, **kd)
        for n in plan.nfake_sweep if ablation else ():
            if n != plan.nfake:
                student(f"cGAN-KD NFAKE {n}", root / f"students_nfake{n}/seed{seed}",
                        fake=str(main_fakes), nfake=n, epochs=plan.finetune_epochs, **finetune)
    plot_fakes(plan, gan_dir, main_fakes, root / "fakes_raw_vs_kept.png")
    export_to = None
    if not assets:
        export_to = out / "assets" / name
        manifest = export_assets(plan, root, data, shared, stages, export_to)
    rows = summarize(find_runs(runs))
    main = next(r for r in rows if r.kind == "cgankd" and str(root / f"students_{main_fakes.stem}/seed{plan.seeds[0]}")
                in map(str, r.runs))
    return {"teacher": shared["teacher"], "rows": rows, "main": main, "fakes": read_fake_h5(main_fakes)[1],
            "assets": assets, "manifest": manifest, "export": export_to, "seconds": stages.seconds}


def nokd_settings(plan: TaskPlan, seed: int) -> dict[str, Any]:
    """The NOKD student of one seed (`train_run` settings)."""
    return {"epochs": plan.student_epochs, "seed": seed, **({} if plan.student_augment else {"no_augment": True})}


def check_assets(assets: Path) -> dict[str, Any]:
    """The manifest of a task's shipped assets, once every file in it checks out."""
    _require_assets(assets)
    return verify(assets)


def install_assets(assets: Path, root: Path) -> dict[str, Any]:
    _require_assets(assets)
    return install(assets, root)          # verifies every file first


def _require_assets(assets: Path) -> None:
    if not assets.is_dir():
        raise UserError(f"{assets}: no shipped assets for this task; pass --from-scratch to train every stage")


def export_assets(plan: TaskPlan, root: Path, data: Path, shared: dict[str, Any], stages: Stages,
                  target: Path) -> dict[str, Any]:
    """The stages trained here, in the form of the shipped assets, with what they measured."""
    runs = shipped_runs(plan.seeds, shared["feature_net"] is not None)
    metric = "test_acc" if plan.task == "classification" else "test_mae"
    quality = {run: json.loads((root / run / "metrics.json").read_text()).get(metric) for run in runs if run != "gan"}
    # The GAN scored in the teacher's feature space (class share or Label Score, FID, intra-FID).
    gan = gan_quality(shared["gan_dir"], data, shared["teacher_ckpt"], device="cpu", n=GAN_EVAL_SAMPLES)
    quality["gan"] = {k: v for k, v in gan.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    seconds = {k.split(": ", 1)[1]: v for k, v in stages.seconds.items() if k.startswith(f"{plan.dataset}: ")}
    command = "cgankd demo " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["demo"] else "cgankd demo"
    export(root, runs, target, provenance(command, seconds, quality))
    return read_manifest(target)


def plot_fakes(plan: TaskPlan, gan_dir: Path, fake_path: Path, out: Path) -> None:
    """Rows of raw GAN samples above rows of kept (processed) fakes at the same labels."""
    gan = load_gan(str(gan_dir))
    fake, _ = read_fake_h5(fake_path)
    if gan.is_regression:
        order = np.argsort(fake.labels)
        kept_idx = order[np.linspace(0, len(order) - 1, 20).astype(int)]
        raw_labels = sample_labels(gan, 20, 20)
    else:
        kept_idx = np.concatenate([np.flatnonzero(fake.labels == c)[:2] for c in range(gan.num_classes)])
        raw_labels = sample_labels(gan, 2 * gan.num_classes)
    raw = gan.generate(raw_labels, seed=123)
    names = [f"{gan.label_norm.denormalize(float(y)):.0f}°" if gan.is_regression else str(int(y)) for y in raw_labels]
    kept_names = [f"{y:.0f}°" if gan.is_regression else str(int(y)) for y in fake.labels[kept_idx]]
    image_grid(np.concatenate([raw, fake.images[kept_idx]]), ["raw " + n for n in names] + ["kept " + n for n in kept_names],
               out, f"{plan.dataset}: raw GAN samples (top) vs kept, relabelled fakes (bottom)")


def _row(rows: list[ArmSummary], kind: str, labels: str | None = None) -> ArmSummary:
    return next(r for r in rows if r.kind == kind and (labels is None or r.identity["fakes"]["labels"] == labels))


def positive_control_verdict(rows: list[ArmSummary], better: Callable[[float, float], bool]) -> str:
    """Whether the protocol can see a data effect: + extra real against the same-steps control."""
    extra, control = _row(rows, "extra_real", labels="true"), _row(rows, "control")
    margin = extra.mean - control.mean
    spread = max(extra.std, control.std)
    seen = better(extra.mean, control.mean) and (len(extra.values) < 2 or abs(margin) > spread)
    return (f"Positive control: + extra real {margin:+.2f} against the control; "
            + ("the protocol sees a data effect." if seen and len(extra.values) > 1 else
               "one seed: no spread to judge it by." if len(extra.values) < 2 else
               "NOT above the seed spread: this protocol cannot tell whether fakes help."))


def stage_origin(result: dict[str, Any]) -> str:
    """Which stages were loaded from the shipped assets (and who made them), or that all ran here."""
    manifest = result["manifest"]
    made = manifest["provenance"]
    if result["assets"] is None:
        return (f"Every stage ran here; the shared ones ({', '.join(manifest['runs'])}) are also written as "
                f"assets (with their sha256 and provenance) to {result['export']}.")
    return (f"Loaded from the shipped assets in {result['assets']}: {', '.join(manifest['runs'])}; made by "
            f"`{made['command']}` at commit {made['git_commit'][:12]} on {made['machine']}. Everything else ran here.")


def render(plans, task_results, quick_run: bool, validate: bool = False, wall_s: float | None = None) -> str:
    lines = ["# cGAN-KD demo results", ""]
    held_out = "validation" if validate else "test"
    if validate:
        lines += [f"**--validate: every metric below is on {VALIDATION_SIZE} held-out training images, "
                  "not on the test split.**", ""]
    if quick_run:
        lines += ["**--quick: a smoke run of every stage, far too small to show any effect. "
                  "Do not read the numbers below as evidence either way.**", ""]
    for plan, result in zip(plans, task_results):
        rows, main = result["rows"], result["main"]
        metric = rows[0].metric
        better = (lambda a, b: a > b) if metric == "acc" else (lambda a, b: a < b)
        teacher = result["teacher"][f"test_{metric}"]
        lines += [f"## {plan.dataset} ({plan.task}; {plan.n_real} real training images, NFAKE {plan.nfake}, "
                  f"student {plan.student_arch}, teacher {plan.teacher_arch} = {teacher:.2f})", "",
                  f"| arm | {held_out} {metric} (mean ± std over {len(plan.seeds)} seed"
                  f"{'s' if len(plan.seeds) > 1 else ''}) | vs NOKD | vs control | seeds |",
                  "|---|---|---|---|---|"]
        nokd, control = _row(rows, "nokd"), _row(rows, "control")
        for r in rows:
            lines.append(f"| {r.arm} | {r.cell()} | {r.mean - nokd.mean:+.2f} | {r.mean - control.mean:+.2f} | "
                         + " ".join(f"{v:.2f}" for v in r.values) + " |")
        spread = max(main.std, control.std, nokd.std)
        wins = better(main.mean, nokd.mean) and better(main.mean, control.mean) and \
            abs(main.mean - control.mean) > spread and abs(main.mean - nokd.mean) > spread
        verdict = (f"cGAN-KD {'beats' if wins else 'does NOT beat'} both NOKD and the control by more than "
                   f"the seed spread ({spread:.2f})." if len(plan.seeds) > 1 else
                   "One seed only: no seed spread to judge any difference by.")
        lines += ["", positive_control_verdict(rows, better), verdict, ""]
        lines += [stage_origin(result), ""]
        stats = result["fakes"]
        keys = ("teacher_agreement_raw", "teacher_mae_raw", "cdr_rs_acceptance_rate", "filter_keep_rate",
                "label_changed_share", "label_shift_mean_abs")
        lines += ["Fake set: " + ", ".join(f"{k} {float(stats[k]):.3f}" for k in keys if k in stats), ""]
    lines += ["## Wall time per stage (s)", "", "| stage | seconds |", "|---|---|"]
    seconds = {k: v for result in task_results for k, v in result["seconds"].items()}
    lines += [f"| {k} | {v:.0f} |" for k, v in seconds.items()]
    lines.append(f"| sum of the stages | {sum(seconds.values()):.0f} |")
    if wall_s is not None:
        lines.append(f"| demo wall time{' (tasks side by side)' if side_by_side_note(task_results) else ''} | "
                     f"{wall_s:.0f} |")
    return "\n".join(lines) + "\n"


def side_by_side(device: str) -> bool:
    """Tasks run as processes of their own, one thread each, on a CPU with a core per task."""
    return pick_device(device).type == "cpu" and (os.cpu_count() or 1) >= 2


def run_side_by_side(jobs: list[tuple]) -> list[dict[str, Any]]:
    """Each task in a process of its own, its output in OUT/<dataset>/demo.log."""
    threads = max(1, (os.cpu_count() or 1) // len(jobs))
    logs = [job[1] / job[0].dataset / "demo.log" for job in jobs]
    print("The tasks run side by side, one process each; follow them in " + ", ".join(map(str, logs)), flush=True)
    with ProcessPoolExecutor(len(jobs), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_logged_task, job, log, threads) for job, log in zip(jobs, logs)]
        results = [future.result() for future in futures]
    for result in results:
        result["side_by_side"] = True
    return results


def _logged_task(job: tuple, log: Path, threads: int) -> dict[str, Any]:
    import torch
    torch.set_num_threads(threads)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", buffering=1) as f, redirect_stdout(f), redirect_stderr(f):
        return run_task(*job)


def side_by_side_note(results: list[dict[str, Any]]) -> bool:
    return any(r.get("side_by_side") for r in results)


def run(args: argparse.Namespace) -> int:
    if args.data and args.task:
        raise UserError("--data and --task: give one (--data runs the demo on that file instead of the embedded sets)")
    plans = ([plan_for_file(args.data, args.preset)] if args.data else
             [p for p in DEFAULT if not args.task or p.dataset in args.task])
    plans = [apply_settings(quick(p) if args.quick else p, args.set) for p in plans]
    if args.from_scratch and args.assets:
        raise UserError("--from-scratch and --assets: give one (--from-scratch trains the stages the assets hold)")
    shipped = args.assets or (None if args.from_scratch or args.quick or args.data or args.validate else ASSETS)
    out = check_output_dir(args.out)
    asset_dirs = [Path(shipped) / plan.dataset if shipped else None for plan in plans]
    for assets in filter(None, asset_dirs):
        check_assets(assets)                           # before anything is written
    start = time.perf_counter()
    jobs = [(plan, out, args.device, args.ablation, args.validate, assets) for plan, assets in zip(plans, asset_dirs)]
    results = run_side_by_side(jobs) if len(jobs) > 1 and side_by_side(args.device) else [run_task(*j) for j in jobs]
    wall_s = time.perf_counter() - start
    for plan, result in zip(plans, results):
        metric_bars(result["rows"], out / f"{plan.dataset}_students.png",
                    f"{plan.dataset}: {plan.student_arch} students", split="validation" if args.validate else "test")
    text = render(plans, results, args.quick, args.validate, wall_s)
    with atomic_path(out / "results.md") as tmp:
        tmp.write_text(text)
    write_csv([r for result in results for r in result["rows"]], out / "results.csv")
    print("\n" + text)
    return 0

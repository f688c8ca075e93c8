"""`cgankd` entry point: the command line (README.md, "The command line").

Parsers live here; each command's work lives in its stage (`cgankd.<stage>.commands`),
imported only when that command runs so `cgankd --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import NoReturn

# Before torch loads OpenMP: threads that wait for work sleep instead of spinning. On a CPU shared
# with other jobs, spinning threads take the cores the working ones need (resnet20 training: 28
# img/s spinning, 179 img/s sleeping on the 2-core CPU beside other jobs; docs/benchmarks.md). On a
# machine of its own spinning is faster (1.55x for resnet20): set OMP_WAIT_POLICY=ACTIVE to have it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .common.errors import UserError  # noqa: E402


class Parser(argparse.ArgumentParser):
    """argparse with its refusals in the CLI's form: one `error: ...` line on stderr, exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see `{self.prog} --help`)\n")


class RegistryChoices:
    """argparse choices read from a registry when first needed, so `cgankd --help` imports no torch."""

    def __init__(self, module: str, names: str):
        self.module, self.names = module, names

    def _names(self) -> list[str]:
        return getattr(importlib.import_module(self.module), self.names)()

    def __iter__(self):
        return iter(self._names())

    def __contains__(self, name: object) -> bool:
        return name in self._names()

def _num_classes_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--num-classes", type=int, metavar="K",
                   help="the class count, when some classes have no training images on purpose "
                        "(otherwise a gap in the class ids is an error)")


def _data_parsers(sub) -> None:
    data = sub.add_parser("data", help="prepare or check h5 datasets").add_subparsers(dest="action", required=True)
    p = data.add_parser("prepare", help="write the embedded datasets as h5 files")
    p.add_argument("name", choices=["fashion-mnist", "rotated-fashion-mnist", "rotated-fashion-mnist-45"],
                   help="rotated-fashion-mnist-45: angles in [-45, 45] degrees instead of [-90, 90]")
    p.add_argument("--out", default="datasets/FashionMNIST", help="output folder (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="rotation seed (the rotated sets)")
    p.set_defaults(handler="cgankd.data.commands:prepare")
    p = data.add_parser("check", help="validate an h5 file and print a summary; exit 2 when bad")
    p.add_argument("file")
    p.add_argument("--task", choices=["classification", "regression"])
    _num_classes_flag(p)
    p.set_defaults(handler="cgankd.data.commands:check")
    p = data.add_parser("holdout", help="cut a training split into disjoint real / validation / extra-real parts")
    p.add_argument("--data", required=True, help="h5 file whose training split is cut")
    p.add_argument("--n-real", type=int, required=True, help="real training images every arm trains on")
    p.add_argument("--n-val", type=int, default=0,
                   help="held-out training images written as the test split of a second file, for choosing settings")
    p.add_argument("--n-extra", type=int, default=0,
                   help="held-out real images in the fake-set format, true labels (the + extra real arm)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="folder for the files")
    p.add_argument("--force", action="store_true", help="replace existing files")
    p.set_defaults(handler="cgankd.data.commands:holdout")


def _parallel_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sync-bn", action="store_true",
                   help="under torchrun (DDP): batch-norm statistics over the global batch instead of each "
                        "process's shard (a no-op in one process)")
    p.add_argument("--tensorboard", action="store_true", help="also write TensorBoard event files into --out")


def _train_parser(sub) -> None:
    p = sub.add_parser("train", help="train a student or teacher (NOKD, KD, cGAN-KD, cGAN-KD + KD)")
    p.add_argument("--data", required=True, help="h5 file (or CIFAR-100 folder)")
    p.add_argument("--arch", required=True, help="model name from the registry")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--task", choices=["classification", "regression"])
    _num_classes_flag(p)
    p.add_argument("--preset", help="dataset preset (default: the one the data file declares, else generic settings)")
    p.add_argument("--recipe", choices=["vanilla", "fake"],
                   help="preset recipe (default: fake with --fake, --same-steps-as or --init)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int, help="the batch of one optimiser step, over all processes under torchrun")
    p.add_argument("--lr", type=float)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--schedule", choices=["step", "cosine"])
    p.add_argument("--milestones", type=int, nargs="*")
    p.add_argument("--warmup", type=float, metavar="EPOCHS", help="linear learning-rate warm-up from 0 (epochs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="mixed precision: bf16 autocast, fp16 with loss scaling on GPUs without bf16 "
                        "(default: on with CUDA, off on CPUs; on a CPU it needs native bf16 kernels)")
    p.add_argument("--compile", action="store_true", help="torch.compile the training step")
    p.add_argument("--no-augment", action="store_true",
                   help="train without the preset's augmentation (crop, flip): a student that can fit its data")
    _parallel_flags(p)
    p.add_argument("--teacher", help="teacher checkpoint for KD")
    p.add_argument("--distill", choices=RegistryChoices("cgankd.distill", "distiller_names"), metavar="METHOD",
                   help="KD method: %(choices)s")
    p.add_argument("--distill-set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a KD setting, e.g. --distill-set T=4 (repeatable)")
    p.add_argument("--ta-arch", help="teaching-assistant net for --distill takd (trained first, into OUT/ta)")
    p.add_argument("--ta", help="a trained teaching assistant for --distill takd (skips training one)")
    p.add_argument("--fake", help="fake h5 (cGAN-KD)")
    p.add_argument("--nfake", type=int, help="number of fakes to use (default: all)")
    p.add_argument("--fake-only", action="store_true",
                   help="train on the fakes alone, not real + fake (the first half of fakes-then-real)")
    p.add_argument("--fake-weight", type=float,
                   help="weight of a fake's task loss, a real image's being 1 (default 1: one plain mixed set)")
    p.add_argument("--fake-share", type=float, metavar="F",
                   help="make this share of every batch fake (default: real and fakes as one shuffled set)")
    p.add_argument("--aux-bn", action="store_true",
                   help="fakes pass through batch-norm layers of their own in training (the saved student keeps "
                        "the real ones)")
    p.add_argument("--bn-recalibrate", action="store_true",
                   help="after training, re-estimate the student's batch-norm statistics on the real images")
    p.add_argument("--same-steps-as", metavar="FAKE",
                   help="real data only, for as many steps as --fake FAKE (with --nfake) would take: "
                        "the real-only control of a cGAN-KD run")
    p.add_argument("--init", help="checkpoint to start from (cGAN-KD finetune)")
    p.add_argument("--subset", type=int, help="train on a seeded class-balanced / label-stratified subset")
    p.add_argument("--val-frac", type=float, default=0.0, help="carve a seeded validation split")
    p.add_argument("--eval-every", type=int, default=1, help="epochs between test evaluations")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler="cgankd.train.commands:train")


def _eval_parser(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a checkpoint on a dataset's test split")
    p.add_argument("--ckpt", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--device", default="auto")
    p.set_defaults(handler="cgankd.train.commands:evaluate")


def _gan_parsers(sub) -> None:
    gan = sub.add_parser("gan", help="train, sample and evaluate conditional GANs").add_subparsers(
        dest="action", required=True)
    p = gan.add_parser("train", help="train BigGAN (class labels) or CcGAN (continuous labels)")
    p.add_argument("--data", required=True)
    p.add_argument("--gan", required=True, choices=["biggan", "ccgan"])
    p.add_argument("--out", required=True)
    p.add_argument("--preset", help="dataset preset (default: the one the data file declares, else generic settings)")
    _num_classes_flag(p)
    p.add_argument("--iters", type=int)
    p.add_argument("--batch-size", type=int, help="images per D step, over all processes under torchrun")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=False,
                   help="bf16 autocast of G and D (default off: the reference trains in float32)")
    _parallel_flags(p)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any GAN preset setting, e.g. --set g_lr=1e-4 (repeatable)")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(handler="cgankd.gans.commands:train")
    p = gan.add_parser("sample", help="write fake_images / fake_labels to an h5 file")
    p.add_argument("--ckpt", required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--no-ema", action="store_true", help="sample the raw generator instead of its EMA")
    p.add_argument("--grid", metavar="PNG", help="also write a sample grid: one row per class / label value")
    p.add_argument("--grid-cols", type=int, default=10, help="samples per grid row (default: %(default)s)")
    p.add_argument("--preset", help="the dataset of a reference generator file (G_ema.pth): cifar100 or imagenet100")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.set_defaults(handler="cgankd.gans.commands:sample")
    p = gan.add_parser("eval", help="FID / intra-FID / label score in an eval net's feature space")
    p.add_argument("--ckpt", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--eval-net", help="eval net: model.pt (or its run folder) from `cgankd train` on this dataset")
    p.add_argument("--no-ema", action="store_true", help="score the raw generator instead of its EMA")
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--out", help="JSON file for the numbers")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.set_defaults(handler="cgankd.gans.commands:evaluate")


def _fake_parser(sub) -> None:
    fake = sub.add_parser("fake", help="make processed fake training sets").add_subparsers(dest="action", required=True)
    p = fake.add_parser("relabel", help="a fake-format set (e.g. extra real images) with the teacher's labels")
    p.add_argument("--data", required=True, help="fake-format h5 (fake_images, fake_labels)")
    p.add_argument("--teacher", required=True, help="teacher checkpoint (a cgankd train run or its model.pt)")
    p.add_argument("--out", required=True)
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.add_argument("--device", default="auto")
    p.set_defaults(handler="cgankd.fake.commands:relabel_set")
    p = fake.add_parser("make", help="sample, subsample (cDR-RS), filter and relabel fakes")
    p.add_argument("--gan", required=True, help="GAN checkpoint")
    p.add_argument("--teacher", required=True, help="teacher checkpoint for filtering / label adjustment")
    p.add_argument("--data", required=True, help="the real training data")
    p.add_argument("--nfake", type=int, help="processed fakes to make (default: the preset's)")
    p.add_argument("--out", required=True)
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.add_argument("--resume", action="store_true",
                   help="continue the work saved beside --out (OUT.work/) by an interrupted run")
    p.add_argument("--subsample", choices=["cdr-rs", "none"])
    p.add_argument("--rho", type=float)
    adj = p.add_mutually_exclusive_group()
    adj.add_argument("--adjust-labels", dest="adjust_labels", action="store_true", default=None)
    adj.add_argument("--no-adjust-labels", dest="adjust_labels", action="store_false")
    p.add_argument("--feature-net", help="classifier checkpoint whose features cDR-RS uses (default: the teacher)")
    p.add_argument("--preset", help="dataset preset (default: the one the data file declares, else generic settings)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a fake-making setting, e.g. --set label_values=180 (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.set_defaults(handler="cgankd.fake.commands:make")


def _report_demo_parsers(sub) -> None:
    p = sub.add_parser("report", help="tables and plots from finished runs")
    p.add_argument("runs", nargs="+")
    p.add_argument("--out", default="report")
    p.set_defaults(handler="cgankd.report.commands:report")
    p = sub.add_parser("demo", help="the whole pipeline on Fashion-MNIST (both tasks)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="a smoke run of every stage (~3 min)")
    mode.add_argument("--ablation", action="store_true", help="add the paper's ablation arms")
    p.add_argument("--out", default="demo_out")
    p.add_argument("--device", default="auto")
    p.add_argument("--task", choices=("fashion-mnist", "rotated-fashion-mnist-45"), action="append",
                   help="run only this task (repeatable; default: both)")
    p.add_argument("--data", metavar="FILE.h5",
                   help="run the demo on this h5 file (reference schema, classification or regression) instead")
    p.add_argument("--preset", help="with --data: the dataset preset (default: the one the file declares, else generic)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="change a size of the plan (a TaskPlan field in cgankd/demo.py, e.g. n_real=1000, "
                        "seeds=[0], gan_overrides.iters=3000); applies to every task run")
    p.add_argument("--validate", action="store_true",
                   help="score on held-out training images instead of the test split (for choosing settings)")
    p.add_argument("--from-scratch", action="store_true",
                   help="train every stage here instead of loading the shipped ones (assets/demo); the trained "
                        "stages are written to OUT/assets in the same form (--quick, --data and --validate "
                        "always train from scratch)")
    p.add_argument("--assets", metavar="DIR",
                   help="load the shipped stages from DIR/<dataset> (default for the embedded demo: assets/demo)")
    p.set_defaults(handler="cgankd.demo:run")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="cgankd", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_data_parsers, _train_parser, _eval_parser, _gan_parsers, _fake_parser, _report_demo_parsers):
        add(sub)
    return parser


def _handler(spec: str):
    module, func = spec.split(":")
    return getattr(importlib.import_module(module), func)


def _is_main_process() -> bool:
    from .common.distributed import is_main_process
    return is_main_process()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = _handler(args.handler)(args)
    except UserError as err:
        if _is_main_process():            # under torchrun, one line from rank 0 rather than one per process
            print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; run again with --resume to continue", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())

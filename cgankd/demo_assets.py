"""The demo's shipped assets: the stages that are the same for every user of the default demo
(the teacher, the GAN, the cDR-RS feature net, the per-seed NOKD students), trained once by
`cgankd demo --from-scratch` and committed under `assets/demo/<dataset>/`.

Each asset folder holds the run folders' `config.json`, `metrics.json` and weights (a GAN's
checkpoint keeps only what sampling needs) and `manifest.json`: the sha256 of every file and the
provenance (command, commit, machine, wall time and measured quality of each stage).

`install` checks every file against its sha256, then copies the runs into the demo's output
folder, where the demo's own stages reuse them only if they were made with the settings the
current code and plan would use (the run folders' usual reuse check): code and assets cannot
drift apart silently.
"""

from __future__ import annotations

import json
import platform
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch

from .common.errors import UserError
from .common.files import atomic_path, file_sha256, save_torch, write_json
from .common.runs import CHECKPOINT, CONFIG, METRICS, environment, git_commit
from .gans.sampling import generator_only, read_checkpoint
from .models.trained import MODEL_FILE

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "demo"
MANIFEST = "manifest.json"
MARKER = "assets.json"           # in the demo's task folder: which assets were installed there
REBUILD = "rebuild them with `cgankd demo --from-scratch --out DIR` and copy DIR/assets/<dataset> there"


def shipped_runs(seeds: tuple[int, ...], with_feature_net: bool) -> list[str]:
    """The run folders (relative to the task folder) that the assets hold."""
    return ["teacher", "gan", *(["feature_net"] if with_feature_net else []), *(f"nokd/seed{s}" for s in seeds)]


def export(task_root: Path, runs: list[str], target: Path, provenance: dict[str, Any]) -> Path:
    """Copy the finished `runs` of a demo task folder into `target` with a manifest; returns it."""
    if target.exists():
        shutil.rmtree(target)
    for run in runs:
        source, dest = task_root / run, target / run
        dest.mkdir(parents=True)
        for name in (CONFIG, METRICS):
            shutil.copy2(source / name, dest / name)
        if run == "gan":
            save_torch(dest / CHECKPOINT, generator_only(read_checkpoint(source / CHECKPOINT)))
        else:
            shutil.copy2(source / MODEL_FILE, dest / MODEL_FILE)
    files = {str(p.relative_to(target)): file_sha256(p) for p in sorted(target.rglob("*")) if p.is_file()}
    write_json(target / MANIFEST, {"runs": runs, "files": files, "provenance": provenance})
    return target


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: missing, so the shipped assets cannot be checked; {REBUILD}") from None
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(f"{path}: cannot be read ({type(err).__name__}); {REBUILD}") from None


def verify(folder: Path) -> dict[str, Any]:
    """The manifest, once every file it lists is present and has its recorded sha256."""
    manifest = read_manifest(folder)
    for name, digest in manifest["files"].items():
        path = folder / name
        if not path.is_file():
            raise UserError(f"{path}: a shipped asset is missing; {REBUILD}")
        if file_sha256(path) != digest:
            raise UserError(f"{path}: a shipped asset is truncated or altered (sha256 differs from "
                            f"{folder / MANIFEST}); {REBUILD}")
    return manifest


def install(folder: Path, task_root: Path) -> dict[str, Any]:
    """Verify the assets in `folder`, then copy their runs into the demo's task folder (files already
    there must be the same). Returns the manifest."""
    manifest = verify(folder)
    for name, digest in manifest["files"].items():
        if name == MANIFEST:
            continue
        dest = task_root / name
        if dest.exists():
            if file_sha256(dest) != digest:
                raise UserError(f"{dest}: differs from the shipped {folder / name}, so {task_root} holds a run "
                                "made otherwise (e.g. --from-scratch); choose another --out")
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(dest) as tmp:
            shutil.copyfile(folder / name, tmp)
    write_json(task_root / MARKER, {"assets": str(folder), "manifest_sha256": file_sha256(folder / MANIFEST)})
    return manifest


def refuse_installed(task_root: Path) -> None:
    """--from-scratch must not reuse stages that were installed from the assets."""
    if (task_root / MARKER).exists():
        raise UserError(f"{task_root} holds the shipped assets (see {task_root / MARKER}); --from-scratch "
                        "trains every stage itself: choose another --out")


@contextmanager
def explained(asset: Path | None, stage: str) -> Iterator[None]:
    """A shipped run that the current plan would not reuse: say that it is the asset's fault."""
    try:
        yield
    except UserError as err:
        if asset is None:
            raise
        raise UserError(f"the shipped {stage} in {asset} does not match what this demo would run ({err}); "
                        f"pass --from-scratch to train it, or {REBUILD}") from None


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")),
               platform.processor() or "unknown CPU")
    env = environment()
    return f"{cpu}, {torch.get_num_threads()} threads, {env['platform']}, torch {env['torch']}"


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def provenance(command: str, seconds: dict[str, float], quality: dict[str, Any]) -> dict[str, Any]:
    return {"command": command, "git_commit": git_commit(), "machine": machine(), "stage_seconds": seconds,
            "quality": quality}

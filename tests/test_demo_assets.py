"""The shipped demo assets (assets/demo): intact, within their size budget, made with exactly the
settings the current presets and demo plan would use (so that code and assets cannot drift apart
silently), and the shipped teacher scores what it recorded."""

from __future__ import annotations

import json

import pytest

from cgankd import demo
from cgankd.demo_assets import ASSETS, install, shipped_runs, verify
from cgankd.models.trained import MODEL_FILE
from cgankd.train.commands import evaluate_checkpoint

BUDGET_BYTES = 15 * 2**20


def test_the_shipped_assets_fit_their_budget():
    sizes = [p.stat().st_size for p in ASSETS.rglob("*") if p.is_file()]
    assert sizes and sum(sizes) <= BUDGET_BYTES


@pytest.mark.parametrize("plan", demo.DEFAULT, ids=lambda p: p.dataset)
def test_the_shipped_assets_are_what_the_current_plan_would_train(plan, tmp_path, one_thread):
    folder = ASSETS / plan.dataset
    manifest = verify(folder)
    assert manifest["runs"] == shipped_runs(plan.seeds, bool(plan.feature_arch) and plan.task == "classification")
    root = tmp_path / plan.dataset
    data, _ = demo.subset_files(plan, root)
    install(folder, root)
    ctx = demo.TaskContext(plan, root, data, "cpu", demo.Stages(tmp_path / "stage_times.json"), folder)
    # Each stage either reuses its shipped run (same settings, same input files) or refuses it.
    shared = demo.shared_stages(ctx)
    for seed in plan.seeds:
        ctx.train(f"NOKD seed {seed}", root / f"nokd/seed{seed}", plan.student_arch, **demo.nokd_settings(plan, seed))
    for run in manifest["runs"]:
        assert not (root / run / "log.jsonl").exists(), f"{run} was trained, not reused"
    # The shipped teacher, scored again on the test split, gives the metric it recorded.
    name, value = evaluate_checkpoint(str(root / "teacher" / MODEL_FILE), str(data), "cpu")
    recorded = json.loads((folder / "teacher" / "metrics.json").read_text())[name]
    assert shared["teacher"][name] == recorded
    assert value == pytest.approx(recorded, abs=1e-4)

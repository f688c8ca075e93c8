"""benchmarks/paper_step_cost.py: a stage's step runs in-process at a tiny batch, and the per-run
arithmetic and the scaling line give what they should."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import paper_step_cost as cost  # noqa: E402


def test_density_ratio_step_runs_at_a_tiny_batch():
    plan = cost.stage_plan("steeringangle", "dr_fit")
    found = cost.measure_steps(plan, batch=4, steps=2)
    assert len(found["cpu"]) == len(found["wall"]) == 2
    assert all(t > 0 for t in found["wall"])
    assert found["peak_rss_mib"] >= found["setup_rss_mib"] > 0


def test_student_step_trains_the_student():
    plan = cost.stage_plan("cifar100", "student", student="resnet8")
    step = cost.build_step(plan, batch=4)
    step()                                   # one SGD step on random data: no error, no NaN is enough here
    assert plan.batch == 64 and plan.resolution == 32


def test_per_run_steps_follow_the_recipes():
    assert cost.stage_plan("cifar100", "student").steps_per_run == 240 * (50_000 // 64)
    assert cost.stage_plan("cifar100", "student_fake").steps_per_run == 240 * (150_000 // 128)
    assert cost.stage_plan("cifar100", "gan_d").steps_per_run == 38_000 * 4
    assert cost.stage_plan("steeringangle", "student").steps_per_run is None        # size unknown
    assert cost.stage_plan("steeringangle", "student", train_sizes={"steeringangle": 1280}).steps_per_run == 350 * 10
    assert cost.stage_plan("steeringangle", "student_fake") is None                 # same batch as vanilla


def test_extrapolation_is_the_line_through_two_points():
    low = cost.Point(batch=2, cpu_s=1.0, wall_s=2.0, peak_rss_mib=600, over_baseline_mib=100, steps=1,
                     setup_rss_mib=550, setup_cpu_s=0.1)
    high = cost.Point(batch=4, cpu_s=1.5, wall_s=3.0, peak_rss_mib=700, over_baseline_mib=200, steps=1,
                      setup_rss_mib=550, setup_cpu_s=0.1)
    assert cost.extrapolate(low, high, 10) == pytest.approx((3.0, 500.0))

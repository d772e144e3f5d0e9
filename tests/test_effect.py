"""Does memory help: session recalls, control recalls and the effect statistics, on both backends."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest
from conftest import good_item

from rb_mcp.ids import recall_number
from rb_mcp.loop.effect import effect_stats, newcombe, wilson

BOTH_BACKENDS = True
TASK = "Fix the flaky export integration test that hangs while the worker starts"
STEPS = ["looped the test 20 times: 3 hangs", "waited for the worker's readiness signal"]


def _seed(bank) -> int:
    """One lesson in the bank (its task: a success without recall); the lesson's id."""
    (stored,) = bank.record(task=TASK, steps=STEPS, outcome="success", items=[good_item(0)]).stored
    return stored.id


def _after(bank, outcome: str, **recall) -> int:
    result = bank.recall(TASK, **recall)
    bank.record(task=TASK, steps=STEPS, outcome=outcome, recall_id=result.recall_id, items=[])
    return result.recall_id


def test_published_interval_values():
    # Newcombe (1998), Statistics in Medicine 17:857 and 17:873: 81/263 and 56/70 - 48/80.
    low, high = wilson(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    d, low, high = newcombe(56, 70, 48, 80)
    assert (round(d, 4), round(low, 4), round(high, 4)) == (0.2, 0.0524, 0.3339)
    assert wilson(0, 0) is None and newcombe(1, 2, 0, 0) is None
    assert wilson(0, 5)[0] == 0.0 and wilson(5, 5)[1] == 1.0


def test_effect_stats_on_known_outcomes(bank):
    lesson = _seed(bank)
    for outcome in ("success", "success", "failure"):
        _after(bank, outcome)
    bank.config = bank.config.replace(control_rate=1.0)
    for outcome in ("success", "failure", "failure"):
        _after(bank, outcome)
    bank.config = bank.config.replace(control_rate=0.0)
    bank.record(task=TASK, steps=STEPS, outcome="failure", items=[])
    bank.record(task=TASK, steps=STEPS, outcome="impossible", items=[])

    report = effect_stats(bank)
    arms = {a.arm: a for a in report.overall.arms}
    counts = {name: (a.successes, a.failures, a.impossible, a.trajectories) for name, a in arms.items()}
    assert counts == {"memory": (2, 1, 0, 3), "control": (1, 2, 0, 3), "without": (1, 1, 1, 3)}
    # Wilson 95% by hand: 2/3 -> [0.2077, 0.9385], 1/3 -> [0.0615, 0.7923], 1/2 -> [0.0945, 0.9055].
    for name, rate, low, high in (("memory", 2 / 3, 0.2077, 0.9385), ("control", 1 / 3, 0.0615, 0.7923),
                                  ("without", 0.5, 0.0945, 0.9055)):  # fmt: skip
        assert arms[name].rate == pytest.approx(rate)
        assert (arms[name].low, arms[name].high) == (
            pytest.approx(low, abs=1e-4),
            pytest.approx(high, abs=1e-4),
        )
    vs = {c.versus: c for c in report.overall.comparisons}
    # Newcombe by hand: 1/3 - sqrt(0.4590^2 + 0.4590^2) = -0.3158; 1/3 + sqrt(2 * 0.2718^2) = 0.7177.
    assert vs["control"].randomized and not vs["without"].randomized
    assert vs["control"].difference == pytest.approx(1 / 3)
    assert (vs["control"].low, vs["control"].high) == (
        pytest.approx(-0.3158, abs=1e-4),
        pytest.approx(0.7177, abs=1e-4),
    )
    assert [g.project for g in report.projects] == ["global"]
    (helped,) = report.most_helped
    (harmed,) = report.most_harmed
    assert (helped.id, helped.helped, helped.harmed, helped.recalls) == (
        lesson,
        2,
        1,
        3,
    )  # controls return nothing
    assert harmed.id == lesson
    assert effect_stats(bank.store, "github.com/acme/none").overall.arms[0].trajectories == 0


def test_the_control_rate_with_a_seeded_rng(bank):
    _seed(bank)
    bank.rng = random.Random(17)
    for rate, low, high in ((1.0, 20, 20), (0.0, 0, 0)):
        bank.config = bank.config.replace(control_rate=rate)
        controls = [bank.recall(TASK).control for _ in range(20)]
        assert low <= sum(controls) <= high
    bank.config = bank.config.replace(control_rate=0.5)
    results = [bank.recall(TASK) for _ in range(200)]
    controls = [r for r in results if r.control]
    assert 80 <= len(controls) <= 120
    assert all(not r.items and not r.episodes for r in controls)
    assert all(
        "withheld memory" in r.guidance and f'recall_id="{r.recall_id}"' in r.guidance for r in controls
    )
    assert all(r.items for r in results if not r.control)


def test_session_recalls_exclusion_and_keyword_only(bank):
    first = _seed(bank)
    other = {
        "title": "Wait on the worker's readiness signal in a flaky integration test",
        "description": "An integration test that hangs while the worker starts enqueues work too early.",
        "content": "Log when the worker starts and block on its readiness event with a bounded timeout; a "
        "fixed sleep only hides the race until the export runs on a slower CI machine.",
    }
    second = bank.record(task=TASK, steps=STEPS, outcome="success", items=[other]).stored[0].id
    assert second != first
    a = bank.recall(TASK, session_id="s-1", vectors=False, k=1)
    assert [h.id for h in a.items] in ([first], [second]) and "Keyword search only" not in a.guidance
    b = bank.recall(TASK, session_id="s-1", vectors=False, k=1, exclude_items=[h.id for h in a.items])
    assert {h.id for h in a.items + b.items} == {first, second}  # the next best, not nothing
    bank.config = bank.config.replace(control_rate=1.0)
    c = bank.recall(TASK, session_id="s-1")
    assert bank.session_recalls("s-1") == [a.recall_id, b.recall_id, c.recall_id]
    assert bank.session_recalls("s-2") == []
    # A session's trajectory answers its latest recall with items, not a later control.
    traj = bank.record(task=TASK, steps=STEPS, session_id="s-1").trajectory_id
    assert bank.trajectory(traj).recall_id == recall_number(bank.id_key, b.recall_id)
    assert bank.count_items() == {"global": 2}


def test_cli_recall_and_stats_effect_honour_the_control_rate(tmp_path, isolated_env, backend):
    if backend == "postgres":
        pytest.skip("the CLI opens the bank the environment names; the store is covered above")
    run = [sys.executable, "-m", "rb_mcp"]
    env = {**isolated_env, "RB_MCP_CONTROL_RATE": "1"}
    done = subprocess.run([*run, "recall", TASK], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "withheld memory" in done.stdout and "control: memory withheld" in done.stdout
    done = subprocess.run(
        [*run, "stats", "--effect", "--json"], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert [a["arm"] for a in json.loads(done.stdout)["overall"]["arms"]] == ["memory", "control", "without"]
    bad = subprocess.run([*run, "recall", TASK], capture_output=True, text=True,
                         env={**env, "RB_MCP_CONTROL_RATE": "1.5"}, timeout=120)  # fmt: skip
    assert bad.returncode != 0 and "RB_MCP_CONTROL_RATE" in bad.stderr

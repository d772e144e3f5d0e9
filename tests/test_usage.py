"""Cost visibility: each recall says how many tokens of guidance it injected, and `rb-mcp stats` sums
them per day and project from the recall log (on SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import good_item

from rb_mcp.admin import stats
from rb_mcp.clock import now
from rb_mcp.loop.bank import Bank
from rb_mcp.loop.recall import CHARS_PER_TOKEN

BOTH_BACKENDS = True


def test_each_recall_reports_its_guidance_tokens_and_stats_sum_them(bank: Bank):
    for n in range(3):
        bank.record(task=f"Parser crashes on empty input, case {n}", summary="s", outcome="success",
                    items=[good_item(n)], project="acme/app")  # fmt: skip
    spent, returned = [], 0
    for task in ("parser fails on an empty string", "empty input crashes the parser"):
        r = bank.recall(task, "acme/app", 3)
        assert r.items and r.guidance_tokens == -(-len(r.guidance) // CHARS_PER_TOKEN)
        spent.append(r.guidance_tokens)
        returned += len(r.items)
    none = bank.recall("bake a chocolate cake", "other/project", 3)
    assert none.items == [] and 0 < none.guidance_tokens < 40

    rows = {row["project"]: row for row in stats(bank).guidance}
    assert set(rows) == {"acme/app", "other/project"}
    day = now()[:10]
    app, other = rows["acme/app"], rows["other/project"]
    assert app["day"] == other["day"] == day and app["recalls"] == 2 and other["recalls"] == 1
    assert app["items"] == returned and other["items"] == 0
    # Rebuilt from the logged items (recall ids differ by a digit or two): within a few tokens.
    assert abs(app["guidance_tokens"] - sum(spent)) <= 4, (app, spent)
    assert abs(other["guidance_tokens"] - none.guidance_tokens) <= 8, (other, none.guidance_tokens)


def test_stats_command_prints_the_table_and_json(isolated_env):
    def rb(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "rb_mcp", *args], env=isolated_env, capture_output=True,
                              text=True, timeout=120)  # fmt: skip

    items = Path(isolated_env["RB_MCP_BANK"]).with_name("items.json")
    items.write_text(json.dumps([good_item(1)]))
    assert rb("record", "--task", "Parser crashes on empty input", "--summary", "s", "--outcome", "success",
              "--items", str(items), "--project", "acme/app").returncode == 0  # fmt: skip
    recalled = json.loads(
        rb("recall", "parser fails on an empty string", "--project", "acme/app", "--json").stdout
    )
    table = rb("stats")
    assert table.returncode == 0, table.stderr
    line = next(li for li in table.stdout.splitlines() if "acme/app" in li)
    day, project, recalls, n_items, tokens = line.split()
    assert (project, recalls, n_items) == ("acme/app", "1", "1")
    assert abs(int(tokens) - recalled["guidance_tokens"]) <= 4
    assert "total" in table.stdout and "tokens" in table.stdout
    data = json.loads(rb("stats", "--json").stdout)
    assert data["guidance"] == [{"day": day, "project": "acme/app", "recalls": 1, "items": 1,
                                 "guidance_tokens": int(tokens)}]  # fmt: skip

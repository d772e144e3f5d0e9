"""Client hooks: memory that recalls at the start of a task and records at its end by itself.

The first client is Claude Code (the plugin in `plugin/` wires its SessionStart,
UserPromptSubmit, Stop and SessionEnd events to `rb-mcp hook EVENT`). The pieces:

    cli         run(event, stdin, stdout): the process boundary; never fails the session
    events      the four hooks as plain functions: payload in, the client's answer out
    transcript  what the session did, read from the client's JSONL transcript
    state       per-session memory of the hooks (injected items, recall ids, what was asked)
    adapter     the only code that calls the Bank: thin adapters over its public API

Nothing runs in the background and nothing calls a model: a hook costs one short process.
"""

from rb_mcp.hooks.cli import EVENTS, run

__all__ = ["EVENTS", "run"]

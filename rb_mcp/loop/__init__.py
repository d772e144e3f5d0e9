"""The ReasoningBank loop as plain Python: recall -> act -> judge -> distill -> consolidate, and
memory-aware test-time scaling (refine). `Bank` (rb_mcp.loop.bank) is its public API: the CLI, the
MCP server, the review page and the client hooks all call it. Nothing here knows MCP or writes SQL."""

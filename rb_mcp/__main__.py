"""`python -m rb_mcp` runs the CLI (no arguments: the stdio MCP server)."""

import sys

from rb_mcp.cli import main

if __name__ == "__main__":
    sys.exit(main())

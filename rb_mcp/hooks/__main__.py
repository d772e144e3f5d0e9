"""`python -m rb_mcp.hooks EVENT`: the same as `rb-mcp hook EVENT`."""

import sys

from rb_mcp.hooks.cli import run

if __name__ == "__main__":
    sys.exit(run(sys.argv[1] if len(sys.argv) > 1 else "", sys.stdin, sys.stdout))

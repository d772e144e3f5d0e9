"""rb-mcp: a ReasoningBank memory for coding agents, served over MCP.

The public surface is small: the `Bank` (the ReasoningBank loop as plain functions), the
pydantic models it speaks, and the error tree rooted at `RbError`. The MCP server and the CLI
are thin adapters over it.
"""

from rb_mcp.errors import BankError, EmbedError, InputError, RbError, SchemaError, StoreError

__version__ = "0.1.0"

__all__ = ["RbError", "InputError", "StoreError", "SchemaError", "EmbedError", "BankError", "__version__"]

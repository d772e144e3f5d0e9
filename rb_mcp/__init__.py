"""rb-mcp: a ReasoningBank memory for coding agents, served over MCP.

The public surface is small: `rb_mcp.loop.bank.Bank` (the ReasoningBank loop as plain functions), the
pydantic models it speaks, and the error tree rooted at `RbError`. The MCP server and the CLI
are thin adapters over it.
"""

from rb_mcp.errors import (
    AccessError,
    BankError,
    EmbedError,
    GateError,
    InputError,
    LLMError,
    RbError,
    SchemaError,
    StoreError,
)

__version__ = "0.1.0"

__all__ = [
    "AccessError",
    "BankError",
    "EmbedError",
    "GateError",
    "InputError",
    "LLMError",
    "RbError",
    "SchemaError",
    "StoreError",
    "__version__",
]

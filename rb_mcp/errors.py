"""One exception tree for rb-mcp.

    RbError                 base: anything rb-mcp raises on purpose
    +-- InputError          raised when a caller's input cannot be used (says what to fix)
    |   +-- AccessError     raised when the caller may not read or write the scope a call names
    |   +-- GateError       raised when a memory item fails the quality gate (lists every fix)
    +-- StoreError          raised when the bank file cannot be opened, read or written
    |   +-- SchemaError     raised when the bank was written by a newer rb-mcp
    +-- EmbedError          raised when the embedding model cannot be loaded or run
    +-- BankError           raised when the loop cannot proceed (unknown trajectory, wrong state)
    +-- LLMError            raised when a server-side model cannot be reached or answers unusably

Driver errors (sqlite3, psycopg) are translated into StoreError inside rb_mcp.store; the MCP server turns every RbError
into a tool error whose message the calling model can act on.
"""


class RbError(Exception):
    """Base of every error rb-mcp raises on purpose."""


class InputError(RbError, ValueError):
    """Raised when a caller's input cannot be used; the message says what to fix."""


class StoreError(RbError):
    """Raised when the bank file cannot be opened, read or written."""


class SchemaError(StoreError):
    """Raised when the bank's schema is newer than this rb-mcp understands."""


class EmbedError(RbError):
    """Raised when the embedding model cannot be loaded or run."""


class BankError(RbError):
    """Raised when the memory loop cannot proceed (unknown id, wrong state)."""


class AccessError(InputError):
    """Raised when the caller's identity may not read or write the scope a call names."""


class GateError(InputError):
    """Raised by `rb_mcp.loop.gate.check_item` when a memory item fails the gate; the message lists every fix."""


class LLMError(RbError):
    """Raised when a server-side model cannot be reached, refuses, or answers with something unusable."""

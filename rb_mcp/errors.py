"""One exception tree for rb-mcp.

    RbError                 base: anything rb-mcp raises on purpose
    +-- InputError          raised when a caller's input cannot be used (says what to fix)
    +-- StoreError          raised when the bank file cannot be opened, read or written
    |   +-- SchemaError     raised when the bank was written by a newer rb-mcp
    +-- EmbedError          raised when the embedding model cannot be loaded or run
    +-- BankError           raised when the loop cannot proceed (unknown trajectory, wrong state)

sqlite3 errors are translated into StoreError in store.py; the MCP server turns every RbError
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

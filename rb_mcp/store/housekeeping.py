"""The SQL of access tokens, stats, export and import rows, re-embedding.

Shared by both backends: the statements are written with `?` placeholders, which
`rb_mcp.store.pgsql.PgConn` translates for PostgreSQL. A method that takes `db` runs inside the
caller's `transaction()`; the others read on their own.
"""

from __future__ import annotations


class HousekeepingRows:
    """Mixed into `SqliteStore` and `PgStore`, whose `query`, `one` and `transaction` it uses."""

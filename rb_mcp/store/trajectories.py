"""The SQL of trajectories, attempt groups, refinement notes, the pending queue, recall events and hits, and the keyword search over past tasks.

Shared by both backends: the statements are written with `?` placeholders, which
`rb_mcp.store.pgsql.PgConn` translates for PostgreSQL. A method that takes `db` runs inside the
caller's `transaction()`; the others read on their own.
"""

from __future__ import annotations


class TrajectoryRows:
    """Mixed into `SqliteStore` and `PgStore`, whose `query`, `one` and `transaction` it uses."""

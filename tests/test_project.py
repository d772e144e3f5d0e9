"""Project scope keys from git remotes, directories and names."""

from __future__ import annotations

import subprocess

import pytest

from rb_mcp.errors import InputError
from rb_mcp.project import default_for_cwd, key_for_directory, normalise_remote, resolve


@pytest.mark.parametrize(
    "url",
    ["git@github.com:Acme/Shop.git", "https://github.com/acme/shop", "https://user@github.com/acme/shop.git",
     "ssh://git@github.com/acme/shop.git"],
)  # fmt: skip
def test_remote_spellings_agree(url):
    assert normalise_remote(url) == "github.com/acme/shop"


def test_directory_with_remote_and_without(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    plain = key_for_directory(repo)
    assert plain.startswith("dir:repo-")
    subprocess.run(
        ["git", "-C", str(repo), "remote", "add", "origin", "git@github.com:acme/shop.git"], check=True
    )
    (repo / "sub").mkdir()
    assert key_for_directory(repo / "sub") == "github.com/acme/shop"
    assert resolve(str(repo), None) == "github.com/acme/shop"
    assert default_for_cwd(repo / "sub") == "github.com/acme/shop"
    assert default_for_cwd(tmp_path) is None


def test_names_are_normalised():
    assert resolve("  Acme/Shop ", None) == "acme/shop"
    assert resolve(None, "x") == "x"
    assert resolve("GLOBAL", None) == "global"
    with pytest.raises(InputError):
        resolve("x" * 400, None)

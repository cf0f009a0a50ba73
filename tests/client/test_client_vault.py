"""Sealed token cache and vault: AES-GCM under a key from the per-user secret + machine id + OS user id.
Files are 0600 in a 0700 directory; a copy read as another machine or another user fails with a clear
error; the ``vault`` commands never print a secret unless asked to."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mailwarden.cli import app
from mailwarden.client import (
    DecryptionError,
    Sealer,
    SecretStoreError,
    TokenCache,
    Vault,
    machine_id,
    user_id,
)
from mailwarden.client._vault import KeyFileSecret, KeyringSecret

SECRET_VALUE = "s3cr3t-Client-Secret-value-0001"


def sealer(directory: Path, machine: str = "machine-A", user: str = "1000") -> Sealer:
    return Sealer(user_secret=KeyFileSecret(directory / "key"), machine=lambda: machine, user=lambda: user)


def test_real_machine_and_user_ids() -> None:
    assert len(machine_id()) >= 16
    assert user_id() == str(os.getuid())


def test_vault_roundtrip_modes_and_no_plaintext(tmp_path: Path) -> None:
    vault = Vault(tmp_path, sealer=sealer(tmp_path))
    vault.set("nightly", SECRET_VALUE, kind="client-secret")
    assert vault.get("nightly") == SECRET_VALUE
    assert [(i.name, i.kind) for i in vault.list()] == [("nightly", "client-secret")]
    assert (tmp_path / "vault.bin").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "key").stat().st_mode & 0o777 == 0o600
    assert SECRET_VALUE.encode() not in (tmp_path / "vault.bin").read_bytes()
    assert vault.remove("nightly") is True
    with pytest.raises(SecretStoreError):
        vault.get("nightly")


@pytest.mark.parametrize(("machine", "user"), [("machine-B", "1000"), ("machine-A", "1001")])
def test_copy_elsewhere_does_not_decrypt(tmp_path: Path, machine: str, user: str) -> None:
    home = tmp_path / "a"
    Vault(home, sealer=sealer(home)).set("nightly", SECRET_VALUE)
    elsewhere = tmp_path / "b"
    shutil.copytree(home, elsewhere)  # the vault *and* the key file were copied
    with pytest.raises(DecryptionError, match="another machine or for another OS user"):
        Vault(elsewhere, sealer=sealer(elsewhere, machine, user)).get("nightly")


def test_tampering_is_detected(tmp_path: Path) -> None:
    Vault(tmp_path, sealer=sealer(tmp_path)).set("x", SECRET_VALUE)
    blob = bytearray((tmp_path / "vault.bin").read_bytes())
    blob[-1] ^= 1
    (tmp_path / "vault.bin").write_bytes(bytes(blob))
    with pytest.raises(DecryptionError):
        Vault(tmp_path, sealer=sealer(tmp_path)).get("x")


def test_token_cache_sealed_and_bound(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "p.bin"
    cache = TokenCache(path, sealer=sealer(tmp_path))
    cache.msal.add(
        {
            "client_id": "cid",
            "scope": ["api://mailwarden/Exchange.Manage"],
            "token_endpoint": "https://h/t/oauth2/v2.0/token",
            "response": {"access_token": "AT-very-secret", "expires_in": 3600, "token_type": "Bearer"},
        }
    )
    cache.persist()
    assert path.stat().st_mode & 0o777 == 0o600
    assert b"AT-very-secret" not in path.read_bytes()
    again = TokenCache(path, sealer=sealer(tmp_path))
    assert "AT-very-secret" in again.msal.serialize()
    with pytest.raises(DecryptionError):
        TokenCache(path, sealer=sealer(tmp_path, machine="machine-B"))


def test_headless_keyring_falls_back_to_key_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    import keyring.core

    keyring.core.init_backend()
    try:
        assert KeyringSecret.available() is False
    finally:
        monkeypatch.delenv("PYTHON_KEYRING_BACKEND")
        keyring.core.init_backend()


def test_vault_cli_never_prints_the_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILWARDEN_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.setenv("MAILWARDEN_NO_KEYRING", "1")
    runner = CliRunner()
    done = runner.invoke(app, ["vault", "set", "job", "--kind", "client-secret"], input=SECRET_VALUE + "\n")
    assert done.exit_code == 0, done.output
    assert (tmp_path / "cfg").stat().st_mode & 0o777 == 0o700
    for args in (["vault", "list"], ["vault", "get", "job"], ["vault", "list", "--json"]):
        out = runner.invoke(app, args)
        assert out.exit_code == 0, out.output
        assert SECRET_VALUE not in out.output
    revealed = runner.invoke(app, ["vault", "get", "job", "--reveal"])
    assert revealed.output.strip() == SECRET_VALUE
    assert runner.invoke(app, ["vault", "remove", "job"]).exit_code == 0
    assert runner.invoke(app, ["vault", "get", "job"]).exit_code == 1

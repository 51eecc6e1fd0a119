"""Secrets from files (NAME_FILE) and passwords merged into URLs: config/settings.py's helpers."""

from __future__ import annotations

from pathlib import Path

import dj_database_url
import pytest
from django.core.exceptions import ImproperlyConfigured
from hypothesis import example, given
from hypothesis import strategies as st

from config.settings import env_secret, url_with_password
from ingest.mqtt import parse_url

# Any printable password, the URL's own delimiters above all.
passwords = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1
)


@given(password=passwords)
@example(password="a/b#c?d@e:f%g")
@example(password="%2F")
@example(password="@@::")
def test_a_database_password_survives_the_url(password: str) -> None:
    url = url_with_password("postgres://scada_app@db:5432/scada?sslmode=require", password)
    parsed = dj_database_url.parse(url)
    assert (parsed["USER"], parsed["PASSWORD"]) == ("scada_app", password)
    assert (parsed["HOST"], parsed["PORT"], parsed["NAME"]) == ("db", 5432, "scada")
    assert parsed["OPTIONS"] == {"sslmode": "require"}


@given(password=passwords)
@example(password="a/b#c?d@e:f%g")
def test_a_broker_password_survives_the_url(password: str) -> None:
    address = parse_url(url_with_password("mqtts://ingest@mqtt:8883", password))
    assert (address.username, address.password) == ("ingest", password)
    assert (address.host, address.port, address.tls) == ("mqtt", 8883, True)


def test_a_password_replaces_the_one_in_the_url() -> None:
    url = url_with_password("postgres://owner:old@[::1]:5432/scada", "new/one")
    assert url == "postgres://owner:new%2Fone@[::1]:5432/scada"


def test_no_password_leaves_the_url_alone() -> None:
    assert url_with_password("mqtt://127.0.0.1:1883", "") == "mqtt://127.0.0.1:1883"


def test_a_password_needs_a_user_name_in_the_url() -> None:
    with pytest.raises(ImproperlyConfigured, match="needs a user name"):
        url_with_password("mqtt://mqtt:1883", "secret")


def test_a_secret_is_read_from_its_file_without_the_trailing_newline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "key").write_text("s3cret with spaces \n")
    monkeypatch.setenv("SCADA_T_KEY_FILE", str(tmp_path / "key"))
    monkeypatch.delenv("SCADA_T_KEY", raising=False)
    assert env_secret("SCADA_T_KEY") == "s3cret with spaces "


def test_a_secret_is_read_from_the_variable_or_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SCADA_T_KEY_FILE", raising=False)
    monkeypatch.delenv("SCADA_T_KEY", raising=False)
    assert env_secret("SCADA_T_KEY", "fallback") == "fallback"
    monkeypatch.setenv("SCADA_T_KEY", "from-env")
    assert env_secret("SCADA_T_KEY", "fallback") == "from-env"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("both", "not both"),
        ("missing", "cannot read"),
        ("empty", "is empty"),
        ("directory", "cannot read"),
        ("binary", "cannot read"),
    ],
)
def test_a_secret_file_that_cannot_serve_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, setup: str, message: str
) -> None:
    path = tmp_path / "key"
    monkeypatch.delenv("SCADA_T_KEY", raising=False)
    if setup == "both":
        path.write_text("one")
        monkeypatch.setenv("SCADA_T_KEY", "other")
    elif setup == "empty":
        path.write_text("\n")
    elif setup == "directory":
        path.mkdir()
    elif setup == "binary":
        path.write_bytes(b"\xff\xfe key material, not text")
    monkeypatch.setenv("SCADA_T_KEY_FILE", str(path))
    with pytest.raises(ImproperlyConfigured, match=message):
        env_secret("SCADA_T_KEY", "a default never used")

"""Configuration: one Settings object, documented options, bad values rejected."""

from pathlib import Path

import pytest

from core.common.config import OPTIONS, Settings, redact_url, scrub
from core.common.errors import ConfigError

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_option_is_documented_in_the_readme():
    text = README.read_text()
    assert [name for name in OPTIONS if name not in text] == []


def test_env_overrides_defaults_and_secrets_fill_gaps():
    settings = Settings.from_env({"LENS_BATCH_SIZE": "8"}, secrets={"QDRANT_URL": "http://q:6333", "QDRANT_API_KEY": "k"})
    assert (settings.batch_size, settings.qdrant_url, settings.qdrant_api_key) == (8, "http://q:6333", "k")
    assert settings.model == "clip-ViT-B-32" and settings.collection == "products"
    assert "k" not in repr(settings) and settings.backend_label == "http://q:6333"


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_bad_batch_size_is_rejected(value):
    with pytest.raises(ConfigError, match="LENS_BATCH_SIZE"):
        Settings.from_env({"LENS_BATCH_SIZE": value})


@pytest.mark.parametrize("value", ["0", "-1", "2.5", "soon"])
def test_bad_qdrant_timeout_is_rejected(value):
    with pytest.raises(ConfigError, match="QDRANT_TIMEOUT must be a positive integer"):
        Settings.from_env({"QDRANT_TIMEOUT": value})


def test_runtime_defaults_to_auto_and_refuses_unknown_names():
    assert (Settings.from_env({}).runtime, Settings.from_env({"LENS_RUNTIME": "ONNX-INT8"}).runtime) == ("auto", "onnx-int8")
    with pytest.raises(ConfigError, match="LENS_RUNTIME must be one of auto, torch, onnx, onnx-int8, got 'int4'"):
        Settings.from_env({"LENS_RUNTIME": "int4"})


def test_qdrant_timeout_defaults_to_30_seconds():
    assert (Settings.from_env({}).qdrant_timeout, Settings.from_env({"QDRANT_TIMEOUT": "5"}).qdrant_timeout) == (30, 5)


@pytest.mark.parametrize("url, shown", [
    ("http://admin:hunter2@host", "http://admin:***@host"),
    ("http://admin:hunter2@host:6333/", "http://admin:***@host:6333/"),
    ("https://admin:p%40ss@q.example:6333/prefix", "https://admin:***@q.example:6333/prefix"),
    ("http://token-only@host:6333", "http://***@host:6333"),
    ("admin:hunter2@localhost:6333", "admin:***@localhost:6333"),  # no scheme, as qdrant-client accepts it
    ("http://host:6333/?api-key=s3cret&debug", "http://host:6333/?api-key=***&***"),
    ("http://host:6333/#s3cret", "http://host:6333/#***"),
    ("http://a:pa/ss@host", "http://***"),  # an unescaped "/" in the password: hide everything after the scheme
    ("http://[::1", "***"),  # unparseable
    ("http://q.example:6333", "http://q.example:6333"),
    ("localhost:6333", "localhost:6333"),
    (":memory:", ":memory:"),
])
def test_redact_url_hides_passwords_tokens_and_query_values(url, shown):
    assert redact_url(url) == shown


def test_backend_label_redacts_the_password():
    settings = Settings.from_env({"QDRANT_URL": "http://admin:hunter2@host:6333/?key=abc"})
    assert settings.backend_label == "http://admin:***@host:6333/?key=***"


def test_scrub_removes_the_url_password_the_api_key_and_their_decoded_forms():
    url = "http://admin:p%40ss-word@host:6333?token=t0k"
    text = f"failed {url}: p@ss-word / p%40ss-word / t0k / api-key K-123 / admin"
    assert scrub(text, url, "K-123") == "failed http://admin:***@host:6333?token=***: *** / *** / *** / api-key *** / admin"


def test_the_server_does_not_watch_files():
    """The watcher walked .venv and the data dir and overflowed inotify; pages are code, not content."""
    import tomllib
    from pathlib import Path

    config = tomllib.loads((Path(__file__).resolve().parent.parent / ".streamlit" / "config.toml").read_text())
    assert config["server"]["fileWatcherType"] == "none"
    assert config["server"]["runOnSave"] is False


@pytest.mark.parametrize("raw, photos", [("1", 1), ("10", 10), ("100", 100)])
def test_the_photo_cap_is_read_within_its_bounds(raw, photos):
    assert Settings.from_env({"LENS_MAX_PHOTOS": raw}).max_photos == photos


@pytest.mark.parametrize("raw, message", [("0", "LENS_MAX_PHOTOS must be a positive integer, got '0'"),
                                          ("ten", "LENS_MAX_PHOTOS must be a positive integer, got 'ten'"),
                                          ("101", "LENS_MAX_PHOTOS must be 100 or less"),
                                          ("100000", "LENS_MAX_PHOTOS must be 100 or less")])
def test_a_photo_cap_out_of_bounds_is_refused(raw, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({"LENS_MAX_PHOTOS": raw})


@pytest.mark.parametrize("raw", ["1", "0", "x"])
def test_a_shared_photo_threshold_under_two_is_refused(raw):
    with pytest.raises(ConfigError, match="LENS_SHARED_PHOTO_MIN"):
        Settings.from_env({"LENS_SHARED_PHOTO_MIN": raw})

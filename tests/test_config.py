"""Configuration: one Settings object, documented options, bad values rejected."""

from pathlib import Path

import pytest

from core.config import OPTIONS, Settings
from core.errors import ConfigError

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

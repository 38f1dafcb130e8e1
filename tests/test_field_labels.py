"""Attribute labels on the product view and the compare table: snake_case keys read as words, acronyms in capitals."""

import pytest

from core.curation.compare import field_label


@pytest.mark.parametrize("key, label", [
    ("sub_category", "Sub category"), ("sku", "SKU"), ("variant_sku", "Variant SKU"), ("product_id", "Product ID"),
    ("compare_at_price", "Compare at price"), ("Brand", "Brand"), ("image_url", "Image URL"), ("", ""),
])
def test_keys_read_as_words_with_acronyms_in_capitals(key, label):
    assert field_label(key) == label

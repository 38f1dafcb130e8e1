"""The keyword tokeniser and BM25 document side (core.index.keywords): exact stems, weights, keys and highlights."""

import math

import pytest

from core.index import keywords as K


def test_words_are_folded_stemmed_and_stop_words_dropped():
    assert K.tokens("Levi's 501 Jeans for the SUMMER — Café-Noir, TS-0042-RED") == \
        ["levi", "501", "jean", "summer", "cafe", "noir", "ts", "0042", "red"]


def test_apostrophe_spellings_of_a_brand_are_one_word():
    assert K.tokens("Levi's") == K.tokens("Levi’s") == K.tokens("Levis") == ["levi"]


def test_query_of_punctuation_or_stop_words_has_no_terms():
    assert K.query_terms("?!... --- ***") == []
    assert K.query_terms("the of and to") == []
    assert K.query_terms("") == []


def test_query_terms_are_distinct_in_order_and_capped():
    assert K.query_terms("red dress RED dresses") == ["red", "dress"]
    long_query = " ".join(f"word{n}" for n in range(5000))  # about 40,000 characters
    assert K.query_terms(long_query) == [f"word{n}" for n in range(K.MAX_QUERY_TERMS)]


def test_overlong_runs_are_not_words():
    assert K.tokens("x" * (K.MAX_TOKEN_CHARS + 1) + " shirt") == ["shirt"]


def test_document_weights_are_bm25_term_frequency_with_fixed_length_norm():
    doc = K.keyword_document({"title": "red red dress"})
    assert doc.terms == ("dress", "red")
    norm = K.K1 * (1 - K.B + K.B * 3 / K.AVG_LEN)
    expected = {K.term_index("red"): 2 * (K.K1 + 1) / (2 + norm), K.term_index("dress"): (K.K1 + 1) / (1 + norm)}
    assert dict(zip(doc.indices, doc.values)) == pytest.approx(expected, abs=1e-6)
    assert list(doc.indices) == sorted(doc.indices)


def test_document_words_come_from_every_searchable_field_and_variants():
    payload = {"title": "Tee", "brand": "Acme", "tags": ["organic", "cotton"], "sku": ["AB-1"], "product_id": "tee-1",
               "description": "soft", "variants": [{"sku": "AB-2", "colour": "Navy", "options": {"Size": "XL"}}]}
    assert set(K.keyword_document(payload).terms) == {"tee", "acm", "organic", "cotton", "ab", "1", "2", "soft", "navi",
                                                      "xl"}


def test_empty_product_has_an_empty_keyword_document():
    doc = K.keyword_document({"title": "", "description": "the of"})
    assert (doc.indices, doc.values, doc.terms) == ((), (), ())


def test_query_weights_are_one_per_distinct_term():
    indices, values = K.query_weights(["red", "dress", "red"])
    assert sorted(indices) == sorted({K.term_index("red"), K.term_index("dress")})
    assert values == (1.0, 1.0)


def test_term_index_is_stable_and_fits_31_bits():
    assert K.term_index("dress") == K.term_index("dress")
    assert all(0 <= K.term_index(w) < 2 ** 31 for w in ("a", "dress", "0042", "é" * 40))


def test_lookup_keys_ignore_case_and_spaces_and_include_variant_skus():
    payload = {"product_id": "Summer-Tee", "sku": ["TS-0042-RED "], "item_group_id": "G1",
               "variants": [{"sku": "ts-0042-red"}, {"sku": "TS-0042-BLUE"}]}
    assert K.lookup_keys(payload) == ["summer-tee", "ts-0042-red", "g1", "ts-0042-blue"]
    assert K.lookup_key("  TS-0042-RED ") == "ts-0042-red"
    assert K.lookup_key("x" * (K.MAX_KEY_CHARS + 1)) == ""


def test_highlight_marks_matched_words_in_the_original_text():
    assert K.highlight("Levi’s Café Jeans", ["levi", "jean"]) == [("Levi’s", True), (" Café ", False), ("Jeans", True)]
    assert K.highlight("Red dress", []) == [("Red dress", False)]
    hostile = "[x](javascript:alert(1)) red"
    assert "".join(p for p, _ in K.highlight(hostile, ["red"])) == hostile


def test_matched_terms_keep_query_order():
    assert K.matched_terms(["jean", "levi", "blue"], ("blue", "levi")) == ["levi", "blue"]


def test_tokenising_hostile_text_is_bounded():
    text = "a'" * 50_000 + "-" * 50_000
    assert K.tokens(text) == []  # one apostrophe-joined run far past MAX_TOKEN_CHARS: no word
    assert math.isfinite(sum(K.keyword_document({"description": text}).values))


def test_decomposed_accents_stay_inside_their_word():
    import unicodedata

    decomposed = unicodedata.normalize("NFD", "Crème Brûlée")
    assert len(decomposed) > len("Crème Brûlée")  # really the combining-mark spelling
    assert K.tokens(decomposed) == K.tokens("Crème Brûlée") == K.tokens("creme brulee") == ["creme", "brule"]
    assert K.highlight(decomposed, ["creme"]) == [(decomposed[:6], True), (decomposed[6:], False)]


def test_variant_words_survive_a_description_past_the_cut():
    payload = {"title": "Tee", "description": "filler " * 5000,
               "variants": [{"sku": "ZX-9", "colour": "Teal", "options": {"Size": "XXL"}}]}
    assert {"tee", "zx", "9", "teal", "xxl"} <= set(K.keyword_document(payload).terms)


def test_a_shopify_length_handle_is_a_lookup_key():
    handle = "h" * 255
    assert K.lookup_keys({"product_id": handle}) == [handle]


def test_fold_of_ascii_text_is_its_lower_case_and_of_other_text_drops_accents():
    import string

    from core.common.text import fold

    assert fold(string.printable) == string.printable.lower()
    assert fold("Straße Café ÉTÉ") == "strasse cafe ete"

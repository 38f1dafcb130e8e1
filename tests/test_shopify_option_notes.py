"""A Shopify export whose every product names an option after a field the index already has ('Brand!', 'brand?',
'Brand.-', ...) gets one note per field, not one per spelling: a note per product, each looked for in the growing
list of notes, made a hostile export quadratic and its report as long as the catalogue."""

from __future__ import annotations

import itertools

from core.ingest.catalog import read_catalog
from tests.conftest import write_csv

HEADER = ["Handle", "Title", "Vendor", "Option1 Name", "Option1 Value", "Variant Price"]
PRODUCTS = 20_000


def test_an_option_named_after_a_field_is_noted_once_whatever_its_spellings(tmp_path):
    spellings = ("Brand" + "".join(p) for p in itertools.product("!?.-#%*+", repeat=5))
    rows = [[f"p{n}", f"Tee {n}", "Acme", name, "Acme", "10"] for n, name in zip(range(PRODUCTS), spellings)]
    rows.append(["last", "Cap", "Acme", "Price!", "12", "5"])
    catalog = read_catalog(write_csv(tmp_path / "shopify.csv", HEADER, rows))
    assert len(catalog.products) == PRODUCTS + 1 and catalog.problems == []
    assert [n for n in catalog.report.notes if n.startswith("option ")] == [
        "option 'Brand!!!!!' is not kept: its name is a field the index already has",
        "option 'Price!' is not kept: its name is a field the index already has"]
    assert {p.payload.get("brand") for p in catalog.products} == {"Acme"}

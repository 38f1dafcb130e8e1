"""export-fixes: accepted enrichments and audit changes written as a Merchant Center supplemental feed and a Shopify
product CSV, read back by our own catalogue reader with the changed values exactly; formulas neutralised and
reported; lists written whole (Tags, a two-colour product); what cannot be written is left out with a note."""

from __future__ import annotations

import csv
import json

import pytest

from core.cli import main
from core.index.store import EdgeStore
from core.ingest.catalog import read_catalog
from core.ingest.formats.shopify import metafield_key
from core.insights.audit_decisions import AuditDecisions, change_held
from core.insights.enrich import EnrichResult, Proposal
from core.insights.enrich_decisions import EnrichmentDecisions
from core.insights.fixes_export import ExportError, export_fixes
from tests.conftest import write_csv

FORMULA = '=HYPERLINK("http://evil.example","click")'
PATTERN = "Pattern (product.metafields.custom.pattern)"
COLOUR = "Colour (product.metafields.custom.colour)"
CATEGORY = "Category (product.metafields.custom.category)"


def _accept(data_dir, store, attribute: str, values: dict[str, str]) -> None:
    """Accept `values` (product id -> value) for an attribute the products have no value of, through the real
    review queue: the proposals saved as an enrich run would, then each accepted."""
    proposals = [Proposal(pid, attribute, "", value, 0.9, {"source": "photo"}) for pid, value in values.items()]
    decisions = EnrichmentDecisions(data_dir)
    decisions.save(EnrichResult(attribute, sorted(set(values.values())), "photo", False, {}, proposals, [], None))
    for pid in values:
        decisions.accept(store, attribute, pid)


def _decide(data_dir, store) -> None:
    """The fixes every test exports, decided through the real APIs on the indexed Shopify export:
    audit changes: sky-red-tee colour Red -> Crimson (it stays two-coloured), wool-coat category
    'Apparel & Accessories' -> 'Outerwear', linen-shorts tags linen -> Linen Blend (its tags: summer, linen);
    accepted enrichments: pattern Check on wool-coat, and a formula on leather-belt."""
    audit = AuditDecisions(data_dir)
    change_held(audit, store, "sky-red-tee", "colour", "Red", "Crimson")
    change_held(audit, store, "wool-coat", "category", "Apparel & Accessories", "Outerwear")
    change_held(audit, store, "linen-shorts", "tags", "linen", "Linen Blend")
    _accept(data_dir, store, "pattern", {"wool-coat": "Check", "leather-belt": FORMULA})


@pytest.fixture
def fixed_shop(settings, store, embedder, tmp_path):
    """The Shopify export of tests.helpers.shop_catalogues indexed into each backend, with _decide's fixes.
    Yields (data dir, the store)."""
    from core.index.indexer import index_catalog
    from tests.helpers.shop_catalogues import shopify_export

    export = shopify_export(tmp_path / "shop")
    index_catalog(export, export.parent, embedder, store)
    _decide(settings.data_dir, store)
    return settings.data_dir, store


def _by_id(path, format="auto") -> dict[str, dict]:
    return {p.product_id: p.payload for p in read_catalog(path, format=format).products}


def _rows(path, delimiter=",") -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh, delimiter=delimiter))


def test_shopify_csv_reads_back_with_every_change(fixed_shop, tmp_path):
    data_dir, store = fixed_shop
    out = tmp_path / "fixes.csv"
    report = export_fixes(data_dir, store, "shopify", out)
    assert report.columns == ["Handle", "Title", "Tags", CATEGORY, COLOUR, PATTERN]
    assert report.rows == 4
    assert report.neutralised == [("leather-belt", PATTERN)]
    assert report.notes == []
    back = _by_id(out)
    assert list(back) == ["leather-belt", "linen-shorts", "sky-red-tee", "wool-coat"]  # one row each, by id
    assert back["sky-red-tee"]["colour"] == ["Sky Blue", "Crimson"]  # the whole list, the change applied
    assert back["wool-coat"]["category"] == "Outerwear"
    assert back["wool-coat"]["pattern"] == "Check"
    assert back["linen-shorts"]["tags"] == ["summer", "Linen Blend"]  # the full tag list, never only the new tag
    assert back["leather-belt"]["pattern"] == "'" + FORMULA  # written with the quote the report names
    assert {pid: p["title"] for pid, p in back.items()} == {
        "leather-belt": "Leather Belt", "linen-shorts": "Linen Shorts", "sky-red-tee": "Two-Tone Tee",
        "wool-coat": "Wool Coat"}  # the Title Shopify's importer requires, as the product reads it


def test_shopify_cells_without_a_change_hold_the_current_value_never_an_empty_one(fixed_shop, tmp_path):
    """Shopify's importer clears a value whose cell is empty in a column the file has: wool-coat's tags and
    sky-red-tee's category are not changed, so they are written as they are."""
    data_dir, store = fixed_shop
    out = tmp_path / "fixes.csv"
    export_fixes(data_dir, store, "shopify", out)
    header, *body = _rows(out)
    assert header == ["Handle", "Title", "Tags", CATEGORY, COLOUR, PATTERN]
    rows = {row[0]: dict(zip(header, row)) for row in body}
    assert rows["wool-coat"]["Tags"] == "winter"
    assert rows["sky-red-tee"][CATEGORY] == "Apparel & Accessories"
    assert rows["sky-red-tee"]["Tags"] == "summer, cotton"
    assert rows["leather-belt"][PATTERN] == "'" + FORMULA
    assert rows["wool-coat"][COLOUR] == ""  # the coat has no colour option: nothing to clear


def test_google_supplemental_feed_reads_back_with_every_change(fixed_shop, tmp_path):
    data_dir, store = fixed_shop
    out = tmp_path / "fixes.tsv"
    report = export_fixes(data_dir, store, "google", out)
    assert report.columns == ["id", "product_type", "color", "pattern"]
    assert report.rows == 3  # linen-shorts' only fix is a tag, which Merchant Center has no attribute for
    assert report.neutralised == [("leather-belt", "pattern")]
    assert report.notes == ["tags not written for 1 product(s): Merchant Center has no attribute for it (a feed rule "
                            "can copy it into a custom_label_N)"]
    rows = _rows(out, "\t")
    assert rows[0] == ["id", "product_type", "color", "pattern"]
    assert rows[3] == ["wool-coat", "Outerwear > Clothing > Coat", "", "Check"]
    back = _by_id(out, format="google")
    assert list(back) == ["leather-belt", "sky-red-tee", "wool-coat"]
    assert back["sky-red-tee"]["colour"] == ["Sky Blue", "Crimson"]
    assert (back["wool-coat"]["category"], back["wool-coat"]["sub_category"], back["wool-coat"]["product_type"]) == (
        "Outerwear", "Clothing", "Coat")
    assert back["wool-coat"]["pattern"] == "Check"
    assert back["leather-belt"]["pattern"] == "'" + FORMULA


def test_nothing_decided_writes_the_header_alone_without_an_index(settings, tmp_path, capsys):
    for format, header in (("google", "id"), ("shopify", "Handle,Title")):
        out = tmp_path / f"empty.{format}"
        assert main(["export-fixes", "--format", format, "--out", str(out)]) == 0
        assert out.read_bytes() == header.encode() + b"\r\n"  # no byte order mark: a file for importers
        assert f"wrote 0 product(s) to {out}" in capsys.readouterr().out


def test_a_product_deleted_since_and_a_fix_the_catalogue_overtook_are_left_out_with_notes(fixed_shop, tmp_path):
    data_dir, store = fixed_shop
    audit = AuditDecisions(data_dir)
    audit.change("gone-hat", "colour", "Red", "Blue")  # a product the index no longer holds
    audit.change("wool-coat", "colour", "Forest Green", "Olive")  # the stored product never read Olive
    report = export_fixes(data_dir, store, "shopify", tmp_path / "fixes.csv")
    assert report.rows == 4
    assert report.notes == [
        "1 product(s) with fixes are no longer in the index and were left out (an import would create them anew): "
        "gone-hat",
        "1 fix(es) no longer stand (the catalogue reads another value since; the next index run shows it): "
        "#wool-coat's colour"]
    assert "gone-hat" not in _by_id(tmp_path / "fixes.csv")


def test_cli_says_which_values_were_neutralised_and_writes_json(settings, shopify_indexed, tmp_path, capsys):
    store = EdgeStore(settings.data_dir, settings.collection)
    _decide(settings.data_dir, store)
    store.close()  # the CLI opens the index itself
    out = tmp_path / "fixes.csv"
    assert main(["export-fixes", "--format", "shopify", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert f"wrote 4 product(s) to {out}" in said
    assert f"1 value(s) started with = + - @ and were written with a leading quote, so no spreadsheet runs them as a " \
           f"formula: #leather-belt {PATTERN}" in said
    assert main(["export-fixes", "--format", "google", "--out", str(tmp_path / "f.tsv"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["rows"], report["neutralised"]) == (3, [{"product_id": "leather-belt", "column": "pattern"}])


def test_an_output_path_that_is_a_folder_or_cannot_be_written_is_an_error(settings, tmp_path, capsys):
    assert main(["export-fixes", "--format", "google", "--out", str(tmp_path)]) == 2
    assert f"error: {tmp_path} is a folder: name the file to write, as --out fixes.tsv" in capsys.readouterr().err
    (tmp_path / "a-file").write_text("")
    assert main(["export-fixes", "--format", "shopify", "--out", str(tmp_path / "a-file" / "fixes.csv")]) == 2
    assert f"error: cannot write {tmp_path / 'a-file' / 'fixes.csv'}: " in capsys.readouterr().err
    with pytest.raises(ExportError, match="writes google or shopify, not 'csv'"):
        export_fixes(settings.data_dir, None, "csv", tmp_path / "x.csv")


# ---- the readers take back what the export writes ----

@pytest.mark.parametrize("header, key", [
    ("Pattern (product.metafields.custom.pattern)", "pattern"),
    ("Color (product.metafields.shopify.color-pattern)", "color_pattern"),
    ("  Usage (product.metafields.custom.usage)  ", "usage"),
    ("Pattern (product.metafields.pattern)", None),      # no namespace
    ("Pattern (product.metafields.custom.9x)", None),    # not a field name
    ("Pattern", None),
])
def test_metafield_key_names_the_field(header, key):
    assert metafield_key(header) == key


def test_a_colour_metafield_wins_over_the_colour_option_and_a_plain_column_keeps_its_name(tmp_path):
    path = write_csv(tmp_path / "shop.csv",
                     ["Handle", "Title", "Option1 Name", "Option1 Value", "Variant SKU", "Pattern",
                      "Colour (product.metafields.custom.colour)", "Pattern (product.metafields.custom.pattern)"],
                     [["tee", "Tee", "Color", "Red", "T-1", "plain", "Crimson, Navy", "Striped"],
                      ["cap", "Cap", "Color", "Blue", "C-1", "", "", ""]])
    back = _by_id(path)
    assert back["tee"]["colour"] == ["Crimson", "Navy"]
    assert back["cap"]["colour"] == ["Blue"]  # no metafield value: the option's
    assert back["tee"]["pattern"] == "plain"  # the plain Pattern column keeps 'pattern'...
    assert back["tee"]["pattern_product_metafields_custom_pattern"] == "Striped"  # ...the metafield its long name


def test_a_supplemental_feed_is_read_only_as_google(tmp_path):
    from core.common.errors import CatalogError

    path = write_csv(tmp_path / "supp.tsv", ["id", "color"], [["G-1", "Red/Blue"]], delimiter="\t")
    catalog = read_catalog(path, format="google")
    assert [(p.product_id, p.payload["colour"]) for p in catalog.products] == [("G-1", ["Red", "Blue"])]
    assert "a supplemental feed: ids and the attributes they override, no title or photo" in catalog.report.notes
    with pytest.raises(CatalogError, match="neither a title nor an image column"):
        read_catalog(path)  # detected as generic: a catalogue to index still needs a title or a photo


# ---- shop data the fixes did not touch is written exactly, or the product is left out ----

RISKY_HEADER = ["Handle", "Title", "Vendor", "Material"]
RISKY = [["bag", "Canvas Bag", "Acme", "@Felt"],    # its material would be an unchanged cell needing a quote...
         ["mug", "Mug", "@Home", ""],               # ...its brand is one: left out while bag's brand fix is written
         ["tee", "-50% Tee", "Acme", ""],           # Shopify's required Title would need a quote
         ["-a12", "Cap", "Acme", ""],               # keys that would need a quote
         ["=b7", "Hat", "Acme", ""],
         ["scarf", "Scarf", "Acme", ""]]            # its fix itself starts with '-': quoted, and reported


@pytest.fixture
def risky_shop(settings, store, embedder, tmp_path):
    """RISKY indexed into each backend (text only), with fixes: bag's brand Acme -> Acme Co (an audit change),
    patterns accepted for mug, tee, -a12 and scarf ('-Striped'), and =b7's material Wool, the only material fix, so
    the Material column (where bag's '@Felt' would need a quote) is in the file only while =b7 is."""
    from core.index.indexer import index_catalog

    (tmp_path / "shop").mkdir()
    path = write_csv(tmp_path / "shop" / "products.csv", RISKY_HEADER, RISKY)
    index_catalog(path, path.parent, embedder, store)
    change_held(AuditDecisions(settings.data_dir), store, "bag", "brand", "Acme", "Acme Co")
    _accept(settings.data_dir, store, "pattern", {"mug": "Dotted", "tee": "Striped", "-a12": "Plain",
                                                  "scarf": "-Striped"})
    _accept(settings.data_dir, store, "material", {"=b7": "Wool"})
    return settings.data_dir, store


def test_shopify_leaves_out_a_product_whose_handle_title_or_unchanged_cell_would_need_a_quote(risky_shop, tmp_path):
    data_dir, store = risky_shop
    out = tmp_path / "fixes.csv"
    report = export_fixes(data_dir, store, "shopify", out)
    assert report.columns == ["Handle", "Title", "Vendor", PATTERN]  # no Material: =b7, its only fix, is left out
    assert _rows(out)[1:] == [["bag", "Canvas Bag", "Acme Co", ""], ["scarf", "Scarf", "Acme", "'-Striped"]]
    assert report.neutralised == [("scarf", PATTERN)]  # the fixed value only, never the shop's own
    assert report.left_out == [("-a12", "Handle"), ("=b7", "Handle"), ("mug", "Vendor"), ("tee", "Title")]
    quote = "starts with = + - or @, so it would need a leading quote against spreadsheet formulas"
    assert report.notes == [
        f"2 product(s) left out, their fixes not written: their Handle {quote}; Shopify finds the product by its "
        "Handle, and a quoted handle would create a new product. Make these fixes in the shop's admin: -a12, =b7",
        f"1 product(s) left out, their fixes not written: their Title {quote}; Shopify's importer requires the Title, "
        "and would replace the product's with the quoted one. Make these fixes in the shop's admin: tee",
        f"1 product(s) left out, their fixes not written: their Vendor {quote}; the file has this column for other "
        "products' fixes, and an import would replace these products' own value with the quoted one. Make these "
        "fixes in the shop's admin: mug"]
    back = _by_id(out)  # what is written reads back exactly as the index holds it
    assert {pid: (p["title"], p["brand"], p.get("pattern")) for pid, p in back.items()} == {
        "bag": ("Canvas Bag", "Acme Co", None), "scarf": ("Scarf", "Acme", "'-Striped")}


def test_google_leaves_out_a_product_whose_id_or_unchanged_cell_would_need_a_quote(risky_shop, tmp_path):
    data_dir, store = risky_shop
    out = tmp_path / "fixes.tsv"
    report = export_fixes(data_dir, store, "google", out)
    assert report.columns == ["id", "brand", "pattern"]
    # tee's title is not in a Google file (no title fix), so nothing of tee's needs a quote
    assert _rows(out, "\t")[1:] == [["bag", "Acme Co", ""], ["scarf", "Acme", "'-Striped"], ["tee", "Acme", "Striped"]]
    assert report.neutralised == [("scarf", "pattern")]
    assert report.left_out == [("-a12", "id"), ("=b7", "id"), ("mug", "brand")]
    assert [note.split(";")[1] for note in report.notes] == [
        " Merchant Center matches a supplemental feed's id to the primary feed's, and a quoted id matches none. Make "
        "these fixes in the shop's admin: -a12, =b7",
        " the file has this column for other products' fixes, and an import would replace these products' own value "
        "with the quoted one. Make these fixes in the shop's admin: mug"]
    back = _by_id(out, format="google")
    assert {pid: (p["brand"], p.get("pattern")) for pid, p in back.items()} == {
        "bag": ("Acme Co", None), "scarf": ("Acme", "'-Striped"), "tee": ("Acme", "Striped")}
    assert report.as_dict()["left_out"][2] == {"product_id": "mug", "column": "brand"}


def test_an_unchanged_cell_is_judged_again_once_the_product_whose_fix_needed_its_column_is_out(risky_shop, tmp_path):
    """bag's material '@Felt' would need a quote only in a Material column, which =b7's fix alone brings: =b7 is
    left out for its key, so bag is written."""
    data_dir, store = risky_shop
    for format in ("shopify", "google"):
        report = export_fixes(data_dir, store, format, tmp_path / f"fixes.{format}")
        assert "bag" not in dict(report.left_out)
        assert not any(c.lower().startswith("material") for c in report.columns)


def test_a_metafield_column_read_under_its_short_name_says_its_name_before_issue_23(tmp_path):
    """An index made before issue 23 named these fields after the whole header: a re-index renames them, so the
    read report says so, for a field of its own (age_group) and a role (colour) alike."""
    path = write_csv(tmp_path / "shop.csv",
                     ["Handle", "Title", "Age group (product.metafields.shopify.age-group)",
                      "Colour (product.metafields.custom.colour)", "Pattern"],
                     [["tee", "Tee", "adults", "Red", "plain"]])
    catalog = read_catalog(path)
    new_name = "filters and boards saved on that name need the new one"
    assert catalog.report.notes == [
        f"colour comes from 'Colour (product.metafields.custom.colour)' where a product has a value there (before "
        f"issue 23: colour_product_metafields_custom_colour; {new_name})",
        f"metafield column 'Age group (product.metafields.shopify.age-group)' is read as age_group (before issue 23: "
        f"age_group_product_metafields_shopify_age_group; {new_name})"]
    assert {k: v for k, v in catalog.products[0].payload.items() if k in ("age_group", "colour", "pattern")} == {
        "age_group": "adults", "colour": ["Red"], "pattern": "plain"}

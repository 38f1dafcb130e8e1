"""The Catalog page's mapping step and uploads: the detected format and role -> column plan of a chosen file,
corrections that reach the indexer, the report's format/mapping/kinds lines, photos behind URLs, and a zip of
photos extracted (or refused) beside an uploaded CSV."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest

from core.common.errors import CatalogError
from core.ingest.column_mapping import preview_bytes, preview_mapping
from tests.helpers.apptest import shown, start
from tests.helpers.catalog_files import (
    KNOWN, KNOWN_ROWS, UNKNOWN, UNKNOWN_ROWS, csv_bytes, everything, photo, photos_zip
)

# A generic CSV whose headers the planner knows by name, and one whose id and price it cannot guess.
def write_generic(folder: Path, header=UNKNOWN, rows=UNKNOWN_ROWS) -> Path:
    """The CSV in folder, with its photos under folder/photos/."""
    (folder / "photos").mkdir(parents=True, exist_ok=True)
    (folder / "items.csv").write_bytes(csv_bytes(header, rows))
    for row in rows:
        (folder / "photos" / f"{row[0].lower()}.jpg").write_bytes(photo(row[0]))
    return folder / "items.csv"


# ---- the preview: core.ingest.column_mapping ------------------------------------------------------------------------

def test_a_generic_csv_with_known_headers_is_planned_without_help():
    preview = preview_bytes(csv_bytes(KNOWN, KNOWN_ROWS), "items.csv")
    assert (preview.detected, preview.format, preview.problem) == ("generic", "generic", None)
    assert preview.mapping == {"product_id": "SKU", "title": "Name", "colour": "Color", "image": "Photo"}
    assert preview.extras == {} and preview.rows == KNOWN_ROWS


def test_a_csv_without_a_known_id_column_gets_a_guess_and_the_indexers_own_message():
    preview = preview_bytes(csv_bytes(UNKNOWN, UNKNOWN_ROWS), "items.csv")
    assert preview.mapping == {"title": "Product Name", "image": "Picture"}
    assert preview.problem.startswith("catalogue has no product id column (looked for id, productid, sku,")
    assert preview.extras == {"Item Code": "item_code", "Colour Name": "colour_name", "Cost": "cost"}


def test_corrections_become_the_plan_and_the_rest_stays_extra_columns():
    preview = preview_bytes(csv_bytes(UNKNOWN, UNKNOWN_ROWS), "items.csv",
                            columns={"product_id": "Item Code", "price": "Cost"})
    assert preview.problem is None
    assert preview.mapping == {"product_id": "Item Code", "price": "Cost", "title": "Product Name",
                               "image": "Picture"}
    assert preview.extras == {"Colour Name": "colour_name"}


def test_a_mapping_naming_a_missing_column_is_the_indexers_error():
    preview = preview_bytes(csv_bytes(KNOWN, KNOWN_ROWS), "items.csv", columns={"price": "Cost"})
    assert preview.problem.startswith("column mapping price=Cost: the catalogue has no column 'Cost'; 4 column(s)")


def test_only_the_head_of_a_big_file_is_read_and_a_cut_character_is_not_an_error(tmp_path):
    rows = [[str(i), "Robe d'été rouge " * 5, "Rouge", f"{i}.jpg"] for i in range(20_000)]
    data = csv_bytes(KNOWN, rows)
    path = tmp_path / "big.csv"
    path.write_bytes(data)
    preview = preview_mapping(path)
    assert preview.truncated and preview.rows == rows[:5] and preview.problem is None
    utf16 = ("\ufeff" + data.decode()).encode("utf-16-le")
    cut = preview_bytes(utf16[:4097], "u16.csv", head_bytes=4096)  # 4096 bytes: a cut inside a character pair
    assert cut.truncated and cut.header == KNOWN and cut.rows == rows[:5]


@pytest.mark.parametrize("content, message", [
    (b"", "catalogue is empty or has no header row: items.csv"),
    (b"\n\n  \n", "catalogue is empty or has no header row: items.csv"),
    ("SKU,Name\n".encode("utf-16-le"), "catalogue items.csv looks like UTF-16 without a byte-order mark"),
])
def test_a_file_without_a_readable_header_is_a_catalog_error(content, message):
    with pytest.raises(CatalogError) as caught:
        preview_bytes(content, "items.csv")
    assert str(caught.value).startswith(message)


def test_a_folder_or_a_missing_file_is_named_as_the_indexer_names_it(tmp_path):
    with pytest.raises(CatalogError, match="^the catalogue path is a folder, not a CSV file: "):
        preview_mapping(tmp_path)
    with pytest.raises(CatalogError, match="^catalogue file not found: "):
        preview_mapping(tmp_path / "gone.csv")


# ---- the panel's bookkeeping ----------------------------------------------------------------------------------

def test_a_column_given_to_one_role_leaves_the_role_that_had_it():
    from app.column_mapping_panel import columns_for, correct

    corrections: dict = {}
    correct(corrections, "product_id", "Item Code")
    correct(corrections, "price", "Cost")
    correct(corrections, "sale_price", "Cost")
    correct(corrections, "image", None)
    assert corrections == {"product_id": "Item Code", "sale_price": "Cost", "image": None}
    assert columns_for(corrections) == {"product_id": "Item Code", "sale_price": "Cost"}
    assert columns_for({"price": "Cost", "brand": "Maker"}, shopify=True) == {"brand": "Maker"}


def test_the_report_lines_say_format_mapping_and_kinds_with_headers_as_text():
    from app.indexing_panel import catalog_lines

    lines = catalog_lines({"format": "generic", "mapping": {"product_id": "Item Code", "title": "![x](http://t/x.png)"},
                           "filters": ["gender", "colour"], "numbers": ["price"], "text": [], "flags": [], "notes": []})
    assert [shown(line) for line in lines] == [
        "**Format** generic · **Columns** product_id = Item Code · title = ![x](http://t/x.png)",
        "**Filters** gender, colour · **Numbers** price · **Text** –"]
    assert "](http" not in lines[0]  # escaped: a header never becomes an image or a link
    assert catalog_lines({}) == []


def test_skipped_zip_members_are_plain_text_lines_and_a_long_list_is_cut():
    from app.indexing_panel import skipped_lines

    assert skipped_lines([("a\nb.jpg", "encrypted"), ("x.txt", "not a photo (.txt)")]) == [
        "a?b.jpg: encrypted", "x.txt: not a photo (.txt)"]
    lines = skipped_lines([(f"{i}.txt", "not a photo (.txt)") for i in range(205)])
    assert len(lines) == 201 and lines[199] == "199.txt: not a photo (.txt)" and lines[-1] == "... and 5 more"


# ---- the page (AppTest) ---------------------------------------------------------------------------------------

def roles(at) -> dict[str, str]:
    """The role pickers that name a column, as the page shows them."""
    return {s.key.removeprefix("columns_role_"): s.value for s in at.selectbox
            if s.key and s.key.startswith("columns_role_") and s.value != "(none)"}


def test_choosing_a_file_shows_its_detected_format_mapping_and_first_rows(app_settings, tmp_path):
    catalog = write_generic(tmp_path / "known", KNOWN, KNOWN_ROWS)
    at = start("pages/catalog.py")
    assert [s for s in at.selectbox if s.key and s.key.startswith("columns_")] == []  # nothing chosen, no step
    at.text_input(key="idx_csv").input(str(catalog)).run()
    assert not at.exception and not at.error
    assert at.selectbox(key="columns_format").value == "auto"
    assert at.selectbox(key="columns_format").format_func("auto") == "auto (detected: generic)"
    assert roles(at) == {"product_id": "SKU", "title": "Name", "colour": "Color", "image": "Photo"}
    assert at.selectbox(key="columns_role_price").options == ["(none)", "SKU", "Name", "Color", "Photo"]
    assert at.dataframe[0].value.values.tolist() == KNOWN_ROWS
    assert list(at.dataframe[0].value.columns) == ["SKU → product_id", "Name → title", "Color → colour",
                                                   "Photo → image"]
    assert [shown(m.value) for m in at.markdown if "Columns of" in m.value] == [f"**Columns of {catalog}**"]


def test_choosing_a_new_file_keeps_the_explore_maps_selection(app_settings, tmp_path):
    """The mapping step clears its own state for a new file, and only its own: the Explore map keeps its selection
    (and the chart it was made on) under "map_" keys, which a merchandiser expects to find again after indexing.
    Its widget keys (map_colour) are not checked: Streamlit drops those on any page change anyway."""
    first = write_generic(tmp_path / "known", KNOWN, KNOWN_ROWS)
    second = write_generic(tmp_path / "other", KNOWN, KNOWN_ROWS[:1])
    at = start("pages/catalog.py")
    at.session_state["map_selected"] = ["3", "1"]
    at.session_state["map_selected_chart"] = "chart-of-the-selection"
    at.text_input(key="idx_csv").input(str(first)).run()
    at.selectbox(key="columns_role_price").set_value("Color").run()
    at.text_input(key="idx_csv").input(str(second)).run()
    assert not at.exception and not at.error
    assert at.session_state["map_selected"] == ["3", "1"]
    assert at.session_state["map_selected_chart"] == "chart-of-the-selection"
    assert at.selectbox(key="columns_role_price").value == "(none)"  # the step's own choice starts afresh


def test_an_unplannable_file_says_why_and_indexes_nothing_until_corrected(app_settings, tmp_path, monkeypatch):
    import core.index.indexer

    calls = []
    real = core.index.indexer.index_catalog

    def spy(*args, **kwargs):
        calls.append({"format": kwargs["format"], "columns": kwargs["columns"],
                      "fetcher": type(kwargs["fetcher"]).__name__})
        return real(*args, **kwargs)

    monkeypatch.setattr(core.index.indexer, "index_catalog", spy)
    catalog = write_generic(tmp_path / "items")
    at = start("pages/catalog.py")
    at.text_input(key="idx_csv").input(str(catalog))
    at.text_input(key="idx_images").input(str(catalog.parent / "photos"))
    at.button(key="idx_go").click().run()
    assert [shown(e.value).split(";")[0] for e in at.error] == ["catalogue has no product id column (looked for id, "
                                                                "productid, sku, itemid, handle, offerid, articleid, "
                                                                "styleid)"]
    assert calls == [] and "Rows" not in [m.label for m in at.metric]
    assert roles(at) == {"title": "Product Name", "image": "Picture"}

    at.selectbox(key="columns_role_product_id").set_value("Item Code").run()
    at.selectbox(key="columns_role_price").set_value("Cost").run()
    at.selectbox(key="columns_role_colour").set_value("Colour Name").run()
    assert not at.error
    assert roles(at) == {"product_id": "Item Code", "title": "Product Name", "colour": "Colour Name",
                         "price": "Cost", "image": "Picture"}
    at.button(key="idx_go").click().run()
    assert not at.exception and not at.error
    assert calls == [{"format": "auto", "columns": {"product_id": "Item Code", "price": "Cost",
                                                    "colour": "Colour Name"}, "fetcher": "ImageFetcher"}]
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Rows"], metrics["Indexed"], metrics["Text only"], metrics["Failed"]) == ("3", "3", "0", "0")
    report = [shown(m.value) for m in at.markdown if m.value.startswith("**Format**") or m.value.startswith("**Filters**")]
    assert report == ["**Format** generic · **Columns** product_id = Item Code · price = Cost · colour = Colour Name · "
                      "title = Product Name · image = Picture",
                      # issue 21: a priced product has the on_sale flag, and discount is its number field
                      "**Filters** gender, category, sub_category, product_type, colour, usage, on_sale · **Numbers** "
                      "price, discount · **Text** title"]


def test_moving_a_column_to_another_role_takes_it_from_the_first(app_settings, tmp_path):
    catalog = write_generic(tmp_path / "items")
    at = start("pages/catalog.py")
    at.text_input(key="idx_csv").input(str(catalog)).run()
    at.selectbox(key="columns_role_product_id").set_value("Item Code").run()
    at.selectbox(key="columns_role_price").set_value("Cost").run()
    at.selectbox(key="columns_role_sale_price").set_value("Cost").run()
    assert roles(at) == {"product_id": "Item Code", "title": "Product Name", "sale_price": "Cost", "image": "Picture"}
    at.selectbox(key="columns_role_title").set_value("(none)").run()  # Product Name is a title by its name: it stays
    assert roles(at)["title"] == "Product Name"
    assert any(shown(c.value) == "title is read from Product Name by its name in this format; to keep Product Name "
               "out of title, pick Product Name for another role." for c in at.caption)


def test_another_format_is_planned_as_that_format_and_a_new_file_starts_afresh(app_settings, tmp_path):
    catalog = write_generic(tmp_path / "known", KNOWN, KNOWN_ROWS)
    at = start("pages/catalog.py")
    at.text_input(key="idx_csv").input(str(catalog)).run()
    at.selectbox(key="columns_format").set_value("fashion").run()
    assert [shown(e.value).split(" (format")[0] for e in at.error] == [
        "catalogue is missing required column(s) ProductId, Gender, Category, SubCategory, ProductType, Colour, "
        "Usage, ProductTitle"]
    at.button(key="idx_go").click().run()
    assert len(at.error) == 1 and "Rows" not in [m.label for m in at.metric]
    other = write_generic(tmp_path / "other")
    at.text_input(key="idx_csv").input(str(other)).run()
    assert at.selectbox(key="columns_format").value == "auto"
    assert roles(at) == {"title": "Product Name", "image": "Picture"}


def test_shopify_roles_the_format_works_out_itself_cannot_be_picked(app_settings, tmp_path):
    path = tmp_path / "shopify.csv"
    path.write_bytes(csv_bytes(["Handle", "Title", "Vendor", "Variant Price", "Image Src"],
                               [["red-dress", "Red dress", "Mango", "49.90", "https://shop.example/d.jpg"]]))
    at = start("pages/catalog.py")
    at.text_input(key="idx_csv").input(str(path)).run()
    assert not at.error and at.selectbox(key="columns_format").format_func("auto") == "auto (detected: shopify)"
    assert at.selectbox(key="columns_role_price").disabled and at.selectbox(key="columns_role_product_id").disabled
    assert not at.selectbox(key="columns_role_brand").disabled
    assert roles(at) == {"product_id": "Handle", "title": "Title", "brand": "Vendor",
                         "price": "Variant Price", "image": "Image Src"}


class _Photos(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.server.paths.append(self.path)
        body = photo(self.path.strip("/").split(".")[0].upper())
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def photo_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Photos)
    server.paths = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_photos_behind_urls_are_fetched_when_indexing_from_the_page(app_settings, tmp_path, monkeypatch, photo_server):
    monkeypatch.setenv("LENS_ALLOW_PRIVATE_URLS", "1")  # the photo server is on 127.0.0.1
    base = f"http://127.0.0.1:{photo_server.server_address[1]}"
    path = tmp_path / "feed.csv"
    path.write_bytes(csv_bytes(KNOWN, [[r[0], r[1], r[2], f"{base}/{r[0].lower()}.jpg"] for r in KNOWN_ROWS]))
    at = start("pages/catalog.py")
    at.text_input(key="idx_csv").input(str(path))
    at.button(key="idx_go").click().run()
    assert not at.exception and not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Indexed"], metrics["Text only"], metrics["Failed"]) == ("3", "0", "0")
    assert sorted(photo_server.paths) == ["/d1.jpg", "/s3.jpg", "/t2.jpg"]
    assert len(list((app_settings.data_dir / "image-cache").rglob("*"))) > 0


def test_an_uploaded_feed_with_photo_urls_is_not_called_text_only(app_settings, monkeypatch, photo_server):
    monkeypatch.setenv("LENS_ALLOW_PRIVATE_URLS", "1")
    base = f"http://127.0.0.1:{photo_server.server_address[1]}"
    data = csv_bytes(KNOWN, [[r[0], r[1], r[2], f"{base}/{r[0].lower()}.jpg"] for r in KNOWN_ROWS])
    at = _upload(start("pages/catalog.py"), data, None).run()
    at.button(key="idx_go").click().run()
    assert not at.exception and not at.error and not at.warning
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Indexed"], metrics["Text only"]) == ("3", "0")


def test_hostile_headers_show_as_text_in_the_mapping_step(app_settings, tmp_path):
    hostile = "![x](http://127.0.0.1:9/x.png)"
    path = tmp_path / "hostile.csv"
    path.write_bytes(csv_bytes(["Ref", "Name", hostile], [["1", "Dress", "y"]]))
    at = start("pages/catalog.py")
    at.text_input(key="idx_csv").input(str(path)).run()
    shown_text = [e.value for e in (*at.markdown, *at.caption, *at.error)]
    assert any(hostile in shown(v) for v in shown_text)  # it is there, to be read ...
    assert [v for v in shown_text if "](http" in v] == []  # ... and never an image
    assert at.selectbox(key="columns_role_price").options == ["(none)", "Ref", "Name", hostile]


def _upload(at, csv_data: bytes, zip_data: bytes | None, zip_name: str = "photos.zip"):
    at.file_uploader(key="idx_upload").upload("items.csv", csv_data, "text/csv")
    if zip_data is not None:
        at.radio(key="idx_photos_from").set_value("Upload a .zip").run()  # the zip's uploader shows once chosen
        at.file_uploader(key="idx_photos").upload(zip_name, zip_data, "application/zip")
    return at


def test_an_uploaded_zip_becomes_the_uploads_images_folder_and_skipped_files_are_listed(app_settings, tmp_path):
    data = csv_bytes(UNKNOWN, UNKNOWN_ROWS)
    members = {"d1.jpg": photo("D1"), "shoes/s3.jpg": photo("S3"), "t2.jpg": photo("T2"),
               "../evil.jpg": photo("D1"), "notes.txt": b"hello"}
    at = _upload(start("pages/catalog.py"), data, photos_zip(members)).run()
    at.selectbox(key="columns_role_product_id").set_value("Item Code").run()
    at.button(key="idx_go").click().run()
    assert not at.exception and not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Indexed"], metrics["Text only"], metrics["Failed"]) == ("3", "0", "0")
    assert any(shown(m.value) == "**Photos** 3 photos extracted from photos.zip" for m in at.markdown)
    assert [w.value for w in at.warning] == ["2 files in the zip were skipped: only photos (.jpg, .jpeg, .png, .webp, "
                                             ".gif) inside the zip's own folder are imported."]
    assert [c.value for c in at.code] == ["../evil.jpg: path leaves the folder (..)\nnotes.txt: not a photo (.txt)"]
    uploads = app_settings.data_dir / "uploads"
    assert everything(uploads) == {"items.csv", "items-photos", "items-photos/d1.jpg", "items-photos/t2.jpg",
                                   "items-photos/shoes", "items-photos/shoes/s3.jpg"}
    assert [p for p in tmp_path.rglob("evil.jpg")] == []

    # A second zip for the same CSV replaces the first one's photos.
    at.file_uploader(key="idx_photos").upload("photos.zip", photos_zip({"d1.jpg": photo("D1")}), "application/zip")
    at.run()
    at.button(key="idx_go").click().run()
    assert everything(uploads / "items-photos") == {"d1.jpg"}
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Indexed"], metrics["Unchanged"], metrics["Text only"]) == ("2", "1", "2")  # re-embedded from text


@pytest.mark.parametrize("zip_data, message", [
    (photos_zip({"d1.jpg": photo("D1"), "deep/bomb.jpg": bytes(30_000_000)}),
     "The photos zip photos.zip was not imported: deep/bomb.jpg expands more than 100 times (a zip bomb?): "
     "nothing was imported"),
    (b"<html>not a zip</html>", "The photos zip photos.zip was not imported: not a zip file (or a damaged one): "
                                "upload the photos as a .zip archive"),
])
def test_a_bomb_or_a_non_zip_is_a_clear_error_and_nothing_is_indexed_or_written(app_settings, tmp_path, zip_data,
                                                                                message):
    at = _upload(start("pages/catalog.py"), csv_bytes(KNOWN, KNOWN_ROWS), zip_data).run()
    at.button(key="idx_go").click().run()
    assert not at.exception and [shown(e.value) for e in at.error] == [message]
    assert "Rows" not in [m.label for m in at.metric] and at.get("progress") == []
    assert everything(app_settings.data_dir / "uploads") == {"items.csv"}
    from app import resources

    assert resources.store(app_settings).meta() is None  # no index was made


# ---- Shopify's rules, said once: the mapping step and the report agree -------------------------------------------

SIZE_COLOR = ["Handle", "Title", "Vendor", "Option1 Name", "Option1 Value", "Option2 Name", "Option2 Value",
              "Variant Price", "Image Src", "Image Position", "Variant Image"]
SIZE_COLOR_ROWS = [["tee", "Studio tee", "Acme", "Size", "S", "Color", "Red", "10", "tee.jpg", "1", ""],
                   ["tee", "", "", "", "M", "", "Blue", "12", "", "", ""],
                   ["cap", "Canvas cap", "Acme", "Size", "One size", "Color", "Black", "5", "cap.jpg", "1", ""]]
COLOUR_RULE = ("Option2 Value: the value of the option named Color or Colour; which option that is, each product's "
               "Option N Name decides")
PHOTO_RULE = "Image Src: a product's photo with the lowest Image Position, else its Variant Image"


def write_size_color(folder: Path) -> Path:
    (folder / "photos").mkdir(parents=True, exist_ok=True)
    for name, kind in (("tee", "T2"), ("cap", "D1")):
        (folder / "photos" / f"{name}.jpg").write_bytes(photo(kind))
    (folder / "shopify.csv").write_bytes(csv_bytes(SIZE_COLOR, SIZE_COLOR_ROWS))
    return folder / "shopify.csv"


def test_the_shopify_explanation_is_the_same_in_the_preview_and_the_report(tmp_path):
    from core.ingest.catalog import read_catalog

    path = write_size_color(tmp_path)
    preview = preview_mapping(path)
    report = read_catalog(path, tmp_path / "photos").report
    assert preview.explained == {"colour": COLOUR_RULE, "image": PHOTO_RULE}
    assert {role: report.mapping[role] for role in preview.explained} == preview.explained
    assert preview.mapping["colour"] == "Option2 Value" and "image_url" not in report.mapping
    colours = {p.product_id: p.payload["colour"] for p in read_catalog(path, tmp_path / "photos").products}
    assert colours == {"tee": ["Red", "Blue"], "cap": ["Black"]}


def test_the_mapping_step_and_the_report_explain_shopifys_colour_and_photos_alike(app_settings, tmp_path):
    path = write_size_color(tmp_path)
    at = start("pages/catalog.py")
    at.text_input(key="idx_csv").input(str(path))
    at.text_input(key="idx_images").input(str(tmp_path / "photos")).run()
    assert not at.exception and not at.error
    colour = at.selectbox(key="columns_role_colour")
    assert (colour.value, colour.disabled) == ("Option2 Value", True)
    assert shown(colour.help) == f"In a Shopify export colour comes from {COLOUR_RULE}."
    step = [shown(c.value) for c in at.caption]
    assert [line for line in step if line.startswith(("colour = ", "image = "))] == [
        f"colour = {COLOUR_RULE}", f"image = {PHOTO_RULE}"]
    assert "Option2 Value → colour" in list(at.dataframe[0].value.columns)

    at.button(key="idx_go").click().run()
    assert not at.exception and not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Indexed"], metrics["Text only"], metrics["Failed"]) == ("2", "0", "0")
    [columns] = [shown(m.value) for m in at.markdown if m.value.startswith("**Format**")]
    assert columns == ("**Format** shopify · **Columns** product_id = Handle · title = Title · brand = Vendor · "
                       f"price = Variant Price · image = {PHOTO_RULE} · colour = {COLOUR_RULE}")


def size_only(handle: str) -> list[str]:
    return [handle, f"Plain {handle}", "Acme", "Size", "M", "", "", "8", f"{handle}.jpg", "1", ""]


def test_the_colour_column_is_found_past_the_first_five_rows(tmp_path):
    """Five Size-only products first, then Size/Color and Color/Size ones: the step read only five rows and said
    colour '(none)' while the report named Option1 Value or Option2 Value."""
    rows = [size_only(f"p{n}") for n in range(5)] + SIZE_COLOR_ROWS + [
        ["mug", "Mug", "Acme", "Color", "White", "Size", "L", "6", "mug.jpg", "1", ""]]
    path = tmp_path / "shopify.csv"
    path.write_bytes(csv_bytes(SIZE_COLOR, rows))
    preview = preview_mapping(path)
    both = COLOUR_RULE.replace("Option2 Value:", "Option1 Value or Option2 Value:")
    assert preview.explained == {"colour": both, "image": PHOTO_RULE}
    assert "colour" not in preview.mapping  # two columns: none shown as the one
    assert len(preview.rows) == 5 and not preview.truncated

    from core.ingest.catalog import read_catalog

    assert read_catalog(path, tmp_path).report.mapping["colour"] == both
    only_option2 = tmp_path / "option2.csv"
    only_option2.write_bytes(csv_bytes(SIZE_COLOR, rows[:-1]))
    preview = preview_mapping(only_option2)
    assert (preview.mapping["colour"], preview.explained["colour"]) == ("Option2 Value", COLOUR_RULE)


def test_a_cut_head_says_how_many_rows_its_colour_column_was_read_in():
    rows = SIZE_COLOR_ROWS + [size_only(f"p{n}-{'x' * 200}") for n in range(6000)]
    raw = csv_bytes(SIZE_COLOR, rows)
    preview = preview_bytes(raw[:200_001], "shopify.csv", head_bytes=200_000)
    assert preview.truncated and preview.mapping["colour"] == "Option2 Value"
    read = raw[:200_000].count(b"\n") - 1  # whole rows in the head, the header left out
    assert read > 300 and preview.explained["colour"] == f"{COLOUR_RULE} (read in the first {read:,} rows)"


def test_the_shopify_tooltip_shows_the_files_own_headers_as_written(app_settings, tmp_path):
    """The role picker's help is Markdown: a header '**Option2 Value**' (which reads as Option2 Value) showed bold."""
    from core.common.safe_text import md

    header = [h if h != "Option2 Value" else "**Option2 Value**" for h in SIZE_COLOR]
    path = tmp_path / "shopify.csv"
    path.write_bytes(csv_bytes(header, SIZE_COLOR_ROWS))
    at = start("pages/catalog.py")
    at.text_input(key="idx_csv").input(str(path)).run()
    assert not at.exception
    rule = COLOUR_RULE.replace("Option2 Value:", "**Option2 Value**:")
    colour = at.selectbox(key="columns_role_colour")
    assert colour.help == f"In a Shopify export colour comes from {md(rule)}."
    assert shown(colour.help) == f"In a Shopify export colour comes from {rule}."

"""Why products are embedded again: the report, `index --json` and its text name each product with its reason
(new product, photo changed, text changed, a setting changed), counted by reason, and list at most a bounded number."""

from __future__ import annotations

import csv
import json
import re

from core.index import indexer
from core.cli import main
from core.index.fingerprints import (LIMITS_CHANGED, NEW_PRODUCT, PHOTO_ADDED, PHOTO_CHANGED, PHOTO_MISSING,
                                     PHOTO_NOT_CACHED, PHOTO_NOT_FETCHED, TEXT_CHANGED, UNKNOWN_CHANGE)
from core.index.indexer import index_catalog
from core.ingest.sample import draw_product
from core.index.store import EdgeStore
from tests.conftest import PRODUCTS, write_catalog, write_csv


NEW = ("7", "Women", "Accessories", "Bags", "Handbags", "Black", "Casual", "Lino Women Black Handbag")


def change_catalogue(catalog):
    """Product 2 gets a new title, product 3 a new photo (same file name), product 7 is added."""
    rows = [list(r) for r in PRODUCTS] + [list(NEW)]
    rows[1][7] = "Nike Men Navy Running T-shirt"
    write_catalog(catalog.parent, rows=[tuple(r) for r in rows], images=False)
    draw_product("Sandals", "Black", "Solid").save(catalog.parent / "images" / "Footwear" / "3.jpg")
    photo = catalog.parent / "images" / "Accessories" / "7.jpg"
    draw_product("Caps", "Black", "Solid").save(photo)


def run(catalog, embedder, settings, **kwargs):
    store = EdgeStore(settings.data_dir, settings.collection)
    try:
        return index_catalog(catalog, catalog.parent / "images", embedder, store, **kwargs)
    finally:
        store.close()


EXPECTED = [("2", [TEXT_CHANGED]), ("3", [PHOTO_CHANGED]), ("7", [NEW_PRODUCT])]


def test_a_reindex_names_each_product_embedded_again_with_its_reason(settings, embedder, tmp_path):
    catalog = write_catalog(tmp_path / "cat")
    first = run(catalog, embedder, settings)
    assert first.reembedded == [(p[0], [NEW_PRODUCT]) for p in PRODUCTS]
    assert first.reasons == {NEW_PRODUCT: 6}

    change_catalogue(catalog)
    again = run(catalog, embedder, settings)
    assert (again.indexed, again.unchanged) == (3, 4)
    assert again.reembedded == EXPECTED
    assert again.reasons == {TEXT_CHANGED: 1, PHOTO_CHANGED: 1, NEW_PRODUCT: 1}
    report = again.as_dict()
    assert report["reembedded"] == [{"product_id": pid, "reasons": why} for pid, why in EXPECTED]
    assert report["reembedded_not_listed"] == 0

    unchanged = run(catalog, embedder, settings)
    assert (unchanged.indexed, unchanged.reembedded, unchanged.reasons) == (0, [], {})


def test_raised_photo_limits_retry_the_photos_they_refused_and_say_so(settings, embedder, tmp_path):
    catalog = write_catalog(tmp_path / "cat")
    refused = run(catalog, embedder, settings, max_pixels=100)  # every photo is bigger than 100 pixels
    assert refused.text_only == 6
    retried = run(catalog, embedder, settings, max_pixels=40_000_000)
    assert (retried.indexed, retried.text_only) == (6, 0)
    assert retried.reembedded == [(p[0], [LIMITS_CHANGED]) for p in PRODUCTS]
    assert retried.reasons == {LIMITS_CHANGED: 6}


def test_a_photo_added_or_lost_says_so_not_photo_changed(settings, embedder, tmp_path):
    catalog = write_catalog(tmp_path / "cat")
    (catalog.parent / "images" / "Apparel" / "1.jpg").unlink()
    assert run(catalog, embedder, settings).text_only == 1
    draw_product("Dresses", "Red", "Solid").save(catalog.parent / "images" / "Apparel" / "1.jpg")
    added = run(catalog, embedder, settings)
    assert added.reembedded == [("1", [PHOTO_ADDED])] and added.text_only == 0

    (catalog.parent / "images" / "Footwear" / "3.jpg").unlink()
    lost = run(catalog, embedder, settings)
    assert lost.reembedded == [("3", [PHOTO_MISSING])] and lost.text_only == 1
    assert run(catalog, embedder, settings).reembedded == []  # still missing: nothing to embed again


def test_a_cleared_image_cache_says_the_photos_were_fetched_again(tmp_path, embedder, photo_server):
    """Not 'photo not fetched before': they were, and their vectors came from them."""
    import shutil

    from core.ingest.fetch import ImageFetcher

    base = photo_server.url
    catalog = write_csv(tmp_path / "items.csv", ["sku", "name", "image_url"], [["tee", "Basic tee", f"{base}/tee.jpg"]])
    store = EdgeStore(tmp_path / "data")
    try:
        reports = []
        for clear in (False, True):
            if clear:
                shutil.rmtree(tmp_path / "cache")
            with ImageFetcher(tmp_path / "cache", allow_private=True, timeout=5, backoff=0.01) as fetcher:
                reports.append(index_catalog(catalog, None, embedder, store, fetcher=fetcher))
    finally:
        store.close()
    assert [r.reembedded for r in reports] == [[("tee", [NEW_PRODUCT])], [("tee", [PHOTO_NOT_CACHED])]]
    assert reports[1].text_only == 0


def test_an_unchanged_catalogue_says_why_a_photo_url_that_failed_is_tried_again(tmp_path, embedder, photo_server):
    """The 'Indexed 3 / Unchanged 297' of an unchanged re-upload: the three are photos whose download failed."""
    from core.ingest.fetch import ImageFetcher

    base = photo_server.url
    catalog = write_csv(tmp_path / "items.csv", ["sku", "name", "image_url"],
                        [["tee", "Basic tee", f"{base}/tee.jpg"], ["gone", "Gone photo", f"{base}/nope.jpg"]])
    store = EdgeStore(tmp_path / "data")
    try:
        for _ in range(2):
            with ImageFetcher(tmp_path / "cache", allow_private=True, timeout=5, backoff=0.01) as fetcher:
                report = index_catalog(catalog, None, embedder, store, fetcher=fetcher)
    finally:
        store.close()
    assert (report.indexed, report.unchanged, report.text_only) == (1, 1, 1)
    assert report.reembedded == [("gone", [PHOTO_NOT_FETCHED])]


def test_the_listing_is_bounded_and_the_rest_are_counted_by_reason(settings, embedder, tmp_path, monkeypatch):
    monkeypatch.setattr(indexer, "MAX_LISTED_REEMBEDDED", 2)
    report = run(write_catalog(tmp_path / "cat"), embedder, settings)
    assert report.reembedded == [("1", [NEW_PRODUCT]), ("2", [NEW_PRODUCT])]
    assert report.reasons == {NEW_PRODUCT: 6}
    assert report.as_dict()["reembedded_not_listed"] == 4


def test_an_index_stored_before_reasons_were_kept_keeps_its_vectors_and_says_it_cannot_tell(settings, embedder,
                                                                                            tmp_path):
    """A fingerprint written before its parts were kept is the whole hash alone: it still matches, and a change
    to such a product is reported as a change of unknown kind."""
    catalog = write_catalog(tmp_path / "cat")
    run(catalog, embedder, settings)
    store = EdgeStore(settings.data_dir, settings.collection)
    for hit in store.scroll():
        store.overwrite_payload(hit.id, dict(hit.payload, fingerprint=hit.payload["fingerprint"].split(":")[0]))
    store.close()
    assert run(catalog, embedder, settings).indexed == 0  # an upgrade embeds nothing again

    change_catalogue(catalog)
    again = run(catalog, embedder, settings)
    assert again.reembedded == [("2", [UNKNOWN_CHANGE]), ("3", [UNKNOWN_CHANGE]), ("7", [NEW_PRODUCT])]


def test_index_json_and_text_name_the_products_and_their_reasons(settings, tmp_path, capsys):
    catalog = write_catalog(tmp_path / "cat")
    images = str(catalog.parent / "images")
    assert main(["index", "--catalog", str(catalog), "--images", images, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["reasons"] == {NEW_PRODUCT: 6}

    change_catalogue(catalog)
    assert main(["index", "--catalog", str(catalog), "--images", images, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["reembedded"] == [{"product_id": pid, "reasons": why} for pid, why in EXPECTED]
    assert report["reasons"] == {TEXT_CHANGED: 1, PHOTO_CHANGED: 1, NEW_PRODUCT: 1}
    assert list(report["stages"])[:2] == ["model", "read"]
    assert report["seconds"] >= report["stages"]["model"]

    # the same change once more, in text: the title of product 2 changes back
    rows = [list(r) for r in PRODUCTS] + [list(NEW)]
    with open(catalog, newline="", encoding="utf-8") as fh:
        before = list(csv.reader(fh))
    before[2][7] = PRODUCTS[1][7]
    with open(catalog, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(before)
    assert len(before) == len(rows) + 1
    assert main(["index", "--catalog", str(catalog), "--images", images]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if "embedded" in line and "indexed" not in line] == [
        "embedded because: text changed 1", "  embedded [2]: text changed"]
    assert [line.split(":")[0] for line in lines if line.startswith("time:")] == ["time"]


def test_index_text_says_how_many_more_were_embedded_than_named(settings, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(indexer, "MAX_LISTED_REEMBEDDED", 1)
    catalog = write_catalog(tmp_path / "cat")
    assert main(["index", "--catalog", str(catalog), "--images", str(catalog.parent / "images")]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = lines.index("embedded because: new product 6")
    assert lines[start + 1:start + 3] == ["  embedded [1]: new product",
                                          "  ... and 5 more, counted by reason above (the first 1 are named)"]


def test_the_catalog_page_report_names_the_products_their_reasons_and_the_duration(app_settings, tmp_path):
    from tests.helpers.apptest import shown, start

    catalog = write_catalog(tmp_path / "cat")
    at = start("pages/catalog.py")
    at.text_input(key="idx_csv").input(str(catalog))
    at.text_input(key="idx_images").input(str(catalog.parent / "images"))
    at.button(key="idx_go").click().run()
    change_catalogue(catalog)
    at.button(key="idx_go").click().run()
    assert not at.exception and not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Indexed"], metrics["Unchanged"]) == ("3", "4")
    assert metrics["Duration"].endswith(" s") and float(metrics["Duration"].split()[0]) >= 0
    assert [shown(m.value) for m in at.markdown if "Embedded because" in m.value] == [
        "**Embedded because** text changed: 1 · photo changed: 1 · new product: 1"]
    tables = [d.value for d in at.dataframe if list(d.value.columns) == ["product_id", "why"]]
    assert tables[0].values.tolist() == [[pid, ", ".join(why)] for pid, why in EXPECTED]
    times = [c.value for c in at.caption if c.value.startswith("Where the time went")]
    stages = " · ".join(f"{name} [0-9.]+ s" for name in ("model", "read", "plan", "embed", "keywords", "write", "prune",
                                                         "publish"))
    assert len(times) == 1 and re.fullmatch(f"Where the time went: {stages}", times[0]), times

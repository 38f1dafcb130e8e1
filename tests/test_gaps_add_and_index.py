"""The Gaps page's "Add and index" button (issue 20), clicked with a real reference catalogue: a CSV upload and a zip
of its photos go through the app's one upload saver and indexing runner into the reference's own collection, and
the page then matches it against ours."""

from __future__ import annotations

from core.ingest.sample import HEADER
from tests.conftest import PRODUCTS
from tests.helpers.apptest import shown, start
from tests.helpers.catalog_files import csv_bytes, everything, photos_zip

# Their products: the very photos of our products 1 and 4 (so each matches ours at a similarity of 1), and one whose
# photo is not in the zip (indexed from its text; a missing photo is not a failed row).
COPIES = {"t1": "1", "t4": "4"}
TEXT_ONLY = "t9"


def _their_feed(our_images) -> tuple[bytes, bytes]:
    """(the catalogue CSV, the zip of its photos), in the sample's columns."""
    by_id = {p[0]: p for p in PRODUCTS}
    rows, photos = [], {}
    for theirs, ours in COPIES.items():
        p = by_id[ours]
        photos[f"{theirs}.jpg"] = (our_images / p[2] / f"{ours}.jpg").read_bytes()
        rows.append([theirs, *p[1:7], f"Their {p[7]}", f"{theirs}.jpg", ""])
    rows.append([TEXT_ONLY, "Unisex", "Home", "Decor", "Lamps", "Gold", "Casual", "Their Gold Lamp", "", ""])
    return csv_bytes(HEADER, rows), photos_zip(photos)


def _stored(settings, name: str) -> dict[str, dict]:
    """product id -> {"title", "image"}: what the reference's own collection holds, read from the store."""
    from core.insights.reference import open_reference

    theirs = open_reference(settings, name)
    try:
        assert theirs.count() == 3
        return {h.payload["product_id"]: {"title": h.payload["title"], "image": h.vectors.get("image") is not None}
                for h in theirs.scroll(with_vectors=["image"])}
    finally:
        theirs.close()


def _rows(at) -> list[tuple[str, str, str]]:
    """(their id, our closest id, verdict) per row of the page's table, top to bottom."""
    ids = [c.value.rsplit("#", 1)[1] for c in at.caption if c.value.startswith(("Theirs ·", "Ours ·"))]
    verdicts = ["match" if "green-badge" in m.value else "gap" for m in at.markdown if "-badge[" in m.value]
    return [(ids[2 * i], ids[2 * i + 1], v) for i, v in enumerate(verdicts)]


def test_add_and_index_indexes_the_uploaded_reference_and_the_page_matches_it(indexed, tmp_path):
    feed, photos = _their_feed(tmp_path / "cat" / "images")
    at = start("pages/gaps.py")
    assert any("no reference catalogue" in i.value for i in at.info)
    at.text_input(key="gaps_new_name").input("rival")
    at.file_uploader(key="gaps_upload").upload("rival feed.csv", feed, "text/csv")
    at.radio(key="gaps_photos_from").set_value("Upload a .zip").run()
    at.file_uploader(key="gaps_photos").upload("photos.zip", photos, "application/zip").run()
    at.button(key="gaps_add").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]

    # What was indexed: exactly their three products, in the reference's collection, two with their photos.
    assert _stored(indexed, "rival") == {"t1": {"title": "Their Mango Women Red Dress", "image": True},
                                         "t4": {"title": "Their Fossil Men Black Watch", "image": True},
                                         TEXT_ONLY: {"title": "Their Gold Lamp", "image": False}}
    folder = indexed.data_dir / "uploads" / "references" / "rival"
    assert everything(folder) == {"rival feed.csv", "photos", "photos/t1.jpg", "photos/t4.jpg"}
    assert (folder / "rival feed.csv").read_bytes() == feed

    # What the page shows after its rerun: the report once, the new reference chosen, and the matching.
    assert [s.value for s in at.success] == ["The reference catalogue rival is indexed."]
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Rows"], metrics["Indexed"], metrics["Text only"], metrics["Failed"]) == ("3", "3", "1", "0")
    assert "**Photos** 2 photos extracted from photos.zip" in [shown(m.value) for m in at.markdown]
    picker = at.selectbox(key="gaps_reference")
    assert (picker.value, picker.options) == ("rival", ["rival (3 products)"])
    rows = _rows(at)
    assert sorted(theirs for theirs, _, _ in rows) == ["t1", "t4", TEXT_ONLY]
    assert {theirs: (ours, verdict) for theirs, ours, verdict in rows if theirs in COPIES} == {
        "t1": ("1", "match"), "t4": ("4", "match")}  # each copy beside the very product it copies

    at.run()  # the report is said once, after the add's own rerun
    assert not at.success and at.selectbox(key="gaps_reference").value == "rival"

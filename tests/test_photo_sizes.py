"""Each photo's own pixel size in the index (PHOTO_SIZES, issue 23): exact sizes after indexing a Shopify export whose
photos are drawn at known sizes, kept when rows are kept, and added to an older index from the photos' headers alone
(nothing decoded or embedded); a photo that is not an image, a decompression-bomb header or a missing cached copy
gets no size and stops nothing."""

from __future__ import annotations

import csv
import os
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageFile

from core.common.fields import (IMAGE_PATH, IMAGE_URL, MATCHED_PHOTOS, PHOTO_PROBLEMS, PHOTO_SIZES, PHOTOS,
                                TEXT_ONLY)
from core.index import photo_sizes
from core.index.indexer import index_catalog
from core.index.photo_sizes import PHOTO_SIZES_COMPLETE, header_sizes
from core.index.store import point_id
from core.ingest.fetch import ImageFetcher
from core.ingest.images import header_size
from core.common.errors import ImageRejected
from tests.helpers import photo_server as photo_server_module
from tests.helpers import shop_catalogues
from tests.helpers.shop_catalogues import SHOPIFY_HEADER, draw

# photo name -> (width, height, format): sizes an index must report exactly; tee-red.jpg is large enough that
# decoding drafts it (JPEG DCT scaling) to a fraction of its size, so a size read after decoding would be wrong.
PHOTO_FILES = {"tee-front.jpg": (640, 800, "JPEG"), "tee-back.png": (300, 400, "PNG"),
               "tee-red.jpg": (1200, 900, "JPEG"), "cap.jpg": (120, 90, "JPEG"), "coat-back.jpg": (260, 300, "JPEG")}
# What indexing stores, by product and photo file name: every photo decoded, hero and others. The coat's hero is a
# text file named like a photo and its third photo a PNG header claiming 50,000 x 50,000 pixels: neither has a size.
EXPECTED = {"tee": {"tee-front.jpg": [640, 800], "tee-back.png": [300, 400], "tee-red.jpg": [1200, 900]},
            "cap": {"cap.jpg": [120, 90]},
            "coat": {"coat-back.jpg": [260, 300]}}


def bomb_png(width: int, height: int) -> bytes:
    """A PNG header claiming width x height pixels, with no pixel data behind it (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def _photo(folder: Path, name: str, width: int, height: int, fmt: str) -> None:
    shape = {"tee": "tee", "cap": "cap", "coa": "coat"}[name[:3]]
    draw(shape, "Red" if "red" in name else "Navy", "solid", None).resize((width, height)).save(folder / name, fmt)


def _rows(handle, title="", price="", photos=(), variant_image="", status="active") -> list[list[str]]:
    """A Shopify product's rows: the first with its values and first photo, one more row per further photo."""
    first = dict.fromkeys(SHOPIFY_HEADER, "")
    first.update({"Handle": handle, "Title": title, "Body (HTML)": f"A {title.lower()}", "Vendor": "Acme",
                  "Type": "Apparel", "Option1 Name": "Title", "Option1 Value": "Default Title",
                  "Variant SKU": handle.upper(), "Variant Inventory Qty": "3", "Variant Price": price,
                  "Variant Image": variant_image, "Image Src": photos[0] if photos else "", "Image Position": "1",
                  "Status": status})
    rows = [[first[c] for c in SHOPIFY_HEADER]]
    for n, photo in enumerate(photos[1:], start=2):
        more = dict.fromkeys(SHOPIFY_HEADER, "")
        more.update({"Handle": handle, "Image Src": photo, "Image Position": str(n)})
        rows.append([more[c] for c in SHOPIFY_HEADER])
    return rows


def write_export(folder: Path, tee_price: str = "20.00", cap_photos=("cap.jpg",), tee_back: str = "tee-back.png"
                 ) -> Path:
    """A Shopify export of three products (several photos each, a variant image not among the Image Src ones), its
    photos drawn at PHOTO_FILES' sizes beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, (width, height, fmt) in PHOTO_FILES.items():
        if not (folder / name).exists():
            _photo(folder, name, width, height, fmt)
    (folder / "coat-front.jpg").write_text("this is not a photo")
    (folder / "coat-bomb.png").write_bytes(bomb_png(50_000, 50_000))
    rows = (_rows("tee", "Cotton Tee", tee_price, ["tee-front.jpg", tee_back], variant_image="tee-red.jpg")
            + _rows("cap", "Sky Cap", "12.00", list(cap_photos))
            + _rows("coat", "Wool Coat", "120.00", ["coat-front.jpg", "coat-back.jpg", "coat-bomb.png"]))
    path = folder / "products_export.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(SHOPIFY_HEADER)
        writer.writerows(rows)
    return path


def _index(export: Path, embedder, store, **kw):
    return index_catalog(export, export.parent, embedder, store, batch_size=4, **kw)


def _payload(store, handle: str) -> dict:
    return store.retrieve([point_id(handle)])[0].payload


def sizes_by_name(store, handle: str) -> dict:
    """A product's PHOTO_SIZES by photo file name, after checking every reference is one of its PHOTOS."""
    payload = _payload(store, handle)
    sizes = payload[PHOTO_SIZES]
    assert set(sizes) <= set(payload[PHOTOS])
    return {Path(ref).name: size for ref, size in sizes.items()}


def all_sizes(store) -> dict:
    return {handle: sizes_by_name(store, handle) for handle in EXPECTED}


@pytest.fixture
def pixel_loads(monkeypatch):
    """Every time Pillow decodes pixels of a file-backed image, anywhere (the header alone is never counted)."""
    seen = []
    real = ImageFile.ImageFile.load

    def counting(self):
        seen.append(self.size)
        return real(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting)
    return seen


def _make_older(store) -> None:
    """The index as a version before PHOTO_SIZES left it: no product has the key, and the flag is unset."""
    for hit in list(store.scroll()):
        store.overwrite_payload(hit.id, {k: v for k, v in hit.payload.items() if k != PHOTO_SIZES})
    store.update_meta(**{PHOTO_SIZES_COMPLETE: False})
    store.flush()
    assert all(PHOTO_SIZES not in hit.payload for hit in store.scroll())


# ---- indexing stores each decoded photo's own size -------------------------------------------------------------

def test_each_decoded_photo_has_its_own_size_before_any_draft(tmp_path, embedder, store):
    report = _index(write_export(tmp_path / "shop"), embedder, store)
    assert report.indexed == 3 and report.text_only == 1
    assert all_sizes(store) == EXPECTED
    coat = _payload(store, "coat")
    assert coat[TEXT_ONLY] is True
    assert sorted(Path(ref).name for ref in coat[PHOTO_PROBLEMS]) == ["coat-bomb.png", "coat-front.jpg"]
    assert report.photo_sizes_added == 0 and (store.meta() or {}).get(PHOTO_SIZES_COMPLETE) is True


def test_sizes_are_kept_on_an_unchanged_run_an_attribute_change_and_a_renamed_photo(tmp_path, embedder, store,
                                                                                 decodes):
    folder = tmp_path / "shop"
    _index(write_export(folder), embedder, store)
    decodes.clear()
    again = _index(write_export(folder), embedder, store)
    assert (again.unchanged, decodes) == (3, [])
    assert all_sizes(store) == EXPECTED

    priced = _index(write_export(folder, tee_price="18.00"), embedder, store)  # an attribute-only rewrite
    assert (priced.updated, priced.indexed, decodes) == (1, 0, [])
    assert _payload(store, "tee")["price"] == 18.0
    assert all_sizes(store) == EXPECTED

    (folder / "tee-back-2.png").write_bytes((folder / "tee-back.png").read_bytes())  # the same bytes, renamed
    moved = _index(write_export(folder, tee_back="tee-back-2.png"), embedder, store)
    assert (moved.indexed, moved.photo_counts["embedded"], decodes) == (0, 0, [])
    assert sizes_by_name(store, "tee") == {"tee-front.jpg": [640, 800], "tee-back-2.png": [300, 400],
                                           "tee-red.jpg": [1200, 900]}


def test_a_photo_added_is_sized_and_the_kept_ones_keep_theirs(tmp_path, embedder, store, decodes):
    folder = tmp_path / "shop"
    _index(write_export(folder), embedder, store)
    _photo(folder, "cap-side.jpg", 500, 450, "JPEG")
    decodes.clear()
    report = _index(write_export(folder, cap_photos=("cap.jpg", "cap-side.jpg")), embedder, store)
    assert (report.photo_counts["embedded"], report.photo_counts["kept"], len(decodes)) == (1, 1, 1)
    assert sizes_by_name(store, "cap") == {"cap.jpg": [120, 90], "cap-side.jpg": [500, 450]}


# ---- an older index gets its sizes on its next run, from headers alone -----------------------------------------

def test_an_older_index_gets_every_size_on_its_next_run_without_decoding(tmp_path, embedder, store, decodes,
                                                                      pixel_loads, monkeypatch):
    export = write_export(tmp_path / "shop")
    _index(export, embedder, store)
    _make_older(store)
    decodes.clear(), pixel_loads.clear()
    report = _index(export, embedder, store)
    assert (decodes, pixel_loads) == ([], [])  # no photo decoded: headers only
    assert (report.indexed, report.updated, report.unchanged, report.photo_counts["embedded"]) == (0, 0, 3, 0)
    assert report.photo_sizes_added == 3
    assert "photo sizes: added to 3 products (no photo decoded)" in report.notes
    assert report.as_dict()["photo_sizes_added"] == 3
    assert all_sizes(store) == EXPECTED  # the text-only coat's hero and its bomb get none, as when indexed
    assert (store.meta() or {}).get(PHOTO_SIZES_COMPLETE) is True

    def no_scan(*args, **kwargs):
        raise AssertionError("the catch-up scanned an index whose products all have their sizes")

    monkeypatch.setattr(photo_sizes, "lacking_sizes", no_scan)
    quiet = _index(export, embedder, store)
    assert quiet.photo_sizes_added == 0 and not any("photo sizes" in n for n in quiet.notes)


def test_an_older_product_whose_photos_changed_is_sized_whole(tmp_path, embedder, store, decodes):
    folder = tmp_path / "shop"
    _index(write_export(folder), embedder, store)
    _make_older(store)
    _photo(folder, "cap-side.jpg", 500, 450, "JPEG")
    decodes.clear()
    report = _index(write_export(folder, cap_photos=("cap.jpg", "cap-side.jpg")), embedder, store)
    assert len(decodes) == 1  # the new photo only; the kept cap.jpg row had no stored size: read from its header
    assert report.photo_sizes_added == 3
    assert all_sizes(store) == {**EXPECTED, "cap": {"cap.jpg": [120, 90], "cap-side.jpg": [500, 450]}}


def test_an_older_index_of_photo_urls_is_sized_from_the_image_cache(tmp_path, embedder, store, photo_server,
                                                                    monkeypatch, decodes):
    monkeypatch.setattr(photo_server_module, "PHOTOS", {**photo_server_module.PHOTOS, **shop_catalogues.photos()})
    folder = tmp_path / "shop"
    folder.mkdir()
    export = shop_catalogues.shopify_export(folder, photo_url=lambda name: f"{photo_server.url}/{name}")
    with ImageFetcher(tmp_path / "cache", allow_private=True) as fetcher:
        _index(export, embedder, store, fetcher=fetcher)
        indexed = {h.payload["product_id"]: h.payload[PHOTO_SIZES] for h in store.scroll()}
        _make_older(store)
        fetched = dict(photo_server.requests)
        decodes.clear()
        report = _index(export, embedder, store, fetcher=fetcher)
    assert (photo_server.requests, decodes, report.photo_sizes_added) == (fetched, [], 5)
    every = {h.payload["product_id"]: (h.payload[PHOTO_SIZES], h.payload[PHOTOS]) for h in store.scroll()}
    # every photo of the export is drawn at shop_catalogues.SIZE, and each was decoded (none is shared)
    assert {pid: sizes for pid, (sizes, _) in every.items()} == indexed
    assert {pid: sizes for pid, (sizes, _) in every.items()} == {
        pid: {ref: list(shop_catalogues.SIZE) for ref in photos} for pid, (_, photos) in every.items()}
    assert sum(len(sizes) for sizes, _ in every.values()) == 10


# ---- hostile input ------------------------------------------------------------------------------------------------

def test_what_is_not_a_readable_image_header_gets_no_size(tmp_path):
    good = tmp_path / "good.png"
    Image.new("RGB", (300, 400)).save(good)
    (tmp_path / "text.jpg").write_text("not an image at all")
    (tmp_path / "bomb.png").write_bytes(bomb_png(50_000, 50_000))
    (tmp_path / "empty.jpg").write_bytes(b"")
    os.mkfifo(tmp_path / "pipe.jpg")
    fetcher = ImageFetcher(tmp_path / "cache")
    url = "https://shop.example/never-cached.jpg"
    payload = {IMAGE_PATH: str(good), MATCHED_PHOTOS: [str(good), *(str(tmp_path / n) for n in (
        "text.jpg", "bomb.png", "empty.jpg", "pipe.jpg", "gone.jpg")), url]}
    assert header_sizes(payload, fetcher, 40_000_000) == {str(good): [300, 400]}
    assert header_sizes(payload, None, 40_000_000) == {str(good): [300, 400]}  # a URL without a fetcher: skipped
    # a URL hero whose cached copy is gone, and a text-only hero: no size, nothing else lost
    assert header_sizes({IMAGE_URL: url, IMAGE_PATH: str(fetcher.path_for(url)), MATCHED_PHOTOS: [str(good)]},
                        fetcher, 40_000_000) == {str(good): [300, 400]}
    assert header_sizes({IMAGE_PATH: str(good), TEXT_ONLY: True}, fetcher, 40_000_000) == {}
    # LENS_MAX_PIXELS refuses from the header, as decoding would
    assert header_sizes({IMAGE_PATH: str(good)}, fetcher, 100_000) == {}
    with pytest.raises(ImageRejected, match="above the"):
        header_size(good, 100_000)
    with pytest.raises(ImageRejected, match="size guard|above the"):
        header_size(tmp_path / "bomb.png", 40_000_000)
    with pytest.raises(ImageRejected, match="not a regular file"):
        header_size(tmp_path / "pipe.jpg", 40_000_000)


def test_a_photo_broken_before_an_older_index_catches_up_gets_no_size(tmp_path, embedder, store, decodes):
    folder = tmp_path / "shop"
    export = write_export(folder)
    _index(export, embedder, store)
    _make_older(store)
    (folder / "tee-back.png").write_text("no longer a photo")  # new bytes: the tee's photo rows are redone
    decodes.clear()
    report = _index(export, embedder, store)
    assert len(decodes) == 1 and report.photo_counts["failed"] == 1  # tee-back (decoded, refused)
    # the tee's kept rows had no stored size, so the catch-up sizes it whole from headers, as the other two
    assert report.photo_sizes_added == 3
    assert sizes_by_name(store, "tee") == {"tee-front.jpg": [640, 800], "tee-red.jpg": [1200, 900]}
    assert (store.meta() or {}).get(PHOTO_SIZES_COMPLETE) is True

"""Every photo of a product in the index (issue 21): the photos multivector (MaxSim) on both backends, photo-level
incremental runs, shared photos, the upgrade of an index made before, and bad input (200 photos, one URL three
times, a dead link among 15)."""

from pathlib import Path

import numpy as np

from core.common.fields import MATCHED_PHOTOS, PHOTO_COLOURS, PHOTO_DIGESTS, PHOTO_PROBLEMS, PHOTOS, SHARED_PHOTOS
from core.index.indexer import index_catalog
from core.index.store import Nearest, StoredPoint, point_id
from core.ingest.fetch import ImageFetcher
from core.ingest.images import decode_image
from core.ingest.sample import draw_product
from tests.conftest import write_catalog
from tests.helpers import photo_server as photo_server_module
from tests.helpers import shop_catalogues

DIM = 4
PHOTO_KEYS = (MATCHED_PHOTOS, PHOTO_DIGESTS, PHOTO_COLOURS, SHARED_PHOTOS, PHOTO_PROBLEMS)


# ---- the store: MaxSim on hand-made vectors --------------------------------------------------------------------

def _unit(*values):
    v = np.array(values, dtype=float)
    return v / np.linalg.norm(v)


def test_an_image_query_on_photos_scores_each_product_by_its_best_photo(store):
    store.ensure("hand-made", DIM)
    e = np.eye(DIM)
    rows = {"a": [e[0], e[1]], "b": [_unit(0.6, 0, 0.8, 0)], "c": [e[3], _unit(0, 0.8, 0.6, 0)], "d": [e[2]]}
    store.upsert([StoredPoint(point_id(pid), {"image": r[0], "text": e[0], "photos": r}, {"product_id": pid})
                  for pid, r in rows.items()])
    hits = store.query(Nearest(e[1], using="photos"), limit=4)
    # a's second photo is the query; c's second is 0.8 of it; b and d have no photo along it
    assert [h.payload["product_id"] for h in hits[:2]] == ["a", "c"]
    assert [round(h.score, 4) for h in hits] == [1.0, 0.8, 0.0, 0.0]
    hits = store.query(Nearest(_unit(0.6, 0, 0.8, 0), using="photos"), limit=4)
    assert [(h.payload["product_id"], round(h.score, 4)) for h in hits[:3]] == [("b", 1.0), ("d", 0.8), ("a", 0.6)]
    # the hero's "image" vector alone misses a's second photo
    by_hero = {h.payload["product_id"]: round(h.score, 4) for h in store.query(Nearest(e[1], using="image"), limit=4)}
    assert by_hero == {"a": 0.0, "b": 0.0, "c": 0.0, "d": 0.0}
    got = store.retrieve([point_id("c")], with_vectors=True)[0].vectors["photos"]
    assert np.allclose(got, rows["c"], atol=1e-6)
    scrolled = {h.payload["product_id"]: h.vectors["photos"] for h in store.scroll(with_vectors=["photos"])}
    assert {pid: len(r) for pid, r in scrolled.items()} == {"a": 2, "b": 1, "c": 2, "d": 1}


def test_multi_photo_is_false_while_a_product_with_a_photo_lacks_its_rows(store):
    store.ensure("hand-made", DIM)
    assert store.multi_photo is True  # a new index: every product it will hold gets its rows
    e = np.eye(DIM)
    store.upsert([StoredPoint(point_id("old"), {"image": e[0], "text": e[1]}, {"product_id": "old"}),
                  StoredPoint(point_id("text"), {"text": e[1]}, {"product_id": "text"})])
    assert store.lacking_photo_vectors() == 1  # a text-only product has no photo to lack
    assert store.check_multi_photo() is False and store.multi_photo is False
    store.upsert([StoredPoint(point_id("old"), {"image": e[0], "text": e[1], "photos": [e[0]]}, {"product_id": "old"})])
    assert store.check_multi_photo() is True and store.multi_photo is True


# ---- the indexer -----------------------------------------------------------------------------------------------

KINDS = ("Dresses", "Tshirts", "Sandals", "Watches", "Shorts", "Shirts", "Caps")
COLOURS = ("Red", "Blue", "Brown", "Black", "Yellow", "White", "Green", "Grey")


def _photo(path: Path, n: int) -> str:
    """A distinct photo (the n-th of a sequence of shapes, colours and patterns); its resolved path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pattern = ("Solid", "Striped", "Checked")[n // (len(KINDS) * len(COLOURS)) % 3]
    draw_product(KINDS[n % len(KINDS)], COLOURS[n // len(KINDS) % len(COLOURS)], pattern).save(path)
    return str(path.resolve())


def _hero(catalog: Path, pid: str) -> str:
    return str(next((catalog.parent / "images").glob(f"*/{pid}.jpg")).resolve())


def _photos(mapping: dict):
    """A relabel hook that gives products a PHOTOS list (as the shop readers do), whatever the catalogue's reader."""
    def relabel(product_id: str, payload: dict) -> bool:
        if product_id in mapping:
            payload[PHOTOS] = list(mapping[product_id])
        return False
    return relabel


def _index(catalog, embedder, store, **kw):
    return index_catalog(catalog, catalog.parent / "images", embedder, store, batch_size=4, **kw)


def _rows(store, pid):
    hit = store.retrieve([point_id(pid)], with_vectors=True)[0]
    return hit, hit.vectors.get("photos", [])


def test_adding_one_photo_embeds_only_that_photo_and_the_back_view_finds_its_product(tmp_path, embedder, store,
                                                                                        decodes):
    catalog = write_catalog(tmp_path / "c")
    hero = _hero(catalog, "1")
    back, side = _photo(tmp_path / "c/extra/back.png", 40), _photo(tmp_path / "c/extra/side.png", 51)
    first = _index(catalog, embedder, store, relabel=_photos({"1": [hero, back]}))
    assert (first.indexed, len(decodes), first.photo_counts["embedded"]) == (6, 7, 7)
    hit, rows = _rows(store, "1")
    assert hit.payload[MATCHED_PHOTOS] == [hero, back] and len(rows) == 2
    assert np.allclose(rows[0], hit.vectors["image"], atol=1e-6)  # the hero's row is its "image" vector
    text_before = hit.vectors["text"]

    decodes.clear()
    second = _index(catalog, embedder, store, relabel=_photos({"1": [hero, back, side]}))
    assert len(decodes) == 1  # only the new photo
    assert (second.indexed, second.unchanged, second.reasons) == (1, 5, {"photos changed": 1})
    assert (second.photo_counts["embedded"], second.photo_counts["kept"]) == (1, 2)
    hit, rows = _rows(store, "1")
    assert hit.payload[MATCHED_PHOTOS] == [hero, back, side] and len(rows) == 3
    assert len(hit.payload[PHOTO_DIGESTS]) == 3 and len(hit.payload[PHOTO_COLOURS]) == 3
    assert np.allclose(hit.vectors["text"], text_before, atol=1e-6)

    decodes.clear()
    third = _index(catalog, embedder, store, relabel=_photos({"1": [hero, back, side]}))
    assert (len(decodes), third.indexed, third.unchanged) == (0, 0, 6)

    # the back view, as the indexer sees it, finds product 1 first by its best photo
    query = embedder.encode_images([decode_image(Path(back).read_bytes(), 40_000_000,
                                                 draft_size=embedder.image_size)])[0]
    top = store.query(Nearest(query, using="photos"), limit=3)
    assert top[0].payload["product_id"] == "1" and top[0].score > 0.999


def test_a_photo_many_products_use_is_left_out_of_matching_and_reported(tmp_path, embedder, store, decodes):
    catalog = write_catalog(tmp_path / "c")
    chart = _photo(tmp_path / "c/extra/size-chart.png", 60)
    mapping = {pid: [_hero(catalog, pid), chart] for pid in ("1", "2", "3", "4", "5")}
    report = _index(catalog, embedder, store, relabel=_photos(mapping))
    assert len(decodes) == 6  # the heroes; the chart is never embedded
    for pid in ("1", "2", "3", "4", "5"):
        hit, rows = _rows(store, pid)
        assert (hit.payload[SHARED_PHOTOS], hit.payload[MATCHED_PHOTOS], len(rows)) == ([chart], [mapping[pid][0]], 1)
        assert hit.payload[PHOTOS] == mapping[pid]  # still shown
    assert _rows(store, "6")[0].payload[SHARED_PHOTOS] == []
    assert report.photo_counts["shared"] == 1
    assert report.notes == ["a photo used by 5 products (size-chart.png) is left out of matching, duplicates and "
                            "the audit"]


def test_a_shared_hero_keeps_its_image_vector_and_stays_findable(tmp_path, embedder, store):
    catalog = write_catalog(tmp_path / "c")
    images = tmp_path / "c/images"
    (images / "Apparel/6.jpg").write_bytes((images / "Apparel/5.jpg").read_bytes())  # one photo, two products
    report = _index(catalog, embedder, store, shared_photo_min=2)
    for pid in ("5", "6"):  # every photo of theirs is shared: the hero row stays so the product stays findable
        hit, rows = _rows(store, pid)
        assert hit.payload[SHARED_PHOTOS] == [_hero(catalog, pid)] and len(rows) == 1
        assert "image" in hit.vectors
    assert _rows(store, "1")[0].payload[SHARED_PHOTOS] == []
    assert report.notes == ["a photo used by 2 products (6.jpg) is left out of matching, duplicates and the audit; "
                            "it is the main photo of 2, whose 'image' vector still uses it"]


def _make_old(store) -> None:
    """Turn an index into one made before issue 21: no photos vector, no photo keys, no flags."""
    if store.backend == "embedded":
        from qdrant_edge import UpdateOperation

        store.shard.update(UpdateOperation.delete_vector_name("photos"))
        store.shard.flush()
    else:
        store.client.delete_vector_name(store.collection, "photos")
    for hit in list(store.scroll()):
        store.overwrite_payload(hit.id, {k: v for k, v in hit.payload.items() if k not in (*PHOTO_KEYS, PHOTOS)})
    store.update_meta(photo_vectors=None, multi_photo=None)
    store.flush()


def test_an_index_made_before_gets_every_photo_without_fetching_unchanged_ones(tmp_path, embedder, store, decodes):
    catalog = write_catalog(tmp_path / "c")
    _index(catalog, embedder, store)
    _make_old(store)
    assert store.multi_photo is False
    images_before = {h.payload["product_id"]: h.vectors["image"] for h in store.scroll(with_vectors=["image"])}

    decodes.clear()
    back = _photo(tmp_path / "c/extra/back.png", 40)
    store.ensure(embedder.name, embedder.dim)  # the vector name is added in place; the flag waits for the run
    assert (store.multi_photo, store.lacking_photo_vectors()) == (False, 6)
    report = _index(catalog, embedder, store, relabel=_photos({"1": [_hero(catalog, "1"), back]}))
    assert len(decodes) == 1  # the one photo new to the index; no hero read again
    assert report.photo_counts == {"embedded": 1, "kept": 6, "failed": 0, "shared": 0, "upgraded": 6}
    assert report.reasons == {"every photo added (indexed before products kept several)": 6}
    assert "added every photo's vector to 6 products indexed before products kept several photos; no unchanged " \
           "photo was fetched again" in report.notes
    assert store.multi_photo is True and store.lacking_photo_vectors() == 0
    for pid, image in images_before.items():  # every product findable by its photos; heroes kept as they were
        hit, rows = _rows(store, pid)
        assert np.allclose(rows[0], image, atol=1e-6) and np.allclose(hit.vectors["image"], image, atol=1e-6)
        assert store.query(Nearest(image, using="photos"), limit=1)[0].payload["product_id"] == pid
    assert len(_rows(store, "1")[1]) == 2


def test_two_hundred_photos_are_capped(tmp_path, embedder, store, decodes):
    catalog = write_catalog(tmp_path / "c", rows=[("1", "Women", "Apparel", "Dress", "Dresses", "Red", "Party",
                                                  "Mango Women Red Dress")])
    many = [_hero(catalog, "1")] + [_photo(tmp_path / f"c/extra/{n}.png", n) for n in range(199)]
    report = _index(catalog, embedder, store, relabel=_photos({"1": many}))
    hit, rows = _rows(store, "1")
    assert (len(rows), hit.payload[MATCHED_PHOTOS], len(decodes)) == (10, many[:10], 10)
    assert report.photo_counts["embedded"] == 10


def _url_catalog(folder: Path, url: str) -> Path:
    from tests.conftest import write_csv
    from core.ingest.sample import HEADER

    (folder / "images").mkdir(parents=True, exist_ok=True)
    return write_csv(folder / "catalog.csv", HEADER, [["1", "Men", "Apparel", "Topwear", "Tshirts", "White", "Casual",
                                                       "Plain Tee", "", url]])


def test_the_same_photo_url_three_times_is_fetched_and_embedded_once(tmp_path, embedder, store, photo_server,
                                                                       decodes):
    url = f"{photo_server.url}/dress-red.jpg"
    catalog = _url_catalog(tmp_path / "c", f"{photo_server.url}/tee.jpg")
    with ImageFetcher(tmp_path / "cache", allow_private=True) as fetcher:
        _index(catalog, embedder, store, fetcher=fetcher,
               relabel=_photos({"1": [f"{photo_server.url}/tee.jpg", url, url, url]}))
    hit, rows = _rows(store, "1")
    assert (photo_server.requests["dress-red.jpg"], len(decodes), len(rows)) == (1, 2, 2)
    assert hit.payload[MATCHED_PHOTOS] == [f"{photo_server.url}/tee.jpg", url]


def test_a_dead_link_among_fifteen_additional_images_leaves_the_product_indexed(tmp_path, embedder, store,
                                                                              photo_server, monkeypatch):
    monkeypatch.setattr(photo_server_module, "PHOTOS", {**photo_server_module.PHOTOS, **shop_catalogues.photos()})
    folder = tmp_path / "feed"
    folder.mkdir()
    feed = shop_catalogues.google_feed(folder, photo_url=lambda name: f"{photo_server.url}/{name}")
    with ImageFetcher(tmp_path / "cache", allow_private=True) as fetcher:
        report = index_catalog(feed, folder, embedder, store, batch_size=4, fetcher=fetcher, max_photos=16)
        hit, rows = _rows(store, "G-BAG")
        dead = f"{photo_server.url}/bag-3.jpg"
        assert list(hit.payload[PHOTO_PROBLEMS]) == [dead] and "404" in hit.payload[PHOTO_PROBLEMS][dead]
        assert len(hit.payload[PHOTOS]) == 16 and len(rows) == 15 and dead not in hit.payload[MATCHED_PHOTOS]
        assert report.photo_counts["failed"] == 1 and report.indexed == 4
        assert "1 photos (beyond each product's main photo) could not be used" in " ".join(report.notes)
        # the next run fetches the dead link again (it may be back) and nothing else
        before = dict(photo_server.requests)
        again = index_catalog(feed, folder, embedder, store, batch_size=4, fetcher=fetcher, max_photos=16)
    fetched = {k: v - before.get(k, 0) for k, v in photo_server.requests.items() if v != before.get(k, 0)}
    assert fetched == {"bag-3.jpg": 1} and again.photo_counts["embedded"] == 0 and again.photo_counts["kept"] == 15


def test_a_shopify_export_back_view_finds_its_product_first(tmp_path, embedder, store):
    folder = tmp_path / "shop"
    folder.mkdir()
    export = shop_catalogues.shopify_export(folder)
    report = index_catalog(export, folder, embedder, store, batch_size=4)
    assert report.indexed == 5 and report.photo_counts["embedded"] == 10
    hit, rows = _rows(store, "sky-red-tee")
    assert [Path(r).name for r in hit.payload[MATCHED_PHOTOS]] == ["tee-front.jpg", "tee-back.jpg", "tee-sky.jpg",
                                                                   "tee-red.jpg"]
    for name, pid in (("tee-back.jpg", "sky-red-tee"), ("coat-back.jpg", "wool-coat"), ("tee-red.jpg", "sky-red-tee")):
        image = decode_image((folder / name).read_bytes(), 40_000_000, draft_size=embedder.image_size)
        top = store.query(Nearest(embedder.encode_images([image])[0], using="photos"), limit=2)
        assert top[0].payload["product_id"] == pid and top[0].score > 0.999, name


def test_an_older_index_of_photo_urls_is_upgraded_from_the_image_cache(tmp_path, embedder, store, photo_server,
                                                                       monkeypatch, decodes):
    monkeypatch.setattr(photo_server_module, "PHOTOS", {**photo_server_module.PHOTOS, **shop_catalogues.photos()})
    folder = tmp_path / "shop"
    folder.mkdir()
    export = shop_catalogues.shopify_export(folder, photo_url=lambda name: f"{photo_server.url}/{name}")
    with ImageFetcher(tmp_path / "cache", allow_private=True) as fetcher:
        index_catalog(export, folder, embedder, store, batch_size=4, fetcher=fetcher)
        fetched = dict(photo_server.requests)
        assert fetched == {name: 1 for name in shop_catalogues.SHOPIFY_PHOTOS}  # every photo, once
        _make_old(store)
        decodes.clear()
        report = index_catalog(export, folder, embedder, store, batch_size=4, fetcher=fetcher)
    assert photo_server.requests == fetched  # nothing fetched again: heroes kept, the other photos from the cache
    assert len(decodes) == 5  # tee-back, tee-sky, tee-red, coat-back, scarf-detail: rows the old index never had
    assert (report.photo_counts["upgraded"], report.photo_counts["kept"], report.photo_counts["embedded"]) == (5, 5, 5)
    assert store.multi_photo is True
    hit, rows = _rows(store, "sky-red-tee")
    assert len(rows) == 4 and np.allclose(rows[0], hit.vectors["image"], atol=1e-6)


def test_a_shared_hero_whose_other_photo_fails_keeps_the_hero_row(tmp_path, embedder, store):
    catalog = write_catalog(tmp_path / "c")
    images = tmp_path / "c/images"
    (images / "Apparel/6.jpg").write_bytes((images / "Apparel/5.jpg").read_bytes())  # one photo, two products
    broken = tmp_path / "c/extra/broken.jpg"
    broken.parent.mkdir()
    broken.write_bytes(b"<html>not a photo</html>")
    _index(catalog, embedder, store, shared_photo_min=2, relabel=_photos({"6": [_hero(catalog, "6"), str(broken)]}))
    hit, rows = _rows(store, "6")
    assert (hit.payload[MATCHED_PHOTOS], len(rows), list(hit.payload[PHOTO_PROBLEMS])) == \
        ([_hero(catalog, "6")], 1, [str(broken)])
    assert np.allclose(rows[0], hit.vectors["image"], atol=1e-6)
    assert store.multi_photo is True  # every product with a hero has its rows

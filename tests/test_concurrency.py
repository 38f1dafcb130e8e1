"""Sessions share one model and one store: searches and facets stay right while another session really writes."""

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from core.common.filters import Filters
from core.index.indexer import index_catalog
from core.search.query import SearchRequest, facets, search
from tests.conftest import PRODUCTS, write_catalog

QUERY = "red dress"


def expected_ids(embedder, catalog: Path, gender: str | None = None) -> list[str]:
    """The answer worked out by hand, not by search(): the cosine of QUERY to each planted photo (embedded here
    from its file), best first, over the products whose gender the filter keeps (applied here, in Python)."""
    rows = [r for r in PRODUCTS if gender is None or r[1] == gender]
    photos = [Image.open(catalog.parent / "images" / r[2] / f"{r[0]}.jpg").convert("RGB") for r in rows]
    vectors = embedder.encode_images(photos)
    query = embedder.encode_texts([QUERY])[0]
    scores = vectors @ query / np.linalg.norm(vectors, axis=1) / np.linalg.norm(query)
    order = np.argsort(-scores)
    # The photo the indexer embedded is decoded its own way (a cosine within 1e-4 of ours): only an order
    # whose neighbours are further apart than that is an answer to hold the search to.
    assert np.min(-np.diff(scores[order])) > 1e-3, "two planted photos score too close to rank by hand"
    return [rows[i][0] for i in order]


def test_parallel_searches_and_facets_while_another_session_rewrites_every_product(tmp_path, embedder, store):
    catalogs = []
    for version in (1, 2):  # the same photos and attributes, new titles: every run re-embeds and rewrites all six
        rows = [r[:7] + (f"{r[7]} v{version}",) for r in PRODUCTS]
        catalogs.append(write_catalog(tmp_path / f"v{version}", rows=rows))
    index_catalog(catalogs[0], catalogs[0].parent / "images", embedder, store)
    men = Filters.of({"gender": ["Men"]})
    expected = {None: expected_ids(embedder, catalogs[0]), "Men": expected_ids(embedder, catalogs[0], "Men")}
    # Product 1 (Red Dress) alone holds both query words: first by words, then the rest by meaning (issue 22).
    expected[None] = ["1"] + [pid for pid in expected[None] if pid != "1"]
    assert expected["Men"] != expected[None][:3]  # the filter changes the answer, not only its length
    runs = iter(range(1, 100))
    one_indexing_run = threading.Lock()  # as the app's indexing_lock: one run per data dir at a time

    def session(i: int):
        if i % 7 == 0:  # another tab indexes a changed catalogue meanwhile (v2, v1, v2, ...)
            with one_indexing_run:
                catalog = catalogs[next(runs) % 2]
                return index_catalog(catalog, catalog.parent / "images", embedder, store).indexed
        filters = men if i % 2 else Filters()  # every other session searches the men's products only
        ids = [r.product_id for r in search(store, SearchRequest(text=QUERY, filters=filters, limit=6), embedder)]
        counts = dict(facets(store, men)["gender"])
        return ids, counts

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(session, range(56)))
    for i, outcome in enumerate(outcomes):
        if i % 7 == 0:
            assert outcome == 6  # a real write of every product, not an unchanged no-op
        else:  # photo vectors and attributes are the same in both versions: answers must not waver mid-write
            assert outcome == (expected["Men" if i % 2 else None], {"Men": 3, "Women": 2, "Girls": 1}), i
    assert store.count() == 6
    titles = {h.payload["title"][-2:] for h in store.scroll(payload_keys=["title"])}
    assert titles in ({"v1"}, {"v2"})

"""Sessions share one model and one store: searches and facets stay right while another session really writes."""

import threading
from concurrent.futures import ThreadPoolExecutor

from core.common.filters import Filters
from core.index.indexer import index_catalog
from core.search.query import SearchRequest, facets, search
from tests.conftest import PRODUCTS, write_catalog


def test_parallel_searches_and_facets_while_another_session_rewrites_every_product(tmp_path, embedder, store):
    catalogs = []
    for version in (1, 2):  # the same photos and attributes, new titles: every run re-embeds and rewrites all six
        rows = [r[:7] + (f"{r[7]} v{version}",) for r in PRODUCTS]
        catalogs.append(write_catalog(tmp_path / f"v{version}", rows=rows))
    index_catalog(catalogs[0], catalogs[0].parent / "images", embedder, store)
    expected = [r.product_id for r in search(store, SearchRequest(text="red dress", limit=6), embedder)]
    men = Filters.of({"gender": ["Men"]})
    runs = iter(range(1, 100))
    one_indexing_run = threading.Lock()  # as the app's indexing_lock: one run per data dir at a time

    def session(i: int):
        if i % 7 == 0:  # another tab indexes a changed catalogue meanwhile (v2, v1, v2, ...)
            with one_indexing_run:
                catalog = catalogs[next(runs) % 2]
                return index_catalog(catalog, catalog.parent / "images", embedder, store).indexed
        ids = [r.product_id for r in search(store, SearchRequest(text="red dress", limit=6), embedder)]
        counts = dict(facets(store, men)["gender"])
        return ids, counts

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(session, range(56)))
    for i, outcome in enumerate(outcomes):
        if i % 7 == 0:
            assert outcome == 6  # a real write of every product, not an unchanged no-op
        else:  # photo vectors and attributes are the same in both versions: answers must not waver mid-write
            assert outcome == (expected, {"Men": 3, "Women": 2, "Girls": 1})
    assert store.count() == 6
    titles = {h.payload["title"][-2:] for h in store.scroll(payload_keys=["title"])}
    assert titles in ({"v1"}, {"v2"})

"""Sessions share one model and one embedded store: concurrent searches, facets and writes must not break."""

from concurrent.futures import ThreadPoolExecutor

from core.filters import Filters
from core.indexer import index_catalog
from core.search import SearchRequest, facets, search
from core.store import EdgeStore


def test_parallel_searches_facets_and_reindexing_on_one_shared_store(catalog, embedder, tmp_path):
    store = EdgeStore(tmp_path / "shared")
    index_catalog(catalog, catalog.parent / "images", embedder, store)
    expected = [r.product_id for r in search(store, SearchRequest(text="red dress", limit=6), embedder)]
    men = Filters.of({"gender": ["Men"]})

    def session(i: int):
        if i % 7 == 0:  # another tab re-indexes the same catalogue meanwhile
            return index_catalog(catalog, catalog.parent / "images", embedder, store).unchanged
        ids = [r.product_id for r in search(store, SearchRequest(text="red dress", limit=6), embedder)]
        counts = dict(facets(store, men)["gender"])
        return ids, counts

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(session, range(56)))
    for i, outcome in enumerate(outcomes):
        if i % 7 == 0:
            assert outcome == 6
        else:
            assert outcome == (expected, {"Men": 3, "Women": 2, "Girls": 1})
    assert store.count() == 6
    store.close()

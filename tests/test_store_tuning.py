"""Scale settings: chosen by size and overridable; the embedded shard's int8 + HNSW search returns the exact top 10
because it rescores; a server collection and its queries carry the cluster, index and search settings."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest

from core.common.config import Settings
from core.common.errors import ConfigError, StoreError
from core.index.store import EdgeStore, Nearest, Overrides, StoredPoint, open_store, tuning_for
from core.index.store.edge import edge_search_params
from tests.helpers.fake_qdrant import API_KEY, COLLECTION, FakeQdrant

pytestmark = pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")

DIM, N, CLUSTERS = 64, 2_000, 40
FORCED_LARGE = Overrides(quantization="on", index_from=500)  # HNSW + int8 from 500 points: this set is "large"


# ---- the settings ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("points, tier, quantize, on_disk", [
    (None, "large", True, False),      # not known at creation: ready to grow (int8 only past the threshold)
    (5_000, "small", False, False),
    (19_999, "small", False, False),
    (20_000, "large", True, False),
    (199_999, "large", True, False),
    (200_000, "huge", True, True),
    (1_000_000, "huge", True, True),
])
def test_tuning_is_chosen_by_catalogue_size(points, tier, quantize, on_disk):
    tuning = tuning_for(points)
    assert (tuning.tier, tuning.quantize, tuning.originals_on_disk) == (tier, quantize, on_disk)
    assert (tuning.rescore, tuning.oversampling, tuning.hnsw_ef, tuning.index_from) == (True, 2.0, 128, 20_000)
    assert tuning.index_kb(512) == 40_000  # 20,000 x 512 float32 = 40,000 KB per segment before HNSW


def test_settings_override_the_size_based_choice():
    settings = Settings.from_env({"LENS_QUANTIZATION": "OFF", "LENS_HNSW_EF": "256", "LENS_OVERSAMPLING": "3",
                                  "LENS_SHARDS": "6", "LENS_REPLICAS": "2", "LENS_WRITE_CONSISTENCY": "2",
                                  "LENS_READ_CONSISTENCY": "Majority"})
    big = tuning_for(1_000_000, Overrides.from_settings(settings))
    assert (big.quantize, big.originals_on_disk, big.hnsw_ef, big.oversampling) == (False, False, 256, 3.0)
    assert (big.shards, big.replicas, big.write_consistency, big.read_consistency) == (6, 2, 2, "majority")
    small = tuning_for(100, Overrides(quantization="on"))
    assert (small.tier, small.quantize, small.originals_on_disk) == ("small", True, False)
    default = Settings.from_env({})
    assert (default.quantization, default.hnsw_ef, default.oversampling, default.shards, default.replicas,
            default.write_consistency, default.read_consistency) == ("auto", 128, 2.0, 1, 1, 1, "1")


@pytest.mark.parametrize("name, value", [("LENS_QUANTIZATION", "int4"), ("LENS_HNSW_EF", "0"),
                                         ("LENS_OVERSAMPLING", "0.5"), ("LENS_OVERSAMPLING", "nan"),
                                         ("LENS_SHARDS", "-1"), ("LENS_REPLICAS", "two"),
                                         ("LENS_READ_CONSISTENCY", "most")])
def test_bad_scale_settings_are_refused_with_the_option_name(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


# ---- the embedded shard ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def clustered():
    """2,000 unit vectors in 40 tight clusters (like CLIP embeddings), and 25 queries near stored products."""
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(CLUSTERS, DIM))
    vectors = centres[rng.integers(0, CLUSTERS, N)] + 0.35 * rng.normal(size=(N, DIM))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    queries = vectors[rng.choice(N, 25, replace=False)] + 0.05 * rng.normal(size=(25, DIM)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    exact = np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :10]
    return vectors, queries, exact


def _ids(n: int) -> list[str]:
    return [str(uuid.UUID(int=i + 1)) for i in range(n)]


@pytest.fixture(scope="module")
def large_store(clustered, tmp_path_factory):
    """An embedded store created with the "large" settings forced, written in batches and published."""
    vectors, _, _ = clustered
    store = EdgeStore(tmp_path_factory.mktemp("tuned"), overrides=FORCED_LARGE)
    store.ensure("m", DIM)
    ids = _ids(N)
    for start in range(0, N, 500):
        store.upsert([StoredPoint(ids[i], {"image": vectors[i].tolist()}, {"product_id": str(i)})
                      for i in range(start, start + 500)])
    store.publish()  # the end of every indexing run: builds what is due, then copies
    yield store
    store.close()


def _top10(store, query) -> list[int]:
    return [int(h.payload["product_id"]) for h in store.query(Nearest(query.tolist()), limit=10)]


def test_quantised_edge_search_with_rescoring_returns_the_exact_top_10(large_store, clustered):
    _, queries, exact = clustered
    info = large_store.shard.info()
    assert (info.points_count, info.indexed_vectors_count) == (N, N)  # HNSW built by publish, not brute force
    assert large_store.meta()["tuning"]["quantize"] is True and large_store.optimize() is False  # nothing left
    assert [_top10(large_store, q) for q in queries] == exact.tolist()


def test_without_rescoring_the_same_shard_misses_exact_neighbours(large_store, clustered):
    """The int8 vectors are really used: ranked by them alone (rescore off, or no search params at all, as on
    qdrant-edge-py 0.9.0) the top 10 differs from the exact one, so the test above depends on rescoring."""
    from dataclasses import replace

    from qdrant_edge import Query, QueryRequest

    _, queries, exact = clustered
    no_rescore = edge_search_params(replace(large_store.search_tuning, rescore=False))

    def found(params) -> int:
        total = 0
        for q, truth in zip(queries, exact):
            points = large_store.shard.query(QueryRequest(limit=10, query=Query.Nearest(q.tolist(), using="image"),
                                                          with_payload=True, params=params))
            total += len({int(p.payload["product_id"]) for p in points} & set(truth.tolist()))
        return total

    assert found(edge_search_params(large_store.search_tuning)) == 250
    assert found(no_rescore) < 250 and found(None) < 250


def test_a_small_index_stays_exact_and_optimize_has_nothing_to_do(clustered, tmp_path):
    vectors, queries, exact = clustered
    store = EdgeStore(tmp_path / "small")  # default settings: 2,000 points is far below 20,000
    try:
        store.ensure("m", DIM)
        ids = _ids(N)
        store.upsert([StoredPoint(ids[i], {"image": vectors[i].tolist()}, {"product_id": str(i)}) for i in range(N)])
        assert store.optimize() is False and store.shard.info().indexed_vectors_count == 0
        assert [_top10(store, q) for q in queries[:5]] == exact[:5].tolist()
    finally:
        store.close()


def test_an_index_made_before_the_scale_settings_still_opens_and_answers(clustered, tmp_path):
    from qdrant_edge import Distance, EdgeConfig, EdgeShard, EdgeVectorParams, Point, UpdateOperation

    vectors, queries, exact = clustered
    root = tmp_path / "data" / "products"
    (root / "shard").mkdir(parents=True)
    shard = EdgeShard.create(str(root / "shard"), EdgeConfig(vectors={
        n: EdgeVectorParams(size=DIM, distance=Distance.Cosine) for n in ("image", "text")}))
    ids = _ids(N)
    shard.update(UpdateOperation.upsert_points(
        [Point(ids[i], {"image": vectors[i].tolist()}, {"product_id": str(i)}) for i in range(N)]))
    shard.flush()
    shard.close()
    (root / "lens.json").write_text(json.dumps({"model": "m", "dim": DIM, "created": 1.0, "last_indexed": None}))
    store = EdgeStore(tmp_path / "data", overrides=FORCED_LARGE)  # settings apply at creation, not to this one
    try:
        assert store.ensure("m", DIM)["dim"] == DIM
        assert [_top10(store, q) for q in queries[:5]] == exact[:5].tolist()
        assert store.optimize() is False  # its own (default) threshold: nothing due at 2,000 points
    finally:
        store.close()


# ---- the server: request shapes on the wire ----------------------------------------------------------------------

@pytest.fixture
def fake():
    with FakeQdrant() as server:
        yield server


def _server(port: int, **env):
    return open_store(Settings.from_env({"QDRANT_URL": f"http://127.0.0.1:{port}", "QDRANT_API_KEY": API_KEY, **env}))


def test_server_collection_is_created_with_cluster_and_index_settings(fake):
    store = _server(fake.port, LENS_SHARDS="6", LENS_REPLICAS="2", LENS_WRITE_CONSISTENCY="1")
    store.ensure("m", 512, expected_points=1_000_000)
    store.close()
    body = next(r.body for r in fake.requests if (r.method, r.path) == ("PUT", COLLECTION))
    assert (body["shard_number"], body["replication_factor"], body["write_consistency_factor"]) == (6, 2, 1)
    # issue 21: the photos multivector (MaxSim) beside the two single vectors, with the same placement
    assert body["vectors"] == {**{n: {"size": 512, "distance": "Cosine", "on_disk": True} for n in ("image", "text")},
                               "photos": {"size": 512, "distance": "Cosine", "on_disk": True,
                                          "multivector_config": {"comparator": "max_sim"}}}
    assert body["hnsw_config"] == {"m": 16, "ef_construct": 128, "full_scan_threshold": 10_000}
    assert body["optimizers_config"] == {"indexing_threshold": 40_000}
    assert body["quantization_config"] == {"scalar": {"type": "int8", "quantile": 0.99, "always_ram": True}}
    assert body["metadata"]["tuning"]["tier"] == "huge"


def test_a_single_server_default_is_one_shard_one_replica_and_small_catalogues_skip_int8(fake):
    store = _server(fake.port)
    store.ensure("m", 512, expected_points=1_000)
    store.close()
    body = next(r.body for r in fake.requests if (r.method, r.path) == ("PUT", COLLECTION))
    assert (body["shard_number"], body["replication_factor"], body["write_consistency_factor"]) == (1, 1, 1)
    assert "quantization_config" not in body and "on_disk" not in body["vectors"]["image"]


def test_server_queries_send_rescoring_search_params_and_their_read_consistency(fake):
    store = _server(fake.port, LENS_HNSW_EF="200", LENS_READ_CONSISTENCY="majority")
    store.ensure("m", 4)
    fake.requests.clear()
    with pytest.raises(StoreError):  # the stand-in has no query endpoint; the request is what is checked
        store.query(Nearest([1.0, 0, 0, 0]), limit=10)
    list(store.scroll())
    store.close()
    query = next(r for r in fake.requests if r.path == f"{COLLECTION}/points/query")
    assert query.body["params"] == {"hnsw_ef": 200, "quantization": {"rescore": True, "oversampling": 2.0}}
    assert query.query.get("consistency") == ["majority"]
    scroll = next(r for r in fake.requests if r.path == f"{COLLECTION}/points/scroll")
    assert scroll.query.get("consistency") == ["majority"]

"""Search latency at 50,000 products: embedded Qdrant (qdrant-edge) vs qdrant-client local mode, same run.

    python -m bench.query_latency [--n 50000] [--reps 200] [--local-reps 20]

Vectors are random unit vectors (512 dims) with realistic attribute distributions; timings are of
core.search.query calls with pre-computed query vectors (no model), plus one end-to-end text query with a
random full-size ViT-B/32 text encoder.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np

from core.common.filters import Filters
from core.search.query import SearchRequest, facets, search
from core.index.store import EdgeStore, ServerStore, StoredPoint, point_id

DIM = 512
ATTRS = {
    "gender": (["Men", "Women", "Boys", "Girls", "Unisex"], [0.44, 0.41, 0.06, 0.05, 0.04]),
    "category": (["Apparel", "Accessories", "Footwear", "Personal Care", "Free Items"], [0.48, 0.25, 0.21, 0.05, 0.01]),
    "usage": (["Casual", "Sports", "Ethnic", "Formal", "Smart Casual", "Party"], [0.78, 0.09, 0.07, 0.045, 0.01, 0.005]),
}
COLOURS = ["Black", "White", "Blue", "Brown", "Grey", "Red", "Green", "Pink", "Navy Blue", "Purple", "Silver",
           "Yellow", "Beige", "Gold", "Maroon", "Orange", "Olive", "Multi", "Cream", "Steel", "Charcoal", "Peach"]
SUBS = ["Topwear", "Shoes", "Bags", "Bottomwear", "Watches", "Innerwear", "Jewellery", "Eyewear", "Fragrance",
        "Sandal", "Wallets", "Flip Flops", "Belts", "Socks", "Lips", "Dress", "Loungewear", "Saree", "Nails"]
TYPES = [f"Type{i}" for i in range(140)]


def _zipf(rng, values, n):
    weights = 1 / np.arange(1, len(values) + 1)
    return rng.choice(values, size=n, p=weights / weights.sum())


def make_points(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    cols = {k: rng.choice(v, size=n, p=p) for k, (v, p) in ATTRS.items()}
    cols["colour"], cols["sub_category"], cols["product_type"] = (_zipf(rng, COLOURS, n), _zipf(rng, SUBS, n),
                                                                  _zipf(rng, TYPES, n))
    for start in range(0, n, 2000):
        stop = min(n, start + 2000)
        vecs = rng.normal(size=(2, stop - start, DIM)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=-1, keepdims=True)
        yield [StoredPoint(point_id(str(i)), {"image": vecs[0, i - start], "text": vecs[1, i - start]},
                           {"product_id": str(i), "title": f"Product {i}", "image_path": "",
                            **{k: str(c[i]) for k, c in cols.items()}}) for i in range(start, stop)]


class VectorEmbedder:
    """A QueryEncoder of random query vectors: timings exclude model encoding."""

    name, dim, image_size = "bench-random", DIM, None

    def __init__(self, seed=1):
        self.rng = np.random.default_rng(seed)

    def _unit(self, n):
        v = self.rng.normal(size=(n, DIM)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def encode_texts(self, texts, **_):
        return self._unit(len(texts))

    def encode_images(self, images, **_):
        return self._unit(len(images))


def timed(fn, reps: int) -> tuple[float, float]:
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))]


def cases(store, embedder):
    two = Filters.of({"gender": ["Women"], "category": ["Apparel"]})
    from PIL import Image

    photo = Image.new("RGB", (8, 8))
    return {
        "unfiltered": lambda: search(store, SearchRequest(text="q", limit=12), embedder),
        "two filters": lambda: search(store, SearchRequest(text="q", limit=12, filters=two), embedder),
        "rrf hybrid": lambda: search(store, SearchRequest(text="q", image=photo, fusion="rrf", limit=12), embedder),
        "facets, one field": lambda: facets(store, two, ["colour"]),
        "facets, 6 fields": lambda: facets(store, two),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--local-reps", type=int, default=20)
    parser.add_argument("--no-e2e", action="store_true")
    args = parser.parse_args()
    embedder = VectorEmbedder()
    edge = EdgeStore(tempfile.mkdtemp(prefix="bench-edge-"))
    local = ServerStore.connect(":memory:")
    for store in (edge, local):
        store.ensure(embedder.name, DIM)
        t = time.perf_counter()
        for batch in make_points(args.n):
            store.upsert(batch)
        print(f"# loaded {args.n} points into {store.backend} in {time.perf_counter() - t:.1f}s")
    as_indexed = {name: timed(fn, args.reps) for name, fn in cases(edge, embedder).items()}
    local_times = {name: timed(fn, args.local_reps) for name, fn in cases(local, embedder).items()}
    t = time.perf_counter()
    edge.optimize()
    print(f"# edge optimize (HNSW build): {time.perf_counter() - t:.1f}s")
    optimized = {name: timed(fn, args.reps) for name, fn in cases(edge, embedder).items()}
    print(f"\n{args.n} products, {DIM} dims; p50 / p95 in ms; ratio = local p50 / embedded (as indexed) p50\n")
    print("| query | embedded, as indexed | embedded, after optimize | qdrant-client local | ratio |")
    print("|---|---|---|---|---|")
    for name in as_indexed:
        (a50, a95), (o50, o95), (l50, l95) = as_indexed[name], optimized[name], local_times[name]
        print(f"| {name} | {a50:.2f} / {a95:.2f} | {o50:.2f} / {o95:.2f} | {l50:.1f} / {l95:.1f} | {l50 / a50:.0f}x |")
    if not args.no_e2e:
        from bench.common import vit_b32_model
        from core.models.embedder import Embedder

        model = Embedder(vit_b32_model(), "cpu")
        edge.update_meta(model=model.name)
        words = ["red summer dress", "black leather watch", "blue denim shorts for men", "white sneakers"]
        i = iter(range(10**9))
        fresh = lambda: f"{words[(n := next(i)) % 4]} {n}"  # noqa: E731 - a new text each time: no query cache hit
        e50, e95 = timed(lambda: search(edge, SearchRequest(text=fresh(), limit=12), model), 50)
        enc50, _ = timed(lambda: model.encode_texts([fresh()]), 50)
        print(f"\nText query end to end (random ViT-B/32 text encoder + embedded search): "
              f"p50 {e50:.1f} ms, p95 {e95:.1f} ms (encoding alone p50 {enc50:.1f} ms)")
    edge.close()


if __name__ == "__main__":
    main()

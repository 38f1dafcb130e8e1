"""Keyword search at 100,000 products (issue 22): the fused text query (keywords + CLIP) against the CLIP-only one,
indexing with the keyword vector against the same run without it, and `searchlog` of 10,000 queries.

    python -m bench.keyword_search query [--n 100000] [--queries 200] [--reuse]
    python -m bench.keyword_search searchlog [--rows 10000]          # on the store `query` built (--n the same)
    python -m bench.keyword_search index [--rows 100000] [--rounds 2] [--photos 400]
    python -m bench.keyword_search report FILE                       # the tables again from a run's JSON line
    python -m bench.keyword_search clean                             # delete what the runs left under bench/out

The catalogue is synthetic but worded: titles, brands, product types, materials, colours, tags, SKUs, handles and
descriptions drawn from a vocabulary with Zipf-like frequencies (a few brands and collection names are everywhere,
most are rare), so the engine's IDF sees realistic document frequencies. `query` writes it straight to an embedded
store through the store API (EdgeStore.ensure + upsert), as the earlier 100k benchmarks did: random 512-d unit
vectors for `image` and `text`, and each product's keyword vector, terms and lookup keys made by the indexer's own
function; then optimize() (what publish() runs at the end of every index run). The store lives in a data dir,
so `python -m core searchlog` opens it as a user's index. Queries go through core.search.query.search, the call
the Search page and `python -m core search` make, with the random full-size ViT-B/32 (bench.common.vit_b32_model)
loaded as the CLI loads it (LENS_RUNTIME auto: onnx-int8 on a CPU, its export hard-linked from an earlier run's
data dir when there is one).

`index` runs the real `python -m core index --json` on a text-only CSV of --rows products (and on a --photos
catalogue of generated JPEGs with the full-size model), each in a fresh process and data dir, alternating the
indexer as it is with the indexer whose keyword step is replaced by a no-op (no keyword vector, no terms, no
lookup keys), same data.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import shutil
import statistics
import sys
import time
from itertools import accumulate
from pathlib import Path

import numpy as np

from bench.common import OUT, run_measured
from bench.index_throughput import cpu_line, load_average

DIM = 512
LIMIT = 12
WORK = OUT / "keyword-search"
ROOT = Path(__file__).resolve().parent.parent
TARGET_QUERY_MS, TARGET_INDEX_RATIO, TARGET_SEARCHLOG_S = 25.0, 1.1, 60.0

# ---- the vocabulary ------------------------------------------------------------------------------------------

# (product type, category, SKU code): common types first (they are drawn Zipf-like, in this order)
TYPES = [("T-Shirt", "Apparel", "TS"), ("Jeans", "Apparel", "JN"), ("Dress", "Apparel", "DR"),
         ("Sneakers", "Footwear", "SN"), ("Shirt", "Apparel", "SH"), ("Hoodie", "Apparel", "HD"),
         ("Jacket", "Apparel", "JK"), ("Shorts", "Apparel", "SO"), ("Skirt", "Apparel", "SK"),
         ("Boots", "Footwear", "BT"), ("Sweater", "Apparel", "SW"), ("Trousers", "Apparel", "TR"),
         ("Handbag", "Accessories", "HB"), ("Leggings", "Apparel", "LG"), ("Sandals", "Footwear", "SD"),
         ("Blouse", "Apparel", "BL"), ("Coat", "Apparel", "CT"), ("Cardigan", "Apparel", "CD"),
         ("Backpack", "Accessories", "BP"), ("Chinos", "Apparel", "CH"), ("Polo Shirt", "Apparel", "PS"),
         ("Sweatshirt", "Apparel", "SS"), ("Joggers", "Apparel", "JG"), ("Blazer", "Apparel", "BZ"),
         ("Loafers", "Footwear", "LF"), ("Tank Top", "Apparel", "TT"), ("Jumpsuit", "Apparel", "JS"),
         ("Belt", "Accessories", "BE"), ("Scarf", "Accessories", "SC"), ("Cap", "Accessories", "CP"),
         ("Beanie", "Accessories", "BN"), ("Wallet", "Accessories", "WL"), ("Socks", "Apparel", "SX"),
         ("Trainers", "Footwear", "TN"), ("Heels", "Footwear", "HL"), ("Parka", "Apparel", "PK"),
         ("Gilet", "Apparel", "GL"), ("Swimsuit", "Apparel", "SM"), ("Bikini", "Apparel", "BK"),
         ("Pyjamas", "Apparel", "PJ"), ("Tote Bag", "Accessories", "TB"), ("Sunglasses", "Accessories", "SG"),
         ("Watch", "Accessories", "WT"), ("Necklace", "Accessories", "NK"), ("Earrings", "Accessories", "ER"),
         ("Gloves", "Accessories", "GV"), ("Slippers", "Footwear", "SL"), ("Espadrilles", "Footwear", "ES"),
         ("Brogues", "Footwear", "BR"), ("Chelsea Boots", "Footwear", "CB"), ("Kimono", "Apparel", "KM"),
         ("Poncho", "Apparel", "PO"), ("Dungarees", "Apparel", "DG"), ("Culottes", "Apparel", "CL")]
COLOURS = ["Black", "White", "Blue", "Navy", "Grey", "Red", "Green", "Beige", "Pink", "Brown", "Khaki", "Cream",
           "Olive", "Burgundy", "Yellow", "Orange", "Purple", "Charcoal", "Teal", "Mustard", "Ivory", "Lilac",
           "Coral", "Tan", "Silver", "Gold", "Rust", "Mint", "Sand", "Indigo"]
MATERIALS = ["cotton", "organic cotton", "denim", "linen", "leather", "wool", "polyester", "jersey", "fleece",
             "suede", "merino wool", "cashmere", "silk", "satin", "velvet", "corduroy", "nylon", "canvas", "twill",
             "recycled polyester", "viscose", "bamboo", "faux leather", "mesh", "modal", "tweed", "chambray"]
STYLES = ["classic", "slim fit", "relaxed fit", "regular fit", "oversized", "cropped", "high-waisted", "straight leg",
          "wide leg", "skinny", "vintage", "essential", "everyday", "lightweight", "heavyweight", "quilted",
          "padded", "waterproof", "stretch", "ribbed", "striped", "checked", "floral", "printed", "embroidered",
          "distressed", "washed", "tailored", "hooded", "zip-up", "button-down", "v-neck", "crew neck",
          "long sleeve", "short sleeve", "sleeveless", "pleated", "wrap", "midi", "maxi", "mini", "chunky",
          "minimal", "retro", "utility", "cargo", "bomber", "tapered", "boxy", "fitted"]
TAGS = ["summer", "winter", "spring", "autumn", "new in", "bestseller", "sale", "office", "party", "wedding",
        "festival", "gym", "running", "hiking", "beach", "travel", "workwear", "loungewear", "sustainable",
        "vegan", "limited edition", "gift", "back to school", "holiday", "evening", "weekend", "outdoor", "yoga"]
GENDERS = (["Women", "Men", "Unisex", "Girls", "Boys"], [0.45, 0.38, 0.09, 0.04, 0.04])
STATUSES = (["active", "draft", "archived"], [0.95, 0.03, 0.02])
REAL_BRANDS = ["Levi's", "Nike", "Adidas", "Zara", "Uniqlo", "Puma", "Reebok", "Vans", "Converse", "Patagonia",
               "Carhartt", "Lacoste", "Ralph Lauren", "Tommy Hilfiger", "Calvin Klein", "Diesel", "Wrangler", "Lee",
               "Dr. Martens", "Timberland", "New Balance", "Asics", "Fila", "Kappa", "Superdry", "Barbour",
               "Columbia", "The North Face", "Mango", "Benetton"]
FILLER = ("perfect for everyday wear soft feel comfortable all day made to last easy care machine washable "
          "designed in our studio responsibly sourced timeless look pairs well with jeans or chinos finished with "
          "a subtle logo keeps you warm on cold mornings breathable on warm days a wardrobe staple the fit is true "
          "to size model wears a size medium brushed inside for extra softness reinforced seams durable hardware "
          "adjustable straps elasticated waist side pockets back pocket branded label tonal stitching contrast trim "
          "dropped shoulders ribbed cuffs and hem relaxed through the body slightly longer at the back garment dyed "
          "for a lived in look lined with a soft mesh easy to layer packs down small water repellent finish "
          "cushioned footbed rubber outsole for grip lace up front pull tab at the heel gold tone buckle magnetic "
          "closure interior zip pocket fits a laptop detachable strap crafted from premium materials inspired by "
          "the archive updated for today limited run while stocks last certified organic fair trade").split()
SYLLABLES = ["ka", "lo", "mar", "ten", "vi", "ro", "sa", "del", "no", "bri", "ar", "fen", "gal", "tor", "zu", "mi",
             "por", "len", "da", "qui", "ve", "ston", "wick", "ley", "ford", "ra", "bel", "cor", "ni", "sol", "bra",
             "kes", "trel", "mo", "ren", "tha", "lis", "go", "har", "pen"]
# Shoppers' words that no product carries (the searchlog's `words` and `gap` material): synonyms of what is stocked,
# and things the shop does not sell.
SYNONYMS = ["tee", "pants", "kicks", "hoody", "purse", "jumper", "trackies", "sneaks", "flip flops", "sweats",
            "windbreaker", "tux", "onesie", "romper", "trench", "gown", "tights", "clogs", "mules", "pumps"]
NOT_STOCKED = ["tennis racket", "yoga mat", "phone case", "umbrella", "perfume", "lipstick", "headphones", "candle",
               "notebook", "water bottle", "bike helmet", "ski goggles", "dog collar", "tent", "sleeping bag",
               "pillow", "duvet", "mug", "lamp", "rug", "wetsuit", "snorkel", "golf balls", "football",
               "skateboard", "laptop sleeve", "keyring", "hair clip", "nail polish", "face mask"]


def _names(rng: random.Random, count: int, taken: set[str]) -> list[str]:
    """count distinct made-up proper names (brands, collections) of 2-3 syllables."""
    out = []
    while len(out) < count:
        name = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 2, 3)))).capitalize()
        if name.lower() not in taken:
            taken.add(name.lower())
            out.append(name)
    return out


def _zipf_weights(count: int, exponent: float = 1.0) -> list[float]:
    return list(accumulate(1 / (rank + 1) ** exponent for rank in range(count)))


class Vocabulary:
    """Brands (30 real names, then made-up ones) and collection names (the rare title words), Zipf-weighted."""

    def __init__(self, seed: int = 22, brands: int = 400, collections: int = 3000):
        rng = random.Random(seed)
        taken = {w.lower() for w in (*REAL_BRANDS, *FILLER, *MATERIALS, *COLOURS, *TAGS)}
        self.brands = REAL_BRANDS + _names(rng, brands - len(REAL_BRANDS), taken)
        self.collections = _names(rng, collections, taken)
        self.brand_cum, self.collection_cum = _zipf_weights(len(self.brands)), _zipf_weights(len(self.collections))
        self.type_cum, self.material_cum = _zipf_weights(len(TYPES), 0.8), _zipf_weights(len(MATERIALS), 0.8)
        self.colour_cum, self.style_cum = _zipf_weights(len(COLOURS), 0.7), _zipf_weights(len(STYLES), 0.6)
        self.filler_cum = _zipf_weights(len(FILLER), 0.9)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def products(n: int, vocab: Vocabulary | None = None, seed: int = 7):
    """n catalogue rows as a generic CSV's columns would hold them, deterministic for a seed."""
    vocab = vocab or Vocabulary()
    rng = random.Random(seed)
    pick = lambda values, cum: rng.choices(values, cum_weights=cum)[0]  # noqa: E731
    for i in range(n):
        kind, category, code = pick(TYPES, vocab.type_cum)
        brand, colour = pick(vocab.brands, vocab.brand_cum), pick(COLOURS, vocab.colour_cum)
        material, style = pick(MATERIALS, vocab.material_cum), pick(STYLES, vocab.style_cum)
        collection = pick(vocab.collections, vocab.collection_cum) if rng.random() < 0.7 else ""
        title = " ".join(w for w in (brand, collection, style.title(), material.title(), kind) if w) + f" - {colour}"
        gender = rng.choices(*GENDERS)[0]
        filler = rng.choices(FILLER, cum_weights=vocab.filler_cum, k=rng.randint(8, 30))
        other = pick(TYPES, vocab.type_cum)[0].lower()
        description = (f"{style.capitalize()} {kind.lower()} in {colour.lower()} {material} by {brand}. "
                       f"{' '.join(filler).capitalize()}. Pairs well with our {other}.")
        yield {"handle": f"{slug(brand)}-{slug(collection or style)}-{slug(kind)}-{i}", "title": title,
               "brand": brand, "product_type": kind, "category": category, "colour": colour,
               "tags": ", ".join(rng.sample(TAGS, rng.randint(1, 4))), "sku": f"{code}-{i:06d}-{colour[:3].upper()}",
               "description": description, "gender": gender, "price": f"{rng.uniform(5, 300):.2f}",
               "status": rng.choices(*STATUSES)[0]}


def payload_of(row: dict) -> dict:
    """A product's payload as the generic reader makes it from that row (colour, tags and SKUs are lists)."""
    return {"product_id": row["handle"], "title": row["title"], "brand": row["brand"],
            "product_type": row["product_type"], "category": row["category"], "colour": [row["colour"]],
            "tags": [t.strip() for t in row["tags"].split(",")], "sku": [row["sku"]],
            "description": row["description"], "gender": row["gender"], "price": float(row["price"]),
            "status": row["status"], "image_path": ""}


def write_csv(path: Path, n: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = None
        for row in products(n):
            if out is None:
                out = csv.DictWriter(fh, fieldnames=list(row))
                out.writeheader()
            out.writerow(row)
    return path


def text_queries(count: int, vocab: Vocabulary | None = None, n: int = 100_000, seed: int = 11) -> list[str]:
    """count varied search-box queries: brands, type + colour, brand + type, a rare collection name, a whole SKU,
    longer descriptive phrases, and words no product carries. Distinct (so no query is a cache hit)."""
    vocab = vocab or Vocabulary()
    rng = random.Random(seed)
    rows = list(products(min(n, 5000), vocab))  # SKUs and handles that exist in the first products
    makers = [
        lambda: rng.choice(vocab.brands[:60]),
        lambda: f"{rng.choice(COLOURS).lower()} {rng.choice(TYPES)[0].lower()}",
        lambda: f"{rng.choice(vocab.brands[:40])} {rng.choice(TYPES)[0].lower()}",
        lambda: rng.choice(vocab.collections),
        lambda: rng.choice(rows)["sku"],
        lambda: (f"{rng.choice(STYLES)} {rng.choice(MATERIALS)} {rng.choice(TYPES)[0].lower()} for "
                 f"{rng.choice(['women', 'men', 'kids'])}"),
        lambda: f"{rng.choice(MATERIALS)} {rng.choice(TYPES)[0].lower()} {rng.choice(TAGS)}",
        lambda: f"{rng.choice(COLOURS).lower()} {rng.choice(NOT_STOCKED)}",
        lambda: rng.choice(SYNONYMS) + rng.choice(["", f" {rng.choice(COLOURS).lower()}"]),
        lambda: rng.choice(rows)["handle"],
    ]
    out: dict[str, None] = {}
    tries = 0
    while len(out) < count:  # each kind in turn; a kind that has run out of new queries gives repeats, skipped
        out[makers[tries % len(makers)]()] = None
        tries += 1
    return list(out)


def search_log_rows(count: int, vocab: Vocabulary | None = None, seed: int = 13) -> list[tuple[str, int]]:
    """count distinct (query, searches) rows, as a "searches with no results" or site-search export lists them:
    queries of every kind above plus misspellings, counts Zipf-like (a few searched hundreds of times)."""
    vocab = vocab or Vocabulary()
    rng = random.Random(seed)
    queries = text_queries(count // 2, vocab, seed=seed)
    seen = set(queries)

    def misspelt(text: str) -> str:
        at = rng.randrange(len(text))
        return text[:at] + text[at + 1:]

    while len(queries) < count:
        kind = rng.random()
        if kind < 0.3:
            q = misspelt(rng.choice(queries[: count // 2]))
        elif kind < 0.6:
            q = f"{rng.choice(STYLES)} {rng.choice(SYNONYMS)} {rng.choice(COLOURS).lower()}"
        elif kind < 0.8:
            q = f"{rng.choice(vocab.brands)} {rng.choice(NOT_STOCKED)}"
        else:
            q = f"{rng.choice(MATERIALS)} {rng.choice(COLOURS).lower()} {rng.choice(TYPES)[0].lower()}"
        if q.strip() and q not in seen:
            seen.add(q)
            queries.append(q)
    rng.shuffle(queries)
    return [(q, max(1, int(400 / (rank + 1) ** 0.8))) for rank, q in enumerate(queries)]


def write_search_log(path: Path, count: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["Search query", "Searches"])  # a shop export's headers
        out.writerows(search_log_rows(count))
    return path


# ---- the store: 100,000 worded products, random vectors, the indexer's keyword fields ------------------------

def keyword_fields(payload: dict):
    """(the keyword vector, the payload with its terms and lookup keys) as the indexer makes them: through
    core.index.keyword_stage.keyword_fields, the one place the indexer tokenises a product."""
    from core.index.keyword_stage import keyword_fields as indexers

    document, keys = indexers(payload)
    return document, dict(payload, **keys)


def build_store(data_dir: Path, n: int, model: str, log) -> dict:
    """Write n products to a fresh embedded store in data_dir (the collection a user's index uses), then optimize
    (HNSW, int8 and the sparse index, what publish() builds); returns the seconds each step took."""
    from core.common.fields import Schema
    from core.index.store import EdgeStore, StoredPoint, point_id

    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    store = EdgeStore(data_dir)
    store.ensure(model, DIM, expected_points=n)
    store.add_fields(Schema(keyword=("gender", "category", "product_type", "colour", "brand", "tags", "status"),
                            number=("price",)))
    rng = np.random.default_rng(0)
    took = {"keywords_s": 0.0, "write_s": 0.0}
    batch: list = []
    start = time.perf_counter()
    for i, row in enumerate(products(n)):
        t = time.perf_counter()
        sparse, payload = keyword_fields(payload_of(row))
        took["keywords_s"] += time.perf_counter() - t
        batch.append((point_id(row["handle"]), sparse, payload))
        if len(batch) == 1000 or i == n - 1:
            dense = rng.normal(size=(2, len(batch), DIM)).astype(np.float32)
            dense /= np.linalg.norm(dense, axis=-1, keepdims=True)
            points = [StoredPoint(pid, {"image": dense[0, j], "text": dense[1, j],
                                        "keywords": sparse}, payload)
                      for j, (pid, sparse, payload) in enumerate(batch)]
            t = time.perf_counter()
            store.upsert(points)
            took["write_s"] += time.perf_counter() - t
            batch = []
            if (i + 1) % 20_000 == 0:
                log(f"wrote {i + 1:,} products ({time.perf_counter() - start:.0f} s)")
    t = time.perf_counter()
    store.optimize()
    took["optimize_s"] = time.perf_counter() - t
    store.check_keywords()
    store.update_meta(last_indexed=time.time())  # what an index run records last: the CLI and app serve it
    store.close()
    took["disk_mb"] = sum(f.stat().st_blocks * 512 for f in data_dir.rglob("*") if f.is_file()) / 2**20
    return took


def settings_for(data_dir: Path, model: str, runtime: str = "auto"):
    from core.common.config import Settings

    return Settings.from_env(dict(os.environ, LENS_DATA_DIR=str(data_dir), LENS_MODEL=model, LENS_DEVICE="cpu",
                                  LENS_RUNTIME=runtime))


def link_export(data_dir: Path) -> str:
    """Hard-link an earlier run's ONNX export of the random ViT-B/32 into data_dir (as a user's second index finds
    it); '' when there is none (the first model load then exports, once)."""
    for earlier in sorted(OUT.glob("*/data-warm/onnx")) + sorted(OUT.glob("*/data*/onnx")):
        if earlier.parent.parent != data_dir.parent and any(earlier.rglob("text.int8*.onnx")):
            shutil.rmtree(data_dir / "onnx", ignore_errors=True)
            shutil.copytree(earlier, data_dir / "onnx", copy_function=os.link)
            return str(earlier)
    return ""


# ---- 1. the fused text query against the CLIP-only one ---------------------------------------------------------

def percentiles(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))]


def time_queries(store, embedder, queries: list[str], log) -> dict:
    """p50/p95 ms per (mode, pass) through search(), limit 12, the default view (drafts and archived left out).

    Cold: the query's first search, so its text is encoded (the embedder caches a single query's vector): each
    query runs both modes back to back, the first alternating, so each mode gets half the queries cold and the
    other half with the vector its twin just encoded. Warm: every query again, the vector cached: search()'s
    own time, engine included (what a rerun of the page costs, and the store part of the cold time). Filtered:
    warm, with gender=Women (the filter sits in every prefetch)."""
    from core.common.filters import Filters
    from core.search.query import SearchRequest, search

    modes = ("both", "meaning")
    out: dict = {f"{m} {p}": [] for m in modes for p in ("cold", "warm", "warm filtered")}
    out["encode"] = []
    women = Filters.of({"gender": ["Women"]})
    search(store, SearchRequest(text="warm-up query", match="both", limit=LIMIT), embedder)
    for i, text in enumerate(queries):
        order = modes if i % 2 == 0 else modes[::-1]
        for j, mode in enumerate(order):
            t = time.perf_counter()
            search(store, SearchRequest(text=text, match=mode, limit=LIMIT), embedder)
            out[f"{mode} cold" if j == 0 else f"{mode} warm"].append((time.perf_counter() - t) * 1000)
    for key in ("both warm", "meaning warm"):
        out[key] = []  # the half measured right after the twin is replaced by a full pass
    for passes in (("warm", None), ("warm filtered", women)):
        for i, text in enumerate(queries):
            for mode in (modes if i % 2 == 0 else modes[::-1]):
                request = SearchRequest(text=text, match=mode, limit=LIMIT,
                                        **({"filters": passes[1]} if passes[1] else {}))
                t = time.perf_counter()
                search(store, request, embedder)
                out[f"{mode} {passes[0]}"].append((time.perf_counter() - t) * 1000)
    for i, text in enumerate(queries[:100]):
        t = time.perf_counter()
        embedder.encode_texts([f"{text} {i} fresh"])  # not cached: the text tower alone
        out["encode"].append((time.perf_counter() - t) * 1000)
    log("query times", json.dumps({k: percentiles(v) for k, v in out.items()}))
    return {k: percentiles(v) + (len(v),) for k, v in out.items()}


def sku_check(store, embedder, count: int = 20) -> dict:
    """Whole-SKU queries (match both): how often the product carrying it comes first, and the tiers' sanity."""
    from core.search.query import SearchRequest, search

    rows = list(products(2000))
    found = 0
    for row in rows[::len(rows) // count][:count]:
        results = search(store, SearchRequest(text=row["sku"], match="both", limit=LIMIT, show_hidden=True),
                         embedder)
        found += bool(results) and results[0].product_id == row["handle"]
    return {"sku_first": found, "sku_checked": count}


def run_query(args, log) -> dict:
    from bench.common import vit_b32_model
    from core.cli.common import model_for, open_reader

    model, data_dir = vit_b32_model(), WORK / "data"
    built = None
    if not args.reuse:
        log(cpu_line(), f"load average {load_average():.2f}")
        built = build_store(data_dir, args.n, model, log)
        log("built", json.dumps(built))
    linked = link_export(data_dir) if not (data_dir / "onnx").exists() else "(already there)"
    settings = settings_for(data_dir, model, args.runtime)
    t = time.perf_counter()
    embedder = model_for(settings)
    load_s = time.perf_counter() - t
    store = open_reader(settings)
    if store.count() != args.n:
        raise SystemExit(f"the store at {data_dir} holds {store.count()} products, not --n {args.n}")
    loads = [load_average()]
    times = time_queries(store, embedder, text_queries(args.queries), log)
    loads.append(load_average())
    checks = sku_check(store, embedder)
    store.close()
    return {"n": args.n, "queries": args.queries, "runtime": embedder.runtime, "export_from": linked,
            "model_load_s": load_s, "built": built, "times": times, "loads": loads, **checks}


# ---- 2. indexing with the keyword vector against without it ---------------------------------------------------

def index_worker(variant: str, argv: list[str]) -> int:
    """`python -m core index ...` in this process, with the indexer's keyword step as it is ("as-is") or a
    no-op ("no-keywords": no keyword vector, no terms, no lookup keys)."""
    from core.cli import main
    from core.index import keyword_stage
    from core.index.keywords import KeywordDocument

    if variant == "no-keywords":  # an empty keyword document is left out of the point; no terms, no lookup keys
        keyword_stage.keyword_fields = lambda payload: (KeywordDocument((), (), ()), {})
    return main(argv)


def index_once(csv_path: Path, images: Path | None, data_dir: Path, variant: str, model: str, runtime: str,
               export_from: Path | None) -> dict:
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    if export_from is not None:
        shutil.copytree(export_from, data_dir / "onnx", copy_function=os.link)
    env = dict(os.environ, LENS_DATA_DIR=str(data_dir), LENS_MODEL=model, LENS_DEVICE="cpu", LENS_RUNTIME=runtime,
               LENS_BATCH_SIZE="32" if images else "256")
    cmd = [sys.executable, "-m", "bench.keyword_search", "index-worker", variant, "--", "index", "--catalog",
           str(csv_path), *(["--images", str(images)] if images else []), "--json"]
    load_before = load_average()
    cpu_before = os.times()
    done = run_measured(cmd, env)
    cpu_after = os.times()
    if done["returncode"] != 0:
        raise SystemExit(f"index ({variant}) failed:\n{done['stderr'][-3000:]}")
    report = json.loads(done["stdout"].strip().splitlines()[-1])
    shutil.rmtree(data_dir, ignore_errors=True)
    return {"variant": variant, "wall_s": done["seconds"], "report_s": report["seconds"], "stages": report["stages"],
            "indexed": report["indexed"], "runtime": report.get("runtime"),
            "cpu_s": (cpu_after.children_user + cpu_after.children_system)
            - (cpu_before.children_user + cpu_before.children_system),
            "peak_anon_mb": done["peak_anon_mb"], "load": (load_before + load_average()) / 2}


def run_index(args, log) -> dict:
    from bench.common import photos, tiny_512_model, vit_b32_model
    from bench.index_throughput import write_catalogue

    folder = WORK / "index"
    out: dict = {"rows": args.rows, "photos": args.photos, "rounds": args.rounds, "runs": {}}
    catalogues = []
    if args.rows:
        text_model = vit_b32_model() if args.text_model == "full" else tiny_512_model()
        runtime = "auto" if args.text_model == "full" else "torch"
        catalogues.append(("text-only", write_csv(folder / "text-only.csv", args.rows), None, text_model, runtime))
    if args.photos:
        csv_path, images = write_catalogue(folder / "photos", photos(args.photos))
        catalogues.append(("photos", csv_path, images, vit_b32_model(), "auto"))
    export = next((p for p in sorted(OUT.glob("*/data-warm/onnx")) if any(p.rglob("text.int8*.onnx"))), None)
    for name, csv_path, images, model, runtime in catalogues:
        rows = out["runs"][name] = []
        for round_ in range(args.rounds):
            for variant in (("as-is", "no-keywords") if round_ % 2 == 0 else ("no-keywords", "as-is")):
                rows.append(index_once(csv_path, images, folder / f"data-{name}", variant, model, runtime,
                                       export if runtime == "auto" else None))
                log(name, json.dumps(rows[-1]))
    shutil.rmtree(folder, ignore_errors=True)
    return out


# ---- 3. searchlog of 10,000 queries ---------------------------------------------------------------------------

class TimedEncoder:
    """The embedder as diagnose sees it, adding up the seconds spent in encode_texts."""

    def __init__(self, inner):
        self.inner, self.seconds, self.calls, self.texts = inner, 0.0, 0, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def encode_texts(self, texts, *a, **k):
        t = time.perf_counter()
        try:
            return self.inner.encode_texts(texts, *a, **k)
        finally:
            self.seconds += time.perf_counter() - t
            self.calls += 1
            self.texts += len(texts)


def run_searchlog(args, log) -> dict:
    from bench.common import vit_b32_model
    from core.cli.common import model_for, open_reader
    from core.ingest.search_log import read_search_log
    from core.insights.searchlog import diagnose

    model, data_dir = vit_b32_model(), WORK / "data"
    log_path = write_search_log(WORK / "search-log.csv", args.rows)
    if not (data_dir / "onnx").exists():
        link_export(data_dir)
    env = dict(os.environ, LENS_DATA_DIR=str(data_dir), LENS_MODEL=model, LENS_DEVICE="cpu")
    load_before = load_average()
    cli = run_measured([sys.executable, "-m", "core", "searchlog", "--log", str(log_path), "--json"], env)
    if cli["returncode"] != 0:
        raise SystemExit(f"searchlog failed:\n{cli['stderr'][-3000:]}")
    diagnoses = json.loads(cli["stdout"])
    verdicts = {v: sum(1 for d in diagnoses if d["verdict"] == v) for v in ("gap", "words", "found")}
    cli_row = {"wall_s": cli["seconds"], "peak_anon_mb": cli["peak_anon_mb"], "rows": len(diagnoses),
               "verdicts": verdicts, "load": (load_before + load_average()) / 2}
    log("searchlog CLI", json.dumps(cli_row))
    # The same diagnosis in this process, the encoder's time counted apart from the rest (the engine's queries).
    settings = settings_for(data_dir, model)
    t = time.perf_counter()
    embedder = TimedEncoder(model_for(settings))
    load_s = time.perf_counter() - t
    store = open_reader(settings)
    t = time.perf_counter()
    search_log = read_search_log(log_path)
    read_s = time.perf_counter() - t
    t = time.perf_counter()
    again = diagnose(store, embedder, search_log)
    total_s = time.perf_counter() - t
    store.close()
    split = {"model_load_s": load_s, "read_s": read_s, "diagnose_s": total_s, "encode_s": embedder.seconds,
             "encode_calls": embedder.calls, "texts_encoded": embedder.texts,
             "engine_and_rest_s": total_s - embedder.seconds, "rows": len(again), "runtime": embedder.runtime,
             "load": load_average()}
    log("searchlog split", json.dumps(split))
    return {"cli": cli_row, "split": split}


# ---- the report --------------------------------------------------------------------------------------------

def report_query(r: dict) -> None:
    t = r["times"]
    print(f"{r['n']:,} products, {r['queries']} queries, search() limit {LIMIT}, default view; encoder: random "
          f"full-size ViT-B/32, runtime {r['runtime']}; p50 / p95 ms (count); load {r['loads']}\n")
    print("| search() | match both (fused) | match meaning (CLIP only) | ratio p50 |")
    print("|---|---|---|---|")
    for label, key in (("cold: text encoded, end to end", "cold"), ("warm: vector cached (store part)", "warm"),
                       ("warm, gender=Women", "warm filtered")):
        both, meaning = t[f"both {key}"], t[f"meaning {key}"]
        print(f"| {label} | {both[0]:.2f} / {both[1]:.2f} ({both[2]}) | {meaning[0]:.2f} / {meaning[1]:.2f} "
              f"({meaning[2]}) | {both[0] / meaning[0]:.2f} |")
    print(f"\nencode alone p50 {t['encode'][0]:.1f} ms; whole-SKU query first: {r['sku_first']}/{r['sku_checked']}")
    p50 = t["both cold"][0]
    print(f"- fused p50 end to end {p50:.1f} ms (target <= {TARGET_QUERY_MS:.0f}: "
          f"{'met' if p50 <= TARGET_QUERY_MS else 'MISSED'})")


def report_index(r: dict) -> None:
    for name, rows in r["runs"].items():
        print(f"\n{name}: wall s / CPU s / keywords s / write s / publish s per run")
        for row in rows:
            st = row["stages"]
            print(f"- {row['variant']}: {row['wall_s']:.1f} / {row['cpu_s']:.1f} / {st.get('keywords', 0):.1f} / "
                  f"{st.get('write', 0):.1f} / {st.get('publish', 0):.1f} (embed {st.get('embed', 0):.1f}, "
                  f"load {row['load']:.1f})")
        med = {v: statistics.median(x["wall_s"] for x in rows if x["variant"] == v) for v in ("as-is", "no-keywords")}
        cpu = {v: statistics.median(x["cpu_s"] for x in rows if x["variant"] == v) for v in ("as-is", "no-keywords")}
        ratio = med["as-is"] / med["no-keywords"]
        print(f"- ratio (median wall) {ratio:.3f}, (median CPU) {cpu['as-is'] / cpu['no-keywords']:.3f} "
              f"(target <= {TARGET_INDEX_RATIO}: {'met' if ratio <= TARGET_INDEX_RATIO else 'MISSED'})")


def report_searchlog(r: dict) -> None:
    cli, split = r["cli"], r["split"]
    print(f"`python -m core searchlog --log FILE --json`, {cli['rows']:,} queries: {cli['wall_s']:.1f} s wall "
          f"(verdicts {cli['verdicts']}, load {cli['load']:.1f}); in process: diagnose {split['diagnose_s']:.1f} s = "
          f"encode {split['encode_s']:.1f} s + engine and the rest {split['engine_and_rest_s']:.1f} s; "
          f"model load {split['model_load_s']:.1f} s, reading the log {split['read_s']:.2f} s")
    print(f"- target <= {TARGET_SEARCHLOG_S:.0f} s: {'met' if cli['wall_s'] <= TARGET_SEARCHLOG_S else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("part", choices=["query", "index", "searchlog", "clean", "report", "index-worker"])
    parser.add_argument("rest", nargs="*")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--reuse", action="store_true", help="query: time the store an earlier run built")
    parser.add_argument("--runtime", default="auto", help="the query encoder's runtime (the CLI's default: auto)")
    parser.add_argument("--rows", type=int, help="index: text-only products (100,000); searchlog: log rows (10,000)")
    parser.add_argument("--photos", type=int, default=0, help="index: also a catalogue of this many photos")
    parser.add_argument("--text-model", choices=["tiny", "full"], default="tiny",
                        help="index: the model of the text-only catalogue (tiny towers, or the full ViT-B/32)")
    parser.add_argument("--rounds", type=int, default=2)
    args, unknown = parser.parse_known_args()
    if args.part == "index-worker":
        argv = sys.argv[sys.argv.index("--") + 1:]
        sys.exit(index_worker(args.rest[0], argv))
    log = lambda *a: print("#", *a, file=sys.stderr, flush=True)  # noqa: E731
    if args.part == "clean":
        shutil.rmtree(WORK, ignore_errors=True)
        return
    if args.part == "report":  # the tables again, from the JSON line a run printed last
        result = json.loads(Path(args.rest[0]).read_text().strip().splitlines()[-1])
        part = "query" if "times" in result else "index" if "runs" in result else "searchlog"
        print(f"CPU: {result['cpu']}; started {result['started']}\n")
        {"query": report_query, "index": report_index, "searchlog": report_searchlog}[part](result)
        return
    started = time.strftime("%H:%M UTC", time.gmtime())
    if args.part == "query":
        result = run_query(args, log)
    elif args.part == "index":
        args.rows = 100_000 if args.rows is None else args.rows
        result = run_index(args, log)
    else:
        args.rows = args.rows or 10_000
        result = run_searchlog(args, log)
    result.update(cpu=cpu_line(), started=started, uptime=Path("/proc/loadavg").read_text().split()[:3])
    print(f"CPU: {cpu_line()}; started {started}\n")
    {"query": report_query, "index": report_index, "searchlog": report_searchlog}[args.part](result)
    print(json.dumps(result), file=sys.stderr)


if __name__ == "__main__":
    main()

"""Matching a 20,000-product reference catalogue against 100,000 of ours: find_gaps end to end, and the CLI.

    python -m bench.gaps [--ours 100000] [--theirs 20000] [--threshold 0.9] [--no-cli]

Vectors are synthetic clustered 512-d unit vectors written through the store API into the embedded engine, as
`index` and `reference add` leave it (scale settings for the size, vector indexes built, a copy published): 500
cluster centres, our products at cosine 0.8 from theirs. The reference has four planted kinds: near-copies of
one of our photos (cosine 0.95: must match that product), near-copies of one of our texts with no photo
(text-only, 0.95: must match it by text), members of our clusters (about 0.64 from ours: gaps at 0.9), and
vectors far from everything (random: gaps). Reports seconds, reference products matched per second, the share
of each planted kind found as expected, the CPU model and load; to stdout and bench/out/gaps.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import OUT, peak_rss_mb
from core.common.config import Settings
from core.insights.gaps import find_gaps
from core.insights.reference import REFERENCE, REFERENCE_OF, reference_collection
from core.index.store import EdgeStore, StoredPoint, open_store, point_id

DIM = 512
CENTRES = 500
WITHIN = 0.8      # cosine between a cluster's centre and a member
COPY_COS = 0.95   # cosine between one of our products and its planted copy in the reference
SHARES = {"photo_copy": 0.4, "text_copy": 0.02, "cluster": 0.3}  # the rest: far from everything
CATEGORIES = 25
WRITE_BATCH = 1000
MODEL = "bench-clustered"


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def members(rng, centres: np.ndarray, which: np.ndarray) -> np.ndarray:
    """Unit vectors at cosine WITHIN from the given centres."""
    noise = unit(rng.standard_normal((len(which), DIM)))
    return unit(WITHIN * centres[which] + np.sqrt(1 - WITHIN ** 2) * noise)


def near(rng, vectors: np.ndarray) -> np.ndarray:
    """A copy of each vector at cosine COPY_COS."""
    noise = unit(rng.standard_normal(vectors.shape))
    noise = unit(noise - (noise * vectors).sum(1, keepdims=True) * vectors)  # orthogonal: exactly COPY_COS
    return unit(COPY_COS * vectors + np.sqrt(1 - COPY_COS ** 2) * noise)


def make(n_ours: int, n_theirs: int, seed: int = 0) -> dict:
    """Our vectors and categories, the reference's, and what each reference product is planted as."""
    rng = np.random.default_rng(seed)
    image_centres, text_centres = unit(rng.standard_normal((CENTRES, DIM))), unit(rng.standard_normal((CENTRES, DIM)))
    cluster = rng.integers(0, CENTRES, n_ours)
    ours = {"image": members(rng, image_centres, cluster), "text": members(rng, text_centres, cluster),
            "category": cluster % CATEGORIES}
    kinds = np.array(["far"] * n_theirs, dtype=object)
    bounds = np.cumsum([int(n_theirs * s) for s in SHARES.values()])
    for kind, start, end in zip(SHARES, [0, *bounds[:-1]], bounds):
        kinds[start:end] = kind
    source = rng.integers(0, n_ours, n_theirs)  # the product of ours a copy is made from
    their_cluster = rng.integers(0, CENTRES, n_theirs)
    image = unit(rng.standard_normal((n_theirs, DIM)))
    text = unit(rng.standard_normal((n_theirs, DIM)))
    copy, tcopy, member = kinds == "photo_copy", kinds == "text_copy", kinds == "cluster"
    image[copy] = near(rng, ours["image"][source[copy]])
    text[tcopy] = near(rng, ours["text"][source[tcopy]])
    image[member] = members(rng, image_centres, their_cluster[member])
    category = np.where(copy | tcopy, ours["category"][source], their_cluster % CATEGORIES)
    return {"ours": ours, "theirs": {"image": image, "text": text, "category": category, "kind": kinds,
                                     "source": source}}


def write(store: EdgeStore, side: dict, prefix: str, text_only=None) -> None:
    """Every product through the store API, then the vector indexes and the published copy (as indexing ends)."""
    n = len(side["image"])
    store.ensure(MODEL, DIM, expected_points=n)
    for start in range(0, n, WRITE_BATCH):
        batch = []
        for i in range(start, min(n, start + WRITE_BATCH)):
            vectors = {"text": side["text"][i]}
            if text_only is None or not text_only[i]:
                vectors["image"] = side["image"][i]
            pid = f"{prefix}{i}"
            batch.append(StoredPoint(point_id(pid), vectors, {"product_id": pid, "title": f"product {pid}",
                                                              "category": f"c{side['category'][i]}"}))
        store.upsert(batch)
    store.update_meta(last_indexed=time.time())
    store.publish()


def check(rows, theirs: dict) -> dict:
    """The share of each planted kind found as expected: copies matched to their source, the rest gaps."""
    got = {r.their_id: r for r in rows}
    out = {}
    for kind in ("photo_copy", "text_copy", "cluster", "far"):
        ids = np.nonzero(theirs["kind"] == kind)[0]
        if kind.endswith("copy"):
            ok = sum(got[f"t{i}"].verdict == "match" and got[f"t{i}"].our_id == f"o{theirs['source'][i]}"
                     for i in ids)
        else:
            ok = sum(got[f"t{i}"].verdict == "gap" for i in ids)
        out[kind] = {"products": int(len(ids)), "as_expected": round(ok / max(1, len(ids)), 5)}
    return out


BASELINE_SAMPLE = 1000


def one_by_one(settings, theirs: dict, count: int) -> dict:
    """The baseline: one engine request per reference product (their photo vector, limit 1), on the first
    `count` of theirs with a photo, as a naive loop would match; per product, to compare with find_gaps."""
    from core.index.store import Nearest

    ours = open_store(settings, read_only=True)
    try:
        vectors = [v for v, kind in zip(theirs["image"], theirs["kind"]) if kind != "text_copy"][:count]
        start = time.perf_counter()
        for vector in vectors:
            ours.query(Nearest(vector.tolist(), using="image"), limit=1)
        seconds = time.perf_counter() - start
    finally:
        ours.close()
    return {"products": len(vectors), "seconds": round(seconds, 2),
            "per_product_ms": round(1000 * seconds / len(vectors), 3)}


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, round(time.perf_counter() - start, 2)


def cpu_model() -> str:
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ours", type=int, default=100_000)
    parser.add_argument("--theirs", type=int, default=20_000)
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--no-cli", action="store_true", help="skip timing `python -m core gaps` in a subprocess")
    args = parser.parse_args()
    row: dict = {"ours": args.ours, "theirs": args.theirs, "threshold": args.threshold, "cpu": cpu_model(),
                 "cores": len(os.sched_getaffinity(0)), "load_before": [round(x, 2) for x in os.getloadavg()]}
    data = make(args.ours, args.theirs)
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(data_dir=Path(folder), collection="products", model=MODEL)
        ours = EdgeStore(settings.data_dir, settings.collection)
        _, row["write_ours_s"] = timed(lambda: write(ours, data["ours"], "o"))
        ours.close()
        theirs = EdgeStore(settings.data_dir, reference_collection(settings, "bench"))
        _, row["write_theirs_s"] = timed(lambda: write(theirs, data["theirs"], "t",
                                                       text_only=data["theirs"]["kind"] == "text_copy"))
        theirs.update_meta(**{REFERENCE_OF: settings.collection, REFERENCE: "bench"})
        theirs.publish()
        theirs.close()

        def match(same=None):
            a, b = open_store(settings, read_only=True), open_store(settings, True, reference_collection(settings, "bench"))
            try:
                return find_gaps(a, b, args.threshold, same=same)
            finally:
                b.close()
                a.close()

        rows, row["find_gaps_s"] = timed(match)
        row["matches_per_s"] = round(args.theirs / row["find_gaps_s"])
        row["matches"] = sum(r.verdict == "match" for r in rows)
        row["gaps"] = len(rows) - row["matches"]
        row["planted"] = check(rows, data["theirs"])
        row["baseline_one_request_per_product"] = one_by_one(settings, data["theirs"], BASELINE_SAMPLE)
        row["batched_speedup"] = round(row["baseline_one_request_per_product"]["per_product_ms"]
                                       / (1000 * row["find_gaps_s"] / args.theirs), 2)
        rows, row["find_gaps_same_category_s"] = timed(lambda: match("category"))
        row["planted_same_category"] = check(rows, data["theirs"])
        if not args.no_cli:
            env = dict(os.environ, LENS_DATA_DIR=folder, LENS_COLLECTION="products", LENS_MODEL=MODEL)
            proc, row["cli_gaps_json_s"] = timed(lambda: subprocess.run(
                [sys.executable, "-m", "core", "gaps", "bench", "--threshold", str(args.threshold), "--json"],
                capture_output=True, text=True, env=env))
            row["cli_rows"] = len(json.loads(proc.stdout)) if proc.returncode == 0 else proc.stderr.strip()[-300:]
    row["load_after"] = [round(x, 2) for x in os.getloadavg()]
    row["peak_rss_mb"] = round(peak_rss_mb())
    print(json.dumps(row, indent=2))
    OUT.mkdir(exist_ok=True)
    (OUT / "gaps.json").write_text(json.dumps(row, indent=2) + "\n")


if __name__ == "__main__":
    main()

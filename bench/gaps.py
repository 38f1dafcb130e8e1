"""Matching a 20,000-product reference catalogue against 100,000 of ours: find_gaps end to end, and the CLI.

    python -m bench.gaps [--ours 100000] [--theirs 20000] [--threshold 0.9] [--no-cli]

Vectors are synthetic clustered 512-d unit vectors written through the store API into the embedded engine, as
`index` and `reference add` leave it (scale settings for the size, vector indexes built, a copy published): 500
cluster centres, our products at cosine 0.8 from theirs. The reference has four planted kinds: near-copies of
one of our photos (cosine 0.95: must match that product), near-copies of one of our texts with no photo
(text-only, 0.95: must match it by text), members of our clusters (about 0.64 from ours: gaps at 0.9), and
vectors far from everything (random: gaps). Reports seconds, reference products matched per second, the share
of each planted kind found as expected, the CPU model and load; to stdout and bench/out/gaps.json.

The baseline asks for a sample of the reference spread over every planted kind, one engine request per product
(reading theirs and building each row as find_gaps does); it and find_gaps are timed with the stores already
open, so the speedup compares matching with matching (find_gaps_s, end to end with opening, is reported too).
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
from core.insights.gaps import BATCH, GAP, MATCH, GapRow, find_gaps
from core.insights.reference import REFERENCE, REFERENCE_OF, reference_collection
from core.index.store import EdgeStore, Nearest, StoredPoint, open_store, point_id

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


def baseline_sample(theirs: dict, count: int) -> list[int]:
    """`count` reference products spread evenly over the whole reference. The kinds are planted in blocks (photo
    copies first), so the first `count` would all be photo copies; every k-th product samples each planted kind
    in its share, text-only copies (asked by their text vector) included."""
    n = len(theirs["kind"])
    return sorted(set(np.linspace(0, n - 1, min(count, n)).round().astype(int).tolist()))


def one_by_one(ours, theirs, threshold: float, sample: list[int]) -> tuple[list[GapRow], float]:
    """The baseline: the work find_gaps does for each sampled reference product, with one engine request per
    product instead of one per BATCH. Their points are read BATCH at a time with their vectors (as find_gaps
    reads theirs); then, per product, one query of ours in its space (photo, or text for a product without
    one), limit 1, and its row and verdict. The stores come open, as find_gaps' do in the timing it is held to."""
    rows = []
    start = time.perf_counter()
    for first in range(0, len(sample), BATCH):
        for hit in theirs.retrieve([point_id(f"t{i}") for i in sample[first:first + BATCH]], with_vectors=True):
            using = "image" if "image" in hit.vectors else "text"
            found = ours.query(Nearest(hit.vectors[using], using=using), limit=1)
            best = found[0] if found else None
            score = best.score if best is not None else None
            rows.append(GapRow(hit.payload.get("product_id"), hit.payload.get("title", ""),
                               best.payload.get("product_id") if best else None,
                               best.payload.get("title", "") if best else "", score,
                               MATCH if score is not None and score >= threshold else GAP,
                               hit.payload, best.payload if best else {}))
    return rows, time.perf_counter() - start


def baseline(ours, theirs, threshold: float, data: dict, batched: list[GapRow], count: int) -> dict:
    """The per-product baseline on a sample across every planted kind: its cost per product, the kinds it
    covered, and whether it found what find_gaps found for the same products (the same work, done one by one)."""
    sample = baseline_sample(data, count)
    rows, seconds = one_by_one(ours, theirs, threshold, sample)
    by_id = {r.their_id: r for r in batched}
    same = sum(by_id[r.their_id].our_id == r.our_id and by_id[r.their_id].verdict == r.verdict for r in rows)
    kinds = data["kind"][sample]
    return {"products": len(rows), "seconds": round(seconds, 2),
            "per_product_ms": round(1000 * seconds / len(rows), 3),
            "sampled_kinds": {k: int((kinds == k).sum()) for k in ("photo_copy", "text_copy", "cluster", "far")},
            "same_as_find_gaps": round(same / len(rows), 5)}


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

        def open_both():
            reference = reference_collection(settings, "bench")
            return open_store(settings, read_only=True), open_store(settings, True, reference)

        def match(same=None):
            a, b = open_both()
            try:
                return find_gaps(a, b, args.threshold, same=same)
            finally:
                b.close()
                a.close()

        rows, row["find_gaps_s"] = timed(match)  # end to end, the stores opened and closed as the CLI does
        row["matches_per_s"] = round(args.theirs / row["find_gaps_s"])
        row["matches"] = sum(r.verdict == "match" for r in rows)
        row["gaps"] = len(rows) - row["matches"]
        row["planted"] = check(rows, data["theirs"])
        # Batched against one request per product, both with the stores already open: opening them costs the
        # same once whichever way products are then matched, and would be spread over 20,000 products on one
        # side and a sample of them on the other.
        (a, b), row["open_stores_s"] = timed(open_both)
        try:
            rows, row["find_gaps_stores_open_s"] = timed(lambda: find_gaps(a, b, args.threshold))
            row["baseline_one_request_per_product"] = baseline(a, b, args.threshold, data["theirs"], rows,
                                                               BASELINE_SAMPLE)
        finally:
            b.close()
            a.close()
        row["batched_speedup"] = round(row["baseline_one_request_per_product"]["per_product_ms"]
                                       / (1000 * row["find_gaps_stores_open_s"] / args.theirs), 2)
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

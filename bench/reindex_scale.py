"""Indexing a large text-only catalogue through the real CLI: the first run, then an unchanged re-run, with
their wall time and peak memory (issue 11: an unchanged 1M-row re-index in <= 10 min and <= 3 GB).

    python -m bench.reindex_scale [--rows 1000000]

The catalogue is a generic CSV (id, title, gender, category, sub-category, type, colour, usage, brand, price,
description) with no photos, so every product is text-only, as in a feed whose photos are not fetched yet.
The model is a random CLIP with tiny towers and 512-d output: the store holds vectors of the real model's size,
while the towers' speed is not what this measures (the unchanged re-run embeds nothing; the first run's
embedding time is reported but is not a real model's). Runs `python -m core index` twice on a fresh data dir.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np

from bench.common import OUT, run_measured, tiny_512_model

HEADER = ["id", "title", "gender", "category", "sub_category", "product_type", "colour", "usage", "brand", "price",
          "description"]
TYPES = ["Dresses", "Tshirts", "Shirts", "Trousers", "Shorts", "Casual Shoes", "Sandals", "Handbags", "Caps", "Watches"]
COLOURS = ["Red", "Blue", "Black", "White", "Green", "Navy Blue", "Pink", "Grey", "Brown", "Beige"]


def write_catalogue(path: Path, rows: int) -> None:
    rng = np.random.default_rng(3)
    prices = np.round(rng.uniform(5, 300, size=rows), 2)
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(HEADER)
        for i in range(rows):
            kind, colour = TYPES[i % len(TYPES)], COLOURS[(i // 10) % len(COLOURS)]
            gender = ["Women", "Men", "Girls", "Boys"][i % 4]
            out.writerow([f"SKU{i:07d}", f"Brand {i % 60} {colour} {kind} {i}", gender, "Apparel", kind, kind, colour,
                          ["Casual", "Formal", "Sports"][i % 3], f"Brand {i % 60}", f"{prices[i]:.2f}",
                          f"A {colour.lower()} {kind.lower()[:-1]} for {gender.lower()}, style {i % 997}."])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    folder = OUT / f"reindex-{args.rows}"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "catalogue").mkdir(parents=True)
    csv_path = folder / "catalogue" / "products.csv"
    write_catalogue(csv_path, args.rows)
    env = dict(os.environ, LENS_MODEL=tiny_512_model(), LENS_DATA_DIR=str(folder / "data"), LENS_DEVICE="cpu",
               LENS_BATCH_SIZE="256")
    cmd = [sys.executable, "-m", "core", "index", "--catalog", str(csv_path), "--json"]
    rows = {}
    for run in ("first", "unchanged"):
        done = run_measured(cmd, env)
        if done["returncode"] != 0:
            raise SystemExit(done["stderr"][-3000:])
        report = json.loads(done["stdout"].strip().splitlines()[-1])
        rows[run] = {"seconds": round(done["seconds"], 1), "peak_anon_mb": round(done["peak_anon_mb"]),
                     "peak_rss_mb": round(done["peak_rss_mb"]), "indexed": report["indexed"],
                     "unchanged": report["unchanged"], "text_only": report["text_only"],
                     "stages": report["stages"]}
        print(json.dumps({run: rows[run]}), file=sys.stderr)
    disk = sum(f.stat().st_blocks * 512 for f in (folder / "data").rglob("*") if f.is_file()) / 2**20
    print(json.dumps({"rows": args.rows, "csv_mb": round(csv_path.stat().st_size / 2**20), "store_mb": round(disk),
                      **rows}))


if __name__ == "__main__":
    main()

"""`core eval --sample 2000` and `core audit` of a 10,000-product catalogue with the full-size random ViT-B/32, end
to end through the CLI as a user runs them, and where their time goes.

    python -m bench.eval_audit [--n 10000] [--sample 2000] [--planted 100]

The catalogue is the sample generator's (core.ingest.sample.generate: drawn products in their real colours on a studio
background), with `--planted` colour labels swapped for a colour far from the one drawn. Steps:
1. `python -m core index` (the state a user audits; timed, with its stages: colour statistics are made in the
   loader threads while each photo is decoded for the model, so they are inside decode_threads);
2. `python -m core eval --sample N --json` and `python -m core audit --field F --json` for each field, in fresh
   processes (model load included, as a user waits for it);
3. the same calls in-process, with the store's reads, the text tower and the photo decoder wrapped to time and
   count them: the audit must decode no photo (its colour statistics were stored at index time);
4. the colour statistics' own cost per photo against decoding the same photo.
The random model's numbers mean nothing; the planted labels' recall in the colour audit's top --planted
measures the pixel signal, which does not depend on the model. Results: bench/out/eval-audit.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from bench.common import OUT, run_measured, vit_b32_model

WORK = OUT / "eval-audit"
FAR_DE = 45.0  # a planted label is at least this far (CIE76) from the colour drawn: a mistake a person sees


def catalogue(n: int, planted: int) -> tuple[Path, dict[str, tuple[str, str]]]:
    """The generated catalogue with `planted` colour labels swapped; {product id: (drawn, labelled)}."""
    from core.ingest.colour_stats import delta_e, hex_to_lab
    from core.ingest.colours import colour_hex
    from core.ingest.sample import generate

    folder = WORK / f"catalog-{n}"
    source = folder / "catalog.csv"
    if not source.exists():
        generate(folder, count=n)
    with open(source, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    col = header.index("Colour")
    colours = sorted({r[col] for r in body})
    rng = random.Random(5)
    swaps = {}
    for row in rng.sample(body, planted):
        drawn = row[col]
        far = [c for c in colours if delta_e(hex_to_lab(colour_hex(c)), hex_to_lab(colour_hex(drawn))) >= FAR_DE]
        swaps[row[0]] = (drawn, rng.choice(far))
    path = folder / f"planted-{planted}.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows([*r[:col], swaps[r[0]][1], *r[col + 1:]] if r[0] in swaps else r for r in body)
    return path, swaps


def cli(args: list[str], env: dict) -> dict:
    """One `python -m core ...` in a fresh process: seconds, peak memory, its JSON output."""
    run = run_measured([sys.executable, "-m", "core", *args], env=env)
    if run["returncode"] != 0:
        raise SystemExit(f"`core {' '.join(args)}` failed: {run['stderr'][-2000:]}")
    return {"seconds": round(run["seconds"], 2), "peak_rss_mb": round(run["peak_rss_mb"]),
            "output": json.loads(run["stdout"])}


class Timed:
    """Wraps an object's methods to add up their wall seconds and calls (the rest of a call is the caller's)."""

    def __init__(self, target, methods: tuple[str, ...]):
        self._target, self.seconds, self.calls = target, dict.fromkeys(methods, 0.0), dict.fromkeys(methods, 0)

    def __getattr__(self, name):
        value = getattr(self._target, name)
        if name not in self.seconds:
            return value

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                result = value(*args, **kwargs)
                if hasattr(result, "__next__"):  # a generator (scroll): time each step as it is drawn
                    result = list(result)
                return result
            finally:
                self.seconds[name] += time.perf_counter() - start
                self.calls[name] += 1
        return timed


def in_process(data_dir: Path, model: str, sample: int) -> dict:
    """eval and audit called directly, each with its parts timed and photo decodes counted."""
    import core.ingest.images
    from core.common.config import MAX_PIXELS
    from core.insights.audit import AUDIT_FIELDS, audit
    from core.models.embedder import load_embedder
    from core.insights.eval_runner import evaluate_models, sample_products
    from core.index.store import EdgeStore

    decodes = [0]
    real_decode = core.ingest.images.decode_image

    def counting_decode(*args, **kwargs):
        decodes[0] += 1
        return real_decode(*args, **kwargs)

    core.ingest.images.decode_image = counting_decode
    t = time.perf_counter()
    embedder = load_embedder(model, "cpu", os.environ.get("LENS_RUNTIME", "auto"), data_dir)
    parts = {"model_load_s": round(time.perf_counter() - t, 2), "runtime": embedder.runtime}
    store = EdgeStore(data_dir)
    try:
        text = Timed(embedder, ("encode_texts",))
        t = time.perf_counter()
        products = sample_products(store, sample)
        read_s = time.perf_counter() - t
        t = time.perf_counter()
        meta = store.require_meta()
        evaluate_models(meta, [text], products, MAX_PIXELS)
        total = time.perf_counter() - t
        parts["eval"] = {"read_sample_s": round(read_s, 2), "text_tower_s": round(text.seconds["encode_texts"], 2),
                         "metrics_s": round(total - text.seconds["encode_texts"], 2),
                         "total_s": round(read_s + total, 2)}
        for field in AUDIT_FIELDS:
            timed_store = Timed(store, ("scroll", "facet", "count", "require_meta"))
            text = Timed(embedder, ("encode_texts",))
            decodes[0] = 0
            t = time.perf_counter()
            result = audit(timed_store, text, field, limit=50)
            total = time.perf_counter() - t
            reads = sum(timed_store.seconds.values())
            parts[f"audit_{field}"] = {
                "products": result.checked, "suspects": result.suspected, "total_s": round(total, 2),
                "store_reads_s": round(reads, 2), "label_prompts_s": round(text.seconds["encode_texts"], 2),
                "scoring_s": round(total - reads - text.seconds["encode_texts"], 2),
                "photos_decoded": decodes[0] + result.decoded}
    finally:
        store.close()
        core.ingest.images.decode_image = real_decode
    return parts


def colour_stats_cost(folder: Path, count: int = 300) -> dict:
    """Per photo: decoding it (as indexing does) against making its colour statistics from the decoded image."""
    from core.common.config import MAX_PIXELS
    from core.ingest.colour_stats import foreground_colours
    from core.ingest.images import decode_image

    paths = sorted(folder.rglob("*.jpg"))[:count]
    datas = [p.read_bytes() for p in paths]
    t = time.perf_counter()
    images = [decode_image(d, MAX_PIXELS, draft_size=224) for d in datas]
    decode_s = time.perf_counter() - t
    t = time.perf_counter()
    for image in images:
        foreground_colours(image)
    stats_s = time.perf_counter() - t
    return {"photos": len(paths), "decode_ms": round(1000 * decode_s / len(paths), 3),
            "colour_stats_ms": round(1000 * stats_s / len(paths), 3),
            "colour_stats_per_decode": round(stats_s / decode_s, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=2000)
    parser.add_argument("--planted", type=int, default=100)
    args = parser.parse_args()

    model = vit_b32_model()
    path, swaps = catalogue(args.n, args.planted)
    data_dir = WORK / f"data-{args.n}"
    env = dict(os.environ, LENS_MODEL=model, LENS_DATA_DIR=str(data_dir), LENS_DEVICE="cpu", HF_HUB_OFFLINE="1")
    env.pop("QDRANT_URL", None)
    result = {"cpu": subprocess.run(["lscpu"], capture_output=True, text=True).stdout.split("Model name:")[1]
              .splitlines()[0].strip(), "loadavg_start": os.getloadavg(), "n": args.n, "sample": args.sample}
    index = cli(["index", "--catalog", str(path), "--recreate", "--json"], env)
    result["index"] = {"seconds": index["seconds"], "stages": index["output"]["stages"],
                       "runtime": index["output"]["runtime"], "indexed": index["output"]["indexed"]}
    result["eval_cli"] = {k: v for k, v in cli(["eval", "--sample", str(args.sample), "--json"], env).items()
                          if k != "output"}
    for field in ("colour", "category", "sub_category"):
        run = cli(["audit", "--field", field, "--limit", str(args.planted), "--json"], env)
        result[f"audit_{field}_cli"] = {"seconds": run["seconds"], "peak_rss_mb": run["peak_rss_mb"]}
        if field == "colour":
            top = {s["product_id"] for s in run["output"]}
            result["planted_found_in_top"] = {"planted": len(swaps), "found": len(top & set(swaps))}
    os.environ.update({k: env[k] for k in ("LENS_MODEL", "LENS_DATA_DIR", "LENS_DEVICE")})
    result["in_process"] = in_process(data_dir, model, args.sample)
    result["colour_stats"] = colour_stats_cost(path.parent / "images")
    result["loadavg_end"] = os.getloadavg()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "eval-audit.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

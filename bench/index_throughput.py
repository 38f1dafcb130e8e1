"""Indexing end to end, per runtime, as a user runs it: `python -m core index` in a fresh process and a fresh data
dir, against the torch model alone and the naive seed-style pipeline measured in the same run; and a text query
end to end (encode + filtered search) on the index that run built.

    python -m bench.index_throughput [--n 1000] [--rss 1000 5000] [--runtimes torch onnx onnx-int8] [--rounds 1]

The ONNX export and int8's self-check happen once per model per data dir, on first use. They are timed once, on
their own line (a first run minus the same run with the export cached), and every timed run gets a copy (hard
links) of that cached export in its fresh data dir, as a user's second catalogue or re-index would find it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.common import OUT

BATCH = 32
WORK = OUT / "index-throughput"
ROOT = Path(__file__).resolve().parent.parent
CALIBRATION = 64  # int8's self-check embeds the catalogue's first 64 photos: the warm-up catalogue is that size
FILTER = {"gender": ["Women"], "category": ["Apparel"]}  # the query's two filters (issue 3's "two filters")
TYPES = ["Dresses", "Tshirts", "Shirts", "Trousers", "Shorts", "Casual Shoes", "Sandals", "Handbags", "Caps", "Watches"]
COLOURS = ["Red", "Blue", "Black", "White", "Green", "Navy Blue", "Pink", "Grey", "Brown", "Beige"]
QUERY_WORDS = ["red summer dress", "black leather watch", "blue denim shorts for men", "white sneakers",
               "striped cotton shirt", "brown sandals for women"]


# ---- baselines, each in a fresh process: the model alone, and the naive seed-style pipeline -----------------

def run_model_only(model_dir: str, paths, runtime: str = "torch"):
    """The image tower alone on pre-made 224x224 tensors, batches of 32 (torch: transformers' CLIPModel, as
    before; onnx/onnx-int8: the cached export's image session, for their ceilings)."""
    import numpy as np
    import torch

    n, count = 0, len(paths)
    if runtime == "torch":
        from core.models.torchvision_compat import ensure_importable

        ensure_importable()  # transformers imports torchvision, which needs it beside the CPU torch
        from transformers import CLIPModel

        model = CLIPModel.from_pretrained(model_dir.replace("/st", "/hf")).eval()
        pixels = torch.randn(BATCH, 3, 224, 224)
        run = lambda b: model.get_image_features(pixel_values=pixels[:b])  # noqa: E731
    else:
        from core.models.embedder import load_embedder

        towers = load_embedder(model_dir, "cpu", runtime, data_dir=Path(os.environ["LENS_DATA_DIR"]))._towers
        pixels = np.random.default_rng(0).normal(size=(BATCH, 3, 224, 224)).astype(np.float32)
        name = towers.inputs["image"][0]
        run = lambda b: towers.sessions["image"].run(None, {name: pixels[:b]})  # noqa: E731
    run(2)  # warm-up: the first call allocates
    start = time.perf_counter()
    with torch.inference_mode():
        while n < count:
            b = min(BATCH, count - n)
            run(b)
            n += b
    return n, time.perf_counter() - start


def run_naive(model_dir: str, paths, runtime: str = "torch"):
    """The seed's way: every image opened into a list, then CLIPProcessor + get_image_features (images only)."""
    import torch
    from PIL import Image
    from core.models.torchvision_compat import ensure_importable

    ensure_importable()  # transformers imports torchvision, which needs it beside the CPU torch
    from transformers import CLIPModel, CLIPProcessor

    hf = model_dir.replace("/st", "/hf")
    model, processor = CLIPModel.from_pretrained(hf).eval(), CLIPProcessor.from_pretrained(hf)
    start = time.perf_counter()
    images = [Image.open(p).convert("RGB") for p in paths]
    n = 0
    with torch.no_grad():
        for i in range(0, len(images), BATCH):
            out = model.get_image_features(**processor(images=images[i:i + BATCH], return_tensors="pt"))
            n += len(getattr(out, "pooler_output", out))
    return n, time.perf_counter() - start


MODES = {"model": run_model_only, "naive": run_naive}


def worker(mode: str, n: int, runtime: str) -> None:
    from bench.common import peak_rss_mb, photos, vit_b32_model

    count, seconds = MODES[mode](vit_b32_model(), photos(n), runtime)
    print(json.dumps({"n": count, "seconds": seconds, "images_per_s": count / seconds, "peak_rss_mb": peak_rss_mb()}))


# ---- the real thing: `python -m core index` ------------------------------------------------------------------

def write_catalogue(folder: Path, photos: list[Path]) -> tuple[Path, Path]:
    """A generic CSV of len(photos) products with filterable attributes, and an images folder holding exactly its
    photos (hard links: reading the folder costs what it would for this catalogue alone)."""
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    path = folder / "products.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["sku", "title", "gender", "category", "colour", "brand", "price", "description", "image"])
        for i, photo in enumerate(photos):
            link = images / photo.name
            if not link.exists():
                os.link(photo, link)
            kind, colour = TYPES[i % len(TYPES)], COLOURS[(i // 10) % len(COLOURS)]
            gender = ["Women", "Men", "Girls", "Boys"][i % 4]
            out.writerow([f"SKU{i:07d}", f"Brand {i % 60} {colour} {kind} {i}", gender,
                          "Apparel" if i % 3 else "Footwear", colour, f"Brand {i % 60}", f"{10 + i % 290}.99",
                          f"A {colour.lower()} {kind.lower()} for {gender.lower()}, style {i % 997}.", photo.name])
    return path, images


def fresh_data_dir(name: str, export_from: Path | None) -> Path:
    """An empty data dir; with export_from, holding a hard-linked copy of that data dir's ONNX export cache."""
    folder = WORK / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    if export_from is not None:
        shutil.copytree(export_from / "onnx", folder / "onnx", copy_function=os.link)
    return folder


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def index_run(catalogue: tuple[Path, Path], data_dir: Path, runtime: str, model: str) -> dict:
    """One `python -m core index --runtime R --json` in a fresh process: wall seconds, peak memory, CPU seconds,
    the report's stages, and the load average around it."""
    from bench.common import run_measured

    env = dict(os.environ, LENS_DATA_DIR=str(data_dir), LENS_MODEL=model, LENS_DEVICE="cpu", LENS_RUNTIME=runtime,
               LENS_BATCH_SIZE=str(BATCH))
    cmd = [sys.executable, "-m", "core", "index", "--catalog", str(catalogue[0]), "--images", str(catalogue[1]),
           "--runtime", runtime, "--json"]
    load_before, cpu_before = load_average(), _children_cpu()
    done = run_measured(cmd, env)
    if done["returncode"] != 0:
        raise SystemExit(f"index --runtime {runtime} failed:\n{done['stderr'][-3000:]}")
    report = json.loads(done["stdout"].strip().splitlines()[-1])
    return {"runtime": runtime, "ran": report["runtime"], "indexed": report["indexed"],
            "wall_s": done["seconds"], "report_s": report["seconds"], "stages": report["stages"],
            "cpu_s": _children_cpu() - cpu_before, "peak_rss_mb": done["peak_rss_mb"],
            "peak_anon_mb": done["peak_anon_mb"], "load": (load_before + load_average()) / 2,
            "note": done["stderr"].strip().splitlines()[0] if done["stderr"].startswith("note:") else ""}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def baseline(mode: str, n: int, runtime: str = "torch", data_dir: Path | None = None) -> dict:
    env = dict(os.environ, **({"LENS_DATA_DIR": str(data_dir)} if data_dir else {}))
    load_before = load_average()
    out = subprocess.run([sys.executable, "-m", "bench.index_throughput", "--worker", mode, "--n", str(n),
                          "--runtime", runtime], capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"{mode} baseline failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]), load=(load_before + load_average()) / 2)


# ---- a text query end to end, through the Search page's calls ------------------------------------------------

def query_worker(data_dir: str, runtime: str, reps: int) -> None:
    """Encode + filtered search through core.search.query.search, the call the Search page makes, on the index as
    `python -m core index` left it (opened as the app opens it); a new text each time, so no cached vector."""
    from bench.common import vit_b32_model
    from core.common.config import Settings
    from core.models.embedder import load_embedder
    from core.common.filters import Filters
    from core.search.query import SearchRequest, search
    from core.index.store import open_store

    settings = Settings.from_env(dict(os.environ, LENS_DATA_DIR=data_dir, LENS_MODEL=vit_b32_model(),
                                      LENS_DEVICE="cpu", LENS_RUNTIME=runtime))
    embedder = load_embedder(settings.model, "cpu", runtime, settings.data_dir)
    store = open_store(settings)
    filters = Filters.of(FILTER)
    counter = iter(range(10**9))

    def fresh() -> str:
        i = next(counter)
        return f"{QUERY_WORDS[i % len(QUERY_WORDS)]} {i}"

    def request(text: str) -> SearchRequest:
        return SearchRequest(text=text, filters=filters, limit=12)  # the Search page's default page of 12

    def times(fn) -> list[float]:
        fn()
        out = []
        for _ in range(reps):
            t = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t) * 1000)
        return sorted(out)

    end_to_end = times(lambda: search(store, request(fresh()), embedder, settings.max_pixels))
    encode = times(lambda: embedder.encode_texts([fresh()]))
    cached = request("red summer dress")
    search_only = times(lambda: search(store, cached, embedder, settings.max_pixels))  # the vector is cached
    hits = search(store, cached, embedder, settings.max_pixels)
    assert hits and all(h.payload.get("gender") == "Women" for h in hits), "the filtered search found nothing"
    p = lambda xs, q: xs[min(len(xs) - 1, int(q * len(xs)))]  # noqa: E731
    print(json.dumps({"runtime": embedder.runtime, "points": store.count(), "reps": reps,
                      "p50": statistics.median(end_to_end), "p95": p(end_to_end, 0.95),
                      "encode_p50": statistics.median(encode), "search_p50": statistics.median(search_only)}))
    store.close()


def query_run(data_dir: Path, runtime: str, reps: int) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.index_throughput", "--query-worker", str(data_dir),
                          "--runtime", runtime, "--reps", str(reps)], capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"query run ({runtime}) failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---- the table ---------------------------------------------------------------------------------------------

def cpu_line() -> str:
    text = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "?")
    flags = {f for line in text.splitlines() if line.startswith("flags") for f in line.split()}
    shown = ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in ("avx512f", "avx512_vnni", "avx_vnni"))
    return f"{model}, {os.cpu_count()} logical CPUs; {shown}"


def median_of(rows: list[dict], key) -> float:
    return statistics.median(key(r) for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000, help="products in the main table's runs")
    parser.add_argument("--rss", type=int, nargs="*", default=[1000, 5000], help="catalogue sizes for peak RSS")
    parser.add_argument("--rss-runtime", default="onnx-int8", help="the runtime of the RSS runs (auto's pick on CPU)")
    parser.add_argument("--runtimes", nargs="*", default=["torch", "onnx", "onnx-int8"])
    parser.add_argument("--rounds", type=int, default=1, help="repeat the main runs, interleaved; medians shown")
    parser.add_argument("--reps", type=int, default=100, help="text queries per runtime")
    parser.add_argument("--no-naive", action="store_true")
    parser.add_argument("--worker")
    parser.add_argument("--query-worker")
    parser.add_argument("--runtime", default="torch")
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.n, args.runtime)
    if args.query_worker:
        return query_worker(args.query_worker, args.runtime, args.reps)

    from bench.common import photos, vit_b32_model

    model = vit_b32_model()
    sizes = sorted({args.n, *args.rss})
    shots = photos(max(sizes))
    shutil.rmtree(WORK, ignore_errors=True)
    catalogues = {size: write_catalogue(WORK / f"catalogue-{size}", shots[:size]) for size in sizes}
    log = lambda *a: print("#", *a, file=sys.stderr, flush=True)  # noqa: E731
    log(cpu_line(), f"load average {Path('/proc/loadavg').read_text().split()[:3]}")

    # The one-time cost: the first onnx-int8 run in a data dir exports both towers, quantises them and runs the
    # self-check (torch fp32 and int8 on the 64-product catalogue); the same run again with the export cached.
    ort = [r for r in args.runtimes if r != "torch"] or ([args.rss_runtime] if args.rss_runtime != "torch" else [])
    warm, once = None, None
    if ort:
        small = write_catalogue(WORK / "catalogue-calibration", shots[:CALIBRATION])
        warm = fresh_data_dir("data-warm", None)
        first = index_run(small, warm, "onnx-int8", model)
        cached = index_run(small, fresh_data_dir("data-cached", warm), "onnx-int8", model)
        check = json.loads(next((warm / "onnx").glob("*/check.int8*.json")).read_text())
        once = {"first_s": first["wall_s"], "cached_s": cached["wall_s"], "ran": first["ran"], "note": first["note"],
                "export_mb": sum(f.stat().st_size for f in (warm / "onnx").rglob("*") if f.is_file()) / 2**20,
                "check": check}
        log("one-time export + int8 check", json.dumps(once))

    runs: dict[str, list[dict]] = {r: [] for r in ["model", *args.runtimes]}
    for round_ in range(args.rounds):
        runs["model"].append(baseline("model", args.n))
        log("model alone", json.dumps(runs["model"][-1]))
        for runtime in args.runtimes:
            data = fresh_data_dir(f"data-{runtime}-{args.n}", warm if runtime != "torch" else None)
            runs[runtime].append(index_run(catalogues[args.n], data, runtime, model))
            log(runtime, json.dumps(runs[runtime][-1]))
    ceilings = {r: baseline("model", min(args.n, 320), r, WORK / "data-warm") for r in args.runtimes if r != "torch"}
    for runtime, row in ceilings.items():
        log(f"{runtime} model alone", json.dumps(row))
    naive = None if args.no_naive else baseline("naive", args.n)
    if naive:
        log("naive", json.dumps(naive))

    rss = {}
    for size in args.rss:
        same = runs.get(args.rss_runtime, [])
        if size == args.n and same:
            rss[size] = same[0]
        else:
            data = fresh_data_dir(f"data-{args.rss_runtime}-{size}", warm if args.rss_runtime != "torch" else None)
            rss[size] = index_run(catalogues[size], data, args.rss_runtime, model)
            log(f"rss {size}", json.dumps(rss[size]))

    # Queries on the largest index this run built with the RSS runtime (it holds the exported towers for ORT).
    query_size = max(args.rss) if args.rss else args.n
    query_dir = WORK / f"data-{args.rss_runtime}-{query_size}"
    queries = {r: query_run(query_dir, r, args.reps) for r in dict.fromkeys(["onnx-int8", "torch"])}
    for runtime, row in queries.items():
        log(f"query {runtime}", json.dumps(row))

    report(args, runs, ceilings, naive, once, rss, queries)


def report(args, runs, ceilings, naive, once, rss, queries) -> None:
    n = args.n
    model_rate = median_of(runs["model"], lambda r: r["images_per_s"])
    rate = {r: median_of(rows, lambda x: n / x["wall_s"]) for r, rows in runs.items() if r != "model"}
    print(f"CPU: {cpu_line()}\n")
    print(f"{n} products (generated 600x450 JPEGs), random full-size ViT-B/32, batches of {BATCH}; "
          f"medians of {args.rounds} round(s); ratios against the torch model alone measured in the same run\n")
    print("| run | images/s | ratio to torch model alone | ratio to torch end to end | CPU s / image | "
          "peak RSS (MiB) | load avg |")
    print("|---|---|---|---|---|---|---|")
    torch_rate = rate.get("torch")
    print(f"| torch model alone, pre-made 224x224 tensors (image tower only) | {model_rate:.2f} | 1.00 | | | "
          f"{median_of(runs['model'], lambda r: r['peak_rss_mb']):.0f} | "
          f"{median_of(runs['model'], lambda r: r['load']):.1f} |")
    for runtime in args.runtimes:
        rows = runs[runtime]
        ran = ", ".join(sorted({r["ran"] for r in rows}))
        label = f"`index --runtime {runtime}` end to end" + ("" if ran == runtime else f" (ran {ran})")
        vs_torch = f"{rate[runtime] / torch_rate:.2f}" if torch_rate else ""
        print(f"| {label} | {rate[runtime]:.2f} | {rate[runtime] / model_rate:.2f} | {vs_torch} | "
              f"{median_of(rows, lambda r: r['cpu_s'] / n):.3f} | {median_of(rows, lambda r: r['peak_rss_mb']):.0f} | "
              f"{median_of(rows, lambda r: r['load']):.1f} |")
    for runtime, row in ceilings.items():
        print(f"| {runtime} model alone, pre-made tensors ({row['n']} images) | {row['images_per_s']:.2f} | "
              f"{row['images_per_s'] / model_rate:.2f} | | | {row['peak_rss_mb']:.0f} | {row['load']:.1f} |")
    if naive:
        print(f"| naive seed-style pipeline (image tower only, every image in a list) | {naive['images_per_s']:.2f} | "
              f"{naive['images_per_s'] / model_rate:.2f} | | | {naive['peak_rss_mb']:.0f} | {naive['load']:.1f} |")

    print("\nStages of each end-to-end run (seconds; embed_text is part of embed; decode_threads is loader-thread "
          "time alongside embed; startup = wall - the report's own seconds: interpreter, imports, model load)\n")
    names = ["startup", "read", "plan", "embed", "embed_text", "decode_threads", "write", "prune", "publish"]
    print("| runtime | wall | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for runtime in args.runtimes:
        for row in runs[runtime]:
            stages = dict(row["stages"], startup=row["wall_s"] - row["report_s"])
            print(f"| {runtime} | {row['wall_s']:.1f} | " + " | ".join(f"{stages.get(k, 0):.1f}" for k in names) + " |")

    if once:
        check = once["check"]
        print(f"\nOne-time cost per model and data dir (export both towers, quantise, int8 self-check on "
              f"{check['images']} photos + {check['texts']} texts): first `index --runtime onnx-int8` of "
              f"{CALIBRATION} products {once['first_s']:.1f} s, the same with the export cached {once['cached_s']:.1f} s: "
              f"**{once['first_s'] - once['cached_s']:.1f} s once**; export on disk {once['export_mb']:.0f} MiB; "
              f"self-check image cosine {check['image_cosine']:.4f}, overlap {check['image_overlap']:.3f}, text "
              f"cosine {check['text_cosine']:.4f}, overlap {check['text_overlap']:.3f} (passed: {check['passed']})"
              + (f"; {once['note']}" if once["note"] else ""))
    if len(rss) > 1:
        lo, hi = min(rss), max(rss)
        print(f"\nPeak RSS of `index --runtime {args.rss_runtime}`: " + ", ".join(
            f"{size:,} products {row['peak_rss_mb']:.0f} MiB (anonymous {row['peak_anon_mb']:.0f} MiB, "
            f"{size / row['wall_s']:.1f} images/s)" for size, row in sorted(rss.items()))
            + f"; ratio {hi:,} / {lo:,}: **{rss[hi]['peak_rss_mb'] / rss[lo]['peak_rss_mb']:.2f}** "
            f"(anonymous {rss[hi]['peak_anon_mb'] / rss[lo]['peak_anon_mb']:.2f})")
    if queries:
        any_row = next(iter(queries.values()))
        print(f"\nText query end to end (encode + search with two filters, limit 12, through core.search.query.search) "
              f"on the {any_row['points']:,}-product index `index --runtime {args.rss_runtime}` built (published, "
              f"as the app opens it), {any_row['reps']} new texts each; ms\n")
        print("| runtime | p50 | p95 | encode alone p50 | search alone p50 (cached vector) |")
        print("|---|---|---|---|---|")
        for row in queries.values():
            print(f"| {row['runtime']} | {row['p50']:.1f} | {row['p95']:.1f} | {row['encode_p50']:.1f} | "
                  f"{row['search_p50']:.1f} |")

    print("\nTargets:")
    if torch_rate:
        for runtime, target in (("onnx-int8", 2.0), ("onnx", 1.25)):
            if runtime in rate:
                value = rate[runtime] / torch_rate
                print(f"- {runtime} ÷ torch end to end: {value:.2f} (target ≥ {target}: "
                      f"{'met' if value >= target else 'MISSED'})")
        value = torch_rate / model_rate
        print(f"- torch end to end ÷ torch model alone: {value:.2f} (target ≥ 0.85: "
              f"{'met' if value >= 0.85 else 'MISSED'})")
    if "onnx-int8" in queries:
        value = queries["onnx-int8"]["p50"]
        print(f"- text query p50 with onnx-int8: {value:.1f} ms (target ≤ 15: {'met' if value <= 15 else 'MISSED'})")
    if len(rss) > 1:
        value = rss[max(rss)]["peak_rss_mb"] / rss[min(rss)]["peak_rss_mb"]
        print(f"- peak RSS {max(rss):,} ÷ {min(rss):,}: {value:.2f} (target ≤ 1.2: {'met' if value <= 1.2 else 'MISSED'})")
    print(json.dumps({"runs": runs, "ceilings": ceilings, "naive": naive, "once": once,
                      "rss": {str(k): v for k, v in rss.items()}, "queries": queries}), file=sys.stderr)


if __name__ == "__main__":
    main()

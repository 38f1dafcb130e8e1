"""Image embedding throughput and peak memory: this pipeline vs the naive one vs the model alone.

    python -m bench.index_throughput [--n 1000] [--rss 1000 5000]

Each mode runs in a fresh subprocess so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

BATCH = 32


def run_pipeline(model_dir: str, paths) -> int:
    from core.embedder import Embedder
    from core.images import decode_image, read_image_bytes

    embedder = Embedder(model_dir, "cpu")
    load = lambda p: decode_image(read_image_bytes(p), 40_000_000, draft_size=embedder.image_size)  # noqa: E731
    start = time.perf_counter()
    n = sum(len(batch) for batch in embedder.stream_images(paths, load, batch_size=BATCH, workers=2))
    return n, time.perf_counter() - start


def run_naive(model_dir: str, paths):
    import torch
    from PIL import Image
    from transformers import CLIPModel, CLIPProcessor

    hf = model_dir.replace("/st", "/hf")
    model, processor = CLIPModel.from_pretrained(hf).eval(), CLIPProcessor.from_pretrained(hf)
    start = time.perf_counter()
    images = [Image.open(p).convert("RGB") for p in paths]  # the naive way: every image in memory
    n = 0
    with torch.no_grad():
        for i in range(0, len(images), BATCH):
            out = model.get_image_features(**processor(images=images[i:i + BATCH], return_tensors="pt"))
            n += len(getattr(out, "pooler_output", out))
    return n, time.perf_counter() - start


def run_model_only(model_dir: str, paths):
    import torch
    from transformers import CLIPModel

    model = CLIPModel.from_pretrained(model_dir.replace("/st", "/hf")).eval()
    pixels = torch.randn(BATCH, 3, 224, 224)
    n = 0
    start = time.perf_counter()
    with torch.inference_mode():
        while n < len(paths):
            model.get_image_features(pixel_values=pixels[: min(BATCH, len(paths) - n)])
            n += min(BATCH, len(paths) - n)
    return n, time.perf_counter() - start


MODES = {"pipeline": run_pipeline, "naive": run_naive, "model": run_model_only}


def worker(mode: str, n: int) -> None:
    from bench.common import peak_rss_mb, photos, vit_b32_model

    paths = photos(n)
    count, seconds = MODES[mode](vit_b32_model(), paths)
    print(json.dumps({"mode": mode, "n": count, "seconds": seconds, "images_per_s": count / seconds,
                      "peak_rss_mb": peak_rss_mb()}))


def measure(mode: str, n: int) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.index_throughput", "--worker", mode, "--n", str(n)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--rss", type=int, nargs="*", default=[1000, 5000])
    parser.add_argument("--worker")
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.n)
    from bench.common import photos, vit_b32_model

    vit_b32_model()
    photos(max([args.n, *args.rss]))
    results = {mode: measure(mode, args.n) for mode in ("model", "pipeline", "naive")}
    rss = {n: (results["pipeline"] if n == args.n else measure("pipeline", n))["peak_rss_mb"] for n in args.rss}
    base = results["model"]["images_per_s"]
    print("| mode | images/s | ratio to model alone | peak RSS (MiB) |\n|---|---|---|---|")
    for mode, r in results.items():
        print(f"| {mode} | {r['images_per_s']:.2f} | {r['images_per_s'] / base:.2f} | {r['peak_rss_mb']:.0f} |")
    print("\n| pipeline images | peak RSS (MiB) |\n|---|---|")
    for n, mb in rss.items():
        print(f"| {n} | {mb:.0f} |")
    if len(rss) > 1:
        lo, hi = min(rss), max(rss)
        print(f"\nRSS ratio {hi} vs {lo} images: {rss[hi] / rss[lo]:.2f}")


if __name__ == "__main__":
    main()

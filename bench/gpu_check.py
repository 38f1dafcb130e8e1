"""The GPU check (bench/gpu_check.sh runs it): index generated photos with the full-size random ViT-B/32 in fp16 on
CUDA through `python -m core index`, and say where the time goes: end to end, the model alone at several batch
sizes, decoding with the indexer's decode pool, the processor's preprocessing, and peak GPU memory.

    python -m bench.gpu_check --device cuda --photos 20000 --batches 64 256 1024 --index-batch 256
    python -m bench.gpu_check --device cpu --photos 300 --model tiny --batches 8 32 --index-batch 32   # smoke

Photos are generated in parallel, one process per core (20,000 take seconds on a 16-core machine).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

from bench.common import OUT

WORK = OUT / "gpu-check"
SIZE = (600, 450)


def make_photo(i: int) -> str:
    """Photo i: a drawn product on a noisy studio background, as bench.common.photos makes them (seeded by i, so
    any process can make any photo)."""
    from PIL import Image, ImageFilter

    from core.ingest.sample import COLOURS, TYPES, draw_product

    path = WORK / "photos" / f"{i}.jpg"
    if not path.exists():
        rng = random.Random(i)
        kinds = list(TYPES)
        product = draw_product(kinds[i % len(kinds)], rng.choice(list(COLOURS)), "Striped").resize((337, 421))
        noise = Image.effect_noise(SIZE, 24).convert("RGB").filter(ImageFilter.GaussianBlur(1))
        canvas = Image.blend(Image.new("RGB", SIZE, (235, 232, 228)), noise, 0.15)
        canvas.paste(product, ((SIZE[0] - 337) // 2, (SIZE[1] - 421) // 2))
        tmp = path.with_suffix(".tmp")
        canvas.save(tmp, "JPEG", quality=90)
        tmp.replace(path)
    return path.name


def generate(count: int) -> tuple[Path, Path, float]:
    """count photos and a catalogue CSV of them; the seconds generation took."""
    started = time.perf_counter()
    (WORK / "photos").mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        names = list(pool.map(make_photo, range(count), chunksize=64))
    catalogue = WORK / f"products-{count}.csv"
    with open(catalogue, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["sku", "title", "gender", "colour", "price", "image"])
        for i, name in enumerate(names):
            out.writerow([f"SKU{i:07d}", f"Product {i} in striped cotton, style {i % 997}",
                          ["Women", "Men", "Girls", "Boys"][i % 4], ["Red", "Blue", "Black"][i % 3],
                          f"{10 + i % 290}.99", name])
    return catalogue, WORK / "photos", time.perf_counter() - started


class GpuMemory:
    """Peak GPU memory in use while a block runs, from nvidia-smi (the whole device, less what was in use before:
    it counts the CUDA context, and works whatever the PID namespace); None without nvidia-smi."""

    def __init__(self, every_s: float = 0.1):
        self.every_s, self.peak, self._stop = every_s, None, threading.Event()

    @staticmethod
    def used_mib() -> int | None:
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        values = [int(v) for v in out.stdout.split() if v.strip().isdigit()]
        return values[0] if out.returncode == 0 and values else None

    def __enter__(self):
        self.base = self.used_mib()
        if self.base is not None:
            self.peak = 0
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            used = self.used_mib()
            if used is not None:
                self.peak = max(self.peak, used - self.base)
            self._stop.wait(self.every_s)

    def __exit__(self, *exc):
        self._stop.set()
        if self.base is not None:
            self._thread.join()


def index_end_to_end(model: str, catalogue: Path, images: Path, device: str, batch: int) -> dict:
    """One `python -m core index` in a fresh process and a fresh data dir (runtime torch: fp16 on CUDA)."""
    data = WORK / "data"
    shutil.rmtree(data, ignore_errors=True)
    env = dict(os.environ, LENS_DATA_DIR=str(data), LENS_MODEL=model, LENS_DEVICE=device, LENS_RUNTIME="torch",
               LENS_BATCH_SIZE=str(batch))
    cmd = [sys.executable, "-m", "core", "index", "--catalog", str(catalogue), "--images", str(images), "--json"]
    with GpuMemory() as memory:
        started = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"index failed:\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return {"wall_s": wall, "indexed": report["indexed"], "text_only": report["text_only"],
            "runtime": report["runtime"], "stages": report["stages"], "startup_s": wall - report["seconds"],
            "peak_gpu_mib": memory.peak}


def model_only(model: str, device: str, batches: list[int], seconds: float) -> list[dict]:
    """The image tower alone on pre-made 224x224 tensors on the device (fp16 on CUDA, as the indexer runs it):
    images/s per batch size, each batch size run for about `seconds` after a warm-up."""
    import torch
    from core.models.torchvision_compat import ensure_importable

    ensure_importable()  # transformers imports torchvision, which needs it beside the CPU torch
    from transformers import CLIPModel

    clip = CLIPModel.from_pretrained(model.replace("/st", "/hf")).eval().to(device)
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    clip = clip.to(dtype)
    size = clip.config.vision_config.image_size
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    rows = []
    for batch in batches:
        pixels = torch.randn(batch, 3, size, size, device=device, dtype=dtype)
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        with torch.inference_mode():
            for _ in range(2):  # warm-up: kernels chosen, memory allocated
                clip.get_image_features(pixel_values=pixels)
            sync()
            n, started = 0, time.perf_counter()
            while time.perf_counter() - started < seconds or n == 0:
                clip.get_image_features(pixel_values=pixels)
                n += batch
            sync()
            elapsed = time.perf_counter() - started
        peak = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None
        rows.append({"batch": batch, "images_per_s": n / elapsed, "peak_allocated_mib": peak})
        del pixels
    return rows


def decode_rate(images: Path, count: int, workers: int, image_size: int) -> float:
    """Photos/s through the indexer's loader work (read, sha256, draft decode, resize to the model's short side)
    in a pool of `workers` threads, as index_catalog runs it."""
    from core.common.config import MAX_PIXELS
    from core.ingest.images import decode_image, read_image_bytes
    from core.models.backends.preprocess import resized_for_model, short_side_size

    def load(path: Path):
        data = read_image_bytes(path)
        hashlib.sha256(data).hexdigest()
        image = decode_image(data, MAX_PIXELS, draft_size=image_size)
        return resized_for_model(image, short_side_size(*image.size, image_size), image_size).size  # Embedder.prepare

    paths = [images / f"{i}.jpg" for i in range(count)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(load, paths[: min(64, count)]))  # warm-up
        started = time.perf_counter()
        list(pool.map(load, paths))
    return count / (time.perf_counter() - started)


def preprocess_rate(model: str, images: Path, count: int, image_size: int, batch: int) -> float:
    """Photos/s through the model's own processor (crop, normalise, to tensors) on prepared photos: the step that
    runs on the main thread, between the decode pool and the model."""
    from sentence_transformers import SentenceTransformer

    from core.common.config import MAX_PIXELS
    from core.ingest.images import decode_image, read_image_bytes
    from core.models.backends.preprocess import resized_for_model, short_side_size

    st = SentenceTransformer(model, device="cpu")

    def prepared(image):  # as Embedder.prepare resizes for a CLIP model
        return resized_for_model(image, short_side_size(*image.size, image_size), image_size)

    photos = [prepared(decode_image(read_image_bytes(images / f"{i}.jpg"), MAX_PIXELS, draft_size=image_size))
              for i in range(min(count, batch))]
    st.preprocess(photos[:2])
    n, started = 0, time.perf_counter()
    while n < count:
        st.preprocess(photos)
        n += len(photos)
    return n / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--photos", type=int, default=20_000)
    parser.add_argument("--model", choices=["full", "tiny"], default="full",
                        help="full: the random full-size ViT-B/32; tiny: a tiny random CLIP (CPU smoke runs)")
    parser.add_argument("--batches", type=int, nargs="*", default=[64, 256, 1024], help="model-only batch sizes")
    parser.add_argument("--index-batch", type=int, default=256, help="LENS_BATCH_SIZE of the indexing run")
    parser.add_argument("--model-seconds", type=float, default=5.0, help="time per model-only batch size")
    args = parser.parse_args()

    import torch

    from bench.common import vit_b32_model
    from core.models.embedder import quiet_hf
    from core.index.indexer import decode_workers
    from tests.helpers.random_clip import save_random_clip

    say = lambda text: print(text, flush=True)  # noqa: E731
    quiet_hf()  # no weight-loading progress bars between the figures
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"no CUDA GPU visible to torch {torch.__version__} (built for CUDA {torch.version.cuda}); "
                         "install the CUDA build of torch, or run bench/gpu_check.sh --cpu-smoke")
    started = time.perf_counter()
    if args.model == "full":
        model = vit_b32_model()
    else:
        folder = OUT / "tiny-random"
        model = str(folder / "st") if (folder / "st" / "modules.json").exists() else str(save_random_clip(folder, tiny=True))
    image_size = 224 if args.model == "full" else 30
    from sentence_transformers import SentenceTransformer  # the model's own short side, as the indexer reads it
    try:
        image_size = int(SentenceTransformer(model, device="cpu")[0].processor.image_processor.size["shortest_edge"])
    except Exception:
        pass
    gpu = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "none (CPU smoke run)"
    say(f"device {args.device}: {gpu}; torch {torch.__version__}; {os.cpu_count()} CPUs; model {args.model} "
        f"({model}); model ready in {time.perf_counter() - started:.0f} s")

    catalogue, images, gen_s = generate(args.photos)
    say(f"photos: {args.photos:,} 600x450 JPEGs ready in {gen_s:.1f} s (generated on first use, then reused)")

    pool = decode_workers(args.device)
    for workers in sorted({pool, min(4, pool)}, reverse=True):
        rate = decode_rate(images, args.photos, workers, image_size)
        label = "the indexer's pool on this device" if workers == pool else "the old cap of 4"
        say(f"decode: {rate:,.0f} images/s with {workers} loader threads ({label}; read + sha256 + draft decode + "
            f"resize to {image_size} px)")
    say(f"preprocess: {preprocess_rate(model, images, min(args.photos, 2048), image_size, args.index_batch):,.0f} "
        "images/s (the model's processor on the main thread: crop, normalise, to tensors)")

    for row in model_only(model, args.device, args.batches, args.model_seconds):
        memory = f", peak allocated {row['peak_allocated_mib']:,.0f} MiB" if row["peak_allocated_mib"] else ""
        say(f"model only, batch {row['batch']}: {row['images_per_s']:,.0f} images/s "
            f"({'fp16' if args.device.startswith('cuda') else 'fp32'}{memory})")

    run = index_end_to_end(model, catalogue, images, args.device, args.index_batch)
    stages = ", ".join(f"{k} {v:.1f}" for k, v in run["stages"].items())
    say(f"end to end: `python -m core index` of {args.photos:,} products: {run['wall_s']:.1f} s, "
        f"{args.photos / run['wall_s']:,.0f} images/s ({run['indexed']:,} indexed, {run['text_only']} text-only, "
        f"runtime {run['runtime']}, batch {args.index_batch}, {pool} loader threads); startup {run['startup_s']:.1f} s; "
        f"stages (s): {stages}")
    peak = "n/a (no nvidia-smi)" if run["peak_gpu_mib"] is None else f"{run['peak_gpu_mib']:,} MiB"
    say(f"peak GPU memory of the indexing process: {peak}")
    say(f"total {time.perf_counter() - started:.0f} s")
    if run["indexed"] != args.photos or run["text_only"]:
        raise SystemExit(f"expected {args.photos} products indexed with photos, got {run['indexed']} "
                         f"({run['text_only']} text-only)")


if __name__ == "__main__":
    main()

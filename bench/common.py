"""Shared benchmark helpers: a cached random full-size ViT-B/32, generated photos, peak RSS."""

from __future__ import annotations

import random
import resource
import sys
from pathlib import Path

from PIL import Image, ImageFilter

OUT = Path(__file__).resolve().parent / "out"


def vit_b32_model() -> str:
    """A randomly initialised full-size ViT-B/32 CLIP in sentence-transformers format (same cost as the real one)."""
    from tests.helpers.random_clip import save_random_clip

    folder = OUT / "vit-b-32-random"
    if not (folder / "st" / "modules.json").exists():
        save_random_clip(folder, tiny=False)
    return str(folder / "st")


def tiny_512_model() -> str:
    """A random CLIP with tiny towers and 512-d output: stores of the real model's vector size, queries that cost
    little (what it finds means nothing)."""
    from tests.helpers.random_clip import save_random_clip

    folder = OUT / "tiny-512-random"
    if not (folder / "st" / "modules.json").exists():
        save_random_clip(folder, tiny=True, projection_dim=512)
    return str(folder / "st")


def photos(count: int, size=(600, 450)) -> list[Path]:
    """count deterministic 600x450 product-like JPEGs (a drawn product on a noisy studio background)."""
    from core.ingest.sample import COLOURS, TYPES, draw_product

    folder = OUT / f"photos-{size[0]}x{size[1]}"
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(1)
    kinds, colours = list(TYPES), list(COLOURS)
    paths = []
    for i in range(count):
        path = folder / f"{i}.jpg"
        if not path.exists():
            product = draw_product(kinds[i % len(kinds)], rng.choice(colours), "Striped").resize((337, 421))
            noise = Image.effect_noise(size, 24).convert("RGB").filter(ImageFilter.GaussianBlur(1))
            canvas = Image.blend(Image.new("RGB", size, (235, 232, 228)), noise, 0.15)
            canvas.paste(product, ((size[0] - 337) // 2, (size[1] - 421) // 2))
            canvas.save(path, quality=90)
        paths.append(path)
    return paths


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def run_measured(cmd: list[str], env: dict | None = None, every_s: float = 0.2) -> dict:
    """Run a command to completion: its wall seconds, exit code, output, and peak memory. Peak RSS counts the
    pages of files the engine maps (Qdrant's storage, which the kernel can drop and re-read); peak anonymous
    memory is what the process itself allocated, sampled from /proc while it runs."""
    import subprocess
    import threading
    import time

    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak_anon, peak_rss = [0], [0]

    def sample() -> None:
        status = Path(f"/proc/{proc.pid}/status")
        while proc.poll() is None:
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("RssAnon:"):
                        peak_anon[0] = max(peak_anon[0], int(line.split()[1]))
                    elif line.startswith("VmHWM:"):  # the kernel's own high-water mark of RSS
                        peak_rss[0] = max(peak_rss[0], int(line.split()[1]))
            except OSError:
                return
            time.sleep(every_s)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    sampler.join()
    return {"seconds": seconds, "returncode": proc.returncode, "stdout": out, "stderr": err,
            "peak_anon_mb": peak_anon[0] / 1024,
            "peak_rss_mb": peak_rss[0] / 1024}

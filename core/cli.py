"""Command line: `python -m core index|stats|sample ...`; one-line errors and non-zero exits, never tracebacks."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.config import Settings
from core.errors import LensError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Catalog Lens: index and search a product catalogue.")
    sub = parser.add_subparsers(dest="command", required=True)

    index = sub.add_parser("index", help="embed a catalogue CSV and its images into the index")
    index.add_argument("--catalog", required=True, type=Path, help="catalogue CSV")
    index.add_argument("--images", type=Path, help="images folder (searched recursively; default: the CSV's folder)")
    index.add_argument("--model", help="sentence-transformers model name or local folder (default: LENS_MODEL)")
    index.add_argument("--batch-size", type=int, help="images per embedding batch (default: LENS_BATCH_SIZE)")
    index.add_argument("--recreate", action="store_true", help="drop the existing index first")
    index.add_argument("--prune", action="store_true", help="delete products that are no longer in the CSV")
    index.add_argument("--json", action="store_true", help="print one JSON summary object")

    stats = sub.add_parser("stats", help="show what is indexed")
    stats.add_argument("--json", action="store_true")

    sample = sub.add_parser("sample", help="write the bundled sample catalogue (deterministic)")
    sample.add_argument("--out", type=Path, help="output folder (default: ./sample)")
    return parser


def cmd_index(args, settings: Settings) -> int:
    from tqdm import tqdm

    from core.embedder import load_embedder
    from core.indexer import index_catalog
    from core.store import open_store

    if args.batch_size is not None and args.batch_size < 1:
        raise LensError("--batch-size must be at least 1")
    settings = settings.with_overrides(model=args.model, batch_size=args.batch_size)
    if not args.catalog.is_file():
        raise LensError(f"catalogue file not found: {args.catalog}")
    if args.images is not None and not args.images.is_dir():
        raise LensError(f"images folder not found: {args.images}")
    embedder = load_embedder(settings.model, settings.device)
    store = open_store(settings)
    bar = tqdm(total=0, unit="product", desc="indexing", disable=None, file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        report = index_catalog(args.catalog, args.images, embedder, store, batch_size=settings.batch_size,
                               recreate=args.recreate, prune=args.prune, max_pixels=settings.max_pixels,
                               progress=progress)
    except KeyboardInterrupt:
        bar.close()
        print("interrupted: everything embedded so far is saved; run the same command again to resume",
              file=sys.stderr)
        return 130
    finally:
        bar.close()
        store.close()
    if args.json:
        print(json.dumps(report.as_dict()))
    else:
        print(f"{report.total} rows: {report.indexed} indexed, {report.unchanged} unchanged, "
              f"{report.text_only} text-only, {report.pruned} pruned, "
              f"{len(report.failed) - report.text_only} failed in {report.seconds:.1f}s")
        for problem in report.failed:
            print(f"  row {problem.row} [{problem.product_id or '-'}]: {problem.reason}")
    return 0


def cmd_stats(args, settings: Settings) -> int:
    from core.store import open_store

    store = open_store(settings)
    try:
        meta = store.require_meta()
        stats = {"count": store.count(), "model": meta["model"], "dim": meta["dim"],
                 "backend": settings.backend_label, "last_indexed": meta.get("last_indexed")}
    finally:
        store.close()
    if args.json:
        print(json.dumps(stats))
    else:
        print("\n".join(f"{k}: {v}" for k, v in stats.items()))
    return 0


def cmd_sample(args, settings: Settings) -> int:
    from core.sample import SAMPLE_DIR, generate

    path = generate(args.out or SAMPLE_DIR)
    print(path)
    return 0


COMMANDS = {"index": cmd_index, "stats": cmd_stats, "sample": cmd_sample}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args, Settings.from_env())
    except LensError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

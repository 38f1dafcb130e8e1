"""Commands that build the index and say what it holds: `index` and `stats`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from core.cli.common import close_store, model_for, open_reader, progress_bar, runtime_arg
from core.common.config import Settings
from core.common.errors import LensError
from core.ingest.formats import FORMATS  # --format's choices: auto and every format
from core.insights.fixes import catalogue_fixes


def add_index_commands(sub) -> None:
    index = sub.add_parser("index", help="embed a catalogue CSV and its images into the index")
    index.add_argument("--catalog", required=True, type=Path, help="catalogue CSV")
    index.add_argument("--images", type=Path, help="images folder (searched recursively; default: the CSV's folder)")
    index.add_argument("--format", default="auto", choices=FORMATS,
                       help="catalogue format (default: detected from the header)")
    index.add_argument("--columns", default="", metavar="ROLE=HEADER,...",
                       help="map your column names to roles, e.g. product_id=SKU,title=Name,image=Photo")
    index.add_argument("--part", "--shard", dest="part", default="0/1", metavar="I/N",
                       help="worker I of N (from 0): index only this worker's part of the products, so N "
                            "machines can index one catalogue into one Qdrant server or cluster at once "
                            "(--shard is its old name, still accepted)")
    index.add_argument("--refresh-images", action="store_true",
                       help="revalidate cached image URLs (ETag / Last-Modified) instead of trusting the cache")
    index.add_argument("--model", help="a CLIP model name, folder or open_clip:NAME (default: LENS_MODEL)")
    index.add_argument("--batch-size", type=int, help="images per embedding batch (default: LENS_BATCH_SIZE)")
    runtime_arg(index)
    index.add_argument("--recreate", action="store_true", help="drop the existing index first")
    index.add_argument("--prune", action="store_true", help="delete products that are no longer in the CSV")
    index.add_argument("--json", action="store_true", help="print one JSON summary object")
    index.add_argument("--no-health", action="store_true",
                       help="skip the catalogue health check a whole run ends with (`python -m core health`)")
    index.set_defaults(run=cmd_index)

    stats = sub.add_parser("stats", help="show what is indexed")
    stats.add_argument("--json", action="store_true")
    stats.set_defaults(run=cmd_stats)


def cmd_index(args, settings: Settings) -> int:
    from core.index.indexer import Part, index_catalog, refuse_partial
    from core.index.store import open_store
    from core.ingest.catalog import check_inputs
    from core.ingest.fetch import fetcher_for
    from core.ingest.formats import parse_columns
    from core.models import calibration

    if args.batch_size is not None and args.batch_size < 1:
        raise LensError("--batch-size must be at least 1")
    check_inputs(args.catalog, args.images)  # a wrong path is reported at once, not after the model loads
    columns = parse_columns(args.columns) if args.columns else None
    part = Part.parse(args.part)
    refuse_partial(args.prune, args.recreate, part)  # before the model loads
    settings = settings.with_overrides(model=args.model, batch_size=args.batch_size, runtime=args.runtime)
    store = open_store(settings)
    bar = fetcher = None
    try:
        # Refused at once while another process (the app) owns the index: before the model loads, not after.
        store.acquire()
        # int8's first self-check (if it has not run for this model) calibrates on this catalogue's first photos
        started = time.perf_counter()
        embedder = model_for(settings, lambda: calibration.from_catalog(args.catalog, args.images, args.format,
                                                                        columns, settings.max_pixels))
        model_s = time.perf_counter() - started
        bar, progress = progress_bar("indexing")
        fetcher = fetcher_for(settings, refresh=args.refresh_images)
        fixes = catalogue_fixes(settings.data_dir)  # the decisions as they stand when the run starts
        report = index_catalog(args.catalog, args.images, embedder, store, batch_size=settings.batch_size,
                               recreate=args.recreate, prune=args.prune, max_pixels=settings.max_pixels,
                               progress=progress, format=args.format, columns=columns, fetcher=fetcher,
                               part=part, relabel=fixes,
                               max_photos=settings.max_photos, shared_photo_min=settings.shared_photo_min)
        report.add_stage_before("model", model_s)  # the run's duration is what the user waited for
        fixes.after_run(store)  # accepted enrichments the source settled retired; their filters kept
        health = _health(args, part, store, settings, embedder)
    except KeyboardInterrupt:
        _end_index(store, bar, fetcher, failing=True)
        print("interrupted: everything embedded so far is saved; run the same command again to resume",
              file=sys.stderr)
        return 130
    except BaseException:
        _end_index(store, bar, fetcher, failing=True)
        raise
    _end_index(store, bar, fetcher, failing=False)
    if args.json:
        print(json.dumps(dict(report.as_dict(), **({"health": health[0]} if health else {}))))
        if health and health[0] is None:
            print(f"warning: {health[1]}", file=sys.stderr)
    else:
        print(f"{report.total} rows: {report.indexed} indexed, {report.updated} updated, {report.unchanged} "
              f"unchanged, {report.text_only} text-only, {report.pruned} pruned, {report.failed_rows} failed "
              f"in {report.seconds:.1f}s ({report.runtime})" + (f"; {report.other_parts} left to the other workers"
                                              if report.other_parts else ""))
        print(catalog_summary(report.catalog))
        print(stages_summary(report.stages))
        for line in reasons_summary(report):
            print(line)
        for problem in report.failed:
            print(f"  row {problem.row} [{problem.product_id or '-'}]: {problem.reason}")
        if report.not_listed:
            print(f"  ... and {report.not_listed} more rows with a problem, counted but not listed "
                  f"(the first {len(report.failed)} are)")
        for note in report.notes:  # shared photos, an older index given every photo
            print(f"note: {note}")
        for warning in report.warnings:
            print(f"warning: {warning}")
        if health:
            print(health[1] if health[0] is not None else f"warning: {health[1]}")
    return 0


def _health(args, part, store, settings: Settings, embedder) -> tuple[dict | None, str] | None:
    """The health check a whole run ends with, the model already loaded: (its summary for --json, its line), or
    (None, why it failed: a warning, never a failed run); None when skipped (--no-health, or one worker's part:
    the catalogue is whole only once every worker is done)."""
    from core.insights.health import check_after_index

    if args.no_health or part.count > 1:
        return None
    found, line = check_after_index(store, settings.data_dir, lambda: embedder)
    return (found.summary() if found is not None else None), line


def _end_index(store, bar, fetcher, failing: bool) -> None:
    """Close what an index run opened (the bar and the fetcher only exist once the model has loaded)."""
    if bar is not None:
        bar.close()
    if fetcher is not None:
        fetcher.close()
    close_store(store, failing)


def stages_summary(stages: dict) -> str:
    """'time: model 2.1s, read 0.1s, plan 0.0s, …' in the order they ran."""
    from core.index.indexer import WALL_STAGES

    return "time: " + ", ".join(f"{name} {stages[name]:.1f}s" for name in stages if name in WALL_STAGES)


def reasons_summary(report) -> list[str]:
    """'embedded because: text changed 1, new product 1' and one line per product named, with its reasons."""
    if not report.reasons:
        return []
    lines = ["embedded because: " + ", ".join(f"{reason} {count}" for reason, count in report.reasons.items())]
    lines += [f"  embedded [{product_id}]: {', '.join(reasons)}" for product_id, reasons in report.reembedded]
    if report.to_embed > len(report.reembedded):
        lines.append(f"  ... and {report.to_embed - len(report.reembedded)} more, counted by reason above "
                     f"(the first {len(report.reembedded)} are named)")
    return lines


def catalog_summary(catalog: dict) -> str:
    """'format: shopify · mapping: product_id=Handle, … · filters: … · numbers: … · text: …' and its notes."""
    mapping = ", ".join(f"{role}={header}" for role, header in catalog.get("mapping", {}).items())
    lines = [f"format: {catalog.get('format', '?')}; columns: {mapping or '-'}",
             f"filters: {', '.join(catalog.get('filters', [])) or '-'}; numbers: "
             f"{', '.join(catalog.get('numbers', [])) or '-'}; text: {', '.join(catalog.get('text', [])) or '-'}"]
    return "\n".join(lines + [f"note: {n}" for n in catalog.get("notes", [])])


def _local_time(timestamp: float | None) -> str:
    """A Unix timestamp as this machine's local time, e.g. '2026-11-29 13:05:09 UTC'; 'never' when unset."""
    if not timestamp:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(timestamp))


def cmd_stats(args, settings: Settings) -> int:
    from core.models.onnx_runtime import describe_runtime

    store = open_reader(settings)
    try:
        meta = store.require_meta()
        stats = {"count": store.count(), "model": meta["model"], "dim": meta["dim"], "runtime": meta.get("runtime"),
                 "runtimes": meta.get("runtimes", []), "runtime_note": meta.get("runtime_note", ""),
                 "backend": settings.backend_label, "last_indexed": meta.get("last_indexed")}
    finally:
        store.close()
    if args.json:
        print(json.dumps(stats))  # last_indexed stays a Unix timestamp for scripts
    else:
        shown = dict(stats, runtime=describe_runtime(stats), last_indexed=_local_time(stats["last_indexed"]))
        del shown["runtimes"], shown["runtime_note"]
        print("\n".join(f"{k}: {v}" for k, v in shown.items()))
    return 0

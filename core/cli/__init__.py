"""Command line: `python -m core index|stats|eval|audit|reference|gaps|sample ...`; one-line errors and non-zero exits, never tracebacks."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from core.insights.audit_decisions import AuditDecisions
from core.common.config import Settings
from core.insights.gaps import MATCH_THRESHOLD
from core.common.errors import LensError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Catalog Lens: index and search a product catalogue.")
    sub = parser.add_subparsers(dest="command", required=True)

    index = sub.add_parser("index", help="embed a catalogue CSV and its images into the index")
    index.add_argument("--catalog", required=True, type=Path, help="catalogue CSV")
    index.add_argument("--images", type=Path, help="images folder (searched recursively; default: the CSV's folder)")
    index.add_argument("--format", default="auto", choices=["auto", "fashion", "shopify", "google", "generic"],
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
    _runtime_arg(index)
    index.add_argument("--recreate", action="store_true", help="drop the existing index first")
    index.add_argument("--prune", action="store_true", help="delete products that are no longer in the CSV")
    index.add_argument("--json", action="store_true", help="print one JSON summary object")

    stats = sub.add_parser("stats", help="show what is indexed")
    stats.add_argument("--json", action="store_true")

    search = sub.add_parser("search", help="text, image or hybrid search")
    search.add_argument("--text", default="", help="query text")
    search.add_argument("--image", type=Path, help="query image file (reverse image search)")
    search.add_argument("--like", default="", help="a catalogue product id to find look-alikes of")
    search.add_argument("--weight", type=float, default=0.5, help="hybrid: share of the text query, 0..1")
    search.add_argument("--fusion", choices=["weighted", "rrf"], default="weighted")
    search.add_argument("--text-vectors", action="store_true", help="text mode: also match product texts (RRF)")
    _filter_args(search)
    search.add_argument("--limit", type=int, default=12)
    search.add_argument("--offset", type=int, default=0)
    _sort_arg(search)
    search.add_argument("--threshold", type=float, help="drop results below this similarity")
    search.add_argument("--diverse", action="store_true", help="re-rank with MMR for variety")
    search.add_argument("--positive", action="append", default=[], help="liked product id (repeatable)")
    search.add_argument("--negative", action="append", default=[], help="disliked product id (repeatable)")
    _runtime_arg(search)
    search.add_argument("--json", action="store_true")

    browse = sub.add_parser("browse", help="list products with no query: filters, ranges and a sort")
    _filter_args(browse)
    _sort_arg(browse)
    browse.add_argument("--limit", type=int, default=24)
    browse.add_argument("--offset", type=int, default=0)
    browse.add_argument("--json", action="store_true")

    facet = sub.add_parser("facets", help="counts per attribute value (and number ranges) under the filters")
    _filter_args(facet)
    facet.add_argument("--json", action="store_true")

    dupes = sub.add_parser("duplicates", help="groups of near-identical product images")
    dupes.add_argument("--threshold", type=float, default=0.95)
    dupes.add_argument("--json", action="store_true")

    cmap = sub.add_parser("map", help="compute the catalogue map (PCA + UMAP) for the Explore page")
    cmap.add_argument("--vectors", choices=["image", "text", "both"], default="image")
    cmap.add_argument("--refit", action="store_true", help="fit from scratch instead of placing new products")
    cmap.add_argument("--json", action="store_true")

    ev = sub.add_parser("eval", help="measure how well the index's model (or other models) finds this catalogue")
    ev.add_argument("--sample", type=int, help="evaluate N products drawn with a fixed seed (default: all)")
    ev.add_argument("--model", action="append", default=[], metavar="M",
                    help="measure this model instead, embedded on the sample in memory (repeatable)")
    _runtime_arg(ev)
    ev.add_argument("--json", action="store_true")

    aud = sub.add_parser("audit", help="products whose label disagrees with their photo, most suspect first")
    aud.add_argument("--field", default="colour", help="the label to check: colour, category or sub_category")
    aud.add_argument("--limit", type=int, default=50, help="show at most N suspects (default 50)")
    aud.add_argument("--json", action="store_true")

    ref = sub.add_parser("reference", help="reference catalogues (a competitor's, a supplier's) to match against ours")
    refs = ref.add_subparsers(dest="action", required=True)
    ref_add = refs.add_parser("add", help="index a reference catalogue into its own collection (incremental)")
    ref_add.add_argument("name", help="its name: lower-case letters, digits, - and _ (e.g. competitor-a)")
    ref_add.add_argument("--catalog", required=True, type=Path, help="the reference catalogue file")
    ref_add.add_argument("--images", type=Path, help="its images folder (default: the file's folder)")
    ref_add.add_argument("--format", default="auto", choices=["auto", "fashion", "shopify", "google", "generic"])
    ref_add.add_argument("--columns", default="", metavar="ROLE=HEADER,...", help="as for index")
    ref_add.add_argument("--refresh-images", action="store_true", help="revalidate cached image URLs")
    ref_add.add_argument("--prune", action="store_true", help="delete its products no longer in the file")
    _runtime_arg(ref_add)
    ref_add.add_argument("--json", action="store_true")
    ref_list = refs.add_parser("list", help="the reference catalogues of this collection")
    ref_list.add_argument("--json", action="store_true")
    ref_rm = refs.add_parser("remove", help="delete a reference catalogue's collection")
    ref_rm.add_argument("name")

    gaps = sub.add_parser("gaps", help="match a reference catalogue against ours: matches and gaps")
    gaps.add_argument("name", help="the reference catalogue (see `reference list`)")
    gaps.add_argument("--threshold", type=float, default=MATCH_THRESHOLD, help="similarity that counts as a match (0..1)")
    gaps.add_argument("--filter", action="append", default=[], metavar="FIELD=V1,V2",
                      help="list only the products of the listed side whose FIELD is any of the values (repeatable)")
    gaps.add_argument("--same", metavar="FIELD", help="match each product only among products with its FIELD "
                                                      "value (category, say)")
    gaps.add_argument("--ours", action="store_true", help="list our products with no counterpart in theirs instead")
    gaps.add_argument("--limit", type=int, help="show at most N rows (default: all)")
    gaps.add_argument("--json", action="store_true")

    sample = sub.add_parser("sample", help="write the bundled sample catalogue (deterministic)")
    sample.add_argument("--out", type=Path, help="output folder (default: ./sample)")
    sample.add_argument("--reference", type=Path, metavar="DIR",
                        help="instead, write a small competitor catalogue to DIR: near-copies of some sample "
                             "products and products unlike any of them (to try `reference add` and `gaps`)")
    return parser


def _runtime_arg(parser) -> None:
    parser.add_argument("--runtime", choices=["auto", "torch", "onnx", "onnx-int8"],
                        help="how the model runs (default: LENS_RUNTIME): torch, onnx (fp32), onnx-int8 (after its "
                             "self-check passes, else onnx), auto (torch on a GPU, onnx-int8 on a CPU)")


def _embedder(settings: Settings, calibration=None):
    """The model for these settings; says on stderr when its runtime is not the one asked for, and why."""
    from core.models.embedder import load_embedder

    embedder = load_embedder(settings.model, settings.device, settings.runtime, settings.data_dir, calibration)
    if embedder.runtime_note:
        print(f"note: {embedder.runtime_note}", file=sys.stderr)
    return embedder


def _filter_args(parser) -> None:
    parser.add_argument("--filter", action="append", default=[], metavar="FIELD=V1,V2",
                        help="keep products whose FIELD is any of the values (repeatable)")
    parser.add_argument("--exclude", action="append", default=[], metavar="FIELD=V1",
                        help="drop products whose FIELD is any of the values (repeatable)")
    parser.add_argument("--range", action="append", default=[], metavar="FIELD=LOW:HIGH",
                        help="keep products whose number FIELD is within the bounds, either optional (repeatable)")


def _sort_arg(parser) -> None:
    parser.add_argument("--sort", default="score", metavar="[-]FIELD",
                        help="order by a number field (price, or -price for highest first), or score")


def _filters(args):
    from core.common.filters import Filters, parse_filter_args, parse_range_args

    return Filters.of(parse_filter_args(args.filter), parse_filter_args(args.exclude),
                      ranges=parse_range_args(args.range))


def _open_reader(settings: Settings):
    """The store for a read-only command; says so on stderr when it reads another process's published copy."""
    from core.index.store import open_store

    store = open_store(settings, read_only=True)
    if store.note:
        print(f"note: {store.note}", file=sys.stderr)
    return store


def _close(store, failing: bool) -> None:
    """Close the store; while another error is on its way out, a failing close must not hide it."""
    try:
        store.close()
    except LensError as exc:
        if not failing:
            raise
        print(f"error: also, closing the index failed: {exc}", file=sys.stderr)


def cmd_search(args, settings: Settings) -> int:
    from core.common.fields import SortKey
    from core.search.query import SearchRequest, search

    image = None
    if args.image is not None:
        from core.ingest.images import open_image

        # Read and decode it first: a missing file, a folder, a pipe or a non-image fails before the model loads.
        image = open_image(args.image, settings.max_pixels)
    request = SearchRequest(text=args.text, image=image, like=args.like, weight=args.weight,
                            fusion=args.fusion, use_text_vectors=args.text_vectors, filters=_filters(args),
                            limit=args.limit, offset=args.offset, threshold=args.threshold, diverse=args.diverse,
                            positives=tuple(args.positive), negatives=tuple(args.negative),
                            sort=SortKey.parse(args.sort))
    settings = settings.with_overrides(runtime=args.runtime)
    embedder = _embedder(settings) if request.needs_model else None
    store = _open_reader(settings)
    try:
        results = search(store, request, embedder, settings.max_pixels)
    finally:
        store.close()
    if args.json:
        print(json.dumps([r.as_dict() for r in results]))
    else:
        _print_results(results, args.offset, scores=True)
    return 0


def _print_results(results, offset: int, scores: bool) -> None:
    for rank, r in enumerate(results, start=offset + 1):
        price = f"  {r.price}" if r.price else ""
        score = f"{r.score:.3f}  " if scores and r.score is not None else ""
        print(f"{rank:>3}. {score}[{r.product_id}] {r.title}{price}")
    if not results:
        print("no results")


def cmd_browse(args, settings: Settings) -> int:
    from core.common.fields import SortKey
    from core.search.query import browse

    store = _open_reader(settings)
    try:
        page = browse(store, _filters(args), SortKey.parse(args.sort), args.limit, args.offset)
    finally:
        store.close()
    if args.json:
        print(json.dumps({"total": page.total, "products": [r.as_dict() for r in page.results]}))
    else:
        print(f"{page.total:,} products match")
        _print_results(page.results, args.offset, scores=False)
    return 0


def cmd_facets(args, settings: Settings) -> int:
    from core.search.query import facets, number_ranges

    store = _open_reader(settings)
    try:
        filters = _filters(args)
        counts, ranges = facets(store, filters), number_ranges(store, filters)
    finally:
        store.close()
    if args.json:  # keyword fields: value counts; number fields: their min and max under the other filters
        print(json.dumps({**{k: [{"value": v, "count": c} for v, c in vc] for k, vc in counts.items()},
                          **{k: {"min": low, "max": high} for k, (low, high) in ranges.items()}}))
    else:
        for name, vc in counts.items():
            print(f"{name}: " + ", ".join(f"{v} ({c})" for v, c in vc))
        for name, (low, high) in ranges.items():
            print(f"{name}: {low:g} to {high:g}")
    return 0


SHOWN_PAIRS = 5  # per group in the text output of `duplicates`; --json has them all


def cmd_duplicates(args, settings: Settings) -> int:
    from core.curation.duplicate_dismissals import DuplicateDismissals
    from core.search.duplicates import near_duplicates

    # "not duplicates" on the Catalog page, for this collection: left out
    dismissed = DuplicateDismissals(settings.data_dir, settings.collection).pairs()
    store = _open_reader(settings)
    try:
        groups = near_duplicates(store, args.threshold, dismissed=dismissed)
    finally:
        store.close()
    if args.json:
        print(json.dumps([g.as_dict() for g in groups]))
    else:
        for g in groups:  # the closest pairs only: a loose threshold links thousands
            more = f", {len(g.pairs) - SHOWN_PAIRS:,} more" if len(g.pairs) > SHOWN_PAIRS else ""
            print(f"{len(g.product_ids)} products: " + ", ".join(g.product_ids) + "  ("
                  + ", ".join(f"{a}~{b} {s:.3f}" for a, b, s in g.pairs[:SHOWN_PAIRS]) + more + ")")
        if not groups:
            print(f"no near-duplicates at threshold {args.threshold}")
    return 0


def cmd_index(args, settings: Settings) -> int:
    from core.models import calibration
    from core.ingest.fetch import fetcher_for
    from core.ingest.formats import parse_columns
    from core.index.indexer import Part, index_catalog, refuse_partial
    from core.ingest.catalog import check_inputs
    from core.index.store import open_store

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
        embedder = _embedder(settings, lambda: calibration.from_catalog(args.catalog, args.images, args.format,
                                                                        columns, settings.max_pixels))
        model_s = time.perf_counter() - started
        bar, progress = _progress_bar("indexing")
        fetcher = fetcher_for(settings, refresh=args.refresh_images)
        report = index_catalog(args.catalog, args.images, embedder, store, batch_size=settings.batch_size,
                               recreate=args.recreate, prune=args.prune, max_pixels=settings.max_pixels,
                               progress=progress, format=args.format, columns=columns, fetcher=fetcher,
                               part=part, relabel=AuditDecisions(settings.data_dir).relabeller())
        report.add_stage_before("model", model_s)  # the run's duration is what the user waited for
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
        print(json.dumps(report.as_dict()))
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
        for warning in report.warnings:
            print(f"warning: {warning}")
    return 0


def _end_index(store, bar, fetcher, failing: bool) -> None:
    """Close what an index run opened (the bar and the fetcher only exist once the model has loaded)."""
    if bar is not None:
        bar.close()
    if fetcher is not None:
        fetcher.close()
    _close(store, failing)


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

    store = _open_reader(settings)
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


def cmd_map(args, settings: Settings) -> int:
    from tqdm import tqdm

    from core.map.projection import compute_map

    store = _open_reader(settings)
    bar = tqdm(total=100, desc="map", unit="%", disable=None, file=sys.stderr)

    def progress(stage: str, fraction: float) -> None:
        bar.set_description(stage)
        bar.n = int(fraction * 100)
        bar.refresh()

    try:
        store.require_meta()
        started = time.perf_counter()
        m = compute_map(store, settings.data_dir, settings.collection, args.vectors, args.refit, progress,
                        numba_cache=settings.numba_cache_dir)
    finally:
        bar.close()
        store.close()
    summary = {"products": len(m.product_ids), "clusters": len(m.labels), "method": m.method,
               "transformed": m.transformed, "not_placed": m.not_placed, "vectors": m.kind,
               "labels": sorted(m.labels.values()), "seconds": round(time.perf_counter() - started, 2)}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{summary['products']} products placed ({m.method}), {summary['clusters']} clusters: "
              + "; ".join(summary["labels"][:12]))
    return 0


def cmd_eval(args, settings: Settings) -> int:
    from core.insights.eval_runner import evaluate_models, require_index_model, sample_products, table

    settings = settings.with_overrides(runtime=args.runtime)
    store = _open_reader(settings)
    try:  # read, then let go of the index: no indexing run waits while models embed the sample
        meta, products = store.require_meta(), sample_products(store, args.sample)  # before any model loads
    finally:
        store.close()
    # every model loads before any is measured, so a bad name fails at once
    embedders = [_embedder(settings.with_overrides(model=m)) for m in dict.fromkeys(args.model)]
    if not embedders:
        embedders = [_embedder(settings)]
        require_index_model(meta, embedders[0])
    results = evaluate_models(meta, embedders, products, settings.max_pixels, settings.batch_size)
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results))
    else:
        print(table(results))
    return 0


def _confirmed(settings: Settings) -> set[tuple[str, str, str]]:
    """(product id, field, label) a merchandiser has already judged on the Audit page: the audit skips them."""
    from core.insights.audit_decisions import AuditDecisions

    return AuditDecisions(settings.data_dir).confirmed()


def _audit_line(s) -> str:
    """One suspect as text (ASCII, for any console): id, given -> suggested, margin, the evidence in short."""
    e = s.evidence
    clip = f"CLIP {e['given_cos']:.3f} vs {e['suggested_cos']:.3f}"
    pixels = f"dE {e['given_de']:.1f} vs {e['suggested_de']:.1f}, " if e.get("given_de") is not None else ""
    return f"{s.product_id}  {s.label} -> {s.suggested}  margin {s.margin:.3f}  ({pixels}{clip})"


def cmd_audit(args, settings: Settings) -> int:
    from core.insights.audit import audit, check_field

    check_field(args.field)  # bad input is reported before the model loads
    if args.limit < 1:
        raise LensError(f"--limit must be at least 1, got {args.limit}")
    confirmed = _confirmed(settings)
    store = _open_reader(settings)
    failing = True
    try:
        store.require_meta()
        result = audit(store, _embedder(settings), args.field, args.limit, confirmed, max_pixels=settings.max_pixels)
        failing = False
    finally:
        _close(store, failing)
    if args.json:
        print(json.dumps([s.as_dict() for s in result.suspects]))
        return 0
    for s in result.suspects:
        print(_audit_line(s))
    if len(result.labels) < 2:
        print(f"the index has {len(result.labels)} value(s) of {args.field}: nothing to compare a label with")
    shown = f" (the first {len(result.suspects)} shown)" if len(result.suspects) < result.suspected else ""
    print(f"{result.checked} checked, {result.skipped} skipped (no photo), {result.confirmed} confirmed before, "
          f"{result.suspected} suspect(s){shown}")
    return 0


def _progress_bar(desc: str, unit: str = "product"):
    """(a tqdm bar on stderr, a progress(done, total) callback that moves it)."""
    from tqdm import tqdm

    bar = tqdm(total=0, unit=unit, desc=desc, disable=None, file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return bar, progress


def cmd_reference(args, settings: Settings) -> int:
    from core.insights import reference

    if args.action == "list":
        infos = reference.list_references(settings)
        if args.json:
            print(json.dumps([i.as_dict() for i in infos]))
        else:
            print("\n".join(reference.describe(i) for i in infos) or "no reference catalogues: add one with "
                  "python -m core reference add NAME --catalog FILE")
        return 0
    if args.action == "remove":
        reference.remove_reference(settings, args.name)
        print(f"removed reference catalogue {args.name!r}")
        return 0
    return _reference_add(args, settings)


def _reference_add(args, settings: Settings) -> int:
    from core.models import calibration
    from core.insights import reference
    from core.ingest.fetch import fetcher_for
    from core.ingest.formats import parse_columns
    from core.ingest.catalog import check_inputs

    reference.reference_collection(settings, args.name)  # a bad name, a missing file or index: before the model
    check_inputs(args.catalog, args.images)
    reference.our_meta(settings)
    columns = parse_columns(args.columns) if args.columns else None
    settings = settings.with_overrides(runtime=args.runtime)
    embedder = _embedder(settings, lambda: calibration.from_catalog(args.catalog, args.images, args.format, columns,
                                                                    settings.max_pixels))
    bar, progress = _progress_bar(f"reference {args.name}")
    fetcher = fetcher_for(settings, refresh=args.refresh_images)
    try:
        report = reference.add_reference(settings, args.name, args.catalog, args.images, embedder,
                                         format=args.format, columns=columns, fetcher=fetcher, progress=progress,
                                         prune=args.prune)
    except KeyboardInterrupt:
        print("interrupted: everything embedded so far is saved; run the same command again to resume",
              file=sys.stderr)
        return 130
    finally:
        bar.close()
        fetcher.close()
    if args.json:
        print(json.dumps(report.as_dict()))
    else:
        print(f"reference {args.name}: {report.total} rows: {report.indexed} indexed, {report.updated} updated, "
              f"{report.unchanged} unchanged, {report.text_only} text-only, {report.pruned} pruned, "
              f"{report.failed_rows} failed in {report.seconds:.1f}s")
        for problem in report.failed:
            print(f"  row {problem.row} [{problem.product_id or '-'}]: {problem.reason}")
        for warning in report.warnings:
            print(f"warning: {warning}")
    return 0


def cmd_gaps(args, settings: Settings) -> int:
    from core.common.filters import Filters, parse_filter_args
    from core.insights.gaps import GAP, check_threshold, find_gaps, our_unique
    from core.insights.reference import check_name, open_reference, not_indexed

    check_name(args.name, settings.collection)  # bad input before any store opens
    check_threshold(args.threshold)
    if args.limit is not None and args.limit < 1:
        raise LensError(f"--limit must be at least 1, got {args.limit}")
    filters = Filters.of(parse_filter_args(args.filter))
    ours = _open_reader(settings)
    failing = True
    try:
        if ours.meta() is None:  # before the reference: without our index there is nothing to match against
            raise not_indexed()
        theirs = open_reference(settings, args.name)
        try:
            if theirs.note:
                print(f"note: {theirs.note}", file=sys.stderr)
            bar, progress = _progress_bar("matching")
            try:
                match = our_unique if args.ours else find_gaps
                rows = match(ours, theirs, args.threshold, filters, args.same, progress)
            finally:
                bar.close()
            failing = False
        finally:
            _close(theirs, failing)
    finally:
        _close(ours, failing)
    shown = rows[:args.limit] if args.limit else rows
    if args.json:
        print(json.dumps([r.as_dict() for r in shown]))
        return 0
    for r in shown:
        score = "   -  " if r.similarity is None else f"{r.similarity:.3f}"
        if args.ours:
            print(f"{score}  [{r.our_id}] {r.our_title}  ~  [{r.their_id or '-'}] {r.their_title}")
        else:
            print(f"{r.verdict:<5}  {score}  [{r.their_id}] {r.their_title}  ~  [{r.our_id or '-'}] {r.our_title}")
    gaps = sum(r.verdict == GAP for r in rows)
    more = f" (the first {len(shown)} shown)" if len(shown) < len(rows) else ""
    if args.ours:
        print(f"{len(rows)} of our products have no counterpart in {args.name} at {args.threshold}{more}")
    else:
        print(f"{len(rows)} reference products: {len(rows) - gaps} matches, {gaps} gaps at {args.threshold}{more}")
    return 0


def cmd_sample(args, settings: Settings) -> int:
    from core.ingest.sample import SAMPLE_DIR, generate

    if args.reference:
        from core.ingest.sample_reference import generate_reference

        made = generate_reference(args.reference, (args.out or SAMPLE_DIR) / "catalog.csv")
        print(made.catalog)
        return 0
    path = generate(args.out or SAMPLE_DIR)
    print(path)
    return 0


COMMANDS = {"index": cmd_index, "stats": cmd_stats, "search": cmd_search, "browse": cmd_browse, "facets": cmd_facets,
            "duplicates": cmd_duplicates, "map": cmd_map, "eval": cmd_eval, "audit": cmd_audit, "sample": cmd_sample,
            "reference": cmd_reference, "gaps": cmd_gaps}


def _attach_sort_values(argv: list[str]) -> list[str]:
    """'--sort -price' as '--sort=-price': argparse would read '-price' as an unknown option."""
    out = []
    for arg in argv:
        if out and out[-1] == "--sort" and arg.startswith("-"):
            out[-1] = f"--sort={arg}"
        else:
            out.append(arg)
    return out


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(_attach_sort_values(sys.argv[1:] if argv is None else list(argv)))
    try:
        return COMMANDS[args.command](args, Settings.from_env())
    except LensError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

"""What the command groups share: the common flags, opening the model and a store for reading, progress bars."""

from __future__ import annotations

import sys

from core.common.config import Settings
from core.common.errors import LensError


def runtime_arg(parser) -> None:
    parser.add_argument("--runtime", choices=["auto", "torch", "onnx", "onnx-int8"],
                        help="how the model runs (default: LENS_RUNTIME): torch, onnx (fp32), onnx-int8 (after its "
                             "self-check passes, else onnx), auto (torch on a GPU, onnx-int8 on a CPU)")


def filter_args(parser) -> None:
    parser.add_argument("--filter", action="append", default=[], metavar="FIELD=V1,V2",
                        help="keep products whose FIELD is any of the values (repeatable)")
    parser.add_argument("--exclude", action="append", default=[], metavar="FIELD=V1",
                        help="drop products whose FIELD is any of the values (repeatable)")
    parser.add_argument("--range", action="append", default=[], metavar="FIELD=LOW:HIGH",
                        help="keep products whose number FIELD is within the bounds, either optional (repeatable)")


def sort_arg(parser, more: str = "") -> None:
    parser.add_argument("--sort", default="score", metavar="[-]FIELD",
                        help="order by a number field (price, or -price for highest first), or score" + more)


def filters_of(args):
    """The Filters that --filter, --exclude and --range ask for."""
    from core.common.filters import Filters, parse_filter_args, parse_range_args

    return Filters.of(parse_filter_args(args.filter), parse_filter_args(args.exclude),
                      ranges=parse_range_args(args.range))


def model_for(settings: Settings, calibration=None):
    """The model for these settings; says on stderr when its runtime is not the one asked for, and why."""
    from core.models.embedder import load_embedder

    embedder = load_embedder(settings.model, settings.device, settings.runtime, settings.data_dir, calibration)
    if embedder.runtime_note:
        print(f"note: {embedder.runtime_note}", file=sys.stderr)
    return embedder


def open_reader(settings: Settings):
    """The store for a read-only command; says so on stderr when it reads another process's published copy."""
    from core.index.store import open_store

    store = open_store(settings, read_only=True)
    if store.note:
        print(f"note: {store.note}", file=sys.stderr)
    return store


def open_writer(settings: Settings):
    """The index, for writing a person's decision (an audit label change, an accepted enrichment) into it at once:
    a busy index (another process indexing) refuses here, before anything is saved, so nothing is left half done."""
    from core.index.store import open_store

    store = open_store(settings)
    store.acquire()
    store.require_meta()
    return store


def close_store(store, failing: bool) -> None:
    """Close the store; while another error is on its way out, a failing close must not hide it."""
    try:
        store.close()
    except LensError as exc:
        if not failing:
            raise
        print(f"error: also, closing the index failed: {exc}", file=sys.stderr)


def progress_bar(desc: str, unit: str = "product"):
    """(a tqdm bar on stderr, a progress(done, total) callback that moves it)."""
    from tqdm import tqdm

    bar = tqdm(total=0, unit=unit, desc=desc, disable=None, file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return bar, progress

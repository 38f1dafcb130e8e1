"""The `sample` command: write the bundled sample catalogue, or a small reference catalogue to match against it."""

from __future__ import annotations

from pathlib import Path

from core.common.config import Settings


def add_sample_command(sub) -> None:
    sample = sub.add_parser("sample", help="write the bundled sample catalogue (deterministic)")
    sample.add_argument("--out", type=Path, help="output folder (default: ./sample)")
    sample.add_argument("--reference", type=Path, metavar="DIR",
                        help="instead, write a small competitor catalogue to DIR: near-copies of some sample "
                             "products and products unlike any of them (to try `reference add` and `gaps`)")
    sample.set_defaults(run=cmd_sample)


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

"""Hostile cells and headers (issue 19, items 18 and 19): a long run of digits through the number patterns, an HTML
body of unclosed tags, and a wide header, timed with the patterns and code before the fix as a baseline.

    python -m bench.hostile_cells [--quick]
"""

from __future__ import annotations

import argparse
import re
import time
from html.parser import HTMLParser

OLD_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")   # before: \d+\.?\d* splits a run two ways
OLD_ISO_AFTER = re.compile(r"(.*\d.*?)\s*([A-Za-z]{3})")


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def old_html_to_text(html: str) -> None:
    parser = HTMLParser(convert_charrefs=True)
    parser.feed(html)
    parser.close()


def wide(width: int) -> tuple[list[str], list[str]]:
    return ["id", "title"] + [f"attr{i}" for i in range(width - 2)], ["p1", "Tee"] + [str(i) for i in range(width - 2)]


def main() -> None:
    parser = argparse.ArgumentParser(description="hostile cells and headers")
    parser.add_argument("--quick", action="store_true", help="smaller baselines (the old code is quadratic)")
    quick = parser.parse_args().quick
    import core.ingest.formats as formats
    from core.ingest.values import NUMBER, ColumnSurvey, html_to_text, parse_price

    rows = []
    old_n = 2_500 if quick else 5_000
    digits = "1" * 40_000 + "x"
    rows.append((f"NUMBER.fullmatch('1'*{old_n:,}+'x'), before", timed(lambda: OLD_NUMBER.fullmatch("1" * old_n + "x"))))
    rows.append(("NUMBER.fullmatch('1'*40,000+'x'), now", timed(lambda: NUMBER.fullmatch(digits))))
    rows.append((f"ISO_AFTER.fullmatch('1'*{old_n:,}+'x'), before",
                 timed(lambda: OLD_ISO_AFTER.fullmatch("1" * old_n + "x"))))
    rows.append(("parse_price('1'*40,000+'x'), now", timed(lambda: _refused(parse_price, digits))))
    rows.append(("ColumnSurvey.add('1'*40,000+'x'), now", timed(lambda: ColumnSurvey("w").add(digits))))
    tags = 2_000 if quick else 4_000
    rows.append((f"html.parser on '<p>'+'<a '*{tags:,}, before", timed(lambda: old_html_to_text("<p>" + "<a " * tags))))
    rows.append(("html_to_text('<p>'+'<a '*40,000), now", timed(lambda: html_to_text("<p>" + "<a " * 40_000))))
    formats.registry.MAX_COLUMNS = 10 ** 6  # lifted to time the code path itself (check_width reads it there)
    for width in (4_999, 20_000, 100_000):
        header, row = wide(width)
        rows.append((f"plan + read a {width:,}-column header, now",
                     timed(lambda: formats.read_records(formats.plan_layout(header), iter([(2, row, None)])))))
    formats.registry.MAX_COLUMNS = 5_000
    header, row = wide(60_000)
    rows.append(("60,000-column header refused, now", timed(lambda: _refused(formats.plan_layout, header))))
    for label, seconds in rows:
        print(f"| {label} | {seconds:.3f} s |")


def _refused(call, *args) -> None:
    try:
        call(*args)
    except Exception:  # noqa: BLE001 - a refusal is the expected outcome here
        pass


if __name__ == "__main__":
    main()

"""Every regular expression in core/, app/ and pages/ runs in time linear in its input, and so do the cell parsers
built on them: each is run (search, match, fullmatch, sub) on 40,000-character adversarial strings (runs of digits, spaces, dots, commas,
dashes, letters, '<' and '&') in a subprocess with a generous deadline, so a quadratic pattern fails the test
instead of hanging the suite. A CSV with one 40,000-digit cell is read with that value kept whole, as text, and
noted."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core.ingest.catalog import read_catalog
from tests.conftest import write_csv

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("core", "app", "pages")
IMPORTED = ("core", "app")  # pages are scripts that render on import: their patterns are found in the source only
RE_CALLS = {"compile", "match", "fullmatch", "search", "sub", "subn", "split", "findall", "finditer"}
N = 40_000
DEADLINE_S = 120  # one pattern's whole battery takes well under a second when linear; minutes when quadratic


def _python_files(folder: str) -> list[Path]:
    return sorted(p for p in (ROOT / folder).rglob("*.py") if ".venv" not in p.parts)


def _module_patterns() -> dict[str, re.Pattern]:
    """Compiled patterns held by modules of core/ and app/ (module attributes, inside dicts, tuples and lists, and
    class attributes)."""
    found: dict[str, re.Pattern] = {}

    def take(where: str, value) -> None:
        if isinstance(value, re.Pattern):
            found[where] = value
        elif isinstance(value, dict):
            for key, item in value.items():
                take(f"{where}[{key!r}]", item)
        elif isinstance(value, (tuple, list)):
            for n, item in enumerate(value):
                take(f"{where}[{n}]", item)

    for folder in IMPORTED:
        for path in _python_files(folder):
            if path.name == "__main__.py":  # runs the CLI on import; it holds no pattern (the source scan checks)
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            module = importlib.import_module(name)
            for attr, value in vars(module).items():
                take(f"{name}.{attr}", value)
                if isinstance(value, type) and value.__module__ == name:
                    for cattr, cvalue in vars(value).items():
                        take(f"{name}.{attr}.{cattr}", cvalue)
    return found


def _source_patterns() -> tuple[dict[str, tuple[str, int]], list[str]]:
    """Literal patterns passed to re.<call>(...) anywhere in the sources (functions included), and the calls
    whose pattern cannot be known from the source (an f-string built per call) outside module level."""
    literal: dict[str, tuple[str, int]] = {}
    unknown: list[str] = []
    for folder in SOURCES:
        for path in _python_files(folder):
            tree = ast.parse(path.read_text(), str(path))
            module_level = {id(node) for stmt in tree.body if isinstance(stmt, (ast.Assign, ast.AnnAssign))
                            for node in ast.walk(stmt)}
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and isinstance(node.func.value, ast.Name) and node.func.value.id == "re"
                        and node.func.attr in RE_CALLS and node.args):
                    continue
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                pattern = node.args[0]
                if isinstance(pattern, ast.Constant) and isinstance(pattern.value, str):
                    flags = 0
                    flag_arg = next((k.value for k in node.keywords if k.arg == "flags"), None)
                    if flag_arg is not None:
                        flags = eval(compile(ast.Expression(flag_arg), where, "eval"), {"re": re})  # noqa: S307
                    literal[where] = (pattern.value, int(flags))
                elif isinstance(pattern, ast.Name) or id(node) in module_level:
                    continue  # a module-level pattern: imported and run above
                else:
                    unknown.append(where)
    return literal, unknown


def _adversarial() -> list[str]:
    runs = "1 .,-aA_:/\t\n0e+@w<>&#;x"
    out = []
    for ch in runs:
        out += [ch * N + "!", ch * N]
    for unit in ("1.", "1,", "1 ", "a1", "1e", ", ", "1,000", ".000", "a_", "A a", "www.", "://", "<a ", "&#1",
                 "-1", "+-", "a-", "1-", "_-", "\u00a0", "é", "<!--", "</", "<a b='", "operator torchvision::a "):
        out += [unit * (N // len(unit)) + "!", unit * (N // len(unit))]
    out += ["USD " + "1" * N + "x", "1" * N + " USDx", "€" + "1" * N + "x", "http://" + "a" * N + " x",
            "operator torchvision::" + "a" * N + "!", "1" * N + ",1x", "1" * N + ".1.", "e" * N + "1"]
    # A construct's opening and then a long run of one character class and no closing: '<' and 40,000 letters
    # with no '>' is where a tag name and the attributes after it, both covering letters, backtrack.
    for opening in (*runs, "</", "<!", "<?", "<a", "<a ", "&#", "&#x", "http://", "USD ", "€", "1.", "1e", "a:"):
        out += [opening + ch * N for ch in runs]
    return out


RUN_PATTERN = """
import json, re, sys
source, flags, code = json.loads(sys.argv[1])
pattern = re.compile(source, flags)
exec(code)
for text in _adversarial():
    for use in (pattern.search, pattern.match, pattern.fullmatch, lambda s: pattern.sub("", s)):
        use(text)
print("ok")
"""


def _patterns() -> dict[str, tuple[str, int]]:
    """Each distinct pattern once, under the first name it was found by."""
    compiled = {where: (p.pattern, p.flags) for where, p in _module_patterns().items() if isinstance(p.pattern, str)}
    literal, _ = _source_patterns()
    out, seen = {}, set()
    for where, (source, flags) in {**compiled, **literal}.items():
        if (source, flags & ~re.UNICODE) not in seen:
            seen.add((source, flags & ~re.UNICODE))
            out[where] = (source, flags)
    return out


def test_every_pattern_is_found_and_none_is_built_per_call():
    patterns, named = _patterns(), _module_patterns()
    _, unknown = _source_patterns()
    assert unknown == []  # a pattern built per call (an f-string) cannot be tested: make it a module constant
    tested = {source for source, _ in patterns.values()}
    assert {p.pattern for p in named.values()} <= tested
    for name in ("core.ingest.values.NUMBER", "core.ingest.values.UNSIGNED", "core.ingest.values.DECIMAL_COMMA", "core.ingest.values.SPACES",
                 "core.ingest.values.ID_LIKE", "core.ingest.values.TAG", "core.ingest.catalog.URL_SCHEME", "core.ingest.formats.layout.NOT_WORD_RUN",
                 "core.common.safe_text._AUTOLINK_TRIGGER"):
        assert name in named
    assert len(patterns) >= 30


@pytest.mark.parametrize("where", sorted(_patterns()))
def test_pattern_is_linear_on_adversarial_strings(where):
    source, flags = _patterns()[where]
    code = f"N = {N}\n{inspect.getsource(_adversarial)}"  # the strings, without importing this module and core
    proc = subprocess.run([sys.executable, "-c", RUN_PATTERN, json.dumps([source, flags, code])], cwd=ROOT,
                          capture_output=True, text=True, timeout=DEADLINE_S)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


RUN_PARSERS = """
from core.ingest.values import (ColumnSurvey, category_levels, column_kind, html_to_text, parse_availability,
                         parse_number, parse_price, split_list)
from core.ingest.formats import column_key, field_key, snake_case, detect_format
from core.ingest.catalog import photo_key, url_scheme, sniff_delimiter
from core.common.safe_text import md
from tests.test_linear_patterns import _adversarial

texts = _adversarial()
survey = ColumnSurvey("weight")
for text in texts:
    for parse in (parse_number, parse_price, parse_availability):
        try:
            parse(text)
        except ValueError:
            pass
    survey.add(text)
    for use in (category_levels, html_to_text, split_list, column_key, snake_case, photo_key, url_scheme,
                sniff_delimiter, md, lambda s: field_key(s, 3), lambda s: detect_format([s, s])):
        use(text)
print(survey.kind()[0])
"""


def test_cell_parsers_are_linear_on_adversarial_strings():
    proc = subprocess.run([sys.executable, "-c", RUN_PARSERS], cwd=ROOT, capture_output=True, text=True,
                          timeout=DEADLINE_S * 3)
    assert proc.returncode == 0 and proc.stdout.strip() == "text", proc.stderr[-2000:]


DIGITS = "1" * 40_000


def test_a_40000_digit_cell_is_kept_whole_as_text_and_noted(tmp_path):
    path = write_csv(tmp_path / "items.csv", ["id", "title", "price", "weight"],
                     [["1", "Linen tee", "12.50", "0.2"], ["2", "Cotton cap", DIGITS, DIGITS], ["3", "Hat", "5", "1"]])
    catalog = read_catalog(path)
    tee, cap, hat = catalog.products
    assert catalog.problems == [] and catalog.total_rows == 3
    assert cap.payload == {"product_id": "2", "title": "Cotton cap", "weight": DIGITS, "image_path": ""}
    assert (tee.payload["weight"], hat.payload["weight"]) == ("0.2", "1")  # the column is text: kept as written
    assert tee.payload["price"] == 12.5 and hat.payload["price"] == 5.0
    assert "weight" in catalog.report.schema.text and "weight" not in catalog.report.schema.number
    assert catalog.report.notes == [
        f"column 'weight' has '{DIGITS[:40]}…' (40,000 characters), longer than any number (64 characters at "
        "most): kept as text",
        f"row 3, product 2: price '{DIGITS[:40]}…' is longer than any number (more than 64 characters); kept "
        "without it"]


def test_the_cli_indexes_a_40000_digit_cell_as_text(settings, tmp_path, capsys):
    from core.cli import main

    from PIL import Image

    path = write_csv(tmp_path / "items.csv", ["id", "title", "weight"], [["1", "Linen tee", "0.2"],
                                                                          ["2", "Cotton cap", DIGITS]])
    for product_id, colour in (("1", "red"), ("2", "blue")):
        Image.new("RGB", (32, 32), colour).save(tmp_path / f"{product_id}.jpg")
    assert main(["index", "--catalog", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["total"], report["indexed"], report["failed"]) == (2, 2, [])
    assert report["catalog"]["notes"][0].startswith(f"column 'weight' has '{DIGITS[:40]}…' (40,000 characters)")
    from core.index.store import open_store

    store = open_store(settings, read_only=True)
    weights = sorted(h.payload.get("weight") for h in store.scroll())
    assert weights == ["0.2", DIGITS]


def test_a_script_body_is_skipped_at_its_own_closing_tag_after_characters_that_lower_longer():
    """'İ' lowers to two characters: a closing tag found in html.lower() sat ten characters off in the cell, so
    'visible text here' came out as 'xt here'."""
    from core.ingest.values import html_to_text

    assert html_to_text("İ" * 10 + "<script>bad()</script>visible text here") == "İ" * 10 + " visible text here"
    assert html_to_text("İİ<STYLE>p{}</Style >kept<template>x</TEMPLATE>too") == "İİ kept too"

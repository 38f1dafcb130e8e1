"""Catalogue cell values: prices, numbers, availability, lists, category paths, HTML bodies, and column kinds.

Every parser here is pure and says exactly why a value is refused (ValueError), so a reader can attach the
reason to the row and still index the product without that one value.

Price formats (a decision, kept in one place):
- "1299", "1299.5", "1,299.00", "1 299,00", "1.299,00", "12,50" and "1,299,000" are read; when both "," and
  "." appear, the last one is the decimal mark. A lone "," followed by exactly three digits ("1,299") is a
  thousands separator; followed by one or two digits ("12,50") it is a decimal comma. A lone "." is always a
  decimal point ("1.299" is 1.299), except in groups of three ("1.299.000").
- A currency is a three-letter (ISO 4217) code before or after the amount ("15.00 USD", "USD 15.00"), or one of the
  unambiguous symbols EUR, GBP, JPY, INR (a prefix or suffix: "€12,50"). "$" is read as an amount without a
  currency: it is shared by USD, CAD, AUD and others, and guessing would mislabel a feed.
- Negative amounts, words ("abc", "free") and exponents are refused.

A cell longer than MAX_NUMBER_CHARS is never a number (the longest real price or quantity is a few dozen
characters): it is refused whole, never cut and read in part, and an extra column holding one is kept as text.
Every pattern here runs in time linear in the cell (no nested or adjacent quantifiers that can split one run of
digits or spaces two ways): a 40,000-digit cell must not hold the interpreter for a minute.

Every number read here is finite: float() reads '1e999', or a price of 400 digits, as infinity, and the vector
store refuses an infinite payload value for the whole batch, so one such cell would abort every index run.
"""

from __future__ import annotations

import math
import re
from html import unescape

MAX_NUMBER_CHARS = 64  # longer than any real number, price or quantity: such a cell is text
NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
UNSIGNED = re.compile(r"\+?(?:\d+(?:\.\d*)?|\.\d+)")
LEADING_ZERO = re.compile(r"[+-]?0\d+")
GROUPED = {",": re.compile(r"\d{1,3}(?:,\d{3})*"), ".": re.compile(r"\d{1,3}(?:\.\d{3})*")}  # '1,299,000'
THOUSANDS_COMMA = re.compile(r"\d{1,3}(?:,\d{3})+")      # '1,299'
DECIMAL_COMMA = re.compile(rf"\d{{1,{MAX_NUMBER_CHARS}}},\d{{1,2}}")  # '12,50': bounded, so a search stays linear
THOUSANDS_DOTS = re.compile(r"\d{1,3}(?:\.\d{3}){2,}")   # '1.299.000'
AVAILABILITY_SEPARATORS = re.compile(r"[\s-]+")
NOT_KEY_CHARS = re.compile(r"[^0-9a-z]")
SYMBOLS = {"€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "$": None}
SPACES = re.compile(r"[\s\u00a0\u202f]+")
# A header naming an identifier or a category: its values are codes ("00123", a GTIN, Google's category 2271),
# never quantities to sort or average.
ID_LIKE = re.compile(r"(id|code|sku|gtin|ean|upc|mpn|barcode|isbn|zip|postcode|phone|category)$")

AVAILABILITY = {  # Google's four values (and older spellings) plus plain yes/no columns
    "in_stock": True, "instock": True, "available": True, "yes": True, "y": True, "true": True, "1": True,
    "out_of_stock": False, "outofstock": False, "sold_out": False, "soldout": False, "unavailable": False,
    "no": False, "n": False, "false": False, "0": False,
    # Google: a preorder or backorder product can be bought but is not in stock now.
    "preorder": False, "pre_order": False, "backorder": False, "back_order": False, "available_for_order": False,
}

KEYWORD_MAX_DISTINCT = 200  # more distinct values than this makes a poor filter list
FEW_ROWS = 20               # in a file this small, any short column may be a filter
KEYWORD_MAX_CHARS = 60      # a filter value is a short label, not a sentence


def column_key(name: str) -> str:
    """'Image Src' -> 'imagesrc': headers compare without case, spaces or punctuation."""
    return NOT_KEY_CHARS.sub("", name.lower())


def shown(text: str, limit: int = 40) -> str:
    """A cell quoted for a message, cut short: 'abc'."""
    text = text.strip()
    return f"'{text[:limit]}…'" if len(text) > limit else f"'{text}'"


def _amount(text: str) -> float:
    """'1,299.00' -> 1299.0 by the rules in the module docstring; ValueError when it is not an amount."""
    s = SPACES.sub("", text)
    if "," in s and "." in s:
        decimal = "," if s.rfind(",") > s.rfind(".") else "."
        group = "." if decimal == "," else ","
        whole, _, frac = s.rpartition(decimal)
        if not GROUPED[group].fullmatch(whole) or not frac.isdigit():
            raise ValueError("is not a number")
        s = whole.replace(group, "") + "." + frac
    elif "," in s:
        if THOUSANDS_COMMA.fullmatch(s):
            s = s.replace(",", "")
        elif DECIMAL_COMMA.fullmatch(s):
            s = s.replace(",", ".")
        else:
            raise ValueError("is not a number")
    elif THOUSANDS_DOTS.fullmatch(s):
        s = s.replace(".", "")
    if s.startswith("-") and NUMBER.fullmatch(s[1:]):
        raise ValueError("is negative")
    if not UNSIGNED.fullmatch(s):
        raise ValueError("is not a number")
    return _finite(float(s))


def too_long(text: str) -> bool:
    """True for a cell longer than any number (MAX_NUMBER_CHARS): never read as one, nor cut to fit."""
    return len(text) > MAX_NUMBER_CHARS


TOO_LONG = f"is longer than any number (more than {MAX_NUMBER_CHARS} characters)"


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("is not a finite number")
    return value


def parse_number(text: str) -> float | None:
    """A plain number cell: '' -> None, '-3' -> -3.0, '4.5' -> 4.5.

    Raises ValueError("is not a number") for anything else, including 'nan', 'inf' and '1_000' (which float()
    would take) and '1,299' (in a column that is not a price, a comma may as well separate two values), and
    ValueError("is not a finite number") for '1e999', which float() reads as infinity, and ValueError(TOO_LONG)
    for a cell longer than MAX_NUMBER_CHARS.
    """
    text = text.strip()
    if not text:
        return None
    if too_long(text):
        raise ValueError(TOO_LONG)
    if not NUMBER.fullmatch(text):
        raise ValueError("is not a number")
    return _finite(float(text))


def parse_price(text: str) -> tuple[float | None, str | None]:
    """(amount, currency): '15.00 USD' -> (15.0, 'USD'), '€12,50' -> (12.5, 'EUR'), '' -> (None, None)."""
    text = text.strip()
    if not text:
        return None, None
    if too_long(text):
        raise ValueError(TOO_LONG)
    currency = None
    for symbol, code in SYMBOLS.items():
        if text.startswith(symbol) or text.endswith(symbol):
            text, currency = text.strip(symbol).strip(), code
            break
    else:
        currency, text = _iso_code(text)
    return _amount(text), currency


def _iso_code(text: str) -> tuple[str | None, str]:
    """('USD', '15.00') from 'USD 15.00' or '15.00 USD': three ASCII letters before or after an amount that has a
    digit (one line); (None, text) otherwise. Plain string tests, not a pattern: '(.*\\d.*?)\\s*([A-Za-z]{3})'
    takes time quadratic in the cell."""
    def code(part: str) -> bool:
        return len(part) == 3 and part.isascii() and part.isalpha()

    def amount(part: str) -> bool:
        return "\n" not in part and any(ch.isdecimal() for ch in part)

    if code(text[:3]) and amount(rest := text[3:].lstrip()):
        return text[:3].upper(), rest
    if code(text[-3:]) and amount(rest := text[:-3].rstrip()):
        return text[-3:].upper(), rest
    return None, text


def parse_availability(text: str) -> bool | None:
    """in stock -> True; out of stock, preorder, backorder -> False (Google's reading); '' -> None."""
    key = AVAILABILITY_SEPARATORS.sub("_", text.strip().lower())
    if not key:
        return None
    if key not in AVAILABILITY:
        raise ValueError("is not one of in_stock, out_of_stock, preorder, backorder (or yes/no)")
    return AVAILABILITY[key]


def split_list(text: str, sep: str = ",") -> list[str]:
    """'summer, linen,, summer' -> ['summer', 'linen']: stripped, no blanks, first occurrence kept."""
    return list(dict.fromkeys(part.strip() for part in text.split(sep) if part.strip()))


PHOTO_SEPARATORS = re.compile(r"[|\s]+")  # one character class, one run: linear in the cell


def photo_references(text: str, sep: str | None = None) -> list[str]:
    """A cell holding several photos: 'a.jpg|b.jpg c.jpg' -> ['a.jpg', 'b.jpg', 'c.jpg'] (split on '|' and
    whitespace, which no URL holds unencoded), or on sep (Google's commas); stripped, no blanks, first kept."""
    parts = text.split(sep) if sep is not None else PHOTO_SEPARATORS.split(text)
    return list(dict.fromkeys(part.strip() for part in parts if part.strip()))


def category_levels(path: str) -> dict[str, str]:
    """A taxonomy path onto the three category fields.

    'Apparel > Women > Dresses' -> category 'Apparel', sub_category 'Women', product_type 'Dresses'. The first
    level is the category and the last the product type (the finest level, as in the fashion dataset, where
    ProductType is the most specific); with three or more levels the one before the last is the sub-category.
    Levels between are dropped: 'Home > Kitchen > Cookware > Pans' gives Home / Cookware / Pans.
    """
    levels = [level.strip() for level in path.split(">") if level.strip()]
    if not levels:
        return {}
    out = {"category": levels[0]}
    if len(levels) >= 2:
        out["product_type"] = levels[-1]
    if len(levels) >= 3:
        out["sub_category"] = levels[-2]
    return out


# An HTML body's markup, found with patterns that stop at the next '<' (each character is looked at once from
# one tag start): html.parser rescans the rest of the cell from every unclosed '<', so '<a ' repeated 13,000
# times held the interpreter for 34 s. A '>' inside a quoted attribute ends the tag early; a product body never
# needs one, and what follows it is kept as text, never lost. The name is possessive (*+): the attributes'
# [^<>]* covers the name's characters too, so a backtracking name made '<' and 40,000 letters with no '>' quadratic.
TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*+)[^<>]*+>")
DECLARATION = re.compile(r"<[!?][^<>]*+>")
# Script, style and template bodies go with their tags, up to the closing tag found in the cell itself: searching
# html.lower() instead gave positions that drift wherever lowering changes a length ('İ' lowers to two characters).
SKIPPED_END = {name: re.compile(rf"</{name}", re.IGNORECASE | re.ASCII) for name in ("script", "style", "template")}
# '&#' and eight or more digits is past the last code point; html.unescape would turn 5,000 digits into an int
# (ValueError: "Exceeds the limit (4300 digits)"), so such a reference is the replacement character at once.
HUGE_CHARREF = re.compile(r"&#(?:[0-9]{8,}|[xX][0-9a-fA-F]{8,});?")


def _unescape(text: str) -> str:
    return unescape(HUGE_CHARREF.sub("\ufffd", text))


def html_to_text(html: str) -> str:
    """Plain text of an HTML body (Shopify's Body (HTML)); the markup is data to strip, never to render.

    Tags become spaces ('<p>a</p><p>b</p>' reads 'a b'), comments and declarations go, and script, style and
    template bodies go with their tags; time is linear in the cell."""
    if "<" not in html:
        return SPACES.sub(" ", _unescape(html)).strip()
    parts, i = [], 0
    while (lt := html.find("<", i)) >= 0:
        parts.append(html[i:lt])
        if html.startswith("<!--", lt):
            close = html.find("-->", lt + 4)
            i = len(html) if close < 0 else close + 3
            parts.append(" ")
        elif tag := TAG.match(html, lt):
            i = tag.end()
            parts.append(" ")
            name = tag.group(2).lower()
            if not tag.group(1) and name in SKIPPED_END:
                close = SKIPPED_END[name].search(html, i)
                i = len(html) if close is None else (html.find(">", close.end()) + 1 or len(html))
        elif declaration := DECLARATION.match(html, lt):
            i = declaration.end()
            parts.append(" ")
        else:  # a '<' that starts no tag is text ('a < b')
            parts.append("<")
            i = lt + 1
    parts.append(html[i:])
    return SPACES.sub(" ", _unescape("".join(parts))).strip()


class ColumnSurvey:
    """What column_kind needs to know about one column's values, gathered one value at a time (a streaming read
    keeps this, not the values: at most KEYWORD_MAX_DISTINCT + 1 distinct ones)."""

    def __init__(self, header: str):
        self.header = header
        self.count = 0
        self.numbers = 0
        self.infinite: str | None = None     # the first numeric value float() reads as infinity
        self.infinite_count = 0
        self.too_long: str | None = None     # the first value longer than any number (MAX_NUMBER_CHARS)
        self.too_long_count = 0
        self.distinct: set[str] = set()
        self.longest = 0
        self.links = False

    def add(self, value: str) -> None:
        self.count += 1
        if not NUMBER.fullmatch(value):
            pass
        elif too_long(value):  # shaped like a number but longer than any: text, said so in the column's note
            self.too_long_count += 1
            self.too_long = self.too_long or value
        elif not LEADING_ZERO.fullmatch(value):
            if math.isfinite(float(value)):
                self.numbers += 1
            else:
                self.infinite_count += 1
                self.infinite = self.infinite or value
        if len(self.distinct) <= KEYWORD_MAX_DISTINCT:
            self.distinct.add(value)
        self.longest = max(self.longest, len(value))
        self.links = self.links or value.lower().startswith(("http://", "https://"))

    def kind(self) -> tuple[str, str | None]:
        """('number' | 'keyword' | 'text', note): see column_kind."""
        if not self.count:
            return "text", None
        numeric = self.numbers + self.infinite_count
        id_like = ID_LIKE.search(column_key(self.header)) is not None
        if self.numbers == self.count and not id_like:
            return "number", None
        distinct = len(self.distinct)
        bounded = (not self.links  # links are not filters
                   and distinct <= KEYWORD_MAX_DISTINCT and (2 * distinct <= self.count or self.count <= FEW_ROWS)
                   and self.longest <= KEYWORD_MAX_CHARS)
        kind = "keyword" if bounded else "text"
        kept = "a keyword filter" if bounded else "text"
        note = None
        if self.too_long_count and numeric + self.too_long_count == self.count and not id_like:
            note = (f"column '{self.header}' has {shown(self.too_long)} ({len(self.too_long):,} characters), longer "
                    f"than any number ({MAX_NUMBER_CHARS} characters at most): kept as {kept}")
        elif self.infinite_count and numeric == self.count and not id_like:
            note = f"column '{self.header}' has {shown(self.infinite)}, which is not a finite number: kept as {kept}"
        elif 0 < self.numbers < self.count and not id_like:
            note = f"column '{self.header}' mixes numbers and text: kept as {kept}"
        return kind, note


def column_kind(header: str, values: list[str]) -> tuple[str, str | None]:
    """('number' | 'keyword' | 'text', note) for a column the catalogue does not name a role for.

    number: every non-empty value is a plain, finite number (no leading zeros: '00123' is a code; and never a
    column named like an id or a category, such as gtin, sku or google_product_category). keyword: at most 200
    distinct short values, and either at most half as many distinct values as rows, or a small file (20 rows
    or fewer), and no links. Otherwise text. A column that mixes numbers and words is not a number, and says so;
    so does a column of numbers with one that float() reads as infinity ('1e400'), which is kept as written, and
    one with a number longer than MAX_NUMBER_CHARS (a 40,000-digit cell), which is kept whole, as text.
    """
    survey = ColumnSurvey(header)
    for value in values:
        survey.add(value)
    return survey.kind()

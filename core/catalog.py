"""Catalogue reading: CSV rows -> Product records with snake_case payloads, resolved images and per-row problems."""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from core.errors import CatalogError

# CSV column -> payload key. The first eight are required; Image/ImageURL are optional.
COLUMNS: dict[str, str] = {
    "ProductId": "product_id",
    "Gender": "gender",
    "Category": "category",
    "SubCategory": "sub_category",
    "ProductType": "product_type",
    "Colour": "colour",
    "Usage": "usage",
    "ProductTitle": "title",
    "Image": "image",
    "ImageURL": "image_url",
}
REQUIRED = ["ProductId", "Gender", "Category", "SubCategory", "ProductType", "Colour", "Usage", "ProductTitle"]
# Payload keys the indexer adds beside the catalogue attributes.
INTERNAL_KEYS = ("fingerprint", "payload_hash", "text_only", "image_problem")
FILTER_FIELDS = ["gender", "category", "sub_category", "product_type", "colour", "usage"]
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")
RESERVED_KEYS = ("image_path", *INTERNAL_KEYS)
MAX_TEXT_WORDS = 40  # CLIP's limit is 77 BPE tokens; 40 words stays well inside it, truncation guards the rest.


@dataclass
class RowProblem:
    """One catalogue row that failed or only partly succeeded, with the reason."""

    row: int
    product_id: str
    reason: str

    def as_dict(self) -> dict:
        return {"row": self.row, "product_id": self.product_id, "reason": self.reason}


@dataclass
class Product:
    """One catalogue product ready for embedding."""

    row: int
    product_id: str
    payload: dict
    text: str
    image_file: Path | None = None
    image_problem: str | None = None


@dataclass
class Catalog:
    """A read catalogue: valid products plus rows that could not be used at all."""

    products: list[Product] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    total_rows: int = 0


def snake_case(name: str) -> str:
    """'SubCategory' -> 'sub_category', 'Season Year' -> 'season_year'."""
    name = re.sub(r"[^0-9A-Za-z]+", "_", name.strip())
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return name.strip("_").lower()


def _column_key(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def product_text(payload: dict, max_words: int = MAX_TEXT_WORDS) -> str:
    """Text for the text vector: the title, then attributes the title does not already say."""
    title = payload.get("title", "").strip()
    seen = set(title.lower().split())
    extras = []
    for key in ("colour", "product_type", "gender", "usage", "sub_category", "category"):
        value = str(payload.get(key, "")).strip()
        if value and not set(value.lower().split()) <= seen:
            extras.append(value)
            seen.update(value.lower().split())
    text = f"{title}. {', '.join(extras)}" if extras else title
    words = text.split()
    return " ".join(words[:max_words])


class ImageResolver:
    """Finds a product's image under one root folder, refusing paths that escape it."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self._by_name: dict[str, Path] | None = None

    def _index(self) -> dict[str, Path]:
        # Built once, lazily: the dataset keeps images in per-category sub-folders.
        if self._by_name is None:
            self._by_name = {}
            for folder, dirs, files in os.walk(self.root):
                dirs.sort()
                for name in sorted(files):
                    if name.lower().endswith(IMAGE_EXTENSIONS):
                        self._by_name.setdefault(name.lower(), Path(folder) / name)
        return self._by_name

    def _inside(self, path: Path) -> bool:
        try:
            path.resolve().relative_to(self.root)
            return True
        except ValueError:
            return False

    def resolve(self, product_id: str, image_value: str) -> tuple[Path | None, str | None]:
        """Return (path, None) or (None, reason)."""
        try:
            return self._resolve(product_id, image_value)
        except (OSError, ValueError) as exc:  # e.g. a file name longer than the file system allows
            return None, f"image path unusable: {exc}"
        except RuntimeError as exc:  # Path.resolve() on a symlink loop
            return None, f"image path unusable (symlink loop?): {exc}"

    def _resolve(self, product_id: str, image_value: str) -> tuple[Path | None, str | None]:
        if image_value:
            if os.path.isabs(image_value) or re.match(r"^[A-Za-z]:[\\/]", image_value):
                return None, f"image path is absolute, refused: {image_value}"
            candidate = self.root / image_value
            if ".." in Path(image_value).parts or not self._inside(candidate):
                return None, f"image path escapes the images folder, refused: {image_value}"
            if candidate.is_file():
                return candidate.resolve(), None
            # A bare file name may live in any sub-folder (the dataset's per-category folders); a value with
            # a folder part names that folder, so we never substitute a same-named file from another one.
            found = self._index().get(image_value.lower()) if len(Path(image_value).parts) == 1 else None
            if found is not None and self._inside(found):
                return found.resolve(), None
            return None, f"image file not found: {image_value}"
        safe_id = re.sub(r"[^0-9A-Za-z._-]", "_", product_id)
        for ext in IMAGE_EXTENSIONS:
            found = self._index().get((safe_id + ext).lower())
            if found is not None and self._inside(found):
                return found.resolve(), None
        return None, f"image file not found: no {safe_id}.jpg/.jpeg/.png/.webp under {self.root}"


DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
BOMS = ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xef\xbb\xbf", "utf-8"),
        (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


def decode_catalog(raw: bytes, csv_path: Path) -> str:
    """Text of a catalogue file: UTF-8, or UTF-16/32 with a byte-order mark; anything else is refused or per-row."""
    for bom, encoding in BOMS:
        if raw.startswith(bom):
            try:
                return raw[len(bom):].decode(encoding, errors="surrogateescape" if encoding == "utf-8" else "strict")
            except UnicodeDecodeError as exc:
                raise CatalogError(f"catalogue {csv_path} starts with a {encoding} byte-order mark but is not "
                                   f"valid {encoding} ({exc.reason}); save it as UTF-8") from None
    if raw[:4096].count(b"\x00") > len(raw[:4096]) // 8:
        raise CatalogError(f"catalogue {csv_path} looks like UTF-16 without a byte-order mark (it is full of NUL "
                           "bytes); save it as UTF-8 (in Excel: CSV UTF-8)")
    return raw.decode("utf-8", errors="surrogateescape")


def sniff_delimiter(text: str) -> str:
    """The separator of the header line: the most frequent of , ; tab | (comma when none appears)."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def _open_rows(csv_path: Path) -> tuple[str, Iterator[tuple[int, list[str] | None, str | None]]]:
    """(delimiter, rows): rows yields (line number, fields, problem); invalid UTF-8 becomes a per-row problem."""
    try:
        raw = csv_path.read_bytes()
    except FileNotFoundError:
        raise CatalogError(f"catalogue file not found: {csv_path}") from None
    except OSError as exc:
        raise CatalogError(f"catalogue file cannot be read: {csv_path}: {exc.strerror or exc}") from None
    text = decode_catalog(raw, csv_path)
    delimiter = sniff_delimiter(text)
    return delimiter, _records(csv.reader(io.StringIO(text, newline=""), strict=True, delimiter=delimiter))


def _records(reader) -> Iterator[tuple[int, list[str] | None, str | None]]:
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, None, f"unreadable CSV row: {exc}"
            continue
        bad_utf8 = any(any("\udc80" <= ch <= "\udcff" for ch in value) for value in fields)
        yield start, fields, ("row is not valid UTF-8 text" if bad_utf8 else None)


def read_catalog(csv_path: Path, images_dir: Path | None = None) -> Catalog:
    """Read a catalogue CSV; raises CatalogError only when the whole file is unusable."""
    csv_path = Path(csv_path)
    delimiter, rows = _open_rows(csv_path)
    header = None
    for _line, fields, _problem in rows:
        if fields and any(f.strip() for f in fields):
            header = fields
            break
    if header is None:
        raise CatalogError(f"catalogue is empty or has no header row: {csv_path}")
    header = [h.strip() for h in header]
    by_key = {_column_key(h): i for i, h in enumerate(header)}
    missing = [col for col in REQUIRED if _column_key(col) not in by_key]
    if missing:
        shown = ", ".join(h[:60] for h in header[:30]) + (", ..." if len(header) > 30 else "")
        raise CatalogError(f"catalogue is missing required column(s) {', '.join(missing)}; {len(header)} column(s) "
                           f"found ({DELIMITER_NAMES[delimiter]}-separated): {shown}")
    known = {_column_key(col): key for col, key in COLUMNS.items()}
    keys = [known.get(_column_key(h), snake_case(h) or f"column_{i + 1}") for i, h in enumerate(header)]
    clashes = sorted({k for k in keys if keys.count(k) > 1 or k in RESERVED_KEYS})
    if clashes:
        names = [h for h, k in zip(header, keys) if k in clashes]
        raise CatalogError(f"catalogue columns {', '.join(names)} would overwrite each other or fields the index "
                           f"keeps ({', '.join(clashes)}); rename them")

    resolver = ImageResolver(images_dir if images_dir is not None else csv_path.parent)
    catalog = Catalog()
    first_row_of: dict[str, int] = {}
    for line, fields, problem in rows:
        if fields is not None and not any(f.strip() for f in fields):
            continue  # blank line
        catalog.total_rows += 1
        product_id = ""
        if fields is not None:
            product_id = fields[by_key[_column_key("ProductId")]].strip() if len(fields) > by_key[_column_key("ProductId")] else ""
        if problem is None and len(fields) != len(header):
            problem = f"unreadable CSV row: expected {len(header)} fields, found {len(fields)}"
        if problem is None and not product_id:
            problem = "empty ProductId"
        if problem is None and product_id in first_row_of:
            problem = f"duplicate ProductId {product_id} (first seen on row {first_row_of[product_id]})"
        if problem is not None:
            catalog.problems.append(RowProblem(line, product_id, problem))
            continue
        first_row_of[product_id] = line
        payload = {key: value.strip() for key, value in zip(keys, fields)}
        image_file, image_problem = resolver.resolve(product_id, payload.pop("image", ""))
        payload["image_path"] = str(image_file) if image_file else ""
        catalog.products.append(
            Product(line, product_id, payload, product_text(payload), image_file, image_problem)
        )
    return catalog

"""Catalogue reading: a CSV file -> Product records with typed payloads, resolved photos and per-row problems.

The file's layout (fashion, Shopify, Google, generic) and the meaning of its columns live in core.ingest.formats;
this module never asks which format a file is. It reads the bytes (encodings, separators, broken rows) and finds
each product's photos, safely: payload PHOTOS holds each usable one as an http(s) URL or a resolved local path
inside the images folder, the hero first, never a reference that did not resolve.
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, NamedTuple
from urllib.parse import urlsplit

from core.common.config import Settings
from core.common.errors import CatalogError
from core.common.fields import (BRAND, CATEGORY, COLOUR, GENDER, IMAGE_PATH, IMAGE_URL, INTERNAL_KEYS, PHOTOS,
                                PRODUCT_TYPE, RESERVED_KEYS, STANDARD_FILTERS, SUB_CATEGORY, TEXT_ROLES, TITLE, USAGE,
                                VARIANTS, FieldReport, values_of)
from core.ingest.formats import (Record, RowProblem, Rows, Tally, plan_layout, reads_whole, snake_case, stream_records,
                                 survey_records)

# Re-exported for the modules that import them from here; core.common.fields is their home.
FILTER_FIELDS = STANDARD_FILTERS
__all__ = ["FILTER_FIELDS", "INTERNAL_KEYS", "RESERVED_KEYS", "Catalog", "CatalogFile", "ImageResolver", "Missing",
           "PhotoClaims", "Product", "RowProblem", "product_text", "read_catalog", "snake_case"]
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".gif")
MAX_PHOTOS = Settings().max_photos  # the default; callers pass Settings.from_env().max_photos (LENS_MAX_PHOTOS)
MAX_TEXT_WORDS = 40  # CLIP's limit is 77 BPE tokens; 40 words stays well inside it, truncation guards the rest.
TEXT_ATTRIBUTES = (COLOUR, PRODUCT_TYPE, GENDER, USAGE, SUB_CATEGORY, CATEGORY, BRAND)


@dataclass
class Product:
    """One catalogue product ready for embedding: a local photo (image_file) or one to fetch (image_url)."""

    row: int
    product_id: str
    payload: dict
    text: str
    image_file: Path | None = None
    image_problem: str | None = None
    image_url: str | None = None
    # Why there is no photo as a stable case and what it concerns ('contested:_.jpg'), never the message: the
    # index's fingerprint is made from it, so a reworded message, or one more id claiming the same photo, does
    # not embed every other product again.
    image_missing: str | None = None
    # Photos beyond the hero that could not be used, {reference as the feed gave it: why} (a file not found, a path
    # refused); a dead URL is not known here, the indexer finds it.
    photo_problems: dict[str, str] = field(default_factory=dict)


@dataclass
class Catalog:
    """A read catalogue: valid products, rows that could not be used at all, and what the columns became."""

    products: list[Product] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    total_rows: int = 0
    report: FieldReport = field(default_factory=FieldReport)


def product_text(payload: dict, max_words: int = MAX_TEXT_WORDS) -> str:
    """Text for the text vector: the title, then attributes the title does not already say, then the description."""
    title = str(payload.get(TITLE, "")).strip()
    seen = set(title.lower().split())
    extras = []
    for key in TEXT_ATTRIBUTES:
        for value in values_of(payload.get(key)):  # colour may be a list: ['Red', 'Blue']
            value = value.strip()
            if value and not set(value.lower().split()) <= seen:
                extras.append(value)
                seen.update(value.lower().split())
    described = " ".join(str(payload.get(key, "")).strip() for key in TEXT_ROLES if key != TITLE).strip()
    text = ". ".join(part for part in (title, ", ".join(extras), described) if part)
    words = text.split()
    return " ".join(words[:max_words])


DRIVE_PATH = re.compile(r"[A-Za-z]:[\\/]")
UNSAFE_NAME_CHARS = re.compile(r"[^0-9A-Za-z._-]")


class Missing(NamedTuple):
    """Why a photo was not found: case, a stable name of what went wrong and the file it concerns (the
    fingerprint's); message, the same for a person. A message says nothing that case does not fix, so what the
    index stores for a product kept as it is stays true."""

    case: str
    message: str


def photo_key(text: str) -> str:
    """The loose form in which a product id meets a photo's file name when no photo has the id's exact name:
    characters a file name may not safely hold become '_', and case is ignored ('A b' and 'a_B' are both 'a_b')."""
    return UNSAFE_NAME_CHARS.sub("_", text).lower()


class PhotoClaims:
    """The products that look their photo up by their id (no image reference in their row), gathered while the
    catalogue is surveyed, so that a photo several ids could claim is given to none of them."""

    def __init__(self):
        self.ids: set[str] = set()
        self.by_key: dict[str, list[str]] = {}  # photo_key(id) -> ids, in file order

    def add(self, record: Record) -> None:
        if (record.images and record.images[0]) or record.product_id in self.ids:
            return
        self.ids.add(record.product_id)
        self.by_key.setdefault(photo_key(record.product_id), []).append(record.product_id)


class ImageResolver:
    """Finds a product's image under one root folder, refusing paths that escape it.

    A product without an image reference is looked up by its id: the photo with exactly its name wins (abc.jpg
    for abc, even beside ABC.jpg); failing that, a photo whose name matches the id loosely (photo_key) is its
    photo only when nothing else could claim it: not another product with that exact name, not another id of
    the catalogue that reads the same loosely (a/b and a:b both read a_b), not a second photo that reads the
    same (ABC.jpg and Abc.jpg). A photo so contested goes to none of them, and each says why: never silently
    another product's photo.
    """

    def __init__(self, root: Path, claims: PhotoClaims | None = None):
        self.root = Path(root).resolve()
        self.claims = claims
        self._by_name: dict[str, Path] | None = None
        self._exact: dict[str, Path] = {}                 # exact file name -> first path
        self._loose: dict[str, dict[str, Path]] = {}      # photo_key(stem) + extension -> {file name: first path}
        self._claimants_by_key: dict[str, list[str]] = {}

    def _index(self) -> dict[str, Path]:
        # Built once, lazily: the dataset keeps images in per-category sub-folders.
        if self._by_name is None:
            self._by_name = {}
            for folder, dirs, files in os.walk(self.root):
                dirs.sort()
                for name in sorted(files):
                    stem, ext = os.path.splitext(name)
                    if ext.lower() in IMAGE_EXTENSIONS:
                        path = Path(folder) / name
                        self._by_name.setdefault(name.lower(), path)
                        self._exact.setdefault(stem + ext.lower(), path)
                        self._loose.setdefault(photo_key(stem) + ext.lower(), {}).setdefault(name, path)
        return self._by_name

    def _inside(self, path: Path) -> bool:
        try:
            path.resolve().relative_to(self.root)
            return True
        except ValueError:
            return False

    def resolve(self, product_id: str, image_value: str) -> tuple[Path | None, str | None]:
        """Return (path, None) or (None, reason)."""
        path, missing = self.find(product_id, image_value)
        return path, missing.message if missing else None

    def find(self, product_id: str, image_value: str) -> tuple[Path | None, Missing | None]:
        """(path, None) or (None, why not)."""
        try:
            return self._resolve(product_id, image_value)
        except (OSError, ValueError) as exc:  # e.g. a file name longer than the file system allows
            return None, Missing(f"unusable:{image_value}:{exc}", f"image path unusable: {exc}")
        except RuntimeError as exc:  # Path.resolve() on a symlink loop
            return None, Missing(f"loop:{image_value}", f"image path unusable (symlink loop?): {exc}")

    def _resolve(self, product_id: str, image_value: str) -> tuple[Path | None, Missing | None]:
        if image_value:
            if os.path.isabs(image_value) or DRIVE_PATH.match(image_value):
                return None, Missing(f"absolute:{image_value}", f"image path is absolute, refused: {image_value}")
            candidate = self.root / image_value
            if ".." in Path(image_value).parts or not self._inside(candidate):
                return None, Missing(f"escapes:{image_value}",
                                     f"image path escapes the images folder, refused: {image_value}")
            if candidate.is_file():
                return candidate.resolve(), None
            # A bare file name may live in any sub-folder (the dataset's per-category folders); a value with
            # a folder part names that folder, so we never substitute a same-named file from another one.
            found = None
            if len(Path(image_value).parts) == 1:
                by_name = self._index()
                stem, ext = os.path.splitext(image_value)
                found = self._exact.get(stem + ext.lower()) or by_name.get(image_value.lower())
            if found is not None and self._inside(found):
                return found.resolve(), None
            return None, Missing(f"not-found:{image_value}", f"image file not found: {image_value}")
        return self._by_id(product_id)

    def _exact_photo(self, product_id: str) -> Path | None:
        self._index()
        return next((self._exact[product_id + ext] for ext in IMAGE_EXTENSIONS if product_id + ext in self._exact),
                    None)

    def _claimants(self, key: str) -> list[str]:
        """The ids reading `key` loosely that have no photo of their exact name: worked out once per key (each of
        20,000 ids sharing one key walked all the others: quadratic)."""
        if key not in self._claimants_by_key:
            ids = self.claims.by_key.get(key, []) if self.claims is not None else []
            self._claimants_by_key[key] = [other for other in ids if self._exact_photo(other) is None]
        return self._claimants_by_key[key]

    def _by_id(self, product_id: str) -> tuple[Path | None, Missing | None]:
        exact = self._exact_photo(product_id)
        if exact is not None:
            return (exact.resolve(), None) if self._inside(exact) else (None, _escapes(exact.name))
        key = photo_key(product_id)
        photos = {}  # every extension's: abc.jpg and Abc.png both read ABC loosely, and neither is its exact name
        for ext in IMAGE_EXTENSIONS:
            photos.update(self._loose.get(key + ext, {}))
        if not photos:
            safe_id = UNSAFE_NAME_CHARS.sub("_", product_id)
            return None, Missing(f"no-photo:{safe_id}",
                                 f"image file not found: no {safe_id}.jpg/.jpeg/.png/.webp under {self.root}")
        names = sorted(photos)
        if len(names) > 1:
            return None, Missing(f"several:{product_id}:{'/'.join(names)}",
                                 f"photo not chosen: {', '.join(names)} could each be the photo of {product_id} and "
                                 "none has its exact name; name the photo exactly after the product id")
        name, path = names[0], photos[names[0]]
        owner = os.path.splitext(name)[0]
        if self.claims is not None and owner != product_id and owner in self.claims.ids:
            return None, Missing(f"owned:{name}",
                                 f"photo not chosen: {name} is the photo of product {owner}, whose id is its exact "
                                 "name")
        claimants = self._claimants(key)
        if len(claimants) > 1 or claimants and claimants[0] != product_id:
            # The other claimants are listed beside this one in the report; naming them here would make the
            # message of every claimant change when one more is added.
            return None, Missing(f"contested:{name}",
                                 f"photo not chosen: {name} could be the photo of several products, whose ids differ "
                                 "only in case or in characters a file name cannot hold; it is given to none of them: "
                                 "name each photo exactly after its product id")
        if not self._inside(path):
            return None, _escapes(name)
        return path.resolve(), None


def _escapes(name: str) -> Missing:
    return Missing(f"escapes:{name}", f"image path escapes the images folder, refused: {name}")


# A reference like 'data:...' or 's3://...' is a URL, not a file name; 'shirt:red.jpg' (no '//') is a file name.
URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")
BARE_SCHEMES = {"file", "data", "javascript", "vbscript", "mailto", "blob", "about", "ftp"}
MAX_URL_CHARS = 2048
URL_SPACE = re.compile(r"[\s\x00-\x1f]")


def url_scheme(reference: str) -> str | None:
    """'https' for 'https://a/b.jpg', 'file' for 'file:/etc/passwd', None for a file name (or a drive letter)."""
    match = URL_SCHEME.match(reference)
    if match is None:
        return None
    scheme = match.group(1).lower()
    if scheme in ("http", "https") or scheme in BARE_SCHEMES or reference[match.end():].startswith("//"):
        return scheme
    return None


def _url_problem(url: str) -> str | None:
    if len(url) > MAX_URL_CHARS:
        return f"image URL is longer than {MAX_URL_CHARS} characters"
    try:
        host = urlsplit(url).hostname
    except ValueError as exc:
        return f"image URL is not valid ({exc})"
    if not host or URL_SPACE.search(url):
        return f"image URL is not valid (no host, or spaces in it): {url[:200]}"
    return None


def choose_image(resolver: ImageResolver, product_id: str, references: tuple[str, ...]
                 ) -> tuple[Path | None, str | None, Missing | None]:
    """(local file, URL, why neither), trying references best first: a local file that resolves wins; an
    http(s) URL is taken without a lookup (the indexer fetches it); other schemes are refused, never fetched. An
    empty first reference means 'look the product id up' (1.jpg under the images folder), as before URLs existed."""
    problems: list[Missing] = []
    for n, reference in enumerate(references or ("",)):
        if n and not reference:
            continue
        scheme = url_scheme(reference)
        if scheme in ("http", "https"):
            problem = _url_problem(reference)
            if problem is None:
                return None, reference, None
            problems.append(Missing(f"url:{reference}", problem))
        elif scheme is not None:
            problems.append(Missing(f"scheme:{reference}", f"image URL scheme '{scheme}' is refused (only http and "
                                                           "https)"))
        else:
            path, problem = resolver.find(product_id, reference)
            if path is not None:
                return path, None, None
            problems.append(problem)
    return None, None, Missing("; ".join(p.case for p in problems), "; ".join(p.message for p in problems))


def product_photos(resolver: ImageResolver, record: Record, hero: str | None) -> tuple[list[str], dict[str, str],
                                                                                        dict[str, str]]:
    """(PHOTOS, {reference: why not} for those left out, {reference as given: as in PHOTOS}): every photo of the
    record that resolves, the hero first (hero: its resolved reference, None when it has none), each one once
    (the same URL three times, or one file named two ways, is one photo). A hero reference that failed is the
    hero's problem (Product.image_problem), not said twice."""
    photos = [hero] if hero else []
    seen = set(photos)
    problems: dict[str, str] = {}
    resolved: dict[str, str] = {}
    if len(record.photos) <= 1 and set(record.photos) <= set(record.images) and hero:
        return photos, problems, {ref: hero for ref in record.photos}  # one photo, the hero (a fashion row)
    for reference in record.photos:
        path, url, missing = choose_image(resolver, record.product_id, (reference,))
        found = url or (str(path) if path is not None else None)
        if found is None:
            if hero or reference not in record.images:
                problems[reference] = missing.message
            continue
        resolved[reference] = found
        if found not in seen:
            seen.add(found)
            photos.append(found)
    return photos, problems, resolved


def variants_with_photos(variants: list, resolved: dict[str, str]) -> list[dict]:
    """The variants, each one's photo as PHOTOS holds it (left out when its photo is not among them)."""
    out = []
    for variant in variants:
        variant = dict(variant)
        image = variant.pop("image", None)
        if image in resolved:
            variant["image"] = resolved[image]
        out.append(variant)
    return out


DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
BOMS = ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xef\xbb\xbf", "utf-8"),
        (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


NUL_PROBE_BYTES = 4096


def encoding_of(head: bytes, csv_path: Path) -> tuple[str, int]:
    """(encoding, length of its byte-order mark) from a file's first bytes: UTF-8, or UTF-16/32 with a byte-order
    mark; a file full of NUL bytes without one is refused."""
    for bom, encoding in BOMS:
        if head.startswith(bom):
            return encoding, len(bom)
    probe = head[:NUL_PROBE_BYTES]
    if probe.count(b"\x00") > len(probe) // 8:
        raise CatalogError(f"catalogue {csv_path} looks like UTF-16 without a byte-order mark (it is full of NUL "
                           "bytes); save it as UTF-8 (in Excel: CSV UTF-8)")
    return "utf-8", 0


def _decode_errors(encoding: str) -> str:
    """Invalid UTF-8 stays visible (as surrogates) and becomes a per-row problem; UTF-16/32 must be valid."""
    return "surrogateescape" if encoding == "utf-8" else "strict"


def _not_valid(csv_path: Path, encoding: str, exc: UnicodeDecodeError) -> CatalogError:
    return CatalogError(f"catalogue {csv_path} starts with a {encoding} byte-order mark but is not valid {encoding} "
                        f"({exc.reason}); save it as UTF-8")


def decode_catalog(raw: bytes, csv_path: Path) -> str:
    """Text of a catalogue file held in memory (the Catalog page's preview); the indexer streams it instead."""
    encoding, skip = encoding_of(raw, csv_path)
    try:
        return raw[skip:].decode(encoding, errors=_decode_errors(encoding))
    except UnicodeDecodeError as exc:
        raise _not_valid(csv_path, encoding, exc) from None


def sniff_delimiter(text: str) -> str:
    """The separator of the header line: the most frequent of , ; tab | (comma when none appears)."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def _encoding_of(csv_path: Path) -> tuple[str, int]:
    """(encoding, bytes of byte-order mark to skip), from the file's first bytes only."""
    try:
        with open(csv_path, "rb") as f:
            head = f.read(NUL_PROBE_BYTES)
    except FileNotFoundError:
        raise CatalogError(f"catalogue file not found: {csv_path}") from None
    except OSError as exc:
        raise CatalogError(f"catalogue file cannot be read: {csv_path}: {exc.strerror or exc}") from None
    return encoding_of(head, csv_path)


def _open_text(csv_path: Path, encoding: str, skip: int):
    """The file as text, streamed (never read whole); invalid UTF-8 stays visible as surrogates, per row."""
    try:
        raw = open(csv_path, "rb")
    except FileNotFoundError:
        raise CatalogError(f"catalogue file not found: {csv_path}") from None
    except OSError as exc:
        raise CatalogError(f"catalogue file cannot be read: {csv_path}: {exc.strerror or exc}") from None
    raw.seek(skip)
    return io.TextIOWrapper(raw, encoding=encoding, errors=_decode_errors(encoding), newline="")


def open_rows(csv_path: Path) -> tuple[str, Rows]:
    """(delimiter, rows): rows yields (line number, fields, problem), reading the file as it goes; invalid UTF-8
    becomes a per-row problem."""
    encoding, skip = _encoding_of(csv_path)
    with _open_text(csv_path, encoding, skip) as text:
        header = ""
        for line in _decoded(text, csv_path, encoding):
            if line.strip():
                header = line
                break
    delimiter = sniff_delimiter(header)
    return delimiter, _rows(csv_path, encoding, skip, delimiter)


def _decoded(lines, csv_path: Path, encoding: str):
    """Lines (or rows) of a stream, with a decoding error turned into the catalogue error it was when whole."""
    try:
        yield from lines
    except UnicodeDecodeError as exc:
        raise _not_valid(csv_path, encoding, exc) from None


def _rows(csv_path: Path, encoding: str, skip: int, delimiter: str):
    with _open_text(csv_path, encoding, skip) as text:
        reader = csv.reader(text, strict=True, delimiter=delimiter)
        yield from _decoded(_rows_of(reader), csv_path, encoding)


def _rows_of(reader) -> Rows:
    """(line number, fields, problem) of each row a csv reader gives: a row it cannot parse, or one that is not
    valid UTF-8, is a problem of that row alone."""
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


class CatalogFile:
    """A catalogue read in passes, never whole: opening it surveys the file once (layout, schema, row problems,
    product count); products() streams the products again, as often as a caller needs (the indexer plans in
    one pass and embeds in another). Memory grows with product ids, not with the catalogue's values.

    Every pass must read the file the survey read: a feed re-exported in place, or an upload replaced, between
    passes would otherwise be planned from one file and pruned against another. So each pass checks the file's
    identity (device, inode, size, modification time) before and after it, its header, and its row and product
    counts, and a change is a CatalogError ("run again"), never a silently different catalogue."""

    def __init__(self, csv_path: Path, images_dir: Path | None = None, format: str = "auto",
                 columns: dict[str, str] | str | None = None, max_photos: int = MAX_PHOTOS):
        self.csv_path = Path(csv_path)
        self._identity = _identity(self.csv_path)
        delimiter, rows = open_rows(self.csv_path)
        header = None
        for _line, fields, _problem in rows:
            if fields and any(f.strip() for f in fields):
                header = fields
                break
        if header is None:
            raise CatalogError(f"catalogue is empty or has no header row: {self.csv_path}")
        self._header = header
        self.layout = plan_layout([h.strip() for h in header], DELIMITER_NAMES[delimiter], format, columns)
        self.layout.max_photos = max_photos
        claims = PhotoClaims()
        survey = survey_records(self.layout, rows, on_record=claims.add)
        self._unchanged()
        # A format read whole (its products gather rows from across the file) kept its records: they are replayed,
        # never read again; any other format's survey kept none, and each pass streams the file.
        self._kept: list[Record] | None = survey.records if reads_whole(self.layout) else None
        self.problems: list[RowProblem] = survey.problems
        self.total_rows = survey.total_rows
        self.report: FieldReport = survey.report
        self.product_count = survey.products
        self._resolver = ImageResolver(images_dir if images_dir is not None else self.csv_path.parent, claims)

    def _unchanged(self) -> None:
        if _identity(self.csv_path) != self._identity:
            raise CatalogError(f"the catalogue {self.csv_path} changed while it was being read (it was saved or "
                               "replaced during this run); nothing was pruned. Run again once it is complete")

    def records(self) -> Iterator[Record]:
        """Every record, read from the file again (or the survey's own, for a format read whole); the same file as
        the survey's, or a CatalogError."""
        if self._kept is not None:
            yield from self._kept
            return
        self._unchanged()
        _, rows = open_rows(self.csv_path)
        for _line, fields, _problem in rows:  # the header again
            if fields and any(f.strip() for f in fields):
                if fields != self._header:
                    raise CatalogError(f"the catalogue {self.csv_path} changed while it was being read (its header "
                                       "is not the one read first); run again once it is complete")
                break
        tally = Tally()
        yield from stream_records(self.layout, rows, tally)
        self._unchanged()
        if (tally.total, tally.products) != (self.total_rows, self.product_count):
            raise CatalogError(f"the catalogue {self.csv_path} changed while it was being read ({tally.total} rows "
                               f"now, {self.total_rows} before); run again once it is complete")

    def products(self) -> Iterator[Product]:
        """Every product, in file order, read from the file again."""
        for record in self.records():
            image_file, image_url, missing = choose_image(self._resolver, record.product_id, record.images)
            payload = dict(record.values)
            payload[IMAGE_PATH] = str(image_file) if image_file else ""
            if image_url:
                payload[IMAGE_URL] = image_url
            hero = image_url or (str(image_file) if image_file else None)
            photos, photo_problems, resolved = product_photos(self._resolver, record, hero)
            if photos:
                payload[PHOTOS] = photos[:self.layout.max_photos]
            if payload.get(VARIANTS):
                payload[VARIANTS] = variants_with_photos(payload[VARIANTS], {
                    ref: found for ref, found in resolved.items() if found in payload.get(PHOTOS, ())})
            yield Product(record.row, record.product_id, payload, product_text(payload), image_file,
                          missing.message if missing else None, image_url, missing.case if missing else None,
                          photo_problems)


def _identity(csv_path: Path) -> tuple:
    try:
        st = os.stat(csv_path)
    except FileNotFoundError:
        raise CatalogError(f"catalogue file not found: {csv_path} (was it moved while being read?)") from None
    except OSError as exc:
        raise CatalogError(f"catalogue file cannot be read: {csv_path}: {exc.strerror or exc}") from None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def read_catalog(csv_path: Path, images_dir: Path | None = None, format: str = "auto",
                 columns: dict[str, str] | str | None = None, max_photos: int = MAX_PHOTOS) -> Catalog:
    """Read a catalogue file in any known format ('auto' detects it) into memory; columns maps roles to headers,
    as a dict or 'product_id=SKU,title=Name'. Raises CatalogError only when the whole file is unusable. The
    indexer streams a CatalogFile instead."""
    source = CatalogFile(csv_path, images_dir, format, columns, max_photos)
    return Catalog(list(source.products()), source.problems, source.total_rows, source.report)


def check_inputs(csv_path: Path, images_dir: Path | None) -> None:
    """Fail before any model loads when the catalogue file or the images folder is not there (or is the wrong kind)."""
    csv_path = Path(csv_path)
    if csv_path.is_dir():
        raise CatalogError(f"the catalogue path is a folder, not a CSV file: {csv_path}")
    if not csv_path.is_file():
        raise CatalogError(f"catalogue file not found: {csv_path}")
    if images_dir is not None and Path(images_dir).is_file():
        raise CatalogError(f"the images path is a file, not a folder: {images_dir}")
    if images_dir is not None and not Path(images_dir).is_dir():
        raise CatalogError(f"images folder not found: {images_dir}")

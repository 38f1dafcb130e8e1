"""One home for payload keys: the canonical catalogue roles, the keys the index adds, and an index's field schema."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# ---- canonical roles: what a catalogue column can mean, whatever its header says -----------------------------

PRODUCT_ID = "product_id"
TITLE = "title"
DESCRIPTION = "description"
GENDER = "gender"
CATEGORY = "category"
SUB_CATEGORY = "sub_category"
PRODUCT_TYPE = "product_type"
COLOUR = "colour"
USAGE = "usage"
BRAND = "brand"
SEASON = "season"
PRICE = "price"
SALE_PRICE = "sale_price"
CURRENCY = "currency"
IN_STOCK = "in_stock"
INVENTORY = "inventory"
RATING = "rating"
LINK = "link"
IMAGE = "image"            # the catalogue's photo reference: a file name or path, or an http(s) URL
TAGS = "tags"
GROUP_ID = "item_group_id"
STATUS = "status"                      # active, draft, archived (lower case whatever the feed's case); any status column
COMPARE_AT_PRICE = "compare_at_price"  # the feed's "was" price, kept as given (Shopify's Compare At, Google's price
                                       # when a sale_price is set)

ROLES = (PRODUCT_ID, TITLE, DESCRIPTION, GENDER, CATEGORY, SUB_CATEGORY, PRODUCT_TYPE, COLOUR, USAGE, BRAND, SEASON,
         PRICE, SALE_PRICE, CURRENCY, IN_STOCK, INVENTORY, RATING, LINK, IMAGE, TAGS, GROUP_ID, STATUS, COMPARE_AT_PRICE)
# The six filters every index has (the fashion dataset's attributes); other keyword columns join them per catalogue.
STANDARD_FILTERS = (GENDER, CATEGORY, SUB_CATEGORY, PRODUCT_TYPE, COLOUR, USAGE)
NUMBER_ROLES = (PRICE, SALE_PRICE, INVENTORY, RATING, COMPARE_AT_PRICE)
KEYWORD_ROLES = (*STANDARD_FILTERS, BRAND, SEASON, CURRENCY, TAGS, GROUP_ID, IN_STOCK, STATUS)
# in_stock is stored as the keyword "yes" or "no", not a boolean: qdrant-edge 0.9.0 matches no boolean payload
# (MatchValue(True) counts 0 of 3 true points), and a keyword also gives the facet counts "yes 120 · no 30".
YES, NO = "yes", "no"
TEXT_ROLES = (TITLE, DESCRIPTION)
LIST_ROLES = (COLOUR, TAGS)  # may hold several values (a Shopify product in three colours)

# ---- a real shop product: several photos, variants, status, a sale ------------------------------------------

PHOTOS = "photos"          # every photo reference of the product (URL or resolved local path), hero first, deduplicated,
                           # at most Settings.max_photos; all are shown
VARIANTS = "variants"      # list of {"sku", "colour", "size", "options": {name: value}, "price", "compare_at_price",
                           # "inventory", "image"} (keys absent when the feed has no value); "image" is one of PHOTOS
SKU = "sku"                # keyword list: every variant's SKU (and a product-level SKU column), so sku=ABC-123 finds it
ON_SALE = "on_sale"        # yes/no keyword: compare_at_price above price
DISCOUNT = "discount"      # number, percent 0-100: round(100 * (compare_at_price - price) / compare_at_price, 1)
HIDDEN_STATUSES = ("draft", "archived")  # left out of default views unless a status filter asks for them

# ---- keys the index adds beside the catalogue's own ----------------------------------------------------------

IMAGE_PATH = "image_path"  # the resolved local photo ("" when none)
IMAGE_URL = "image_url"    # the photo's http(s) URL, when it came from one
FINGERPRINT = "fingerprint"
PAYLOAD_HASH = "payload_hash"
TEXT_ONLY = "text_only"
IMAGE_PROBLEM = "image_problem"
COLOUR_STATS = "colour_stats"  # the photo's dominant colours (core.ingest.colour_stats), made while indexing decodes it
# The named multivector (MaxSim) holding one vector per matched photo, beside the hero's single "image" vector.
PHOTO_VECTORS = "photos"
MATCHED_PHOTOS = "matched_photos"  # the PHOTOS references whose vectors are PHOTO_VECTORS' rows, in the same order
PHOTO_DIGESTS = "photo_digests"    # sha256 of each MATCHED_PHOTOS photo's bytes, same order (photo-level incremental)
PHOTO_COLOURS = "photo_colours"    # colour_stats of each MATCHED_PHOTOS photo, same order (the variant-aware audit)
SHARED_PHOTOS = "shared_photos"    # PHOTOS references left out of matching: used by LENS_SHARED_PHOTO_MIN products or more
PHOTO_PROBLEMS = "photo_problems"  # {reference: why} for photos (beyond the hero) that could not be used
# {reference: [width, height]} of every photo of the product that was decoded (hero and others), the photo's own
# pixel size as stored (before any draft or resize): Merchant Center's minimum image size (core.insights.health).
PHOTO_SIZES = "photo_sizes"
# The keyword index's payload (core.index.keywords), both keyword lists with a payload index: the product's distinct
# stemmed words (so "holds every query word" is an exact filter), and its exact-lookup keys (id/handle, SKUs, item
# group id; lower case, spaces collapsed) so a whole query naming one finds it.
TERMS = "terms"
LOOKUP_KEYS = "lookup_keys"
INTERNAL_KEYS = (FINGERPRINT, PAYLOAD_HASH, TEXT_ONLY, IMAGE_PROBLEM, COLOUR_STATS, MATCHED_PHOTOS, PHOTO_DIGESTS,
                 PHOTO_COLOURS, SHARED_PHOTOS, PHOTO_PROBLEMS, PHOTO_SIZES, TERMS, LOOKUP_KEYS)
RESERVED_KEYS = (IMAGE_PATH, *INTERNAL_KEYS)

FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def display_value(value) -> str:
    """A payload value as plain text: lists joined with commas, whole numbers without '.0', booleans as yes/no."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}" if value != int(value) else f"{int(value):,}"
    if isinstance(value, (list, tuple)):
        return ", ".join(display_value(v) for v in value)
    return str(value)


def values_of(value) -> list[str]:
    """A keyword payload value as a list of strings (a list field gives each element, a scalar one item)."""
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if str(v) != ""]
    return [str(value)]


@dataclass(frozen=True)
class Schema:
    """An index's fields by kind: keyword filters (with facets), numbers (ranges, sorting) and free text."""

    keyword: tuple[str, ...] = STANDARD_FILTERS
    number: tuple[str, ...] = ()
    text: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()  # yes/no keyword fields, such as in_stock (the app shows them as toggles)

    @classmethod
    def from_meta(cls, meta: dict | None) -> "Schema":
        """The schema stored in an index's metadata; an index made before schemas has the six standard filters."""
        stored = (meta or {}).get("schema") or {}
        return cls(tuple(stored.get("keyword", STANDARD_FILTERS)), tuple(stored.get("number", ())),
                   tuple(stored.get("text", ())), tuple(stored.get("flags", ())))

    def as_meta(self) -> dict:
        return {"keyword": list(self.keyword), "number": list(self.number), "text": list(self.text),
                "flags": list(self.flags)}

    def merged(self, newer: "Schema") -> "Schema":
        """Fields of both: a field the newer catalogue has takes its newer kind (its values were just rewritten
        as that kind); a field only the older one had keeps its kind, so no filter disappears."""
        def union(a, b):
            return tuple(dict.fromkeys((*a, *b)))
        kind = {**{f: "keyword" for f in self.keyword}, **{f: "number" for f in self.number},
                **{f: "text" for f in self.text}}
        kind.update({f: "keyword" for f in newer.keyword})
        kind.update({f: "number" for f in newer.number})
        kind.update({f: "text" for f in newer.text})
        every = union(union(self.keyword, newer.keyword), union(union(self.number, newer.number),
                                                                 union(self.text, newer.text)))
        return Schema(*(tuple(f for f in every if kind[f] == k) for k in ("keyword", "number", "text")),
                      tuple(f for f in union(self.flags, newer.flags) if kind.get(f) == "keyword"))

    @property
    def extra_keyword(self) -> tuple[str, ...]:
        """Keyword filters beyond the standard six (brand, season, tags...)."""
        return tuple(k for k in self.keyword if k not in STANDARD_FILTERS)


@dataclass(frozen=True)
class SortKey:
    """Result order: by relevance ('score'), or by a number field, ascending or descending."""

    field: str = "score"
    descending: bool = False

    @classmethod
    def parse(cls, text: str | None) -> "SortKey":
        """'price' (ascending), '-price' (descending), 'score' or '' (relevance)."""
        text = (text or "").strip()
        if text in ("", "score"):
            return cls()
        descending = text.startswith("-")
        return cls(text.lstrip("-+").strip(), descending)

    @property
    def by_score(self) -> bool:
        return self.field == "score"

    def __str__(self) -> str:
        return "score" if self.by_score else ("-" if self.descending else "") + self.field


@dataclass
class FieldReport:
    """What a catalogue's columns became: the detected format, the mapping used, and each column's kind."""

    format: str = "fashion"
    mapping: dict[str, str] = field(default_factory=dict)  # role -> header
    schema: Schema = field(default_factory=Schema)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"format": self.format, "mapping": dict(self.mapping), "filters": list(self.schema.keyword),
                "numbers": list(self.schema.number), "text": list(self.schema.text), "flags": list(self.schema.flags),
                "notes": list(self.notes)}

"""Every photo of a product for matching: its references, what each is (a digest), which are shared by many
products (left out of matching), and whether the rows a product has stored still hold (photo-level incremental)."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from core.common.config import Settings
from core.common.errors import ImageRejected
from core.common.fields import MATCHED_PHOTOS, PHOTO_DIGESTS, PHOTO_PROBLEMS, PHOTOS, PRODUCT_ID, values_of
from core.ingest.catalog import Product
from core.ingest.images import read_image_bytes

SHA256 = re.compile(r"^[0-9a-f]{64}$")
CODE_BYTES = 8  # a photo's identity in planning's memory: 8 bytes of a hash, not a 64-character digest
STORED_KEYS = [PRODUCT_ID, MATCHED_PHOTOS, PHOTO_DIGESTS, PHOTO_PROBLEMS]  # what planning reads of stored products


def is_url(ref: str) -> bool:
    """A photo reference is an http(s) URL or an absolute local path (core.ingest.catalog resolves the others)."""
    return ref.lower().startswith(("http://", "https://"))


def hero_ref(product: Product) -> str:
    """The reference of the photo behind the product's 'image' vector ('' when the hero did not resolve)."""
    return product.image_url or (str(product.image_file) if product.image_file else "")


def photo_refs(product: Product, max_photos: int) -> list[str]:
    """The product's photos, hero first: its PHOTOS (deduplicated, at most max_photos), or its hero alone from a
    reader that lists none."""
    refs = values_of(product.payload.get(PHOTOS))
    if not refs:
        hero = hero_ref(product)
        refs = [hero] if hero else []
    return list(dict.fromkeys(refs))[:max(1, max_photos)]


def photo_key(ref: str, fetcher) -> str:
    """What a photo is, without fetching anything: the sha256 of its bytes (from the image cache for a URL), or
    'url:<ref>' for a URL not fetched yet (or failed), or 'unreadable:<ref>' for a file that cannot be read. With
    --refresh-images a URL is revalidated (once per run: the fetcher remembers), as the hero's is."""
    if is_url(ref):
        if fetcher is not None and fetcher.refresh:
            try:
                return hashlib.sha256(fetcher.fetch(ref)).hexdigest()
            except ImageRejected:
                pass  # the server failed: keep the cached photo rather than lose it
        digest = fetcher.cached(ref) if fetcher is not None else None
        return digest or f"url:{ref}"
    try:
        return hashlib.sha256(read_image_bytes(Path(ref))).hexdigest()
    except ImageRejected:
        return f"unreadable:{ref}"


def code(text: str) -> bytes:
    """A short, stable code for a reference or a digest (planning's memory grows with photos, so 8 bytes each)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=CODE_BYTES).digest()


def identities(ref: str, key: str) -> set[bytes]:
    """Every code a photo is counted under for sharing: its bytes' digest, and for a URL the URL too (so a size
    chart behind one URL is recognised as shared before it was ever fetched)."""
    ids = {code(key)}
    if is_url(ref):
        ids.add(code(f"url:{ref}"))
    return ids


def matched(refs: list[str], keys: list[str], shared: set[bytes]) -> list[int]:
    """Positions of the photos to match: all but the shared ones, and at most one per digest; when every photo is
    shared, the first (the hero), so the product stays findable."""
    keep, seen = [], set()
    for i, (ref, key) in enumerate(zip(refs, keys)):
        if identities(ref, key) & shared or (SHA256.match(key) and key in seen):
            continue
        seen.add(key)
        keep.append(i)
    return keep or ([0] if refs else [])


def pair_code(ref: str, key: str) -> bytes:
    """A photo as a stored row stands for it: which reference, which bytes."""
    return code(ref) + code(key)


NO_URL = bytes(CODE_BYTES)
PHOTO_BYTES = 3 * CODE_BYTES + 1  # pair code, URL code (or NO_URL), whether the key is a digest


def _packed(ref: str, key: str) -> bytes:
    """A photo as planning keeps it until every product is counted: PHOTO_BYTES bytes."""
    return pair_code(ref, key) + (code(f"url:{ref}") if is_url(ref) else NO_URL) + bytes([bool(SHA256.match(key))])


def _matched_pairs(packed: bytes, shared: set[bytes]) -> list[bytes]:
    """matched() on a product's packed photos: the pair codes of the photos to match."""
    keep, seen, first = [], set(), None
    for i in range(0, len(packed), PHOTO_BYTES):
        pair, url = packed[i:i + 2 * CODE_BYTES], packed[i + 2 * CODE_BYTES:i + 3 * CODE_BYTES]
        is_digest = packed[i + 3 * CODE_BYTES]
        first = first or pair
        ids = {pair[CODE_BYTES:]} | ({url} if url != NO_URL else set())
        if ids & shared or (is_digest and pair[CODE_BYTES:] in seen):
            continue
        seen.add(pair[CODE_BYTES:])
        keep.append(pair)
    return keep or ([first] if first else [])


@dataclass
class PhotoPlan:
    """What planning learnt about photos: which photos are shared, and which products whose hero and text vectors
    still hold lack their photo rows (stored before the multivector) or hold outdated ones."""

    shared_min: int = Settings.shared_photo_min
    max_photos: int = Settings.max_photos
    users: Counter = field(default_factory=Counter)        # identity code -> products using that photo
    names: dict = field(default_factory=dict)              # identity code -> a reference, for the report
    hero_users: Counter = field(default_factory=Counter)   # identity code -> products whose hero it is
    current: dict = field(default_factory=dict)            # product id -> its photos, packed (PHOTO_BYTES each)
    stored: dict = field(default_factory=dict)             # product id -> (matched pair codes, problem ref codes),
    # for products stored with rows or photo problems (planning's memory holds nothing for a product without photos)
    legacy: set = field(default_factory=set)               # product ids stored before the multivector existed
    upgraded: set = field(default_factory=set)             # product ids stored before the multivector existed
    shared: set = field(default_factory=set)

    def read_stored(self, store) -> None:
        """The rows every stored product has (a product stored before the multivector has no PHOTO_DIGESTS)."""
        for hit in store.scroll(payload_keys=STORED_KEYS):
            payload = hit.payload
            if PHOTO_DIGESTS not in payload:
                self.legacy.add(payload.get(PRODUCT_ID))
                continue
            if not payload.get(PHOTO_DIGESTS) and not payload.get(PHOTO_PROBLEMS):
                continue
            pairs = frozenset(pair_code(r, k) for r, k in zip(payload.get(MATCHED_PHOTOS) or [],
                                                               payload.get(PHOTO_DIGESTS) or []))
            # a local photo that failed stays failed until its bytes change; a URL is tried again every run
            problems = frozenset(code(r) for r in (payload.get(PHOTO_PROBLEMS) or {}) if not is_url(r))
            self.stored[payload.get(PRODUCT_ID)] = (pairs, problems)

    def add(self, product: Product, refs: list[str], keys: list[str]) -> None:
        """Count a product's photos (each photo once per product) and remember what they are."""
        ids = set()
        for ref, key in zip(refs, keys):
            for ident in identities(ref, key):
                if ident not in ids:
                    ids.add(ident)
                    self.users[ident] += 1
                    if self.users[ident] == self.shared_min:
                        self.names[ident] = ref
        if refs and refs[0] == hero_ref(product):
            for ident in identities(refs[0], keys[0]):
                self.hero_users[ident] += 1
        if refs:
            self.current[product.product_id] = b"".join(_packed(r, k) for r, k in zip(refs, keys))

    def settle(self) -> None:
        """The shared photos, once every product is counted."""
        self.shared = {ident for ident, n in self.users.items() if n >= self.shared_min}

    def outdated(self, product_id: str) -> str | None:
        """Why a product whose hero and text vectors still hold must have its photo rows redone, or None."""
        packed = self.current.get(product_id, b"")
        if product_id in self.legacy:
            if packed:
                self.upgraded.add(product_id)
                return PHOTOS_UPGRADED
            return None
        held, problems = self.stored.get(product_id, (frozenset(), frozenset()))
        wanted = {pair for pair in _matched_pairs(packed, self.shared) if pair[:CODE_BYTES] not in problems}
        return None if wanted == held else PHOTOS_CHANGED

    def notes(self) -> list[str]:
        """One line per shared photo for the report."""
        lines, said = [], set()
        for ident in sorted(self.shared, key=lambda i: (-self.users[i], self.names.get(i, ""))):
            name = self.names.get(ident, "")
            if name in said:
                continue
            said.add(name)
            heroes = self.hero_users.get(ident, 0)
            lines.append(f"a photo used by {self.users[ident]} products ({Path(name).name or name}) is left out of "
                         "matching, duplicates and the audit" +
                         (f"; it is the main photo of {heroes}, whose 'image' vector still uses it" if heroes else ""))
        return lines


# Why a product's photo rows are redone when its hero and text vectors still hold.
PHOTOS_CHANGED = "photos changed"
PHOTOS_UPGRADED = "every photo added (indexed before products kept several)"


def shared_refs(refs: list[str], keys: list[str], shared: set[bytes]) -> list[str]:
    """The product's photos left out of matching because many products use them."""
    return [r for r, k in zip(refs, keys) if identities(r, k) & shared]

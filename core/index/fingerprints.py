"""Fingerprints: whether a product's vectors must be made again (its photo, text or model changed) and why."""

from __future__ import annotations

import hashlib
import json

from core.ingest.catalog import Product
from core.ingest.images import MAX_ASPECT, MIN_SIDE_PX


def fingerprint(model: str, text: str, image_digest: str, refused_under: str = "") -> str:
    """'<whole>:<parts>'. The whole changes when the image bytes, the product text or the model change (or, for a
    product indexed text-only, the decode settings it was refused under): when the vectors must be redone. The
    parts, a short hash of each input, only say which of them changed (see changed_parts); a fingerprint stored
    before they were kept is the whole alone, and still matches."""
    image_key = f"{image_digest}|{refused_under}" if refused_under else image_digest
    whole = hashlib.sha256(f"{model}\0{text}\0{image_key}".encode()).hexdigest()[:32]
    return f"{whole}:{_part(model)}{_part(text)}{_image_part(image_digest)}{_part(refused_under)}"


PART_CHARS = 6  # hex characters per input in a fingerprint's parts


def _part(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()[:PART_CHARS]


# A photo's part starts with a letter that is not hex when there was no photo to embed, so that the next run can
# tell a photo added from a photo changed (a part stored before these letters reads as a photo).
NO_PHOTO_STATES = {"missing": "m", "uncached": "n", "unfetched": "n", "unreadable": "r"}


def _no_photo_state(image_digest: str) -> str | None:
    return NO_PHOTO_STATES.get(image_digest.partition(":")[0]) if ":" in image_digest else None


def _image_part(image_digest: str) -> str:
    state = _no_photo_state(image_digest)
    return state + _part(image_digest)[1:] if state else _part(image_digest)


def same_vectors(stored: str, current: str) -> bool:
    """Whether a stored fingerprint stands for the same vectors as the current one (their wholes agree)."""
    return stored.partition(":")[0] == current.partition(":")[0]


# Why a product is embedded again; a product changed in two ways has both reasons.
NEW_PRODUCT = "new product"
PHOTO_CHANGED = "photo changed"
PHOTO_ADDED = "photo added"                      # a product indexed without a photo has one now
PHOTO_MISSING = "photo missing"                  # a product's photo is gone (or cannot be chosen): its text only
PHOTO_NOT_FETCHED = "photo not fetched before"   # a new URL, or one whose fetch failed last time: tried now
PHOTO_NOT_CACHED = "photo fetched again (no longer in the image cache)"
TEXT_CHANGED = "text changed"
MODEL_CHANGED = "setting changed: model"
LIMITS_CHANGED = "setting changed: photo limits (LENS_MAX_PIXELS)"  # a text-only product's photo is tried again
UNKNOWN_CHANGE = "changed (indexed before reasons were kept)"


def changed_parts(stored: str, current: str, image_digest: str) -> list[str]:
    """The reasons a stored fingerprint differs from the current one, from their parts (current's image_digest
    tells a photo not fetched yet from one that changed)."""
    old, new = stored.partition(":")[2], current.partition(":")[2]
    if len(old) != len(new):
        return [UNKNOWN_CHANGE]
    model, text, image, limits = (old[i:i + PART_CHARS] != new[i:i + PART_CHARS]
                                  for i in range(0, len(new), PART_CHARS))
    reasons = [MODEL_CHANGED] * model + [TEXT_CHANGED] * text
    if image:
        reasons.append(_photo_reason(old[2 * PART_CHARS], image_digest, had_photo=old[3 * PART_CHARS:] == _part("")))
    elif limits:
        reasons.append(LIMITS_CHANGED)
    return reasons or [UNKNOWN_CHANGE]


def _photo_reason(old_state: str, image_digest: str, had_photo: bool) -> str:
    """Why a product's photo part changed: old_state is the stored part's first character (a NO_PHOTO_STATES
    letter, or hex for a photo), had_photo whether the product was stored with its photo embedded."""
    new_state = _no_photo_state(image_digest)
    if new_state == "m":
        return PHOTO_MISSING
    if new_state == "n":  # a URL not in the image cache: one embedded before was cleared from it
        return PHOTO_NOT_CACHED if had_photo else PHOTO_NOT_FETCHED
    if old_state == "m":
        return PHOTO_ADDED
    if old_state == "n":
        return PHOTO_NOT_FETCHED
    return PHOTO_CHANGED


def decode_settings(max_pixels: int) -> str:
    """The settings that decide whether a photo is refused: part of a text-only product's fingerprint, so
    raising LENS_MAX_PIXELS (or a change of the shape limits) retries the photos it refused."""
    return f"decode:{max_pixels}:{MIN_SIDE_PX}:{MAX_ASPECT:g}"


def payload_hash(payload: dict) -> str:
    """Changes when any stored attribute changes (price, image URL, folder...), even if the vectors do not."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:32]


def missing_digest(product: Product) -> str:
    """A missing photo's digest: from the catalogue's stable kind of absence (what was looked for), never from
    the message, which named every id claiming the same photo: one more such id embedded all the others again."""
    return f"missing:{product.image_missing or ''}"


def embedded_with_photo(stored: str) -> bool:
    """Whether a stored fingerprint is of a product embedded with its photo (it keeps no decode settings): such a
    product is compared with the current fingerprint of a photo, a text-only one with that of a refusal."""
    return stored.endswith(_part(""))

"""The product view's photo gallery: every photo, hero first, each variant's photo and each shared photo marked."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import streamlit as st

from app import resources
from core.common import fields as F
from core.common.config import Settings
from core.common.safe_text import md
from core.search.query import Result

COLUMNS = 4
NAMED_VARIANTS = 4  # variants named in one photo's caption; the rest are counted ("and 3 more")
UNREADABLE = "the photo cannot be read (not fetched yet, or moved)"


@dataclass(frozen=True)
class GalleryPhoto:
    """One photo of the product as the gallery shows it (every text field is catalogue data, shown as text)."""

    ref: str                  # the payload's reference: a resolved local path or an http(s) URL
    name: str                 # the file name a merchandiser recognises (the path's or URL's last part)
    variants: tuple[str, ...]  # "TS-0042-RED (Red / M)" for each variant whose photo this is
    shared: bool              # used by many products (a size chart, a banner): shown, not used for matching
    problem: str              # why it could not be used ("" when it could)


def photo_name(ref: str) -> str:
    """'https://cdn.example/p/ts-0042-back.jpg?v=3' -> 'ts-0042-back.jpg'; '/data/images/a/1.jpg' -> '1.jpg'."""
    path = urlsplit(ref).path if ref.lower().startswith(("http://", "https://")) else ref
    return unquote(path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]) or ref


def variant_label(variant: dict) -> str:
    """'TS-0042-RED (Red / M)': the SKU, then the colour, size and other option values (what tells variants apart)."""
    options = [variant.get("colour"), variant.get("size"), *(variant.get("options") or {}).values()]
    described = " / ".join(F.display_value(v) for v in options if F.display_value(v) != "")
    sku = F.display_value(variant.get("sku"))
    if sku and described:
        return f"{sku} ({described})"
    return sku or described or "a variant without SKU or options"


def photos_of(payload: dict) -> list[str]:
    """The product's photo references, hero first; an index made before every photo was kept has only the hero."""
    photos = [str(p) for p in payload.get(F.PHOTOS) or [] if str(p)]
    if photos:
        return list(dict.fromkeys(photos))
    hero = F.display_value(payload.get(F.IMAGE_URL)) or F.display_value(payload.get(F.IMAGE_PATH))
    return [hero] if hero else []


def gallery_photos(payload: dict) -> list[GalleryPhoto]:
    """Every photo in PHOTOS order, with the variants that use it, whether it is shared, and its problem."""
    variants: dict[str, list[str]] = {}
    for variant in payload.get(F.VARIANTS) or []:
        if isinstance(variant, dict) and variant.get("image"):
            variants.setdefault(str(variant["image"]), []).append(variant_label(variant))
    shared = {str(p) for p in payload.get(F.SHARED_PHOTOS) or []}
    problems = {str(k): F.display_value(v) for k, v in (payload.get(F.PHOTO_PROBLEMS) or {}).items()}
    return [GalleryPhoto(ref, photo_name(ref), tuple(variants.get(ref, ())), ref in shared, problems.get(ref, ""))
            for ref in photos_of(payload)]


def problems_outside(payload: dict) -> list[tuple[str, str]]:
    """(photo name, reason) for failed photos that are not among PHOTOS (so the gallery has no place for them)."""
    photos = set(photos_of(payload))
    return [(photo_name(str(ref)), F.display_value(why)) for ref, why in (payload.get(F.PHOTO_PROBLEMS) or {}).items()
            if str(ref) not in photos]


def caption(photo: GalleryPhoto, number: int, total: int) -> str:
    """The photo's caption as Markdown in which every catalogue value is escaped (st.image reads captions as
    Markdown: a file name `[x](javascript:…)` must stay text)."""
    lines = [f"Photo {number} of {total}{' (main)' if number == 1 else ''} · {md(photo.name)}"]
    if photo.variants:
        named = ", ".join(md(v) for v in photo.variants[:NAMED_VARIANTS])
        more = len(photo.variants) - NAMED_VARIANTS
        lines.append(f"Variant photo: {named}" + (f" and {more} more" if more > 0 else ""))
    if photo.shared:
        lines.append("Shared by many products: not used for matching")
    return "  \n".join(lines)


def marked(photos: list[GalleryPhoto]) -> bool:
    return any(p.variants or p.shared or p.problem for p in photos)


def gallery(result: Result, config: Settings) -> None:
    """Every photo as a thumbnail with its caption, in PHOTOS order; one that cannot be shown says why. A product
    with one plain photo has no gallery: the large photo above is all there is."""
    photos = gallery_photos(result.payload)
    outside = problems_outside(result.payload)
    if len(photos) < 2 and not marked(photos) and not outside:
        return
    st.subheader(f"Photos ({len(photos)})", anchor=False)
    for start in range(0, len(photos), COLUMNS):
        for col, (number, photo) in zip(st.columns(COLUMNS), enumerate(photos[start:start + COLUMNS], start + 1)):
            with col:
                thumb = None if photo.problem else resources.photo_thumbnail(photo.ref, config)
                if thumb:
                    st.image(thumb, caption=caption(photo, number, len(photos)), width="stretch",
                             alt=f"Photo {number} of {len(photos)}")
                else:
                    st.caption(caption(photo, number, len(photos)))
                    st.caption(f"Not shown: {md(photo.problem or UNREADABLE)}")
    if outside:
        st.caption("Photos that could not be used:")
        for name, why in outside:
            st.caption(f"{md(name)}: {md(why)}")

"""The health check's per-product rules: what one product's stored payload says is wrong with it (photos, Merchant
Center's required attributes, title, price, stock), each as (kind, plain-text detail), with no store or model."""

from __future__ import annotations

from core.common.fields import (BRAND, CATEGORY, COLOUR, COMPARE_AT_PRICE, DESCRIPTION, GENDER, IMAGE_PATH,
                                IMAGE_PROBLEM, IMAGE_URL, IN_STOCK, INVENTORY, NO, PHOTO_PROBLEMS, PHOTO_SIZES,
                                PHOTOS, PRICE, PRODUCT_ID, PRODUCT_TYPE, STATUS, SUB_CATEGORY, TEXT_ONLY, TITLE,
                                VARIANTS, display_value, values_of)

SIZE = "size"                # a Shopify Size option, or a feed's size column
AGE_GROUP = "age_group"      # Merchant Center's age_group (Shopify's category metafield "Age group" reads as it)
# Where else a feed gives it: Shopify's "Google Shopping / Age Group" column is read as google_shopping_age_group.
ALSO = {AGE_GROUP: ("google_shopping_age_group",)}
GOOGLE_CATEGORY = "google_product_category"
# What a product's kind is read from: the catalogue's category levels, its type and Google's category path.
KIND_FIELDS = (CATEGORY, SUB_CATEGORY, PRODUCT_TYPE, GOOGLE_CATEGORY)
APPAREL_WORDS = ("apparel", "clothing", "shoes", "footwear")
# Merchant Center's minimum image size: 250 x 250 px for apparel, 100 x 100 px for everything else.
MIN_SIDE_APPAREL, MIN_SIDE_OTHER = 250, 100
SHOWN_PHOTOS = 3             # failed photos a photo_failed detail names, with their reasons
MAX_TITLE = 150              # Merchant Center's title limit
REQUIRED_EVERYWHERE = (TITLE, DESCRIPTION, BRAND)  # price has its own kind (no_price)
REQUIRED_APPAREL = (COLOUR, SIZE, GENDER, AGE_GROUP)
BY_VARIANT = {COLOUR: "colour", SIZE: "size"}  # a variant's own key that gives the product the attribute
# Messages indexing stores when a product's photo reference was empty (the indexer's own default, and the
# lookup by product id an empty reference means): no reference at all, not a photo that failed.
NO_REFERENCE = ("no image", "image file not found: no ")
# What the rules read of a stored product: scrolls ask for these keys only.
KEYS = [PRODUCT_ID, TITLE, DESCRIPTION, BRAND, COLOUR, GENDER, SIZE, AGE_GROUP, *ALSO[AGE_GROUP], *KIND_FIELDS,
        PRICE, COMPARE_AT_PRICE, STATUS, INVENTORY, IN_STOCK, PHOTOS, IMAGE_PATH, IMAGE_URL, TEXT_ONLY, IMAGE_PROBLEM,
        PHOTO_PROBLEMS, PHOTO_SIZES, VARIANTS]


def is_apparel(payload: dict) -> bool:
    """Whether Merchant Center's apparel rules apply: the product's category, sub-category, product type or Google
    product category mentions apparel, clothing, shoes or footwear (the bundled sample's "Apparel" and "Footwear"
    categories, Shopify's "Apparel & Accessories > Clothing > ..."). Accessories alone (a watch) are not apparel."""
    text = " ".join(" ".join(values_of(payload.get(key))) for key in KIND_FIELDS).lower()
    return any(word in text for word in APPAREL_WORDS)


def empty(payload: dict, key: str) -> bool:
    """Whether the product has no value in this field (absent, blank, or a list of blanks); a number is a value."""
    value = payload.get(key)
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple)):
        return not any(str(v).strip() for v in value if v is not None)
    return False


def number(value) -> float | None:
    """A stored number, or None when absent or not a number."""
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def photo_problems(payload: dict) -> list[tuple[str, str]]:
    """no_photo, or photo_failed with the reason (the hero's, and other photos that could not be used)."""
    hero_failed = bool(payload.get(TEXT_ONLY))
    reason = str(payload.get(IMAGE_PROBLEM) or "").strip()
    has_reference = bool(payload.get(PHOTOS) or payload.get(IMAGE_URL) or payload.get(IMAGE_PATH)) or (
        reason != "" and not reason.startswith(NO_REFERENCE))
    if hero_failed and not has_reference:
        return [("no_photo", "no photo")]
    parts = [f"photo failed: {reason or 'not usable'}"] if hero_failed else []
    others = payload.get(PHOTO_PROBLEMS) or {}
    if isinstance(others, dict) and hero_failed:  # indexing lists a failed hero there too: said once, above
        hero = {str(payload.get(IMAGE_URL) or ""), str(payload.get(IMAGE_PATH) or ""),
                str((payload.get(PHOTOS) or [""])[0])} - {""}
        others = {ref: why for ref, why in others.items() if ref not in hero}
    if isinstance(others, dict) and others:
        named = "; ".join(f"{ref}: {why}" for ref, why in list(others.items())[:SHOWN_PHOTOS])
        more = f"; and {len(others) - SHOWN_PHOTOS} more" if len(others) > SHOWN_PHOTOS else ""
        parts.append(f"{len(others)} other photo(s) failed: {named}{more}")
    return [("photo_failed", "; ".join(parts))] if parts else []


def small_photo(payload: dict, apparel: bool) -> tuple[str, str] | None | bool:
    """("small_photo", detail) for a photo whose shorter side is under Merchant Center's minimum; None when every
    photo is large enough; False when the product has photos but no stored sizes yet (not judged)."""
    sizes = payload.get(PHOTO_SIZES)
    if not isinstance(sizes, dict):
        return False if (payload.get(PHOTOS) and not payload.get(TEXT_ONLY)) else None
    least = MIN_SIDE_APPAREL if apparel else MIN_SIDE_OTHER
    small = [(min(w, h), w, h) for w, h in (_size(v) for v in sizes.values()) if 0 < min(w, h) < least]
    if not small:
        return None
    side, w, h = min(small)
    more = f" ({len(small)} photos under {least} px)" if len(small) > 1 else ""
    return "small_photo", f"photo {w}x{h} px: shorter side {side} under {least} px{more}"


def _size(value) -> tuple[int, int]:
    try:
        return int(value[0]), int(value[1])
    except (TypeError, ValueError, IndexError, KeyError):
        return 0, 0


def missing_attributes(payload: dict, apparel: bool) -> list[str]:
    """The Merchant Center attributes this product must have and has not (size: its own or any variant's; colour:
    its own or any variant's; age_group: its own or the Google Shopping column's)."""
    missing = [key for key in REQUIRED_EVERYWHERE if empty(payload, key)]
    if apparel:
        for key in REQUIRED_APPAREL:
            if empty(payload, key) and all(empty(payload, k) for k in ALSO.get(key, ())) \
                    and not (key in BY_VARIANT and _variant_has(payload, BY_VARIANT[key])):
                missing.append(key)
    return missing


def _variant_has(payload: dict, key: str) -> bool:
    return any(isinstance(v, dict) and str(v.get(key) or "").strip() for v in payload.get(VARIANTS) or [])


def title_length(payload: dict) -> str | None:
    title = " ".join(values_of(payload.get(TITLE))).strip()
    if not title:
        return "no title"
    if len(title.split()) < 2:
        return "one word"
    if len(title) > MAX_TITLE:
        return f"{len(title)} characters, over {MAX_TITLE}"
    return None


def status_of(payload: dict) -> str:
    """The product's status, lower case; none means active (a feed without statuses sells everything it lists)."""
    return (values_of(payload.get(STATUS)) or ["active"])[0].strip().lower() or "active"


def stock_problems(payload: dict) -> list[tuple[str, str]]:
    status = status_of(payload)
    inventory = number(payload.get(INVENTORY))
    in_stock = (values_of(payload.get(IN_STOCK)) or [""])[0].lower()
    if status == "active" and (inventory == 0 or (inventory is None and in_stock == NO)):
        said = "inventory 0" if inventory == 0 else "out of stock"
        return [("out_of_stock_active", f"active, {said}")]
    if status == "draft" and inventory is not None and inventory > 0:
        return [("in_stock_draft", f"draft, inventory {display_value(inventory)}")]
    return []


def price_problems(payload: dict) -> list[tuple[str, str]]:
    """no_price, or bad_sale_price: a compare-at price that is set (above 0) and not above the price."""
    price = number(payload.get(PRICE))
    if price is None:
        return [("no_price", "no price")]
    was = number(payload.get(COMPARE_AT_PRICE))
    if was is not None and 0 < was <= price:  # feeds write 0 (or 0.00) for "no compare-at price": absent
        return [("bad_sale_price", f"compare-at price {display_value(was)} is not above the price "
                                   f"{display_value(price)}")]
    return []


def product_problems(payload: dict) -> tuple[list[tuple[str, str]], list[str], bool | None]:
    """((kind, detail) for every rule this product breaks, the missing attributes' names, and whether its photo
    sizes were judged: False when it has photos without stored sizes)."""
    apparel = is_apparel(payload)
    found = photo_problems(payload)
    small = small_photo(payload, apparel)
    if small:
        found.append(small)
    missing = missing_attributes(payload, apparel)
    if missing:
        found.append(("missing_attribute", "missing: " + ", ".join(missing)))
    title = title_length(payload)
    if title:
        found.append(("title_length", title))
    found += price_problems(payload) + stock_problems(payload)
    return found, missing, small is not False


def importance(payload: dict) -> tuple:
    """The order a kind lists its products in, most important first: active products (they are on sale now) before
    drafts and archived ones, then the higher inventory (more stock to sell or to mislabel), then product id."""
    rank = {"active": 0, "draft": 1, "archived": 2}.get(status_of(payload), 1)
    inventory = number(payload.get(INVENTORY)) or 0.0
    return rank, -inventory, str(payload.get(PRODUCT_ID, ""))

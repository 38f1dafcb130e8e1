"""The result grid: product cards with thumbnails, attributes and per-card actions."""

from __future__ import annotations

import hashlib

import streamlit as st

from app import compare_tray, resources
from app.board_panel import add_to_board
from core.common import fields as F
from core.common.config import Settings
from core.common.fields import display_value
from core.common.safe_text import md
from core.index.keywords import highlight
from core.search.query import Result

# A matched word on a card: Streamlit's background colour around the escaped word. Only a word (letters and digits,
# an apostrophe inside) is ever inside the brackets, escaped like all catalogue text, so nothing can close it early.
HIGHLIGHT = ":yellow-background[{}]"  # a highlighter pen's colour


def attributes_line(payload: dict) -> str:
    """Colour · gender · type · usage, as plain text (a colour may be a list: "Red, White")."""
    return " · ".join(display_value(payload[k]) for k in ("colour", "gender", "product_type", "usage") if payload.get(k))


STATUS_BADGES = {"draft": ("Draft", "orange", ":material/edit_note:"),
                 "archived": ("Archived", "gray", ":material/inventory_2:")}


def status_label(result: Result) -> str:
    """'draft' or 'archived' for a product left out of the default views (whatever the feed's case); '' otherwise."""
    status = result.text(F.STATUS).strip().lower()
    return status if status in STATUS_BADGES else ""


def status_badge(result: Result) -> None:
    """A draft or archived product says so (search leaves it out by default); an active one shows nothing."""
    status = status_label(result)
    if status:
        label, colour, icon = STATUS_BADGES[status]  # fixed labels: the catalogue's own text is never the markup
        st.badge(label, icon=icon, color=colour)


def badge_markdown(result: Result) -> str:
    """The status badge as Markdown to put before a card's title ('' for an active product): inline, so a marked
    card is no taller than its neighbours."""
    status = status_label(result)
    if not status:
        return ""
    label, colour, icon = STATUS_BADGES[status]
    return f":{colour}-badge[{icon} {label}] "


def percent(value: float) -> str:
    """20.0 -> '20', 17.5 -> '17.5'."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def price_markdown(result: Result) -> str:
    """'49.90 USD', or on sale '~~59.90~~ 49.90 USD · 17% off' (the old price struck through); '' without a price.
    Numbers formatted here and the currency escaped, so no catalogue text becomes markup. A compare-at price equal
    to or below the price is no sale: only the price shows."""
    price, was = result.number(F.PRICE), result.number(F.COMPARE_AT_PRICE)
    if price is None:
        return ""
    shown = md(result.price)
    if was is None or was <= price:
        return shown
    off = result.number(F.DISCOUNT)
    off = off if off is not None else round(100 * (was - price) / was, 1)
    return f"~~{was:,.2f}~~ {shown} · {percent(off)}% off"


def score_text(result: Result, with_similarity: bool = True) -> str:
    """The score a merchandiser can read: the similarity to the query, and the rank when the list is ordered
    by something else (fused lists, 👍/👎 feedback), whose raw engine scores mean nothing to a person. Without
    the similarity when the card's reason line says it already (reason_text)."""
    similarity = f"{result.similarity:.3f} similarity" if result.similarity is not None and with_similarity else ""
    if result.rank is not None:
        return f"rank {result.rank}" + (f" · {similarity}" if similarity else "")
    if similarity:
        return similarity
    return f"{result.score:.3f}" if result.score is not None else ""  # a stored score (a board item)


def highlighted(text: str, stems) -> str:
    """`text` as Markdown that shows it literally, the words whose stem is in `stems` highlighted (a result's
    matched_words). Runs of whitespace become one space, as md does for the whole text, and the spaces between
    pieces are kept (md alone would strip each piece's own)."""
    out = []
    for piece, matched in highlight(" ".join(str(text or "").split()), stems):
        escaped = md(piece)
        if matched:
            out.append(HIGHLIGHT.format(escaped))
        elif not escaped:
            out.append(" " if piece else "")
        else:
            out.append((" " if piece[0] == " " else "") + escaped + (" " if piece[-1] == " " else ""))
    return "".join(out)


def title_markdown(result: Result) -> str:
    """A card's bold title (the product id without one), the query words it matched highlighted."""
    if not result.title.strip():
        return f"**{md(result.product_id)}**"
    return f"**{highlighted(result.title, result.matched_words)}**"


def reason_text(result: Result) -> str:
    """Why a search found this product, as Markdown that shows plain text ("SKU match · matched: red, dress ·
    similarity 0.31"); '' when its words had no part in it (its similarity alone, in the card's score line)."""
    if not (result.matched_words or result.exact):
        return ""
    return md(result.why())


def card_key(grid: str, product_id: str) -> str:
    """A card's container key: the grid's key and the product id hashed, so any id (spaces, quotes, slashes,
    5,000 characters; a grid keyed by another catalogue's id) makes a short key of safe characters."""
    text = f"{grid}\0{product_id}".encode("utf-8", "surrogatepass")
    return f"card-{hashlib.sha256(text).hexdigest()[:24]}"


def product_grid(results: list[Result], config: Settings, actions, columns: int = 4, key: str = "grid",
                 show_scores: bool = True) -> None:
    """Thumbnail cards; actions(result, key) draws each card's buttons.

    Each card is a container keyed by its product: when the list changes (after 👎, say), the browser swaps
    whole cards. Unkeyed, a card's place kept its elements and took the new product's title at once while its
    old photo stayed on screen until the new one had loaded: one product's title over another's photo.
    """
    for start in range(0, len(results), columns):
        for col, result in zip(st.columns(columns), results[start:start + columns]):
            with col.container(border=True, key=card_key(key, result.product_id)):
                thumb = resources.thumbnail_for(result.image_path, config)
                if thumb:
                    st.image(thumb, width="stretch")
                else:
                    st.caption("no photo")
                # Titles, attributes and ids are catalogue data: escaped, so `![t](url)` is text, not an image.
                st.markdown(badge_markdown(result) + title_markdown(result))
                reason = reason_text(result) if show_scores else ""
                # The price leads the line (a merchandiser's first question); the id stays last, and this stays the
                # card's first caption (tests read the card's id there).
                parts = (price_markdown(result), score_text(result, not reason) if show_scores else "",
                         md(attributes_line(result.payload)), md("#" + result.product_id))
                st.caption(" · ".join(part for part in parts if part))
                if reason:
                    st.caption(f":material/manage_search: {reason}")
                actions(result, f"{key}-{result.product_id}")


def result_actions(result: Result, key: str, board_id: str | None, config: Settings) -> None:
    """A result card's buttons: look-alikes, 👍/👎, add to board; then its page and the Compare toggle."""
    from app import search_state

    a, b, c, d = st.columns(4, gap="small")
    a.button("", icon=":material/image_search:", key=f"{key}-like", help="More like this", on_click=search_state.more_like_this,
             args=(result.product_id,))
    b.button("", icon=":material/thumb_up:", key=f"{key}-up", help="More like this one", on_click=search_state.judge,
             args=(result.product_id, True))
    c.button("", icon=":material/thumb_down:", key=f"{key}-down", help="Less like this one", on_click=search_state.judge,
             args=(result.product_id, False))
    d.button("", icon=":material/bookmark_add:", key=f"{key}-board", help="Add to board" if board_id else "Create a board in the sidebar first",
             disabled=board_id is None, on_click=add_to_board, args=(config, board_id, result))
    view_and_compare(result, key)


def view_and_compare(result: Result, key: str) -> None:
    """A card's second row: open the product's page, and put it on (or take it off) the compare list."""
    with st.container(horizontal=True, vertical_alignment="center", gap="small"):
        compare_tray.view_link(result.product_id)
        compare_tray.compare_checkbox(result.product_id, f"{key}-compare")

"""The Health page's parts: the report (the cached one when fresh, else checked with a spinner), the score and its
history, the kinds of problem with what each checks, the category x kind table, and the chosen cell's products,
each with a link to its fix. The check itself is core.insights.health's.

Every product id, title, category and reason is catalogue data: shown through md() or in a dataframe's text cell,
and reaching a link only as a URL-encoded query parameter of one of our own pages.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from app import compare_tray, resources
from core.common.config import Settings
from core.common.errors import LensError
from core.common.safe_text import md
from core.curation.compare import MAX_COMPARE
from core.index.store import ProductStore
from core.insights.health import category_of
from core.insights.health_cache import decisions_stamp

AUDIT_PAGE = "pages/audit.py"
CATALOG_PAGE = "pages/catalog.py"
ALL = "All categories"    # the table's first row: a kind over the whole catalogue
PICK_CATEGORY, PICK_KIND = "health_category", "health_kind"
TABLE = "health_table"
SEEN = "health_cell_seen"  # the table's selection at the last run: only a new one moves the pickers
CHECKS = "health_checks"  # "Check again" clicks in this session: part of the report's cache key
PAGE_SIZE = 20            # products listed per cell before "Show more"
ROW_PX = 35               # a dataframe row's height: the kinds' table shows all of its (at most 11) rows
PHOTO_KINDS = ("no_photo", "photo_failed", "small_photo")
# Each kind's name on the page and the one line that says what it checks.
KINDS = {
    "no_photo": ("No photo", "The product names no photo at all."),
    "photo_failed": ("Photo failed", "A photo is named but could not be fetched or read; the reason says why."),
    "small_photo": ("Small photo", ("A photo's shorter side is under 250 px (apparel) or 100 px: Merchant Center's "
                                   "minimum.")),
    "duplicate_photo": ("Duplicate photo", "Its photo is a near-duplicate of other products' photos."),
    "suspect_label": ("Suspect label", "The Audit finds another colour or category fits its photo better."),
    "missing_attribute": ("Missing attribute", ("A required attribute is empty: title, description, brand; "
                                               "for apparel colour, size, gender, age group.")),
    "title_length": ("Title length", "The title is missing, one word, or over 150 characters."),
    "no_price": ("No price", "The product has no price."),
    "bad_sale_price": ("Bad sale price", "The compare-at price is at or below the price: no real sale."),
    "out_of_stock_active": ("Out of stock, active", "Active but none in stock: shoppers find it, cannot buy it."),
    "in_stock_draft": ("In stock, draft", "A draft with stock: it could be selling."),
}


# The category table's column for each kind: short, so all eleven fit beside the category's (a column's tooltip
# names its kind in full).
COLUMNS = {"no_photo": "No photo", "photo_failed": "Failed", "small_photo": "Small", "duplicate_photo": "Duplicate",
           "suspect_label": "Label", "missing_attribute": "Attribute", "title_length": "Title", "no_price": "No price",
           "bad_sale_price": "Sale", "out_of_stock_active": "No stock", "in_stock_draft": "Draft"}


def kind_name(kind: str) -> str:
    return KINDS.get(kind, (kind.replace("_", " ").capitalize(), ""))[0]


def column_name(kind: str) -> str:
    return COLUMNS.get(kind, kind_name(kind))


def _checks(kind: str) -> str:
    """The one line saying what a kind's check looks for."""
    return KINDS.get(kind, ("", ""))[1]


# ---- the report -----------------------------------------------------------------------------------------------

@st.cache_data(max_entries=8, show_spinner="Checking the catalogue's health (photos, duplicates, labels, "
                                           "attributes, prices, stock)…")
def _report(store_key: str, index_version, decided: tuple, checks: int, _config: Settings, _store: ProductStore):
    """The report for one index version and the decisions made so far (decided: their files' change times, as
    core keys its own caches: an audit change or a dismissed duplicate alters the answer without a re-index): the
    cached one while fresh (nothing computed), else checked now; a "Check again" (checks) always checks, reusing
    core's fresh duplicate and audit caches."""
    from core.insights import health

    if not checks:
        cached = health.cached_report(_store, _config.data_dir)
        if cached is not None:
            return cached
    bar = st.progress(0.0, text="Reading the products…")

    def progress(done: int, of: int) -> None:
        bar.progress(done / of if of else 1.0, text=f"Reading the products: {done:,} of {of:,}"
                     + (" (then near-duplicates and labels)" if done >= of else ""))

    try:
        return health.check_health(_store, _config.data_dir, encoder=lambda: resources.embedder_for(_config),
                                   progress=progress)
    finally:
        bar.empty()


def _check_again() -> None:
    st.session_state[CHECKS] = st.session_state.get(CHECKS, 0) + 1


def report(config: Settings, store: ProductStore, meta: dict):
    """The health report of this index (None, with the error shown, when it cannot be checked); "Check again"
    beside its date."""
    try:
        decided = tuple(sorted(decisions_stamp(config.data_dir, config.collection).items()))
        found = _report(resources.store_key(config), meta.get("last_indexed"), decided,
                        st.session_state.get(CHECKS, 0), config, store)
    except LensError as exc:
        st.error(md(exc))
        return None
    when, again = st.columns([5, 1], vertical_alignment="center")
    when.caption(f"Checked {_when(found.checked_at)} against the index of {_when(meta.get('last_indexed'))}.")
    again.button("Check again", key="health_again", icon=":material/refresh:", on_click=_check_again,
                 help="Runs every check again now (after fixing products or re-indexing)", width="stretch")
    for note in found.notes:
        st.caption(md(note))
    return found


def _when(stamp) -> str:
    if not stamp:
        return "an unknown time"
    return datetime.fromtimestamp(float(stamp), tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


# ---- the score, its history and the kinds -------------------------------------------------------------------

def with_problems(found) -> set[str]:
    """Products with at least one problem."""
    return {p for problem in found.problems for p in problem.products}


def score(found) -> None:
    """The score, big, and the one sentence that explains it."""
    if not found.products:
        st.info("The catalogue has no products to check.")
        return
    healthy = found.products - len(with_problems(found))
    st.metric("Health score", f"{found.score:.1f}", border=True,
              help="100 × the share of products with no problem")
    st.markdown(f"**{healthy:,} of {found.products:,}** products have no problem: the score is the share of "
                "products with no problem, out of 100.")


def history(store: ProductStore) -> None:
    """The score at each indexing run, as a small line chart (from two runs on)."""
    from core.insights.health import health_history

    try:
        rows = health_history(store)
    except LensError:
        return
    if len(rows) < 2:
        return
    frame = pd.DataFrame({"Indexed": [datetime.fromtimestamp(float(r["indexed_at"]), tz=UTC) for r in rows],
                          "Score": [float(r["score"]) for r in rows]}).set_index("Indexed")
    st.caption(f"The score over the last {len(rows)} indexing runs")
    st.line_chart(frame, y="Score", height=160)


def kinds_table(found) -> pd.DataFrame:
    """The kinds with products, largest count first (the report's order), as plain values."""
    shown = [p for p in found.problems if p.count]
    return pd.DataFrame({"Problem": [kind_name(p.kind) for p in shown], "Products": [p.count for p in shown],
                         "What it checks": [_checks(p.kind) for p in shown]})


def kinds(found) -> None:
    """Every kind with products, largest impact first; a catalogue with none says so."""
    frame = kinds_table(found)
    if frame.empty:
        if found.products:
            st.success("No problem found: every product passed every check.")
        return
    st.subheader("Problems, largest first", anchor=False)
    st.dataframe(frame, hide_index=True, key="health_kinds", height=ROW_PX * (len(frame) + 1) + 3,
                 column_config={"Problem": st.column_config.TextColumn("Problem", width=170),
                                "Products": st.column_config.NumberColumn("Products", format="%d", width=80),
                                "What it checks": st.column_config.TextColumn("What it checks", width=680)})


# ---- the category x kind table --------------------------------------------------------------------------------

def problem_kinds(found) -> list[str]:
    """The kinds with products, in the report's order (the table's columns)."""
    return [p.kind for p in found.problems if p.count]


def category_table(found) -> pd.DataFrame:
    """One row per category (the whole catalogue first, then the most products first), its score and a count
    per kind with products."""
    listed = problem_kinds(found)
    counts = {p.kind: p.count for p in found.problems}
    rows = [{"Category": ALL, "Products": found.products, "Score": found.score,
             **{column_name(k): counts[k] for k in listed}}]
    for category, cell in sorted(found.by_category.items(), key=lambda item: (-item[1].get("products", 0), item[0])):
        rows.append({"Category": category, "Products": cell.get("products", 0), "Score": cell.get("score"),
                     **{column_name(k): int(cell.get(k, 0)) for k in listed}})
    return pd.DataFrame(rows, columns=["Category", "Products", "Score", *(column_name(k) for k in listed)])


def _cell_chosen(cells, rows: list[str], names: dict[str, str]) -> None:
    """A count cell clicked (a new selection since the last run) chooses its category and kind in the pickers
    below; a click on a category's name, size or score chooses nothing. A selection already seen changes
    nothing, so the pickers stay free to choose another cell."""
    cell = tuple(cells[0]) if cells else None
    if cell == st.session_state.get(SEEN):
        return
    st.session_state[SEEN] = cell
    if cell and cell[1] in names and 0 <= int(cell[0]) < len(rows):
        st.session_state[PICK_CATEGORY] = rows[int(cell[0])]
        st.session_state[PICK_KIND] = names[cell[1]]


def categories(found) -> tuple[str, str] | None:
    """The category x kind table, and the (category, kind) whose products to list: a count cell clicked, or the
    two pickers under the table (None when there is no problem)."""
    listed = problem_kinds(found)
    if not listed:
        return None
    frame = category_table(found)
    names = {column_name(k): k for k in listed}
    st.subheader("By category", anchor=False)
    st.caption("Click a count to list its products, or choose a category and a problem below.")
    config = {"Category": st.column_config.TextColumn("Category", pinned=True),
              "Products": st.column_config.NumberColumn("Products", format="%d"),
              "Score": st.column_config.NumberColumn("Score", format="%.1f"),
              **{name: st.column_config.NumberColumn(name, format="%d", help=f"{kind_name(kind)}: {_checks(kind)}")
                 for name, kind in names.items()}}
    options = list(frame["Category"])
    event = st.dataframe(frame, hide_index=True, column_config=config, key=TABLE, selection_mode="single-cell",
                         on_select="rerun")
    _cell_chosen(event.selection.get("cells"), options, names)
    if st.session_state.get(PICK_CATEGORY) not in options:
        st.session_state[PICK_CATEGORY] = ALL
    if st.session_state.get(PICK_KIND) not in listed:
        st.session_state[PICK_KIND] = listed[0]
    left, right = st.columns(2)
    category = left.selectbox("Category", options, key=PICK_CATEGORY)
    kind = right.selectbox("Problem", listed, key=PICK_KIND, format_func=kind_name)
    return category, kind


# ---- the chosen cell's products -------------------------------------------------------------------------------

@st.cache_data(max_entries=32, show_spinner=False)
def _in_category(store_key: str, index_version, checked_at: float, kind: str, category: str, ids: tuple,
                 _store: ProductStore) -> list[str]:
    """The kind's products (in its order) whose category is `category`, read a page of products at a time."""
    from core.search.query import get_products

    kept, page = [], 500
    for start in range(0, len(ids), page):
        kept += [r.product_id for r in get_products(_store, list(ids[start:start + page]))
                 if category_of(r.payload) == category]
    return kept


def fix_links(problem, product_id: str) -> None:
    """Where to fix it: the product's own page, and the kind's own place (the Audit page on each suspect field,
    the duplicate group on the Compare page, the Catalog page's indexing report for a photo problem). Every value
    goes into the link as a URL-encoded query parameter."""
    compare_tray.view_link(product_id, label="View product")
    if problem.kind == "suspect_label":
        for field in problem.related.get(product_id) or []:
            st.page_link(AUDIT_PAGE, label=f"Audit {field.replace('_', '-')}", icon=":material/fact_check:",
                         query_params={"field": field}, help="The Audit page on this label")
    elif problem.kind == "duplicate_photo":
        group = [product_id, *[p for p in problem.related.get(product_id) or [] if p != product_id]]
        st.page_link(compare_tray.PAGE, label="Compare the group", icon=":material/compare_arrows:",
                     query_params={"id": group[:MAX_COMPARE]}, help="Their photos and attributes side by side")
    elif problem.kind in PHOTO_KINDS:
        st.page_link(CATALOG_PAGE, label="Catalog report", icon=":material/inventory_2:",
                     help="The Catalog page: re-index after fixing the photo, its report lists every photo problem")


def _row(config: Settings, problem, product_id: str, title: str, category: str, n: int) -> None:
    """One product: title, id and category, the reason, and its fix links; all values as plain text."""
    with st.container(border=True, key=f"health-row-{n}"):
        text, links = st.columns([3, 2], vertical_alignment="center")
        with text:
            st.markdown(f"**{md(title) or md('#' + product_id)}**")
            st.caption(f"{md('#' + product_id)} · {md(category)}")
            st.markdown(md(problem.details.get(product_id, "")))
        with links, st.container(horizontal=True, gap="small"):
            fix_links(problem, product_id)


def products(config: Settings, store: ProductStore, meta: dict, found, chosen: tuple[str, str] | None) -> None:
    """The chosen cell's products, most important first, a page at a time."""
    from core.search.query import get_products

    if chosen is None:
        return
    category, kind = chosen
    problem = next(p for p in found.problems if p.kind == kind)
    ids = list(problem.products)
    if category != ALL:
        try:
            ids = _in_category(resources.store_key(config), meta.get("last_indexed"), found.checked_at, kind,
                               category, tuple(ids), store)
        except LensError as exc:
            st.error(md(exc))
            return
    where = "" if category == ALL else f" in {md(category)}"
    st.subheader(f"{kind_name(kind)}{where} ({len(ids):,})", anchor=False)
    st.caption(md(_checks(kind)))
    if not ids:
        st.caption("No product of this category has this problem.")
        return
    shown_key, listing = "health_shown", (kind, category, found.checked_at)
    if st.session_state.get("health_listing") != listing:  # another cell or report: its first page again
        st.session_state["health_listing"], st.session_state[shown_key] = listing, PAGE_SIZE
    shown = ids[:st.session_state[shown_key]]
    try:
        results = {r.product_id: r for r in get_products(store, shown)}
    except LensError as exc:
        st.error(md(exc))
        return
    for n, product_id in enumerate(shown):
        result = results.get(product_id)
        _row(config, problem, product_id, result.title if result else "",
             category_of(result.payload) if result else "", n)
    if len(ids) > len(shown):
        st.button(f"Show {min(PAGE_SIZE, len(ids) - len(shown))} more of {len(ids) - len(shown):,}",
                  key="health_more", on_click=st.session_state.update,
                  kwargs={shown_key: len(shown) + PAGE_SIZE})

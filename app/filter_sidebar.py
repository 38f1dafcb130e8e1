"""The sidebar filters shared by every page that shows them: one selection per session, kept in the URL.

What the sidebar shows follows the index's schema: the six standard multiselects, the catalogue's own keyword
fields (brand, season...), an "only" toggle for each yes/no flag (in_stock, on_sale), a range slider for each number
field (price), and, when the catalogue has a status, a "Show drafts and archived" toggle (off: they are left out,
as everywhere by default). The session keeps one FilterState in plain keys ("filters", "ranges", "sort",
"show_hidden") that every page reads and writes to its URL; widget keys only mirror it, because Streamlit drops a
widget's state on pages that do not draw it.
"""

from __future__ import annotations

import math

import streamlit as st

from core.common.errors import LensError
from core.common.fields import CURRENCY, PRICE, SALE_PRICE, SKU, STANDARD_FILTERS, STATUS, YES, Schema, SortKey
from core.common.filters import Filters, whole_number_fields
from core.common.safe_text import md
from core.search.query import facets, fields_with_choices, number_ranges
from core.index.store import ProductStore
from core.curation.urlstate import FilterState, filter_fields

FIELD_LABELS = {"gender": "Gender", "category": "Category", "sub_category": "Sub-category",
                "product_type": "Product type", "colour": "Colour", "usage": "Usage", "in_stock": "In stock",
                "on_sale": "On sale", "sku": "SKU"}
# One value per variant, thousands in a shop: no list to pick from (nor worth counting on every click). A link or
# the CLI filters by one (sku=TS-0042-RED); then it shows, to be cleared.
LOOKUP_FIELDS = (SKU,)
HIDDEN_TOGGLE = "hidden_toggle"  # the "Show drafts and archived" widget; the session's value is "show_hidden"
SHOWN_COUNTS = 4  # values named in each filter's count line; the rest are summed up as "+N more"
MORE_FILTERS_AT = 4  # this many catalogue keyword fields or more go under a "More filters" expander
MAX_SAFE_INT = 2**53 - 1  # the largest integer a browser holds exactly; an int slider's ends must stay within
SLIDER_STEPS = 100  # about this many stops along a range slider (a round step: 1, 2 or 5 times a power of 10)


# ---- the session's state ----------------------------------------------------------------------------------

def _url_params() -> dict[str, list[str]]:
    return {k: st.query_params.get_all(k) for k in st.query_params.keys()}


def shared_state(schema: Schema) -> FilterState:
    """The session's filters, ranges and sort; a session's first run takes them from the link.

    Kept to this index's fields: a field the index no longer has (re-indexed since) drops out quietly.
    """
    s = st.session_state
    if "filters" not in s:
        seeded = FilterState.from_params(_url_params(), schema)
        s["filters"], s["ranges"], s["sort"] = seeded.keywords, seeded.ranges, seeded.sort
        s["show_hidden"] = seeded.show_hidden
    s.setdefault("ranges", {})
    s.setdefault("sort", "")
    s.setdefault("show_hidden", False)
    keywords = set(filter_fields(schema))
    s["filters"] = {k: list(v) for k, v in s["filters"].items() if k in keywords and v}
    s["ranges"] = {k: tuple(v) for k, v in s["ranges"].items() if k in schema.number}
    if SortKey.parse(s["sort"]).field not in schema.number:
        s["sort"] = ""
    return current()


def index_schema(store: ProductStore) -> Schema:
    """The index's schema; the standard six when it cannot be read (the sidebar shows why)."""
    try:
        return store.schema()
    except LensError:
        return Schema()


def current() -> FilterState:
    s = st.session_state
    return FilterState({k: list(v) for k, v in s.get("filters", {}).items()}, dict(s.get("ranges", {})),
                       s.get("sort", ""), bool(s.get("show_hidden", False)))


def shared_filters() -> dict[str, list[str]]:
    """The session's keyword filter selection (raw values)."""
    return dict(st.session_state.get("filters", {}))


def write_filters_to_url(state: FilterState, schema: Schema | None = None) -> None:
    """For pages whose URL holds only the filters (Explore); Search writes them with the rest of its state."""
    st.query_params.from_dict(state.to_params(schema))


# ---- which widgets ----------------------------------------------------------------------------------------

def sidebar_fields(schema: Schema) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(standard multiselects, catalogue multiselects, flag toggles) for an index's schema."""
    keywords = filter_fields(schema)
    flags = tuple(f for f in schema.flags if f in keywords)
    standard = tuple(f for f in keywords if f in STANDARD_FILTERS)
    extra = tuple(f for f in keywords if f not in STANDARD_FILTERS and f not in flags)
    return standard, extra, flags


def field_label(name: str) -> str:
    return FIELD_LABELS.get(name, name.replace("_", " ").capitalize())


def number_unit(name: str, counts: dict[str, list[tuple[str, int]]]) -> str:
    """"USD" for a price when every product the filters leave has that one currency; '' otherwise."""
    currencies = counts.get(CURRENCY, [])
    return currencies[0][0] if name in (PRICE, SALE_PRICE) and len(currencies) == 1 else ""


# ---- the sidebar ------------------------------------------------------------------------------------------

def filter_sidebar(store: ProductStore) -> FilterState:
    """Draw the filters for this index and return the session's FilterState (what every page narrows by).

    Multiselect options are the raw values and their labels never change: this Streamlit identifies a chosen
    option by its label, so a label carrying a live count ("Women (117)") became a new value as soon as the
    count changed. The counts are shown in a caption instead. persist_state="session" keeps each widget's value
    while another page is shown; the plain "filters", "ranges" and "sort" keys are what the rest of the app reads.
    """
    s = st.session_state
    try:
        schema = store.schema()
    except LensError as exc:
        st.sidebar.error(md(exc))
        return current()
    state = shared_state(schema)
    standard, extra, flags = sidebar_fields(schema)
    for name in (*standard, *extra):
        # Assigned on every run, not only when missing: on a page switch this Streamlit keeps the key's value
        # but mounts the widget empty, and only an explicit assignment makes the new page's widget adopt it.
        s[f"f_{name}"] = list(s.get(f"f_{name}", state.keywords.get(name, [])))
    for name in flags:
        s[f"flag_{name}"] = bool(s.get(f"flag_{name}", YES in state.keywords.get(name, [])))
    extra = tuple(name for name in extra if name not in LOOKUP_FIELDS or s[f"f_{name}"])
    s[HIDDEN_TOGGLE] = bool(s.get(HIDDEN_TOGGLE, state.show_hidden))
    s["filters"] = selected = chosen_keywords(standard, extra, flags)
    s["show_hidden"] = hidden = s[HIDDEN_TOGGLE] and STATUS in schema.keyword

    st.sidebar.header("Filters")
    st.sidebar.caption("Under each filter: how many products each value has with the other filters applied.")
    try:
        filters = Filters.of(selected, ranges=s["ranges"])
        counts = facets(store, filters, [*standard, *extra, *flags], show_hidden=hidden)
        bounds = number_ranges(store, filters, show_hidden=hidden)
        offered = offered_fields(store, (*standard, *extra, *flags), counts if not filters else None)
        whole = cached_whole_number_fields(store, schema.number)
    except LensError as exc:
        st.sidebar.error(md(exc))
        return current()

    if STATUS in schema.keyword and (s[HIDDEN_TOGGLE] or hidden_anywhere(store)):
        hidden_toggle(store, filters)
    for name in flags:
        if name in offered or s[f"flag_{name}"]:
            flag_toggle(name, counts[name])
    for name in schema.number:
        range_slider(store, name, bounds.get(name), filters.visible(hidden), number_unit(name, counts),
                     whole=name in whole)
    for name in standard:
        if name in offered or s[f"f_{name}"]:
            keyword_filter(st.sidebar, name, counts[name])
    extra = tuple(name for name in extra if name in offered or s[f"f_{name}"])
    if extra:
        area = st.sidebar
        if len(extra) >= MORE_FILTERS_AT:
            area = st.sidebar.expander("More filters", expanded=any(s[f"f_{n}"] for n in extra))
        for name in extra:
            keyword_filter(area, name, counts[name])
    s["filters"] = chosen_keywords(standard, extra, flags)
    return current()


def offered_fields(store: ProductStore, names, unfiltered: dict | None = None) -> set[str]:
    """The keyword fields with two values or more in the whole catalogue: the only ones worth a filter. A field
    no product has (gender in a Shopify export) or one value for all (every product "active") has nothing to
    choose between, so the sidebar leaves it out unless a link chose a value in it (it stays, to be cleared).
    Catalogue-wide, not under the other filters, so a filter never vanishes because another one was chosen.

    unfiltered: the catalogue's counts when they are already at hand (no filter chosen).
    """
    if unfiltered is not None:
        return {name for name in names if len(unfiltered.get(name, [])) > 1}
    meta = store.meta() or {}
    return set(_fields_with_choices(str(id(store)), meta.get("last_indexed"), store.count(), tuple(names),
                                    _store=store))


@st.cache_data(max_entries=64, show_spinner=False)  # keyed by the index version, like _whole_number_fields
def _fields_with_choices(store_id: str, last_indexed, count: int, names: tuple[str, ...],
                         _store: ProductStore) -> tuple[str, ...]:
    return fields_with_choices(_store, names)


def cached_whole_number_fields(store: ProductStore, names) -> tuple[str, ...]:
    """core.common.filters.whole_number_fields, read once per indexing run (the index's last_indexed and count)."""
    if not names:
        return ()
    meta = store.meta() or {}
    return _whole_number_fields(str(id(store)), meta.get("last_indexed"), store.count(), tuple(names), _store=store)


@st.cache_data(max_entries=64, show_spinner=False)  # no ttl: the key changes with the index, time changes nothing
def _whole_number_fields(store_id: str, last_indexed, count: int, names: tuple[str, ...],
                         _store: ProductStore) -> tuple[str, ...]:
    return whole_number_fields(_store, names)


def chosen_keywords(standard, extra, flags) -> dict[str, list[str]]:
    """The keyword filters the widgets show: the multiselects' values, and "yes" for each toggle that is on."""
    s = st.session_state
    chosen = {n: list(s[f"f_{n}"]) for n in (*standard, *extra) if s[f"f_{n}"]}
    chosen.update({n: [YES] for n in flags if s[f"flag_{n}"]})
    return chosen


def keyword_filter(area, name: str, counts: list[tuple[str, int]]) -> None:
    """One multiselect of raw values, with its line of live counts under it."""
    key = f"f_{name}"
    count_of = dict(counts)
    # A chosen value that the other filters leave no products for stays chosen (and shows 0).
    options = [v for v, _ in counts] + [v for v in st.session_state[key] if v not in count_of]
    chosen = area.multiselect(field_label(name), options, key=key, persist_state="session")
    line = count_line(counts, chosen)
    if line:
        area.caption(line)


def flag_toggle(name: str, counts: list[tuple[str, int]]) -> None:
    """"In stock only": keeps the products whose flag is yes; the caption says how many that is."""
    label = field_label(name)
    st.sidebar.toggle(f"{label} only", key=f"flag_{name}", persist_state="session")
    yes, other = dict(counts).get(YES, 0), sum(c for v, c in counts if v != YES)
    st.sidebar.caption(f"{yes:,} {md(label.lower())} · {other:,} not")


def hidden_anywhere(store: ProductStore) -> bool:
    """True when some product of the catalogue is a draft or archived: otherwise the toggle has nothing to show."""
    return store.count(Filters()) > store.count(Filters().visible())


def hidden_toggle(store: ProductStore, filters: Filters) -> None:
    """"Show drafts and archived": off, they are left out of every list and count (a product that is not live in
    the shop is no answer to a search); on, they come back, each card with its badge. A chosen Status value
    decides instead, and the caption says so."""
    s = st.session_state
    st.sidebar.toggle("Show drafts and archived", key=HIDDEN_TOGGLE, persist_state="session",
                      help="Draft and archived products are not live in the shop: left out unless shown here or "
                           "chosen under Status")
    if filters.names_status:
        st.sidebar.caption("The Status filter decides which products show.")
        return
    hidden = store.count(filters) - store.count(filters.visible())
    if s["show_hidden"]:
        st.sidebar.caption(f"{hidden:,} draft or archived shown, each marked")
    else:
        st.sidebar.caption(f"{hidden:,} draft or archived left out")


def count_line(counts: list[tuple[str, int]], chosen: list[str], shown: int = SHOWN_COUNTS) -> str:
    """"**Women 1** · Men 3 · Girls 1 · +2 more": the chosen values in bold, then the largest others."""
    count_of = dict(counts)
    parts = [f"**{md(v)} {count_of.get(v, 0)}**" for v in chosen]
    others = [(v, c) for v, c in counts if v not in chosen]
    parts += [f"{md(v)} {c}" for v, c in others[:max(0, shown - len(chosen))]]
    rest = len(others) - max(0, shown - len(chosen))
    if rest > 0:
        parts.append(f"+{rest} more")
    return " · ".join(parts)


# ---- number ranges ----------------------------------------------------------------------------------------

def slider_step(span: float) -> float:
    """A round step giving about SLIDER_STEPS stops over the span: 1, 2 or 5 times a power of ten, >= 0.01."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / SLIDER_STEPS
    power = 10 ** math.floor(math.log10(raw))
    step = max(m * power for m in (1, 2, 5) if m * power <= raw * (1 + 1e-9))
    return max(round(step, 10), 0.01)


def _decimals(step: float) -> int:
    return max(0, -math.floor(math.log10(step) + 1e-9))


def slider_span(data: tuple[float, float], chosen: tuple, step: float) -> tuple[float, float]:
    """The slider's ends: the data's bounds rounded out to the step, widened to show a chosen range beyond them."""
    places = _decimals(step)
    low = round(math.floor(data[0] / step + 1e-9) * step, places)
    high = round(math.ceil(data[1] / step - 1e-9) * step, places)
    chosen_low, chosen_high = chosen
    low = min(low, chosen_low) if chosen_low is not None else low
    high = max(high, chosen_high) if chosen_high is not None else high
    return low, high


def range_from_slider(value: tuple[float, float], ends: tuple[float, float]) -> tuple:
    """A handle left at its end of the slider is no bound: (None, 50.0) means "up to 50"."""
    low = None if value[0] <= ends[0] else float(value[0])
    high = None if value[1] >= ends[1] else float(value[1])
    return low, high


def _range_moved(name: str) -> None:
    """Slider callback: only a moved handle changes the range, so bounds that shift with the other filters
    never turn a chosen range into no range (or the other way round)."""
    s = st.session_state
    ranges = dict(s.get("ranges", {}))
    low, high = range_from_slider(tuple(s[f"r_{name}"]), s[f"r_{name}_ends"])
    if low is None and high is None:
        ranges.pop(name, None)
    else:
        ranges[name] = (low, high)
    s["ranges"] = ranges


def _clear_range(name: str) -> None:
    st.session_state["ranges"] = {k: v for k, v in st.session_state.get("ranges", {}).items() if k != name}


def range_slider(store: ProductStore, name: str, data: tuple[float, float] | None, filters: Filters,
                 unit: str = "", whole: bool = False) -> None:
    """A range slider over the values the other filters leave; left at its full range it filters nothing, so
    products without the field are only hidden once the range is narrowed (the caption says so).

    A field of whole numbers (stock) slides by whole steps and reads 5, not 5.0. Widget labels are Markdown:
    the unit (a currency from the catalogue) is escaped like any catalogue value.
    """
    s = st.session_state
    chosen = tuple(s["ranges"].get(name, (None, None)))
    narrowed = chosen != (None, None)
    label = md(field_label(name)) + (f" \\({md(unit)}\\)" if unit else "")
    thing = md(field_label(name).lower())
    if data is None or (data[0] == data[1] and not narrowed):
        if data is not None:  # one value for every product: nothing to slide between
            st.sidebar.caption(f"{label}: {md(range_text((data[0], data[0])))} for every product here")
        elif narrowed:
            st.sidebar.caption(f"{label}: {md(range_text(chosen))}; no product that passes the other filters "
                               "has one.")
            st.sidebar.button(f"Clear the {thing} range", key=f"r_{name}_clear", on_click=_clear_range,
                              args=(name,))
        return
    step = slider_step(data[1] - data[0])
    whole = whole and all(v is None or float(v).is_integer() for v in chosen)  # a link may hold 2.5
    ends = slider_span(data, chosen, max(1, int(step)) if whole else step)
    # Streamlit refuses an int slider's ends past a browser's safe integers (a code Excel wrote as 1E+17).
    whole = whole and all(abs(v) <= MAX_SAFE_INT for v in ends)
    if whole:
        step = max(1, int(step))
    else:
        ends = slider_span(data, chosen, step)
    places = max([_decimals(step), *(_places(v) for v in chosen if v is not None)])
    key = f"r_{name}"
    value = (chosen[0] if chosen[0] is not None else ends[0], chosen[1] if chosen[1] is not None else ends[1])
    # Streamlit wants every number of one slider of one type: ints show as 5, and a float slider needs floats
    # throughout (a wide span's round step, 10**15, is an int).
    kind = int if whole else float
    ends, value, step = tuple(kind(v) for v in ends), tuple(kind(v) for v in value), kind(step)
    s[key] = value
    s[f"{key}_ends"] = ends
    st.sidebar.slider(label, ends[0], ends[1], key=key, step=step, format="%d" if whole else f"%.{places}f",
                      on_change=_range_moved, args=(name,))
    without = filters.without(name)
    lacking = store.count(without) - store.count(without.plus(ranges={name: (None, None)}))
    if narrowed:
        st.sidebar.caption(f"Only {md(range_text(chosen))}" + (f"; {lacking:,} without a {thing} hidden"
                                                               if lacking else ""))
    elif lacking:
        st.sidebar.caption(f"{lacking:,} product{'s' if lacking != 1 else ''} without a {thing}: shown until "
                           "the range is narrowed")


def _places(value: float) -> int:
    text = f"{value:.6f}".rstrip("0")
    return min(2, len(text.split(".")[1])) if "." in text else 0


def range_text(bounds: tuple) -> str:
    """(10.0, 50.0) -> "10 – 50", (None, 50.0) -> "up to 50", (10.0, None) -> "from 10", (5.0, 5.0) -> "5"."""
    def num(v: float) -> str:
        return f"{v:,.2f}".rstrip("0").rstrip(".")
    low, high = bounds
    if low is not None and low == high:
        return num(low)
    if low is not None and high is not None:
        return f"{num(low)} – {num(high)}"
    return f"up to {num(high)}" if high is not None else f"from {num(low)}"


# ---- the sort ---------------------------------------------------------------------------------------------

def sort_options(schema: Schema) -> list[str]:
    return ["", *(o for name in schema.number for o in (name, f"-{name}"))]


def sort_label(option: str, browsing: bool) -> str:
    """"Relevance" for a search; with no query the engine's own stable order, which is no ranking at all."""
    if not option:
        return "Unsorted" if browsing else "Relevance"
    key = SortKey.parse(option)
    return f"{field_label(key.field)}: {'high to low' if key.descending else 'low to high'}"


def order_text(sort: str) -> str:
    """"by price, high to low"; '' for relevance."""
    key = SortKey.parse(sort)
    if key.by_score:
        return ""
    return f"by {field_label(key.field).lower()}, {'high to low' if key.descending else 'low to high'}"


def _sort_picked(key: str) -> None:
    st.session_state["sort"] = st.session_state[key] or ""


def sort_picker(area, schema: Schema, browsing: bool) -> str:
    """The order of the listing; one session-wide value, drawn as two widgets (browsing, searching) so each keeps
    fixed labels: this Streamlit identifies a selectbox's choice by its label."""
    options = sort_options(schema)
    if len(options) == 1:
        return ""
    s = st.session_state
    key = "sort_browse" if browsing else "sort_search"
    s[key] = s.get("sort", "") if s.get("sort", "") in options else ""
    area.selectbox("Sort by", options, key=key, format_func=lambda o: sort_label(o, browsing),
                   on_change=_sort_picked, args=(key,))
    return s["sort"]

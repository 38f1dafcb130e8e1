"""Search page: text, image and hybrid search with filters, ranges, sorting, feedback, look-alikes and boards;
with nothing to search for, the catalogue itself, listed under the filters."""

import streamlit as st

from app import board_panel, filter_sidebar, page, resources, result_grid, search_options, search_state
from core.common.errors import LensError
from core.common.safe_text import md
from core.search.query import MAX_LIMIT, browse, search, search_notes
from core.curation.urlstate import build_request

config, store, _meta = page.start_indexed("Search", "search")
search_state.seed()
search_state.scroll_to_top()  # first, so a search that fails below (st.stop) leaves no request for a later click
narrowing = filter_sidebar.filter_sidebar(store)
schema = filter_sidebar.index_schema(store)
board_id = board_panel.board_picker(config)

mode = st.segmented_control("Mode", ["text", "image", "hybrid"], key="mode",
                            format_func={"text": "Text", "image": "Image", "hybrid": "Text + image"}.get)
left, right = st.columns([3, 2])
if mode in ("text", "hybrid"):
    left.text_input("Describe what you are looking for", key="q", placeholder="e.g. red summer dress")
image = None
if mode in ("image", "hybrid"):  # Image mode: the photo takes the space the text box would have
    image = search_state.image_query_area(right if mode == "hybrid" else left, config, store)
if mode == "image":
    right.caption(":material/lightbulb: “More like this” on a result, or “Find look-alikes” on the Explore map, "
                  "also sets the photo.")
search_options.options_panel(mode)
state = search_state.current(narrowing)
search_state.write_to_url(state, schema)
for note in search_state.link_notes(state, image):
    st.caption(f":material/link_off: {note}")
if mode == "hybrid" and state.text and image is None and not state.like and not st.session_state["selection"]:
    st.info("No photo yet, so these results use the text only. Add a photo (a shared link cannot carry an "
            "uploaded one), or pick “More like this” on a result.")

likes, dislikes = st.session_state["likes"], st.session_state["dislikes"]
if likes or dislikes:
    st.caption(f"Refining with :material/thumb_up: {md(', '.join(likes) or '-')} · "
               f":material/thumb_down: {md(', '.join(dislikes) or '-')}")
    st.button("Reset feedback", on_click=search_state.reset_feedback)

try:
    request = build_request(state, image, st.session_state["selection"], likes, dislikes,
                            st.session_state["limit"], st.session_state["text_vectors"], search_options.diversity())
except LensError as exc:  # a search that cannot run as asked (words only, and no word to match): say why
    st.warning(md(exc))
    st.stop()
try:
    _ = request.mode  # raises BadQuery when there is nothing to search for
except LensError:
    request = None
browsing = request is None
# Drafts and archived products out unless the sidebar shows them or a Status filter names them (every count too).
filters = narrowing.filters().visible(narrowing.show_hidden)
sort = state.narrowing.sort_key()  # look-alikes: no sort (search_state.current)
count_col, sort_col = st.columns([3, 1], vertical_alignment="bottom")
if state.lookalike(st.session_state["selection"]):
    sort_col.caption("Look-alikes, varied (MMR)" if state.diverse else "Look-alikes: closest first")
else:
    filter_sidebar.sort_picker(sort_col, schema, browsing)
try:
    matching = store.count(filters)
    if browsing:  # nothing to search for: the catalogue under the filters, in the chosen order
        listing = browse(store, filters, sort, limit=min(search_state.browse_limit(narrowing), MAX_LIMIT),
                         show_hidden=narrowing.show_hidden)
        results = listing.results
        for r in results:
            r.rank = None  # a position in a listing ranks nothing: the count line says what the order is
    else:
        search_options.show_notes(search_notes(store, request))
        embedder = resources.embedder_for(config) if request.needs_model else None
        results = search(store, request, embedder, config.max_pixels)
except LensError as exc:
    st.error(md(exc))
    st.stop()

thing = md(filter_sidebar.field_label(sort.field).lower())
order = filter_sidebar.order_text(state.sort)
if browsing:
    st.session_state["last_results"] = []  # a listing is no search: nothing to ring on the Explore map
    # Sorted by a field the products lack go last; a range on that field has already left them out.
    lacking = 0 if sort.by_score or sort.field in filters.ranges else \
        matching - store.count(filters.plus(ranges={sort.field: (None, None)}))
    count_col.markdown(search_options.browse_count(matching, bool(narrowing), order, lacking, thing))
    st.caption(":material/lightbulb: Type a description, upload a photo, or pick “More like this” on a product "
               "to search instead.")
else:
    st.session_state["last_results"] = [r.product_id for r in results]  # highlighted on the Explore map
    lacking = sum(1 for r in results if r.number(sort.field) is None) if not sort.by_score else 0
    count_col.markdown(search_options.search_count(len(results), request.limit, matching, bool(narrowing),
                                                   state.threshold, order, lacking, thing,
                                                   search_options.matched_by(request, results)))
if not results:
    st.warning(search_options.no_results(request))
result_grid.product_grid(results, config, lambda r, key: result_grid.result_actions(r, key, board_id, config),
                         key="results")
if browsing and len(results) < listing.total:
    if len(results) < MAX_LIMIT:
        st.button("Show more", key="show_more", on_click=search_state.show_more_browsed)
    else:
        st.caption(f"Showing the first {MAX_LIMIT}: narrow the filters to see the rest.")
elif not browsing and len(results) == st.session_state["limit"] < MAX_LIMIT:
    st.button("Show more", on_click=st.session_state.update, kwargs={"limit": st.session_state["limit"] + 12})

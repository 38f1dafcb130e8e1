"""Explore page: the catalogue map. Colour by an attribute, filter, lasso a region, act on the selection."""

import streamlit as st

from app import board_panel, filter_sidebar, map_panel, page, result_grid
from core.curation.export import selection_csv
from core.map.figure import COLOUR_BY, MAX_GALLERY, MAX_SELECTION_READ, build_figure, filter_mask
from core.common.safe_text import md
from core.search.query import get_products

config, store, meta = page.start_indexed("Explore", "explore")
narrowing = filter_sidebar.filter_sidebar(store)
filter_sidebar.write_filters_to_url(narrowing, filter_sidebar.index_schema(store))  # a page switch clears the URL: it goes back in
filters = narrowing.filters()
board_id = board_panel.board_picker(config)

kind_col, colour_col, photo_col = st.columns([2, 2, 1], vertical_alignment="bottom")
kind = kind_col.segmented_control("Vectors", ["image", "text", "both"], default="image", key="map_kind",
                                  format_func={"image": "Photos", "text": "Texts", "both": "Both"}.get) or "image"
colour_by = colour_col.selectbox("Colour by", COLOUR_BY, key="map_colour", format_func=filter_sidebar.field_label,
                                 persist_state="session")
show_photos = photo_col.toggle("Photos", key="map_photos", help="Draw product photos instead of dots "
                               "(the selection, or up to 300 products that pass the filters)")
# A reference catalogue's products over ours (none by default), judged as the Gaps page judges them.
overlay_name, overlay_same = map_panel.overlay_picker(config)

# The UMAP map, else (while UMAP is fitted in a process of its own) the PCA preview; a finished fit is laid out first.
catalog_map, status, fit = map_panel.current_map(config, store, meta, kind)
fitting = fit is not None and fit.running
if status != "fresh" and not fitting and not map_panel.is_preview(catalog_map):
    st.info("There is no map for these vectors yet." if status == "missing" else
            "The index changed since this map was made: update it to place new and changed products.")
map_panel.fit_note(config, kind, catalog_map, fit)
update_col, refit_col = st.columns(2)
update = status != "fresh" and not fitting and update_col.button(
    "Compute the map" if status == "missing" else "Update the map", type="primary", key="map_update")
refit = catalog_map is not None and refit_col.button("Refit from scratch", key="map_refit", disabled=fitting,
                                                     help="Lay the whole catalogue out again (new clusters, "
                                                          "new positions)")
if (update or refit) and map_panel.compute(config, store, kind, refit=bool(refit)):
    st.rerun()
if catalog_map is None:
    st.stop()
if catalog_map.not_placed:
    st.caption(f"Not placed (no vector): {md(', '.join(catalog_map.not_placed))}")

previous = map_panel.map_selection(catalog_map)  # kept across redraws (photos on, another colouring): Streamlit drops it
# Drafts and archived are left out (not drawn, not selectable) unless "Show drafts and archived" or a Status filter.
visible = filters.visible(narrowing.show_hidden)
columns = map_panel.map_columns(store, catalog_map, meta, visible)  # brand, price...: the map file lacks them
keep = filter_mask(catalog_map, visible, columns)
photos = map_panel.map_thumbnails(catalog_map, keep, previous, config) if show_photos else None
figure = build_figure(catalog_map, colour_by, filters, st.session_state.get("last_results", []), photos, columns,
                      keep=keep, show_hidden=narrowing.show_hidden)
overlay, their_rows = map_panel.add_overlay(figure, config, store, meta, catalog_map, overlay_name, overlay_same)
map_panel.sample_note(catalog_map)
map_panel.legend_note(figure, colour_by, narrowing.show_hidden)
# Greyed (filtered-out) points can be lassoed too; only products that pass the filters are kept.
chosen = map_panel.draw_map(figure, catalog_map)
if overlay is not None:  # their products in the lasso, with their verdicts (gaps first)
    map_panel.overlay_gap_list(overlay_name, map_panel.overlay_selection(overlay), their_rows, overlay_same)
rows = catalog_map.row_of if chosen else {}  # id -> row: built on the first selection, not on every first render
selection = [p for p in chosen if p in rows and keep[rows[p]]]
if not selection:
    st.caption("Lasso or box-select a region to open its products.")
    st.stop()

# Products removed since the map was made drop out here. A large selection reads only its gallery now.
whole = len(selection) <= MAX_SELECTION_READ
products = get_products(store, selection if whole else selection[:MAX_GALLERY])
if not products:
    st.warning("The selected products are no longer in the index; update the map.")
    st.stop()
count = len(products) if whole else len(selection)
st.subheader(f"{count:,} selected")
look, add, export, clear = st.columns(4)
if look.button("Find look-alikes of this selection", type="primary", key="map_lookalike"):
    chosen = [r.product_id for r in products] if whole else selection
    st.session_state["pending_search"] = {"mode": "image", "like": "", "selection": chosen[:500]}
    st.switch_page("pages/search.py")
if add.button("Add all to the board", key="map_add_all", disabled=board_id is None,
              help=None if board_id else "Create a board in the sidebar first"):
    everything = products if whole else get_products(store, selection)
    added = sum(board_panel.add_products_to_board(config, board_id, everything))
    st.toast(f"Added {added} products to the board")
export.download_button("Export selection (CSV)", selection_csv(products) if whole else
                       (lambda: selection_csv(get_products(store, selection))),  # read when the button is pressed
                       file_name="selection.csv", mime="text/csv", key="map_export")
clear.button("Clear selection", key="map_clear", on_click=map_panel.clear_selection)
result_grid.product_grid(products[:MAX_GALLERY], config, lambda r, k: None, columns=6, key="gallery")
if count > MAX_GALLERY:
    st.caption(f"Showing the first {MAX_GALLERY}; the export has all {count:,}.")

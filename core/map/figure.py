"""The Explore map as a Plotly WebGL figure: colours (real ones for `colour`), greyed filtered-out points,
highlighted search results, cluster labels and optional thumbnails. No Streamlit here.

A map of more than MAX_POINTS products is not sent to the browser whole: every product is drawn as a density
image computed here, and a bounded set of interactive points goes on top (the search results, the products
passing the filters, then a fixed random share of the rest). A lasso still selects from every stored position.

Plotly reads trace names, hover text and annotations as a subset of HTML (`<a href>`, `<b>`, `<br>`), so every
catalogue value in them goes through safe_text.plotly: a colour `<a href="https://x">Red</a>` stays text.
"""

from __future__ import annotations

import base64
import hashlib
import io
from collections import Counter
from itertools import compress

import numpy as np

from core.common.fields import LIST_ROLES, values_of
from core.common.filters import Filters
from core.common.safe_text import plotly, unplotly
from core.ingest.colours import UNKNOWN, lookup_hex, several_colours, split_colours
from core.map.products import PHOTO_COLOUR
from core.map.storage import CatalogMap

PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#bab0ac", "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
FILTERED_OUT = "#dddddd"
COLOUR_BY = ("cluster", "gender", "category", "sub_category", "product_type", "colour", "usage")
MAX_THUMBNAILS = 300
MAX_GALLERY = 60
# A selection of up to this many products is read whole when drawn (exact count, export ready); a larger one
# (a lasso over a million-product map) reads only its gallery, and the export and "Add all" read the rest.
MAX_SELECTION_READ = 2_000
MAX_LABELS = 15   # cluster names drawn on the map (the largest clusters)
# The legend names the TOP_VALUES largest values, then one "other (N)" entry for the products of every other value:
# a real catalogue's colours ("Black, White", "Sky Blue/Red"...) ran to a hundred entries and squeezed the map.
TOP_VALUES = 12
OTHER = "other"
OTHER_GROUP = "group-other"  # the legend group of the "other (N)" entry's traces
OTHER_COLOUR = "#a8a8a8"
LEGEND_CHARS = 26  # a longer value is cut (with an ellipsis) so the legend keeps its width
MAP_HEIGHT = 860  # px: the map is the page
# The plot area never depends on the legend: the legend sits in a right margin of fixed width and margins do not
# grow to fit it (autoexpand off). The entries are bounded (TOP_VALUES + other + filtered out, drafts, search,
# overlay), about 17 lines of 19 px, well inside the map's height.
LEGEND_PX = 210
MARGIN = dict(l=0, r=LEGEND_PX, t=30, b=0, autoexpand=False)
SINGLE_SYMBOL, MULTI_SYMBOL = "circle", "star"  # a product in several colours (or "Multi") is a star
HIDDEN_COLOUR, HIDDEN_OPACITY = "#8c8c8c", 0.35   # drafts and archived, when shown: greyed where they are
# Interactive points sent to the browser, search results included: plotly's WebGL stays smooth and the page's
# JSON a few MB. Beyond it the map draws a sample over DENSITY_BINS of every product's position.
MAX_POINTS = 25_000
MAX_RINGED = 1_000   # search results ringed on the map (a search returns far fewer)
DENSITY_BINS = (480, 360)
DENSITY_RGB = (64, 84, 128)
# Photos are sized for about this many pixels, assuming a plot of about PLOT_PX (wide layout, legend at the right).
THUMB_PX = 56
PLOT_PX = (1000 - LEGEND_PX, MAP_HEIGHT - 30)
# A halo instead of a box: the name stays readable on the points and the points stay visible through it.
LABEL_HALO = "0 0 3px #fff, 0 0 3px #fff, 0 0 2px #fff"


def filter_mask(m: CatalogMap, filters: Filters | None, columns: dict[str, list] | None = None) -> np.ndarray:
    """True for products that pass the filters, as the engine decides: include any-of per field (a list value
    passes when any element does), every field; exclude none-of; a range keeps products whose number lies in it
    (a product without one fails); lacking keeps products without the field.

    The map stores only the standard fields (core.map.products.ATTR_FIELDS); `columns` supplies any other field
    the filters use (payload values, aligned with m.product_ids). A field in neither is treated as absent.
    """
    n = len(m.product_ids)
    mask = np.ones(n, dtype=bool)
    if not filters:
        return mask

    def column(name: str) -> list:
        found = (columns or {}).get(name)
        if found is None:
            found = m.attrs.get(name)
        return list(found) if found is not None and len(found) == n else [None] * n

    def matches(name: str, values) -> np.ndarray:
        wanted = set(values)
        return np.fromiter((not wanted.isdisjoint(values_of(v)) for v in column(name)), dtype=bool, count=n)

    for name, values in filters.include.items():
        mask &= matches(name, values)
    for name, values in filters.exclude.items():
        mask &= ~matches(name, values)
    for name, (low, high) in filters.ranges.items():
        numbers = np.array([_number(v) for v in column(name)], dtype=float)
        inside = ~np.isnan(numbers)
        if low is not None:
            inside &= numbers >= low
        if high is not None:
            inside &= numbers <= high
        mask &= inside
    for name in filters.lacking:
        mask &= np.array([not values_of(v) for v in column(name)], dtype=bool)
    if filters.exclude_ids:
        mask[m.rows(filters.exclude_ids)] = False
    return mask


def filter_fields_missing(m: CatalogMap, filters: Filters | None) -> list[str]:
    """Fields the filters use that the stored map does not carry as they are (their values must come from the
    index): fields it lacks, and list fields such as colour, which the map file keeps as one string."""
    if not filters:
        return []
    used = (*filters.include, *filters.exclude, *filters.ranges, *filters.lacking)
    return sorted({name for name in used if name not in m.attrs or name in LIST_ROLES})


def _number(value) -> float:
    """A payload number as a float; NaN for none (a missing price, text, a boolean)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return float("nan")
    return float(value)


def group_values(m: CatalogMap, colour_by: str) -> list[str]:
    """Each product's legend value: its cluster's name, its attribute, or (colour) its first colour name."""
    if colour_by == "cluster":
        names = {c: m.labels.get(c, "Unclustered") for c in np.unique(m.cluster).tolist()}
        return [names[c] for c in np.asarray(m.cluster).tolist()]
    if colour_by == "colour":
        colours = m.attrs["colour"]
        firsts = {v: (split_colours(v) or [""])[0] for v in set(colours)}  # each distinct value is split once
        return list(map(firsts.__getitem__, colours))
    return list(m.attrs[colour_by])


def multi_colour(m: CatalogMap) -> np.ndarray:
    """True for products in several colours (two names or more, or Multi): drawn as MULTI_SYMBOL."""
    colours = m.attrs["colour"]
    several = {v: several_colours(v) for v in set(colours)}  # each distinct value is split once
    return np.fromiter(map(several.__getitem__, colours), dtype=bool, count=len(colours))


def point_colours(m: CatalogMap, rows: np.ndarray, values: np.ndarray) -> list[str]:
    """The real shade of each product's first colour name; for a name with no reference, its photo's own dominant
    colour (stored with the map as photo_colour); grey when there is neither."""
    photo = m.attrs.get(PHOTO_COLOUR) or [""] * len(m.product_ids)
    shade: dict[str, str | None] = {}  # each distinct name is looked up once
    return [(shade[v] if v in shade else shade.setdefault(v, lookup_hex(v))) or photo[r] or UNKNOWN
            for r, v in zip(rows.tolist(), values.tolist())]


def group_colour(colour_by: str, value: str, rank: int) -> str:
    if colour_by == "colour":
        return lookup_hex(value) or UNKNOWN
    if value == "Unclustered":
        return "#9a9a9a"
    return PALETTE[rank % len(PALETTE)]


def legend_groups(counts: Counter) -> tuple[list[str], int]:
    """The TOP_VALUES largest values (count, then name), and how many products the other values hold together."""
    ranked = sorted(counts, key=lambda v: (-counts[v], v))
    return ranked[:TOP_VALUES], sum(counts[v] for v in ranked[TOP_VALUES:])


def legend_name(value: str, count: int) -> str:
    """"Value (1,234)" with the value cut to LEGEND_CHARS, escaped for Plotly."""
    text = value if len(value) <= LEGEND_CHARS else value[:LEGEND_CHARS - 1] + "…"
    return plotly(f"{text or '(none)'} ({count:,})")


def hidden_rows(m: CatalogMap, filters: Filters | None) -> np.ndarray:
    """Drafts and archived products (status), unless the filters name a status: then the filters decide."""
    if filters is not None and filters.names_status:
        return np.zeros(len(m.product_ids), dtype=bool)
    return m.hidden_status


def drawn_rows(m: CatalogMap, keep: np.ndarray, ringed: np.ndarray) -> np.ndarray:
    """Rows drawn as interactive points, in map order: every product on a map of MAX_POINTS or fewer; else the
    ringed search results, then products passing the filters, then the others, each group in the map's fixed
    random draw order, so that points and rings together stay within MAX_POINTS."""
    n = len(keep)
    if n <= MAX_POINTS:
        return np.arange(n)
    chosen = [np.unique(ringed)]
    budget = MAX_POINTS - 2 * len(chosen[0])  # each search result is a dot and a ring
    for group in (keep, ~keep):
        rows = np.setdiff1d(np.flatnonzero(group), chosen[0], assume_unique=True)
        if len(rows) > budget:
            rows = rows[np.argpartition(m.draw_order[rows], budget)[:budget]] if budget > 0 else rows[:0]
        chosen.append(rows)
        budget -= len(rows)
    return np.sort(np.concatenate(chosen))


def density_image(xy: np.ndarray, bins: tuple[int, int] = DENSITY_BINS) -> tuple[bytes, tuple, tuple]:
    """PNG of how many products sit in each bin (log scale, one hue, transparent where there are none), with the
    x and y ranges it covers."""
    from PIL import Image

    low, high = (xy.min(axis=0), xy.max(axis=0)) if len(xy) else (np.zeros(2), np.ones(2))
    pad = np.maximum((high - low) * 0.03, 1e-3)
    low, high = low - pad, high + pad
    cell = np.floor((xy - low) / (high - low) * bins).astype(np.int64)
    ix, iy = np.clip(cell[:, 0], 0, bins[0] - 1), np.clip(cell[:, 1], 0, bins[1] - 1)
    counts = np.bincount((bins[1] - 1 - iy) * bins[0] + ix, minlength=bins[0] * bins[1]).reshape(bins[1], bins[0])
    level = np.log1p(counts) / np.log1p(max(int(counts.max()), 1))
    alpha = np.where(counts > 0, 70 + 185 * level, 0).astype(np.uint8)
    rgba = np.dstack([np.full(counts.shape, c, dtype=np.uint8) for c in DENSITY_RGB] + [alpha])
    out = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(out, format="PNG", optimize=False)
    return out.getvalue(), (float(low[0]), float(high[0])), (float(low[1]), float(high[1]))


def build_figure(m: CatalogMap, colour_by: str = "cluster", filters: Filters | None = None,
                 highlight: list[str] | tuple = (), thumbnails: dict[str, bytes] | None = None,
                 columns: dict[str, list] | None = None, keep: np.ndarray | None = None, show_hidden: bool = False):
    """One legend entry per value among the TOP_VALUES largest (counts over every passing product), then "other (N)";
    greyed filtered-out points underneath, search results ringed; over a density image when the map is larger than
    MAX_POINTS (see drawn_rows). `columns` as for filter_mask; `keep` is filter_mask's answer when the caller
    has it already (at a million products it is worth not asking twice).

    Coloured by colour, a product is drawn in its first colour's real shade (its photo's colour for a name with no
    reference) and a product in several colours as a star. Drafts and archived products are not drawn unless
    `show_hidden` (or the filters name a status); shown, they are greyed where they are: the layout never moves."""
    import plotly.graph_objects as go

    if colour_by not in COLOUR_BY:
        raise ValueError(f"colour_by must be one of {COLOUR_BY}")
    fig = go.Figure()
    xy = m.xy.reshape(-1, 2)
    keep = filter_mask(m, filters, columns) if keep is None else keep
    hidden = hidden_rows(m, filters)
    shown = np.ones(len(hidden), dtype=bool) if show_hidden else ~hidden
    ringed = np.unique(m.rows(list(dict.fromkeys(highlight))[:MAX_RINGED]))
    ringed = ringed[shown[ringed]]
    drawn = drawn_rows(m, keep & shown, ringed)
    drawn = drawn[shown[drawn]]
    everything = group_values(m, colour_by)
    counts = Counter(compress(everything, (keep & shown & ~hidden).tolist()))
    values = np.asarray([everything[i] for i in drawn.tolist()], dtype=object)
    kept, spot, greyed = keep[drawn], xy[drawn], hidden[drawn]
    custom = hover_data(m, drawn)
    sampled = len(drawn) < int(shown.sum())
    size = 5 if sampled else 7
    hover = ("<b>%{customdata[1]}</b><br>%{customdata[2]} · %{customdata[3]} · %{customdata[4]} · "
             "%{customdata[5]}<br>#%{customdata[0]}<extra></extra>")
    if (~kept).any():
        fig.add_trace(go.Scattergl(x=spot[~kept, 0], y=spot[~kept, 1], mode="markers", name="filtered out",
                                   marker=dict(size=size - 2 if sampled else 5, color=FILTERED_OUT),
                                   customdata=custom[~kept], hovertemplate=hover, legendrank=2000))
    if (kept & greyed).any():
        sel = kept & greyed
        fig.add_trace(go.Scattergl(x=spot[sel, 0], y=spot[sel, 1], mode="markers",
                                   name=legend_name("draft or archived", int((keep & hidden).sum())),
                                   marker=dict(size=size, color=HIDDEN_COLOUR, opacity=HIDDEN_OPACITY),
                                   customdata=custom[sel], hovertemplate=hover, legendrank=1900))
    live = kept & ~greyed
    by_colour = colour_by == "colour"
    multi = multi_colour(m)[drawn] if by_colour else np.zeros(len(drawn), dtype=bool)
    top, other_count = legend_groups(counts)
    named = set(top)
    in_top = np.fromiter((v in named for v in values.tolist()), dtype=bool, count=len(values))
    # (legend name, rows, colour, legend group, rank): the top values, then every other value as one entry.
    groups = [(legend_name(value, counts[value]), live & (values == value), group_colour(colour_by, value, rank),
               f"group-{rank}", 10 + rank) for rank, value in enumerate(top)]
    if other_count:
        groups.append((plotly(f"{OTHER} ({other_count:,})"), live & ~in_top, OTHER_COLOUR, OTHER_GROUP, 1000))
    line = dict(width=0.6, color="#555555") if by_colour else dict(width=0)
    for name, sel, colour, group, legend_rank in groups:
        if sampled and not sel.any():
            continue  # none of this value among the drawn sample: the density image has them
        # Circles and stars are two traces of one legend entry: a legend icon takes its first point's symbol.
        for star in (False, True):
            part = sel & (multi == star)
            if star and not part.any():
                continue
            fill = point_colours(m, drawn[part], values[part]) if by_colour and part.any() else [colour]
            fill = fill[0] if len(set(fill)) == 1 else fill  # one shade: one colour, not a list of it
            fig.add_trace(go.Scattergl(x=spot[part, 0], y=spot[part, 1], mode="markers", name=name,
                                       legendgroup=group, showlegend=not star, legendrank=legend_rank,
                                       marker=dict(size=size + 4 if star else size, color=fill, line=line,
                                                   symbol=MULTI_SYMBOL if star else SINGLE_SYMBOL),
                                       customdata=custom[part], hovertemplate=hover))
    if len(ringed):
        fig.add_trace(go.Scattergl(x=xy[ringed, 0], y=xy[ringed, 1], mode="markers", name="current search",
                                   marker=dict(size=14, color="rgba(0,0,0,0)", line=dict(width=2.5, color="#d6336c")),
                                   customdata=hover_data(m, ringed), hovertemplate=hover))
    sizes = np.bincount(np.asarray(m.cluster, dtype=np.int64) + 1) if len(m.cluster) else np.zeros(1, dtype=int)
    for c, (x, y) in sorted(m.centres().items(), key=lambda kv: -sizes[kv[0] + 1])[:MAX_LABELS]:
        fig.add_annotation(x=x, y=y, text=plotly(m.labels[c]), showarrow=False,
                           font=dict(size=13, color="#1f1f1f", shadow=LABEL_HALO))
    # The legend sits in the fixed right margin, below Plotly's toolbar (which takes the top margin).
    fig.update_layout(height=MAP_HEIGHT, margin=MARGIN, dragmode="lasso", plot_bgcolor="white",
                      xaxis=dict(visible=False), yaxis=dict(visible=False), showlegend=True,
                      legend=dict(itemsizing="constant", orientation="v", x=1.01, xanchor="left", y=1,
                                  yanchor="top", font=dict(size=12)))
    if sampled:
        add_density(fig, xy[shown])
    if thumbnails:
        add_thumbnails(fig, m, thumbnails)
    return fig


def add_density(fig, xy: np.ndarray) -> None:
    """Every product's position as a shaded image under the points, the axes fitted to it."""
    png, (x0, x1), (y0, y1) = density_image(xy)
    fig.add_layout_image(source="data:image/png;base64," + base64.b64encode(png).decode(), x=x0, y=y1, xref="x",
                         yref="y", sizex=x1 - x0, sizey=y1 - y0, sizing="stretch", xanchor="left", yanchor="top",
                         layer="below")
    fig.update_layout(xaxis=dict(range=(x0, x1), autorange=False), yaxis=dict(range=(y0, y1), autorange=False))


def hover_data(m: CatalogMap, rows: np.ndarray | None = None) -> np.ndarray:
    """Per product (the given rows, else all): id, title, gender, type, colour, usage, escaped for Plotly
    (customdata[0] is the id)."""
    rows = np.arange(len(m.product_ids)) if rows is None else rows
    picked = rows.tolist()
    n = len(m.product_ids)
    columns = [m.product_ids, *[m.attrs.get(k) or [""] * n for k in ("title", "gender", "product_type", "colour",
                                                                      "usage")]]
    data = np.empty((len(picked), len(columns)), dtype=object)
    for j, column in enumerate(columns):
        escaped: dict = {}  # gender, type, colour, usage repeat: each distinct value is escaped once
        data[:, j] = [escaped[v] if v in escaped else escaped.setdefault(v, plotly(v))
                      for v in (column[i] for i in picked)]
    return data


def thumbnail_box(m: CatalogMap) -> tuple[float, float, tuple, tuple]:
    """(width, height) of a photo in data units for about THUMB_PX pixels, and the axis ranges that make it so."""
    xy = m.xy.reshape(-1, 2)
    low, high = (xy.min(axis=0), xy.max(axis=0)) if len(xy) else (np.zeros(2), np.ones(2))
    span = np.maximum(high - low, 1e-6)
    # Solve size = span_with_margin * THUMB_PX / PLOT_PX where the margin is half a photo on each side.
    w, h = (float(span[i] * THUMB_PX / (PLOT_PX[i] - THUMB_PX)) for i in (0, 1))
    return w, h, (float(low[0]) - w / 2, float(high[0]) + w / 2), (float(low[1]) - h / 2, float(high[1]) + h / 2)


def placed_thumbnails(m: CatalogMap, thumbnails: dict[str, bytes]) -> list[tuple[str, float, float]]:
    """(product id, x, y) of the photos to draw: in the given order, skipping any that would overlap one drawn.

    Products in a tight look-alike group would otherwise stack into one unreadable pile; the skipped ones
    stay dots, and selecting a smaller region shows them.
    """
    index = m.row_of
    xy = m.xy.reshape(-1, 2)
    w, h, _, _ = thumbnail_box(m)
    grid: dict[tuple[int, int], list[tuple[float, float]]] = {}
    placed = []
    for pid, jpeg in list(thumbnails.items())[:MAX_THUMBNAILS]:
        if pid not in index or not jpeg:
            continue
        x, y = (float(v) for v in xy[index[pid]])
        cell = (int(np.floor(x / w)), int(np.floor(y / h)))
        near = [q for dx in (-1, 0, 1) for dy in (-1, 0, 1) for q in grid.get((cell[0] + dx, cell[1] + dy), ())]
        if any(abs(x - qx) < w and abs(y - qy) < h for qx, qy in near):
            continue
        grid.setdefault(cell, []).append((x, y))
        placed.append((pid, x, y))
    return placed


def add_thumbnails(fig, m: CatalogMap, thumbnails: dict[str, bytes]) -> None:
    """Draw product photos on their dots, about THUMB_PX pixels each and never on top of one another."""
    w, h, xrange, yrange = thumbnail_box(m)
    for pid, x, y in placed_thumbnails(m, thumbnails):
        fig.add_layout_image(source="data:image/jpeg;base64," + base64.b64encode(thumbnails[pid]).decode(), x=x,
                             y=y, xref="x", yref="y", sizex=w, sizey=h, xanchor="center", yanchor="middle",
                             layer="above")
    fig.update_layout(xaxis=dict(range=xrange, autorange=False), yaxis=dict(range=yrange, autorange=False))


def inside_polygon(xy: np.ndarray, xs, ys) -> np.ndarray:
    """Mask of the points inside a polygon (even-odd rule).

    Only points in the polygon's bounding box are tested, sorted by y once: each edge then flips the points in
    its own band of y, found by binary search. A lasso of hundreds of vertices over a million points costs a
    fraction of a second and memory in proportion to the points, not points × vertices.
    """
    px, py = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    mask = np.zeros(len(xy), dtype=bool)
    if len(px) < 3 or not len(xy):
        return mask
    box = np.flatnonzero((xy[:, 0] >= px.min()) & (xy[:, 0] <= px.max()) & (xy[:, 1] >= py.min())
                         & (xy[:, 1] <= py.max()))
    order = np.argsort(xy[box, 1], kind="stable")
    x, y = xy[box[order], 0].astype(float), xy[box[order], 1].astype(float)
    inside = np.zeros(len(box), dtype=bool)
    for x1, y1, x2, y2 in zip(px, py, np.roll(px, -1), np.roll(py, -1)):
        if y1 == y2:
            continue  # a horizontal edge crosses no horizontal ray
        lo, hi = np.searchsorted(y, min(y1, y2), "left"), np.searchsorted(y, max(y1, y2), "left")
        at = x1 + (y[lo:hi] - y1) * (x2 - x1) / (y2 - y1)  # the edge crosses the points' row when min <= y < max
        inside[lo:hi] ^= x[lo:hi] < at
    mask[box[order]] = inside
    return mask


def selected_ids(event, m: CatalogMap | None = None) -> list[str]:
    """Product ids from st.plotly_chart's selection event.

    With the map, a lasso or box selects from every stored coordinate, so products the browser was not sent
    (a large catalogue draws a sample) are selected too; otherwise the drawn points carry the escaped id as
    customdata[0].
    """
    try:
        selection = event["selection"]
        points = selection["points"]
    except (KeyError, TypeError):
        return []
    shapes = selection_shapes(selection)
    if m is not None and shapes and len(m.product_ids):
        mask = np.zeros(len(m.product_ids), dtype=bool)
        for xs, ys in shapes:
            mask |= inside_polygon(m.xy, xs, ys)
        return [m.product_ids[i] for i in np.flatnonzero(mask)]
    ids = []
    for point in points:
        data = point.get("customdata")
        if data and str(data[0]) != THEIRS_MARK:  # an overlaid reference product is not one of ours
            ids.append(unplotly(str(data[0])))  # the id as hover_data escaped it
    return list(dict.fromkeys(ids))


def selection_shapes(selection: dict) -> list[tuple]:
    """A selection event's lassos and boxes, each as the (xs, ys) of a polygon."""
    shapes = [(lasso["x"], lasso["y"]) for lasso in selection.get("lasso") or [] if lasso.get("x")]
    shapes += [((b["x"][0], b["x"][1], b["x"][1], b["x"][0]), (b["y"][0], b["y"][0], b["y"][1], b["y"][1]))
               for b in selection.get("box") or [] if len(b.get("x", ())) == 2 and len(b.get("y", ())) == 2]
    return shapes


def chart_key(fig) -> str:
    """What identifies a drawn chart to Streamlit: its spec. A new spec is a new widget, with no selection."""
    return hashlib.sha1(fig.to_json().encode()).hexdigest()


def carry_selection(event_ids: list[str], event_chart: str | None, kept: list[str],
                    kept_chart: str | None) -> tuple[list[str], str | None]:
    """The selection to show, and the chart it was made on, given the last drawn chart's selection event.

    Streamlit forgets a chart's selection whenever the figure changes (photos on, another colouring, new
    filters), so the selection is kept here instead: an event with points replaces it; an empty event on
    the chart the selection was made on clears it (the user deselected); an empty event on a chart drawn
    since then is only the reset, and the selection stays.
    """
    if event_ids:
        return list(event_ids), event_chart
    if event_chart is not None and event_chart == kept_chart:
        return [], event_chart
    return list(kept), kept_chart


# ---- a reference catalogue overlaid on the map (core.map.overlay places it) ----------------------------------------
# customdata[0] of an overlaid point. Our points carry plotly()-escaped ids there, which never hold a "<", so no
# product id (not even "theirs") can be taken for the mark, nor the mark for an id.
THEIRS_MARK = "<theirs>"
OVERLAY_COLOUR = "#111111"
OVERLAY_SYMBOL = "diamond-open"


def overlay_hover(overlay, verdicts: dict[str, str] | None = None) -> np.ndarray:
    """Per overlaid product: the mark, id, title, category, colour and verdict, escaped for Plotly."""
    verdicts = verdicts or {}
    n = len(overlay.product_ids)
    data = np.empty((n, 6), dtype=object)
    data[:, 0] = THEIRS_MARK
    data[:, 1] = [plotly(p) for p in overlay.product_ids]
    for j, key in enumerate(("title", "category", "colour"), 2):
        data[:, j] = [plotly(v) for v in (overlay.attrs.get(key) or [""] * n)]
    data[:, 5] = [plotly(verdicts.get(p, "")) for p in overlay.product_ids]
    return data


def add_overlay(fig, overlay, name: str, verdicts: dict[str, str] | None = None) -> None:
    """Their products as one more marker layer, in its own colour and symbol, named "Theirs: NAME" in the legend."""
    import plotly.graph_objects as go

    hover = ("<b>%{customdata[2]}</b><br>Theirs · %{customdata[3]} · %{customdata[4]}<br>#%{customdata[1]}"
             " · %{customdata[5]}<extra></extra>")
    fig.add_trace(go.Scattergl(x=overlay.xy[:, 0], y=overlay.xy[:, 1], mode="markers",
                               name=legend_name(f"Theirs: {name}", len(overlay)),
                               marker=dict(size=11, symbol=OVERLAY_SYMBOL, color=OVERLAY_COLOUR,
                                           line=dict(width=2, color=OVERLAY_COLOUR)),
                               customdata=overlay_hover(overlay, verdicts), hovertemplate=hover, legendrank=1))


def overlay_selected(event, overlay) -> list[str]:
    """Their product ids in a lasso or box of st.plotly_chart's selection event, or clicked."""
    try:
        selection = event["selection"]
    except (KeyError, TypeError):
        return []
    shapes = selection_shapes(selection)
    mask = np.zeros(len(overlay.product_ids), dtype=bool)
    for xs, ys in shapes:
        mask |= inside_polygon(overlay.xy, xs, ys)
    ids = [overlay.product_ids[i] for i in np.flatnonzero(mask)]
    for point in selection.get("points") or []:
        data = point.get("customdata")
        if data and str(data[0]) == THEIRS_MARK and len(data) > 1:
            ids.append(unplotly(str(data[1])))
    return list(dict.fromkeys(ids))

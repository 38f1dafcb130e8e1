"""The Explore map as a Plotly WebGL figure: colours (real ones for `colour`), greyed filtered-out points,
highlighted search results, cluster labels and optional thumbnails. No Streamlit here.

Plotly reads trace names, hover text and annotations as a subset of HTML (`<a href>`, `<b>`, `<br>`), so every
catalogue value in them goes through safe_text.plotly: a colour `<a href="https://x">Red</a>` stays text.
"""

from __future__ import annotations

import base64

import numpy as np

from core.colours import colour_hex
from core.filters import Filters
from core.projection import CatalogMap
from core.safe_text import plotly, unplotly

PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#bab0ac", "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
FILTERED_OUT = "#dddddd"
COLOUR_BY = ("cluster", "gender", "category", "sub_category", "product_type", "colour", "usage")
MAX_THUMBNAILS = 300
MAX_GALLERY = 60
MAX_LABELS = 15   # cluster names drawn on the map (the largest clusters)
MAX_LEGEND = 25


def filter_mask(m: CatalogMap, filters: Filters | None) -> np.ndarray:
    """True for products that pass the filters (include any-of per field, all fields; exclude none-of)."""
    mask = np.ones(len(m.product_ids), dtype=bool)
    if not filters:
        return mask
    for name, values in filters.include.items():
        mask &= np.isin(np.asarray(m.attrs[name], dtype=str), list(values))
    for name, values in filters.exclude.items():
        mask &= ~np.isin(np.asarray(m.attrs[name], dtype=str), list(values))
    if filters.exclude_ids:
        mask &= ~np.isin(np.asarray(m.product_ids, dtype=str), list(filters.exclude_ids))
    return mask


def group_values(m: CatalogMap, colour_by: str) -> list[str]:
    if colour_by == "cluster":
        return [m.labels.get(int(c), "Unclustered") for c in m.cluster]
    return list(m.attrs[colour_by])


def group_colour(colour_by: str, value: str, rank: int) -> str:
    if colour_by == "colour":
        return colour_hex(value)
    if value == "Unclustered":
        return "#9a9a9a"
    return PALETTE[rank % len(PALETTE)]


def build_figure(m: CatalogMap, colour_by: str = "cluster", filters: Filters | None = None,
                 highlight: list[str] | tuple = (), thumbnails: dict[str, bytes] | None = None):
    """One Scattergl trace per value (so the legend names them), greyed filtered-out points underneath."""
    import plotly.graph_objects as go

    if colour_by not in COLOUR_BY:
        raise ValueError(f"colour_by must be one of {COLOUR_BY}")
    fig = go.Figure()
    xy = m.xy.reshape(-1, 2)
    keep = filter_mask(m, filters)
    values = np.asarray(group_values(m, colour_by), dtype=object)
    custom = hover_data(m)
    hover = ("<b>%{customdata[1]}</b><br>%{customdata[2]} · %{customdata[3]} · %{customdata[4]} · "
             "%{customdata[5]}<br>#%{customdata[0]}<extra></extra>")
    if (~keep).any():
        fig.add_trace(go.Scattergl(x=xy[~keep, 0], y=xy[~keep, 1], mode="markers", name="filtered out",
                                   marker=dict(size=5, color=FILTERED_OUT), customdata=custom[~keep],
                                   hovertemplate=hover, legendrank=2000))
    counts: dict[str, int] = {}
    for v in values[keep]:
        counts[v] = counts.get(v, 0) + 1
    for rank, value in enumerate(sorted(counts, key=lambda v: (-counts[v], v))):
        sel = keep & (values == value)
        line = dict(width=0.6, color="#555555") if colour_by == "colour" else dict(width=0)
        fig.add_trace(go.Scattergl(x=xy[sel, 0], y=xy[sel, 1], mode="markers",
                                   name=plotly(f"{value} ({counts[value]})"),
                                   marker=dict(size=7, color=group_colour(colour_by, value, rank), line=line),
                                   customdata=custom[sel], hovertemplate=hover))
    if len(highlight):
        hl = np.isin(np.asarray(m.product_ids, dtype=object), list(highlight))
        fig.add_trace(go.Scattergl(x=xy[hl, 0], y=xy[hl, 1], mode="markers", name="current search",
                                   marker=dict(size=14, color="rgba(0,0,0,0)", line=dict(width=2.5, color="#d6336c")),
                                   customdata=custom[hl], hovertemplate=hover))
    sizes = {c: int((m.cluster == c).sum()) for c in m.labels}
    for c, (x, y) in sorted(m.centres().items(), key=lambda kv: -sizes[kv[0]])[:MAX_LABELS]:
        fig.add_annotation(x=x, y=y, text=plotly(m.labels[c]), showarrow=False, font=dict(size=12, color="#222"),
                           bgcolor="rgba(255,255,255,0.75)")
    if thumbnails:
        add_thumbnails(fig, m, thumbnails)
    fig.update_layout(height=650, margin=dict(l=0, r=0, t=10, b=0), dragmode="lasso", plot_bgcolor="white",
                      xaxis=dict(visible=False), yaxis=dict(visible=False), showlegend=len(counts) <= MAX_LEGEND,
                      legend=dict(itemsizing="constant"))
    return fig


def hover_data(m: CatalogMap) -> np.ndarray:
    """Per product: id, title, gender, type, colour, usage, escaped for Plotly (customdata[0] is the id)."""
    n = len(m.product_ids)
    columns = [m.product_ids, *[m.attrs.get(k, [""] * n) for k in ("title", "gender", "product_type", "colour",
                                                                    "usage")]]
    data = np.empty((n, len(columns)), dtype=object)
    for j, column in enumerate(columns):
        data[:, j] = [plotly(v) for v in column]
    return data


def add_thumbnails(fig, m: CatalogMap, thumbnails: dict[str, bytes]) -> None:
    """Draw product photos in place of dots (for at most a few hundred products)."""
    index = {p: i for i, p in enumerate(m.product_ids)}
    xy = m.xy.reshape(-1, 2)
    span = float(np.ptp(xy, axis=0).max()) if len(xy) > 1 else 1.0
    size = span / max(12.0, np.sqrt(len(thumbnails)) * 3)
    for pid, jpeg in list(thumbnails.items())[:MAX_THUMBNAILS]:
        if pid not in index or not jpeg:
            continue
        x, y = xy[index[pid]]
        fig.add_layout_image(source="data:image/jpeg;base64," + base64.b64encode(jpeg).decode(), x=float(x),
                             y=float(y), xref="x", yref="y", sizex=size, sizey=size, xanchor="center",
                             yanchor="middle", layer="above")


def selected_ids(event) -> list[str]:
    """Product ids from st.plotly_chart's selection event (points carry the escaped id as customdata[0])."""
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError):
        return []
    ids = []
    for point in points:
        data = point.get("customdata")
        if data:
            ids.append(unplotly(str(data[0])))  # the id as hover_data escaped it
    return list(dict.fromkeys(ids))

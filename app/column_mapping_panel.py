"""The column-mapping step: a chosen catalogue's detected format and role -> column plan, corrected before indexing.

A mapping of columns to roles, not the Explore page's map (app/map_panel.py). The panel shows what
core.ingest.column_mapping plans for the file (the indexer's own planner), lets the user pick another format or
another column for any role, and hands back the format and the corrections as the indexer's `format` and `columns`.
Only the corrections are passed: with the same header, format and columns the indexer plans exactly what the panel
showed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import streamlit as st

from core.common.errors import CatalogError
from core.common.fields import DESCRIPTION, IMAGE, PRODUCT_ID, ROLES, TITLE
from core.ingest.formats import FORMATS
from core.ingest.column_mapping import HEAD_BYTES, MappingPreview, preview_bytes, preview_mapping
from core.common.safe_text import md
from core.ingest.formats.shopify import AGGREGATED

NONE = "(none)"
PREFIX = "columns_"  # every key of this panel's state starts with it, so a new file starts from a clean slate (not
                    # "map_": the Explore map keeps its selection under that prefix)
GRID = 4         # role pickers per row
ORDER = (PRODUCT_ID, TITLE, IMAGE, DESCRIPTION, *(r for r in ROLES if r not in (PRODUCT_ID, TITLE, IMAGE, DESCRIPTION)))
ROLE_HELP = {PRODUCT_ID: "Required: one unique id per product.", TITLE: "A product needs a title or an image.",
             IMAGE: "A photo file name or path under the images folder, or an http(s) URL."}


@dataclass
class MappingChoice:
    """What the mapping step hands the indexer; ready is False when the file cannot be indexed as mapped."""

    format: str = "auto"
    columns: dict[str, str] = field(default_factory=dict)
    ready: bool = True
    preview: MappingPreview | None = None

    @property
    def photos_behind_urls(self) -> bool:
        """The first rows' photos are http(s) URLs: the indexer fetches them, no images folder is needed."""
        preview = self.preview
        if preview is None or IMAGE not in preview.mapping or not preview.rows:
            return False
        i = preview.header.index(preview.mapping[IMAGE])
        values = [row[i].strip().lower() for row in preview.rows if len(row) > i and row[i].strip()]
        return bool(values) and all(v.startswith(("http://", "https://")) for v in values)


def panel(uploaded, csv_path: str) -> MappingChoice | None:
    """The mapping step for the uploaded CSV, else the CSV path; None when neither is chosen."""
    source = f"upload:{uploaded.file_id}" if uploaded is not None else (f"path:{csv_path}" if csv_path else None)
    if st.session_state.get(f"{PREFIX}source") != source:
        for key in [k for k in st.session_state if str(k).startswith(PREFIX)]:
            del st.session_state[key]
        st.session_state[f"{PREFIX}source"] = source
    if source is None:
        return None
    corrections: dict[str, str | None] = st.session_state.setdefault(f"{PREFIX}corrections", {})
    box = st.container(border=True, key="mapping_step")
    name = uploaded.name if uploaded is not None else csv_path
    box.markdown(f"**Columns of {md(name)}**")
    chosen = st.session_state.get(f"{PREFIX}format", "auto")
    try:
        preview = _preview(uploaded, csv_path, chosen, columns_for(corrections))
        if preview.format == "shopify" and _aggregated(corrections):  # those pickers are locked for Shopify
            preview = _preview(uploaded, csv_path, chosen, columns_for(corrections, shopify=True))
    except CatalogError as exc:
        box.error(md(exc))
        return MappingChoice(chosen, {}, ready=False)
    picker, hint = box.columns([1, GRID - 1], vertical_alignment="bottom")
    picker.selectbox("Format", FORMATS, key=f"{PREFIX}format",
                     format_func=lambda f: f"auto (detected: {preview.detected})" if f == "auto" else f,
                     help="Detected from the header; pick one when the detection is wrong.")
    hint.caption("Pick the column that holds each kind of value: product\\_id is required, and a title or an "
                 "image. The table below shows the file's first rows under the roles they will fill.")
    _role_pickers(box, preview, corrections)
    for line in explained_lines(preview.explained):
        box.caption(md(line))
    box.caption(_columns_caption(preview))
    for note in _unmet(preview, corrections) + preview.notes:
        box.caption(md(note))
    if preview.problem:
        box.error(md(preview.problem))
    shown = len(preview.rows)
    box.caption(f"The first {shown} row{'' if shown == 1 else 's'} of the file" if shown else "The file has no rows "
                "after its header.")
    if shown:
        box.dataframe(preview_frame(preview), hide_index=True, width="stretch")
    return MappingChoice(chosen, columns_for(corrections, shopify=preview.format == "shopify"),
                         ready=preview.problem is None, preview=preview)


def columns_for(corrections: dict[str, str | None], shopify: bool = False) -> dict[str, str]:
    """The indexer's columns: the roles the user pointed at a column ('(none)' leaves a role to the format)."""
    return {role: header for role, header in corrections.items()
            if header and not (shopify and role in AGGREGATED)}


def correct(corrections: dict[str, str | None], role: str, header: str | None) -> None:
    """Record that role reads header (None: no column); a column plays one role, so it leaves any other."""
    if header is not None:
        for other in [r for r, h in corrections.items() if h == header and r != role]:
            del corrections[other]
    corrections[role] = header


def preview_frame(preview: MappingPreview) -> pd.DataFrame:
    """The first rows as text under the file's own headers, each with the role it fills ('Cost → price');
    headers made unique, a short or long row fitted."""
    role_of = {h: role for role, h in preview.mapping.items()}
    names, seen = [], {}
    for h in preview.header:
        seen[h] = seen.get(h, 0) + 1
        name = h if seen[h] == 1 else f"{h} ({seen[h]})"
        names.append(f"{name} → {role_of[h]}" if seen[h] == 1 and h in role_of else name)
    width = len(names)
    rows = [(list(r) + [""] * width)[:width] for r in preview.rows]
    return pd.DataFrame(rows, columns=names, dtype=str)


def _preview(uploaded, csv_path: str, fmt: str, columns: dict[str, str]) -> MappingPreview:
    if uploaded is None:
        return preview_mapping(csv_path, fmt, columns)
    uploaded.seek(0)
    try:
        raw = uploaded.read(HEAD_BYTES + 1)  # the head only: an upload may be tens of megabytes
    finally:
        uploaded.seek(0)
    return preview_bytes(raw, uploaded.name, fmt, columns)


def _aggregated(corrections: dict[str, str | None]) -> bool:
    return any(h and role in AGGREGATED for role, h in corrections.items())


def _role_pickers(box, preview: MappingPreview, corrections: dict[str, str | None]) -> None:
    """One picker per role, showing the plan (detected, then corrected); a change is recorded as a correction."""
    options = [NONE, *dict.fromkeys(preview.header)]
    locked = AGGREGATED if preview.format == "shopify" else {}
    grid = box.columns(GRID)
    for n, role in enumerate(ORDER):
        key = f"{PREFIX}role_{role}"
        st.session_state[key] = preview.mapping.get(role, NONE)  # set before the widget: what will be used
        help = (f"In a Shopify export {role} comes from {md(preview.explained.get(role) or locked[role])}."
                if role in locked else ROLE_HELP.get(role))  # a tooltip is Markdown: the file's headers are data
        grid[n % GRID].selectbox(role, options, key=key, disabled=role in locked, help=help,
                                 on_change=_changed, args=(role,))


def explained_lines(explained: dict[str, str]) -> list[str]:
    """'colour = Option2 Value: …' per role the format works out itself, worded as the indexing report words it
    (both come from core.ingest.formats.shopify.explain)."""
    return [f"{role} = {text}" for role, text in explained.items()]


def _changed(role: str) -> None:
    value = st.session_state[f"{PREFIX}role_{role}"]
    correct(st.session_state.setdefault(f"{PREFIX}corrections", {}), role, None if value == NONE else value)


def _columns_caption(preview: MappingPreview) -> str:
    """Where the columns without a role go, and the fallback photo column."""
    other = [f"{md(h)} (as {md(k)})" for h, k in preview.extras.items()]
    parts = [("Columns without a role are kept as fields of their own, filters, numbers or text by their values: "
              + ", ".join(other)) if other else "Every column has a role"]
    if preview.fallback_image:
        parts.append(f"the photo when the image column's cannot be used: {md(preview.fallback_image)}")
    return "; ".join(parts) + "."


def _unmet(preview: MappingPreview, corrections: dict[str, str | None]) -> list[str]:
    """A role set to '(none)' that the format fills again by a column's name, said plainly."""
    return [f"{role} is read from {preview.mapping[role]} by its name in this format; to keep {preview.mapping[role]} "
            f"out of {role}, pick {preview.mapping[role]} for another role."
            for role, header in corrections.items() if header is None and role in preview.mapping]

"""The Audit page's parts: the field picker, the audit (cached per index state), suspect cards with their photo and
swatches, the two decisions, the colour names not judged, the decisions made (each with its undo) and their CSV."""

from __future__ import annotations

from collections import Counter

import streamlit as st

from app import compare_tray, resources
from core.insights.audit import AUDIT_FIELDS, audit
from core.insights.audit_decisions import AuditDecisions, Decision, change_held, undo_in_store
from core.ingest.colours import UNKNOWN, colour_hex
from core.ingest.colour_stats import reference_lab
from core.common.config import Settings
from core.common.errors import LensError
from core.common.fields import COLOUR
from core.common.safe_text import md
from core.index.store import ProductStore
from core.insights.swatches import lab_to_hex, swatch_png

FIELD_NAMES = {"colour": "Colour", "category": "Category", "sub_category": "Sub-category"}
PAGE_SIZE = 20
MAX_LISTED = 2000  # suspects kept per audit: a merchandiser works from the top; a million-product list is not read
RECENT = 20       # decisions listed with their undo button, latest first
PHOTO_PX = 256


def _field_to_link() -> None:
    st.query_params["field"] = st.session_state.get("audit_field") or COLOUR


def pick_field() -> str:
    """The field to audit: the link's (/audit?field=category, as the Health page links a suspect label), else the
    last one chosen, else colour. The choice is written back to the link, so a reload keeps it."""
    linked = st.query_params.get("field")
    if linked in AUDIT_FIELDS and linked != st.session_state.get("audit_field"):
        st.session_state["audit_field"] = linked  # a link followed (a choice made here is in the link already)
    chosen = st.segmented_control("Label to check", AUDIT_FIELDS, format_func=FIELD_NAMES.get, key="audit_field",
                                  default=None if "audit_field" in st.session_state else COLOUR,
                                  on_change=_field_to_link)
    st.query_params["field"] = chosen or COLOUR
    return chosen or COLOUR


def decisions(config: Settings) -> AuditDecisions:
    return AuditDecisions(config.data_dir)


@st.cache_data(show_spinner="Comparing every product's label with its photo…", max_entries=6)
def _audit(_store: ProductStore, _embedder, _confirmed: frozenset, store_key: str, field: str, stamp: tuple,
           show_hidden: bool = False) -> dict:
    """The MAX_LISTED most suspect products of one field, as plain data; audited again only when the index
    changes (stamp), or after an undo (it clears this cache: the product may be a suspect again). Decisions made
    since are not part of the key: run() hides their products at once, so a click costs no new audit (a full scan
    of the store)."""
    result = audit(_store, _embedder, field, limit=MAX_LISTED, confirmed=_confirmed, show_hidden=show_hidden)
    return {"labels": result.labels, "checked": result.checked, "skipped": result.skipped,
            "unlabelled": result.unlabelled, "confirmed": result.confirmed, "suspected": result.suspected,
            "hidden": result.hidden, "unknown_count": result.unknown_count,
            "unknown": [dict(u.as_dict(), title=u.title) for u in result.unknown],
            "suspects": [dict(s.as_dict(), title=s.title, image_path=s.image_path) for s in result.suspects]}


def show_hidden() -> bool:
    """Whether drafts and archived products are audited too (off by default, as in every view)."""
    return st.toggle("Include drafts and archived", key="audit_show_hidden",
                     help="Draft and archived products are left out of the audit unless you ask for them")


def run(config: Settings, store: ProductStore, meta: dict, field: str, hidden_too: bool = False) -> dict | None:
    """The audit of `field` for this index (cached), with the products decided since filtered out."""
    stamp = (meta.get("last_indexed"), meta.get("indexing_since"), meta.get("model"))
    try:
        settled = decisions(config).confirmed()
        found = _audit(store, resources.embedder_for(config), frozenset(settled), resources.store_key(config), field,
                       stamp, hidden_too)
    except LensError as exc:
        st.error(md(exc))
        return None
    shown = [s for s in found["suspects"] if (s["product_id"], field, s["label"]) not in settled]
    return dict(found, suspects=shown, suspected=found["suspected"] - (len(found["suspects"]) - len(shown)))


def summary(found: dict, field: str) -> None:
    """How many products were checked, and how many look mislabelled."""
    name = FIELD_NAMES[field].lower()
    parts = [f"{found['checked']:,} products checked"]
    if found["skipped"]:
        parts.append(f"{found['skipped']:,} without a photo skipped")
    if found["unlabelled"]:
        parts.append(f"{found['unlabelled']:,} without a {name}")
    if found["confirmed"]:  # at the last audit; products decided since are hidden as well
        parts.append(f"{found['confirmed']:,} already confirmed")
    if found.get("hidden"):
        parts.append(f"{found['hidden']:,} drafts and archived left out")
    st.caption(" · ".join(parts))
    if len(found["labels"]) < 2:
        st.info(f"The catalogue has fewer than two {name} values, so there is nothing to compare.")
    elif not found["suspects"]:
        st.success(f"No product's {name} disagrees with its photo.")
    else:
        listed = "" if found["suspected"] <= len(found["suspects"]) else f" (the {len(found['suspects']):,} most " \
            "suspect are listed; decide on them, then run the audit again for the rest)"
        st.markdown(f"**{found['suspected']:,}** products whose {name} another label fits better, most suspect "
                    f"first{listed}.")


def _swatch(column, caption: str, colours: list[tuple[str, float]]) -> None:
    column.image(swatch_png(colours), caption=caption)


def _colour_evidence(suspect: dict) -> None:
    """The given label's swatch, the photo's dominant colours, the suggested label's swatch, and the numbers."""
    evidence = suspect["evidence"]
    given, detected, suggested = st.columns(3, gap="small")
    _swatch(given, f"Label: {md(suspect['label'])}" + ("" if reference_lab(suspect["label"]) else " (no reference)"),
            [(colour_hex(suspect["label"]), 1.0)])
    found = [(lab_to_hex(c[:3]), c[3]) for c in evidence.get("colours") or []]
    _swatch(detected, "In the photo", found or [(UNKNOWN, 1.0)])
    _swatch(suggested, f"Suggested: {md(suspect['suggested'])}", [(colour_hex(suspect["suggested"]), 1.0)])
    if evidence.get("pixel_margin") is not None:
        st.caption(f"Pixels: ΔE {evidence['given_de']:.0f} from {md(suspect['label'])}, {evidence['suggested_de']:.0f} "
                   f"from {md(suspect['suggested'])} · CLIP: {evidence['given_cos']:.3f} vs "
                   f"{evidence['suggested_cos']:.3f}")
    else:
        st.caption(f"No reference colour to compare the photo with: CLIP alone, {evidence['given_cos']:.3f} vs "
                   f"{evidence['suggested_cos']:.3f}")


def _decide_right(config: Settings, suspect: dict) -> None:
    try:
        decisions(config).judge_right(suspect["product_id"], suspect["field"], suspect["label"])
        st.toast(f"Kept {md(suspect['label'])} for {md('#' + suspect['product_id'])}: it will not be shown again")
    except LensError as exc:
        st.session_state["audit_error"] = str(exc)


def _decide_change(config: Settings, store: ProductStore, suspect: dict, key: str | None = None) -> None:
    """Only the value the card names is replaced (a list keeps the others); refused when the product no longer
    holds it. Saved first, then the stored label: if the store write fails, the next index run still applies it."""
    new = st.session_state.get(key) if key else suspect["suggested"]
    try:
        change_held(decisions(config), store, suspect["product_id"], suspect["field"], suspect["label"], new)
        st.toast(f"{md('#' + suspect['product_id'])} now reads {md(new)} instead of {md(suspect['label'])}: "
                 "filters and counts show it (undo below)")
    except LensError as exc:
        st.session_state["audit_error"] = str(exc)


def _undo(config: Settings, store: ProductStore, decision: Decision | None) -> None:
    """Take a decision back: forgotten at once, and a change's stored label restored; the next audit may list the
    product again, so the cached audit is dropped."""
    if decision is None:
        return
    try:
        taken = decisions(config).undo(decision.product_id, decision.field, decision.label)
        undo_in_store(store, taken)
        _audit.clear()
        st.toast(f"Undone: {md('#' + taken.product_id)} reads {md(taken.label)} again")
    except LensError as exc:
        st.session_state["audit_error"] = str(exc)


def _undo_last(config: Settings, store: ProductStore) -> None:
    try:
        _undo(config, store, decisions(config).last())
    except LensError as exc:
        st.session_state["audit_error"] = str(exc)


def card(config: Settings, store: ProductStore, suspect: dict, labels: list[str]) -> None:
    """One suspect: photo, title, the evidence, and the decisions."""
    pid = suspect["product_id"]
    with st.container(border=True, key=f"audit-card-{pid}"):
        photo, body, acts = st.columns([1, 3, 2], gap="medium")
        with photo:
            thumb = resources.photo_thumbnail(suspect["image_path"], config, PHOTO_PX)  # the photo judged
            if thumb:
                st.image(thumb, width="stretch")
            else:
                st.caption("No readable photo")
        with body:
            st.markdown(f"**{md(suspect['title']) or md('#' + pid)}**")
            st.caption(f"{md('#' + pid)} · {FIELD_NAMES[suspect['field']]}: {md(suspect['label'])} → "
                       f"{md(suspect['suggested'])} · margin {suspect['margin']:.3f}")
            if suspect["field"] == COLOUR:
                _colour_evidence(suspect)
            else:
                evidence = suspect["evidence"]
                st.caption(f"CLIP: {evidence['given_cos']:.3f} for {md(suspect['label'])}, "
                           f"{evidence['suggested_cos']:.3f} for {md(suspect['suggested'])}")
        with acts:
            st.button(f"Change to {md(suspect['suggested'])}", key=f"audit-change-{pid}", type="primary",
                      icon=":material/edit:", width="stretch", on_click=_decide_change, args=(config, store, suspect))
            st.button("Label is right", key=f"audit-right-{pid}", icon=":material/check:", width="stretch",
                      on_click=_decide_right, args=(config, suspect))
            with st.popover("Another label…", width="stretch"):
                others = [label for label in labels if label != suspect["label"]]
                st.selectbox("New label", others, key=f"audit-other-{pid}")  # options are plain text, not Markdown
                st.button("Change", key=f"audit-other-go-{pid}", on_click=_decide_change,
                          args=(config, store, suspect, f"audit-other-{pid}"))
            compare_tray.view_link(pid, width="stretch")


def suspect_list(config: Settings, store: ProductStore, found: dict, field: str) -> None:
    """The suspects a page at a time; "Show more" adds the next page."""
    shown_key = f"audit_shown_{field}"
    shown = st.session_state.get(shown_key, PAGE_SIZE)
    for suspect in found["suspects"][:shown]:
        card(config, store, suspect, found["labels"])
    if len(found["suspects"]) > shown:
        st.button(f"Show {min(PAGE_SIZE, len(found['suspects']) - shown)} more", key=f"audit-more-{field}",
                  on_click=lambda: st.session_state.update({shown_key: shown + PAGE_SIZE}))


def errors() -> None:
    """A decision that could not be saved (callbacks run before the page, so they leave the message here)."""
    message = st.session_state.pop("audit_error", None)
    if message:
        st.error(md(message))


def unknown_names(found: dict) -> None:
    """Colour values that name no colour we know: listed, never judged by CLIP alone."""
    if not found.get("unknown_count"):
        return
    with st.expander(f"{found['unknown_count']:,} colour value(s) with no known colour: not judged"):
        st.caption("These names have no reference colour, so the photo cannot be compared with them. Check them by "
                   "eye, or use a common colour name in the source.")
        st.dataframe([{"Product": u["product_id"], "Title": u["title"], "Colour": u["label"]}
                      for u in found["unknown"]], hide_index=True, key="audit-unknown")  # cells are plain text


def _decision_text(d: Decision) -> str:
    what = f"{d.label} → {d.new_label}" if d.new_label else f"{d.label} kept"
    return f"#{d.product_id} · {FIELD_NAMES.get(d.field, d.field)}: {what}"


def decided(config: Settings, store: ProductStore) -> None:
    """The decisions made, latest first, each with its undo, and "Undo last"."""
    try:
        made = sorted(decisions(config).all(), key=lambda d: d.decided_at, reverse=True)
    except LensError:
        return  # export() says what is wrong with the file
    if not made:
        return
    st.button(f"Undo last: {md(_decision_text(made[0]))}", key="audit-undo-last", icon=":material/undo:",
              on_click=_undo_last, args=(config, store),
              help="Take back the latest decision: a changed label reads as before at once")
    with st.expander(f"Decisions made ({len(made):,}): undo any of them", expanded=False):
        per_field = Counter((d.product_id, d.field) for d in made)
        for d in made[:RECENT]:
            text, act = st.columns([5, 1], vertical_alignment="center")
            text.text(_decision_text(d))  # st.text: the catalogue's values stay plain text
            # one decision per (product, field, catalogue value): a list-valued colour may hold several
            several = f"-{d.label}" if per_field[(d.product_id, d.field)] > 1 else ""
            act.button("Undo", key=f"audit-undo-{d.field}-{d.product_id}{several}", on_click=_undo,
                       args=(config, store, d))
        if len(made) > RECENT:
            st.caption(f"The latest {RECENT} are listed; undo older ones with python -m core audit undo ID "
                       "[--value V].")


def export(config: Settings) -> None:
    """Every decision as CSV, to fix the source system."""
    try:
        saved = decisions(config)
        made = saved.all()  # read once, for the count and the file
        data = saved.csv(made) if made else ""
    except LensError as exc:
        st.error(md(exc))
        return
    st.download_button(f"Export {len(made)} decision{'s' if len(made) != 1 else ''} (CSV)", data=data,
                       file_name="audit-decisions.csv", mime="text/csv", icon=":material/download:",
                       disabled=not made, key="audit-export",
                       help="Every change and confirmation, to fix the labels in the source system")


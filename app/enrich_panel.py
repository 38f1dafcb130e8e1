"""The Enrich page's parts: the run form, the last run's summary, the review queue a page at a time (accept, reject,
accept all at or above a confidence) and the accepted values, each with its undo. Every catalogue value and every
value a merchandiser typed is shown as text (md or st.text), never as Markdown."""

from __future__ import annotations

import math
from pathlib import Path

import streamlit as st

from app import compare_tray, resources
from core.common.config import Settings
from core.common.errors import LensError
from core.common.filters import Filters
from core.common.safe_text import md
from core.index.store import ProductStore
from core.insights.enrich import MIN_KNOWN, SOURCES, EnrichResult, Proposal, check_request, enrich
from core.insights.enrich_decisions import Accepted, EnrichmentDecisions

PAGE_SIZE = 20    # cards a page: 10,000 proposals stay as fast as 20
PHOTOS_SHOWN = 3  # thumbnails a card (the rest are counted)
PHOTO_PX = 200
RECENT = 20       # accepted values listed with their undo button, latest first
ATTRIBUTE_PARAM = "attribute"  # the URL keeps the attribute under review, so a reload shows its queue again
SOURCE_NAMES = {"photo": "Photos", "text": "Text", "both": "Photos and text"}
ERROR_KEY = "enrich_error"
LAST_KEY = "enrich_last"  # this session's latest decision: {"attribute", "products", "text"}


def decisions(config: Settings) -> EnrichmentDecisions:
    return EnrichmentDecisions(config.data_dir)


def errors() -> None:
    """A decision or run that failed (callbacks run before the page, so they leave their message here)."""
    message = st.session_state.pop(ERROR_KEY, None)
    if message:
        st.error(md(message))


def _failed(exc: LensError) -> None:
    st.session_state[ERROR_KEY] = str(exc)


# ---- the run ------------------------------------------------------------------------------------------------

def reviewed_attribute() -> str:
    """The attribute whose queue is shown: the last one run in this session, or the link's."""
    return st.session_state.get("enrich_shown") or st.query_params.get(ATTRIBUTE_PARAM, "")


def _show(attribute: str) -> None:
    st.session_state["enrich_shown"] = attribute
    st.query_params[ATTRIBUTE_PARAM] = attribute


def run_form(config: Settings, store: ProductStore, filters: Filters) -> None:
    """Attribute, values, source, overwrite; Run checks the request before the model loads, runs the zero-shot
    tagging on the stored vectors and saves its proposals (the queue below reads them back)."""
    st.session_state.setdefault("enrich_attribute", reviewed_attribute())
    with st.form("enrich-form", border=True):
        name, values = st.columns([1, 2])
        name.text_input("Attribute", key="enrich_attribute", placeholder="e.g. pattern",
                        help="The catalogue field to fill (a new one becomes a filter once a value is accepted)")
        values.text_input("Values (comma-separated)", key="enrich_values", placeholder="e.g. striped, checked, "
                          "floral, solid", help="Two values or more: each product gets the one its photos fit best, "
                          "or not applicable when none fits")
        source, overwrite = st.columns([2, 1], vertical_alignment="bottom")
        source.segmented_control("From", SOURCES, key="enrich_source", default="photo",
                                 format_func=SOURCE_NAMES.get)
        overwrite.toggle("Propose changes to existing values too", key="enrich_overwrite",
                         help="Off: only products with no value get a proposal")
        submitted = st.form_submit_button("Run", type="primary", icon=":material/auto_awesome:", key="enrich_run")
    if submitted:
        _run(config, store, filters)


def _run(config: Settings, store: ProductStore, filters: Filters) -> None:
    s = st.session_state
    try:
        attribute, values = check_request(s.get("enrich_attribute", ""), s.get("enrich_values", ""))
        encoder = resources.embedder_for(config)
        bar = st.progress(0.0, text="Comparing every product with each value…")
        result = enrich(store, encoder, attribute, values, source=s.get("enrich_source") or "photo",
                        overwrite=bool(s.get("enrich_overwrite")), filters=filters or None,
                        progress=lambda done, total: bar.progress(min(done / max(total, 1), 1.0),
                                                                  text=f"{done:,} of {total:,} products compared"))
        bar.empty()
        decisions(config).save(result)
        _queue.clear()  # a save within the file system's clock tick would leave the stamp as it was
    except LensError as exc:
        st.error(md(exc))
        return
    _show(attribute)
    s[f"enrich_page_{attribute}"] = 0


# ---- the summary ----------------------------------------------------------------------------------------------

def percent(share: float) -> str:
    return f"{100 * share:.0f}%"


def summary(result: EnrichResult) -> None:
    """The run's counts, and how far to trust it: the top guess's accuracy on products whose value is known."""
    s = result.summary
    attribute = md(result.attribute)
    st.subheader(f"{attribute}: {', '.join(md(v) for v in result.values)}", anchor=False)
    parts = [f"{s['products']:,} products looked at ({SOURCE_NAMES.get(result.source, md(result.source)).lower()})",
             f"{s['proposed']:,} proposals", f"{s['not_applicable']:,} not applicable",
             f"{s['known']:,} with a known value to check against"]
    skipped = result.details.get("skipped")
    if skipped:
        parts.append(f"{skipped:,} without a {SOURCE_NAMES.get(result.source, 'vector').lower()} vector skipped")
    if result.overwrite:
        parts.append("existing values may be changed")
    st.caption(" · ".join(parts))
    if s["known"] and s.get("accuracy_on_known") is not None:
        st.markdown(f"On the **{s['known']:,}** products whose {attribute} is already known, the top guess was right "
                    f"**{percent(s['accuracy_on_known'])}** of the time.")
    else:
        st.markdown(f"No product has a known {attribute} among these values, so there is nothing to check the "
                    "guesses against: review them by eye.")
    if result.details.get("confidence") == "margin":
        st.caption(f"Confidence is the margin between the top two values' scores: fewer than {MIN_KNOWN} products "
                   "have a known value to calibrate it on, so treat it as a ranking more than a probability.")
    else:
        st.caption("Confidence is calibrated on the products whose value is known: the share of them the top guess "
                   "was right for, at that margin between the top two values or more.")
    if s["not_applicable"]:
        st.caption(f"Not applicable: no value fitted a product well enough ({s['not_applicable']:,}); they get no "
                   "proposal.")


def confidence_text(result: EnrichResult, confidence: float) -> str:
    """What a confidence means, in the words of the calibration on known products."""
    share, known = result.precision_at(confidence)
    if share is None or not known:
        return f"confidence {confidence:.2f} (no known product has this confidence or more to check it against)"
    return (f"confidence {confidence:.2f}: of known products with this confidence or more, {percent(share)} were "
            f"right ({round(share * known):,} of {known:,})")


# ---- the queue ------------------------------------------------------------------------------------------------

def _remember(attribute: str, products: list[str], text: str) -> None:
    """This session's latest decision, for "Undo last" (a bulk accept is one decision)."""
    if products:
        st.session_state[LAST_KEY] = {"attribute": attribute, "products": products, "text": text}


def _accept(config: Settings, store: ProductStore, proposal: Proposal, key: str | None = None) -> None:
    value = st.session_state.get(key) if key else None
    try:
        done = decisions(config).accept(store, proposal.attribute, proposal.product_id, value)
    except LensError as exc:
        _failed(exc)
        return
    _remember(done.attribute, [done.product_id], f"#{done.product_id} · {done.attribute}: {done.value} accepted")
    st.toast(f"{md('#' + done.product_id)} now has {md(done.attribute)} {md(done.value)} (undo above)")


def _reject(config: Settings, proposal: Proposal) -> None:
    try:
        decisions(config).reject(proposal.attribute, proposal.product_id)
    except LensError as exc:
        _failed(exc)
        return
    _remember(proposal.attribute, [proposal.product_id],
              f"#{proposal.product_id} · {proposal.attribute}: {proposal.proposed} rejected")


def _accept_above(config: Settings, store: ProductStore, attribute: str) -> None:
    chosen = st.session_state["enrich_min_confidence"]
    try:
        done = decisions(config).accept_above(store, attribute, chosen)
    except LensError as exc:
        _failed(exc)
        return
    _remember(attribute, [a.product_id for a in done], f"{len(done):,} {attribute} values accepted at confidence "
                                                       f"{chosen:.2f} or above")
    st.toast(f"Accepted {len(done):,} proposals (undo above)")


def _undo(config: Settings, store: ProductStore, attribute: str, product_id: str) -> None:
    """Forget a decision; an accepted value's product has its value as before at once."""
    try:
        decisions(config).undo(store, attribute, product_id)
    except LensError as exc:
        _failed(exc)
        return
    last = st.session_state.get(LAST_KEY)
    if last and last["attribute"] == attribute and product_id in last["products"]:
        last["products"].remove(product_id)  # undone one by one: "Undo last" no longer offers it
        if not last["products"]:
            st.session_state.pop(LAST_KEY)
    st.toast(f"Undone: {md('#' + product_id)}'s {md(attribute)} is as before")


def _undo_last(config: Settings, store: ProductStore, last: dict) -> None:
    """Undo every product of the latest decision (all of a bulk accept) in one write; when it fails, nothing is
    undone and "Undo last" is still offered."""
    try:
        decisions(config).undo_many(store, last["attribute"], list(last["products"]))
    except LensError as exc:
        _failed(exc)
        return
    st.session_state.pop(LAST_KEY, None)


def photos(config: Settings, proposal: Proposal) -> None:
    refs = list(dict.fromkeys(proposal.photos or ([proposal.image_path] if proposal.image_path else [])))
    shown = [t for t in (resources.photo_thumbnail(r, config, PHOTO_PX) for r in refs[:PHOTOS_SHOWN]) if t]
    if not shown:
        st.caption("No readable photo")
        return
    for column, thumb in zip(st.columns(len(shown), gap="small"), shown):
        column.image(thumb, width="stretch")
    if len(refs) > PHOTOS_SHOWN:
        st.caption(f"and {len(refs) - PHOTOS_SHOWN} more photo(s)")


def evidence_text(proposal: Proposal) -> str:
    scores = proposal.evidence.get("scores") or {}
    top = sorted(scores.items(), key=lambda kv: -kv[1])[:3]
    return " · ".join(f"{md(value)} {score:.2f}" for value, score in top)


def card(config: Settings, store: ProductStore, result: EnrichResult, proposal: Proposal) -> None:
    """One proposal: its photos, title, the current and proposed value, what its confidence means, the decisions."""
    pid = proposal.product_id
    with st.container(border=True, key=f"enrich-card-{pid}"):
        left, body, acts = st.columns([2, 6, 3], gap="medium")
        with left:
            photos(config, proposal)
        with body:
            st.markdown(f"**{md(proposal.title) or md('#' + pid)}**")
            current = md(proposal.current) if proposal.current else "empty"
            st.markdown(f"{md(proposal.attribute)}: {current} → **{md(proposal.proposed)}**")
            st.caption(f"{md('#' + pid)} · {confidence_text(result, proposal.confidence)}")
            scores = evidence_text(proposal)
            if scores:
                st.caption(f"Scores: {scores}")
        with acts:
            st.button(f"Accept {md(proposal.proposed)}", key=f"enrich-accept-{pid}", type="primary",
                      icon=":material/check:", width="stretch", on_click=_accept, args=(config, store, proposal))
            st.button("Reject", key=f"enrich-reject-{pid}", icon=":material/close:", width="stretch",
                      on_click=_reject, args=(config, proposal))
            others = [v for v in result.values if v != proposal.proposed]
            if others:
                with st.popover("Another value…", width="stretch"):
                    st.selectbox("Value", others, key=f"enrich-other-{pid}")  # options are plain text
                    st.button("Accept", key=f"enrich-other-go-{pid}", on_click=_accept,
                              args=(config, store, proposal, f"enrich-other-{pid}"))
            compare_tray.view_link(pid, width="stretch")


def accept_above(config: Settings, store: ProductStore, pending: list[Proposal], attribute: str) -> None:
    """"Accept all at or above confidence X", with the count it accepts before the button."""
    slider, button = st.columns([3, 2], vertical_alignment="bottom")
    chosen = slider.slider("Accept all at or above confidence", 0.0, 1.0, value=0.9, step=0.01,
                           key="enrich_min_confidence")
    count = sum(1 for p in pending if p.confidence >= chosen)
    button.button(f"Accept {count:,} proposal{'s' if count != 1 else ''}", key="enrich-bulk-accept",
                  icon=":material/done_all:", disabled=not count, width="stretch", on_click=_accept_above,
                  args=(config, store, attribute))
    st.caption(f"At {chosen:.2f} or above: accepts {count:,} of the {len(pending):,} pending proposals.")


def _turn(key: str, page: int) -> None:
    st.session_state[key] = page


def queue(config: Settings, store: ProductStore, result: EnrichResult, pending: list[Proposal]) -> None:
    """The pending proposals, most confident first, PAGE_SIZE a page."""
    if not pending:
        st.success("No proposal is waiting for a decision.")
        return
    st.markdown(f"**{len(pending):,}** proposals waiting, most confident first.")
    key = f"enrich_page_{result.attribute}"
    pages = math.ceil(len(pending) / PAGE_SIZE)
    page = min(st.session_state.get(key, 0), pages - 1)
    for proposal in pending[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]:
        card(config, store, result, proposal)
    if pages > 1:
        back, where, forward = st.columns([1, 2, 1], vertical_alignment="center")
        back.button("Previous", key="enrich-prev", icon=":material/chevron_left:", disabled=page == 0,
                    on_click=_turn, args=(key, page - 1))
        where.caption(f"Page {page + 1} of {pages}")
        forward.button("Next", key="enrich-next", icon=":material/chevron_right:", disabled=page >= pages - 1,
                       on_click=_turn, args=(key, page + 1))


# ---- what was accepted ----------------------------------------------------------------------------------------

def accepted_text(a: Accepted) -> str:
    return f"#{a.product_id} · {a.attribute}: {a.previous or 'empty'} → {a.value} · confidence {a.confidence:.2f}"


def latest(made: list[Accepted]) -> dict | None:
    """What "Undo last" takes back: this session's latest decision (an accept, a reject or a bulk accept), else
    the latest accepted value on record (a reload, another session)."""
    last = st.session_state.get(LAST_KEY)
    if last:
        return last
    if made:
        return {"attribute": made[0].attribute, "products": [made[0].product_id], "text": accepted_text(made[0])}
    return None


def decided(config: Settings, store: ProductStore) -> None:
    """"Undo last", and every accepted value still standing, latest first, each with its undo."""
    try:
        made = sorted(decisions(config).accepted(), key=lambda a: a.decided_at, reverse=True)
    except LensError as exc:
        st.error(md(exc))
        return
    last = latest(made)
    if last:
        st.button(f"Undo last: {md(last['text'])}", key="enrich-undo-last", icon=":material/undo:",
                  on_click=_undo_last, args=(config, store, last),
                  help="Take back the latest decision: an accepted value is as before at once, a rejected "
                       "proposal is back in the queue")
    if not made:
        return
    with st.expander(f"Accepted ({len(made):,}): undo any of them"):
        for a in made[:RECENT]:
            text, act = st.columns([5, 1], vertical_alignment="center")
            text.text(accepted_text(a))  # st.text: the catalogue's values stay plain text
            act.button("Undo", key=f"enrich-undo-{a.attribute}-{a.product_id}", on_click=_undo,
                       args=(config, store, a.attribute, a.product_id))
        if len(made) > RECENT:
            st.caption(f"The latest {RECENT} are listed; undo older ones with python -m core enrich undo "
                       "--attribute NAME --product ID.")


def _stamp(saved: EnrichmentDecisions) -> tuple:
    """Changes whenever a run or a decision is saved: each is a file renamed into the folder (a new inode, the
    folder's mtime moves), by this session or any other."""
    stamps = []
    for path in (saved.folder, saved.path):
        try:
            st_ = path.stat()
            stamps.append((st_.st_ino, st_.st_mtime_ns, st_.st_size))
        except OSError:
            stamps.append(None)
    return tuple(stamps)


@st.cache_resource(show_spinner=False, max_entries=8)
def _queue(data_dir: str, attribute: str, stamp: tuple) -> tuple[EnrichResult | None, list[Proposal]]:
    """The attribute's saved run and its pending proposals, read once per change of the files (stamp): 10,000
    proposals are 3.5 MB of JSON, read twice a click otherwise. Shared read-only by every session."""
    saved = EnrichmentDecisions(Path(data_dir))
    result = saved.load(attribute)
    return result, (saved.pending(attribute) if result is not None else [])


def _picked() -> None:
    if st.session_state.get("enrich_pick"):
        _show(st.session_state["enrich_pick"])


def pick_saved(config: Settings) -> str:
    """The attribute under review: this session's or the link's, else the first with a saved run (a merchandiser
    coming back without the link); a picker when several attributes have a saved run."""
    try:
        saved = decisions(config).attributes()
    except LensError:
        saved = []
    current = reviewed_attribute() or (saved[0] if saved else "")
    options = sorted({*saved, current} - {""})
    if len(options) > 1:
        st.session_state["enrich_pick"] = current  # set before the widget: it follows a new run or the link
        st.segmented_control("Review queue of", options, key="enrich_pick", on_change=_picked,
                             format_func=md)  # labels are Markdown: a link's attribute is data
    return current


def review(config: Settings, store: ProductStore, attribute: str) -> None:
    """The saved run of `attribute` (a reload shows it again): its summary, the bulk accept and the queue."""
    if not attribute:
        return
    try:
        result, pending = _queue(str(config.data_dir), attribute, _stamp(decisions(config)))
    except LensError as exc:
        st.error(md(exc))
        return
    if result is None:
        st.info(f"No enrichment of {md(attribute)} has been run yet: fill in the form and press Run.")
        return
    summary(result)
    if pending:
        accept_above(config, store, pending, attribute)
    queue(config, store, result, pending)

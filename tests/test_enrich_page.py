"""The Enrich page with AppTest: a run's queue is exactly the saved pending proposals in their order, a reload shows
it again, accept writes the stored payload at once, reject and the bulk accept (its preview count) leave the queue,
undo puts the value back, a stale accept is refused with nothing changed, bad requests are messages, and hostile
values and titles stay text. The tiny random model gives no meaningful tagging: no quality is asserted."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from core.insights.enrich_decisions import EnrichmentDecisions
from tests.helpers.apptest import shown, start, url
from tests.helpers.enrich_catalog import ATTRIBUTE, VALUES, index_patterns

PAGE = "pages/enrich.py"


@pytest.fixture
def patterns(app_settings, tmp_path):
    index_patterns(app_settings, tmp_path / "patterns")
    return app_settings


def _cards(at: AppTest) -> list[str]:
    prefix = "enrich-accept-"
    return [b.key[len(prefix):] for b in at.button if b.key and b.key.startswith(prefix)]


def _pending(settings) -> list[str]:
    return [p.product_id for p in EnrichmentDecisions(settings.data_dir).pending(ATTRIBUTE)]


def _run(at: AppTest, attribute: str = ATTRIBUTE, values: str = ", ".join(VALUES), overwrite=False) -> AppTest:
    at.text_input(key="enrich_attribute").input(attribute)
    at.text_input(key="enrich_values").input(values)
    if overwrite:
        at.toggle(key="enrich_overwrite").set_value(True)
    at.button(key="enrich_run").click().run()
    assert not at.exception, at.exception
    return at


def _stored(settings, product_id: str, attribute: str = ATTRIBUTE):
    """The value as the page's own store holds it (the page holds the index's lock)."""
    from app import resources
    from core.index.store import point_id

    return resources.store(settings).retrieve([point_id(product_id)])[0].payload.get(attribute)


def _ran(settings) -> list[str]:
    at = _run(start(PAGE))
    pending = _pending(settings)
    assert len(pending) >= 3, "the tiny model should leave a few proposals to review"
    return at, pending


def test_the_queue_is_the_pending_proposals_most_confident_first_and_survives_a_reload(patterns):
    at, pending = _ran(patterns)
    result = EnrichmentDecisions(patterns.data_dir).load(ATTRIBUTE)
    assert _cards(at) == pending[:20]
    confidences = [p.confidence for p in result.proposals]
    assert confidences == sorted(confidences, reverse=True)
    s = result.summary
    caption = " ".join(c.value for c in at.caption)
    assert f"{s['products']:,} products looked at" in caption and f"{s['proposed']:,} proposals" in caption
    assert f"{s['not_applicable']:,} not applicable" in caption
    margin_note = "treat it as a ranking more than a probability" in caption  # details["confidence"] read
    assert margin_note == (result.details["confidence"] == "margin")
    assert url(at, "attribute") == [ATTRIBUTE]

    again = start(PAGE)  # a reload: a new session; the saved run is shown again
    assert _cards(again) == pending[:20]
    again.query_params["attribute"] = ATTRIBUTE  # the link names it too
    again.run()
    assert not again.exception and _cards(again) == pending[:20]


def test_accept_writes_the_value_and_undo_puts_it_back(patterns):
    at, pending = _ran(patterns)
    first = EnrichmentDecisions(patterns.data_dir).pending(ATTRIBUTE)[0]
    assert _stored(patterns, first.product_id) in (None, "", [])
    at.button(key=f"enrich-accept-{first.product_id}").click().run()
    assert not at.exception and not at.error
    assert _stored(patterns, first.product_id) == first.proposed
    assert _cards(at) == pending[1:21]
    assert [t.value for t in at.text] == [f"#{first.product_id} · {ATTRIBUTE}: empty → {first.proposed} · "
                                          f"confidence {first.confidence:.2f}"]

    at.button(key="enrich-undo-last").click().run()
    assert not at.exception
    assert _stored(patterns, first.product_id) in (None, "", [])
    assert _cards(at) == pending[:20]
    assert [b.key for b in at.button if b.key and b.key.startswith("enrich-undo")] == []


def test_reject_leaves_the_queue_and_the_payload_alone(patterns):
    at, pending = _ran(patterns)
    at.button(key=f"enrich-reject-{pending[1]}").click().run()
    assert not at.exception
    assert _pending(patterns) == [pending[0], *pending[2:]]
    assert _cards(at) == [pending[0], *pending[2:21]]
    assert _stored(patterns, pending[1]) in (None, "", [])
    proposed = EnrichmentDecisions(patterns.data_dir).load(ATTRIBUTE).proposals
    rejected = next(p for p in proposed if p.product_id == pending[1])
    assert shown(at.button(key="enrich-undo-last").label) == (f"Undo last: #{pending[1]} · {ATTRIBUTE}: "
                                                              f"{rejected.proposed} rejected")
    at.button(key="enrich-undo-last").click().run()  # the rejection taken back: in the queue again
    assert not at.exception and _pending(patterns) == pending and _cards(at) == pending[:20]


def test_accept_all_above_previews_its_count_and_accepts_exactly_those(patterns):
    at, pending = _ran(patterns)
    proposals = EnrichmentDecisions(patterns.data_dir).pending(ATTRIBUTE)
    # a slider value between two proposals' confidences, so the count is neither none nor all
    levels = sorted({round(p.confidence, 2) for p in proposals})
    chosen = levels[len(levels) // 2] if len(levels) > 1 else levels[0]
    above = [p for p in proposals if p.confidence >= chosen]
    at.slider(key="enrich_min_confidence").set_value(chosen).run()
    expected = f"Accept {len(above):,} proposal{'s' if len(above) != 1 else ''}"
    assert at.button(key="enrich-bulk-accept").label == expected
    assert any(f"accepts {len(above):,} of the {len(proposals):,} pending" in c.value for c in at.caption)

    at.button(key="enrich-bulk-accept").click().run()
    assert not at.exception and not at.error
    left = [p.product_id for p in proposals if p.confidence < chosen]
    assert _pending(patterns) == left and _cards(at) == left[:20]
    assert {p.product_id: _stored(patterns, p.product_id) for p in above} == {p.product_id: p.proposed for p in above}
    at.button(key="enrich-undo-last").click().run()  # the bulk accept is one decision: undone as one
    assert not at.exception and _pending(patterns) == pending
    assert [_stored(patterns, p.product_id) for p in above] == [None] * len(above)


def test_a_failed_undo_last_undoes_nothing_and_is_still_offered(patterns):
    at, pending = _ran(patterns)
    at.slider(key="enrich_min_confidence").set_value(0.0).run()
    at.button(key="enrich-bulk-accept").click().run()
    assert _pending(patterns) == []
    saved = EnrichmentDecisions(patterns.data_dir).path
    good = saved.read_text()
    saved.write_text("[1]")  # damaged meanwhile: the undo is refused, with what to do
    at.button(key="enrich-undo-last").click().run()
    assert not at.exception, at.exception
    assert any("json cannot be read (decision 1 is not a record)" in shown(e.value) for e in at.error)
    saved.write_text(good)
    at.run()
    assert "values accepted at confidence" in shown(at.button(key="enrich-undo-last").label)  # the bulk one still
    at.button(key="enrich-undo-last").click().run()
    assert not at.exception and _pending(patterns) == pending
    assert [b.key for b in at.button if b.key == "enrich-undo-last"] == []


def test_a_stale_accept_is_refused_and_changes_nothing(patterns):
    from app import resources
    from core.common import fields as F
    from core.index.store import point_id

    at, pending = _ran(patterns)
    target = pending[0]
    # re-indexed meanwhile with a value of its own in the source
    resources.store(patterns).set_payload({point_id(target): {ATTRIBUTE: "Paisley", F.PAYLOAD_HASH: ""}})
    at.button(key=f"enrich-accept-{target}").click().run()
    assert not at.exception
    assert len(at.error) == 1 and "different" in at.error[0].value
    assert _stored(patterns, target) == "Paisley"
    assert EnrichmentDecisions(patterns.data_dir).accepted() == []
    assert _pending(patterns) == pending


@pytest.mark.parametrize("attribute, values", [
    ("title", "striped, solid"),          # a reserved field
    (ATTRIBUTE, "striped"),               # one value
    (ATTRIBUTE, "striped, striped"),      # one distinct value
])
def test_bad_requests_are_messages_and_save_nothing(patterns, attribute, values):
    at = _run(start(PAGE), attribute, values)
    assert len(at.error) == 1
    assert _cards(at) == []
    assert EnrichmentDecisions(patterns.data_dir).load(attribute) is None


HOSTILE_VALUE = "<img src=x onerror=alert(1)>"
FORMULA = '=HYPERLINK("http://evil.example","x")'


def test_hostile_values_and_titles_are_shown_as_text(app_settings, tmp_path):
    index_patterns(app_settings, tmp_path / "patterns", title=f"{HOSTILE_VALUE} [x](javascript:alert(1))")
    at = _run(start(PAGE), values=f"{HOSTILE_VALUE}, {FORMULA}")
    proposals = EnrichmentDecisions(app_settings.data_dir).pending(ATTRIBUTE)
    assert proposals
    markdown = [m.value for m in at.markdown]
    # every rendered Markdown source escapes the values: no raw tag, no link, no formula start left as markup
    assert not any(re.search(r"(?<!\\)<", m) or "](" in m for m in markdown)
    titles = [shown(m) for m in markdown if m.startswith("**") and "[x]" in shown(m)]
    assert titles and all(t == f"**{HOSTILE_VALUE} [x](javascript:alert(1))**" for t in titles)
    first = proposals[0]
    assert f"Accept {first.proposed}" == shown(at.button(key=f"enrich-accept-{first.product_id}").label)
    at.button(key=f"enrich-accept-{first.product_id}").click().run()
    assert [t.value for t in at.text][0].endswith(f"empty → {first.proposed} · confidence {first.confidence:.2f}")


def test_the_queue_is_paged(patterns, monkeypatch):
    monkeypatch.setattr("app.enrich_panel.PAGE_SIZE", 2)
    at, pending = _ran(patterns)
    assert _cards(at) == pending[:2] and at.button(key="enrich-prev").disabled
    at.button(key="enrich-next").click().run()
    assert _cards(at) == pending[2:4]
    assert f"Page 2 of {(len(pending) + 1) // 2}" in [c.value for c in at.caption]
    at.button(key=f"enrich-reject-{pending[2]}").click().run()  # a decision keeps the page
    assert _cards(at) == pending[3:5]


def test_each_attribute_keeps_its_own_queue(patterns):
    at, pending = _ran(patterns)
    at = _run(at, "neckline", "round, v neck, collar")
    necklines = [p.product_id for p in EnrichmentDecisions(patterns.data_dir).pending("neckline")]
    assert _cards(at) == necklines[:20] and url(at, "attribute") == ["neckline"]
    at.button_group(key="enrich_pick").set_value(ATTRIBUTE).run()
    assert not at.exception and _cards(at) == pending[:20] and url(at, "attribute") == [ATTRIBUTE]

    fresh = start(PAGE)  # no link: the first attribute with a saved run
    assert fresh.button_group(key="enrich_pick").value == "neckline" and _cards(fresh) == necklines[:20]


def test_a_hostile_attribute_in_the_link_is_a_message_as_text(patterns):
    at = start(PAGE)
    at.query_params["attribute"] = HOSTILE_VALUE
    at.run()
    assert not at.exception
    assert len(at.error) == 1 and HOSTILE_VALUE in shown(at.error[0].value)
    assert not re.search(r"(?<!\\)<", at.error[0].value)
    assert _cards(at) == []


def test_filters_that_leave_no_product_are_a_message(patterns):
    at = start(PAGE, pattern="striped", colour="Red")  # striped: e1, e9, e17; none of them is red
    assert "Only the products the sidebar's filters leave are looked at." in [c.value for c in at.caption]
    _run(at)
    assert [shown(e.value) for e in at.error] == ["no product matches the filters: loosen them to enrich some products"]
    assert EnrichmentDecisions(patterns.data_dir).load(ATTRIBUTE) is None


def test_without_an_index_the_page_shows_the_first_run_notice(app_settings):
    at = start(PAGE)
    assert not at.exception and not at.error
    assert _cards(at) == [] and not [t for t in at.text_input if t.key == "enrich_attribute"]

"""The Audit page with AppTest: a decision hides its product without a new audit, a change from a stale card is
refused (it would undo another session's change), a broken decisions file is a message, not a traceback, and every
decision can be undone (per decision and "Undo last"), the stored label restored at once."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

import core.insights.audit
from core.insights.audit_decisions import AuditDecisions
from tests.helpers.apptest import start
from tests.helpers.audit_catalog import index_planted


@pytest.fixture
def planted(app_settings, tmp_path):
    index_planted(app_settings, tmp_path / "planted")
    return app_settings


def _cards(at: AppTest) -> list[str]:
    return [b.key[len("audit-change-"):] for b in at.button if b.key and b.key.startswith("audit-change-")]


def test_decisions_hide_their_products_without_auditing_again(planted, monkeypatch):
    calls = []
    real = core.insights.audit.audit
    monkeypatch.setattr("app.audit_panel.audit", lambda *a, **k: calls.append(1) or real(*a, **k))
    at = start("pages/audit.py")
    assert _cards(at) == ["p-red", "p-navy"]
    at.button(key="audit-right-p-navy").click().run()
    assert _cards(at) == ["p-red"]
    at.button(key="audit-change-p-red").click().run()
    assert not at.exception and _cards(at) == []
    assert len(calls) == 1
    assert AuditDecisions(planted.data_dir).overrides() == {"p-red": {"colour": {"Blue": "Red"}}}


def test_a_stale_card_cannot_undo_a_change(planted):
    at = start("pages/audit.py")
    AuditDecisions(planted.data_dir).change("p-red", "colour", "Blue", "Red")  # another session, meanwhile
    at.button(key="audit-right-p-red").click().run()  # this session still shows the old card
    assert not at.exception
    assert any("already changed" in e.value for e in at.error)
    assert AuditDecisions(planted.data_dir).overrides() == {"p-red": {"colour": {"Blue": "Red"}}}


def test_a_broken_decisions_file_is_a_message(planted):
    path = planted.data_dir / "audit" / "decisions.json"
    path.parent.mkdir(parents=True)
    path.write_text("[{broken")
    at = start("pages/audit.py")
    assert not at.exception
    assert any("cannot be read" in e.value for e in at.error)
    assert path.read_text() == "[{broken"



def _stored_colour(settings, product_id: str):
    """The label as the page's own store holds it (the page holds the index's lock)."""
    from app import resources
    from core.index.store import point_id

    return resources.store(settings).retrieve([point_id(product_id)])[0].payload["colour"]


def _undo_keys(at: AppTest) -> list[str]:
    return [b.key for b in at.button if b.key and b.key.startswith("audit-undo-")]


def test_a_change_is_undone_from_the_page_at_once(planted):
    at = start("pages/audit.py")
    assert _undo_keys(at) == []  # nothing decided yet: no undo to offer
    at.button(key="audit-change-p-red").click().run()
    assert not at.exception and _cards(at) == ["p-navy"]
    at.button(key="audit-right-p-navy").click().run()
    assert _undo_keys(at) == ["audit-undo-last", "audit-undo-colour-p-navy", "audit-undo-colour-p-red"]
    assert [t.value for t in at.text] == ["#p-navy · Colour: Black kept", "#p-red · Colour: Blue → Red"]
    assert at.button(key="audit-undo-last").label == r"Undo last: \#p\-navy · Colour\: Black kept"  # escaped

    at.button(key="audit-undo-colour-p-red").click().run()
    assert not at.exception
    assert AuditDecisions(planted.data_dir).overrides() == {}
    assert _stored_colour(planted, "p-red") == ["Blue"]  # the stored label is the catalogue's again, at once
    assert _cards(at) == ["p-red"]  # audited again: the product is a suspect once more
    assert any("red · Colour: Blue → Red · margin" in c.value for c in at.caption)
    assert _undo_keys(at) == ["audit-undo-last", "audit-undo-colour-p-navy"]

    at.button(key="audit-undo-last").click().run()
    assert not at.exception and AuditDecisions(planted.data_dir).all() == []
    assert _cards(at) == ["p-red", "p-navy"] and _undo_keys(at) == []


@pytest.fixture
def odd_labels(app_settings, tmp_path):
    """The planted catalogue plus an Ultraviolet product and a draft with a wrong label, indexed through the CLI."""
    from core.cli import main
    from core.ingest.sample import HEADER
    from tests.conftest import write_csv
    from tests.helpers.audit_catalog import ROWS, swatch_photo

    folder = tmp_path / "odd"
    rows = []
    for product_id, drawn, label, status in [*[(*r, "active") for r in ROWS], ("uv", "Purple", "Ultraviolet", "active"),
                                             ("draft-red", "Red", "Green", "draft")]:
        swatch_photo(folder / "images" / f"{product_id}.png", drawn)
        rows.append([product_id, "Women", "Apparel", "Topwear", "Tshirts", label, "Casual", f"Tee {product_id}",
                     f"{product_id}.png", "", status])
    catalog = write_csv(folder / "catalog.csv", [*HEADER, "Status"], rows)
    assert main(["index", "--catalog", str(catalog), "--images", str(folder / "images")]) == 0
    return app_settings


def test_unknown_colour_names_are_listed_apart_and_drafts_only_when_asked(odd_labels):
    at = start("pages/audit.py")
    assert _cards(at) == ["p-red", "p-navy"]  # not the draft, and Ultraviolet is not judged
    [table] = at.dataframe
    assert table.value.to_dict("records") == [{"Product": "uv", "Title": "Tee uv", "Colour": "Ultraviolet"}]
    assert any(e.label.startswith("1 colour value(s) with no known colour") for e in at.expander)
    assert any("1 drafts and archived left out" in c.value for c in at.caption)
    at.toggle(key="audit_show_hidden").set_value(True).run()
    assert not at.exception
    assert "draft-red" in _cards(at)
    assert not any("left out" in c.value for c in at.caption)

"""The Explore overlay's verdicts are the Gaps page's (issue 19, item 14): a bag of theirs whose nearest product of
ours overall is a beanie (0.996) but whose nearest bag is far is a gap "within the same product type", on the map
as in find_gaps and `core gaps --same product_type`. Hand-made vectors, so every similarity is known."""

from __future__ import annotations

import json

import pytest

from core.insights.gaps import find_gaps
from core.map.overlay import overlay_verdicts
from core.common.safe_text import md
from tests.helpers.overlay_points import NAME, fill

# id, title, product type, photo vector
def verdicts(rows: dict) -> dict[str, tuple]:
    return {p: (r.our_id, None if r.similarity is None else round(r.similarity, 4), r.verdict) for p, r in rows.items()}


@pytest.fixture
def pair(settings):
    ours, theirs = fill(settings)
    yield ours, theirs
    theirs.close()
    ours.close()


def test_within_the_same_product_type_the_overlay_calls_the_bag_a_gap_as_find_gaps_does(pair):
    ours, theirs = pair
    within = overlay_verdicts(ours, theirs, 0.8, "product_type")
    assert verdicts(within) == {"t-bag": ("o-bag", 0.0, "gap"), "t-hat": ("o-beanie", 0.95, "match"),
                                "t-lamp": (None, None, "gap")}
    assert verdicts(within) == verdicts({r.their_id: r for r in find_gaps(ours, theirs, 0.8, same="product_type")})
    anything = overlay_verdicts(ours, theirs, 0.8)
    assert verdicts(anything) == {"t-bag": ("o-beanie", 0.996, "match"), "t-hat": ("o-beanie", 0.95, "match"),
                                  "t-lamp": ("o-watch", 0.3, "gap")}
    assert verdicts(anything) == verdicts({r.their_id: r for r in find_gaps(ours, theirs, 0.8)})


def test_the_cli_gives_the_same_verdicts(pair, settings, capsys):
    from core.cli import main

    ours, theirs = pair
    expected = verdicts(overlay_verdicts(ours, theirs, 0.8, "product_type"))
    theirs.close()
    ours.close()
    assert main(["gaps", NAME, "--same", "product_type", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    rows = rows["rows"] if isinstance(rows, dict) else rows
    assert {r["their_id"]: (r["our_id"], None if r["similarity"] is None else round(r["similarity"], 4), r["verdict"])
            for r in rows} == expected


def test_the_explore_overlay_takes_the_gaps_pages_field_and_a_box_lists_the_bag_as_a_gap(app_settings):
    from app import resources
    from app.references import SAVED_SAME
    from core.map.build import compute_map
    from tests.helpers.apptest import start

    ours, theirs = fill(app_settings)
    theirs.close()
    ours.close()
    compute_map(resources.store(app_settings), app_settings.data_dir, app_settings.collection)
    at = start("pages/explore.py")
    at.session_state[SAVED_SAME] = "product_type"  # what the Gaps page keeps of its "Match within the same"
    at.selectbox(key="explore_overlay").set_value(NAME).run()
    assert not at.exception and not at.error
    assert at.selectbox(key="explore_overlay_same").value == "product_type"
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    theirs_trace = next(t for t in spec["data"] if str(t.get("name", "")).startswith("Theirs"))
    assert {row[1]: row[5] for row in theirs_trace["customdata"]} == {"t-bag": "gap", "t-hat": "match",
                                                                      "t-lamp": "gap"}
    everything = {"x": [-1e6, 1e6], "y": [-1e6, 1e6]}
    at.session_state["map"] = {"selection": {"points": [], "point_indices": [], "box": [everything], "lasso": []}}
    at.run()
    assert not at.exception
    assert "3 of theirs selected: 2 gaps" in [s.value for s in at.subheader]
    table = at.table[0].value
    assert [tuple(r) for r in table[["Id", "Verdict", "Similarity", "Our id"]].values.tolist()] == [
        tuple(md(c) for c in row) for row in (("t-lamp", "gap", "-", ""), ("t-bag", "gap", "0.000", "o-bag"),
                                              ("t-hat", "match", "0.950", "o-beanie"))]
    # Matching anything (as the Gaps page with "(anything)"): the beanie answers the bag.
    at.selectbox(key="explore_overlay_same").set_value("").run()
    assert not at.exception and at.session_state[SAVED_SAME] == ""
    assert "3 of theirs selected: 1 gap" in [s.value for s in at.subheader]

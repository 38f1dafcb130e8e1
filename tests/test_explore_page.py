"""The Explore page's map and gallery (issue 9, defect 11): a selection that survives a redrawn chart."""

from __future__ import annotations

from tests.test_app import _explore, _select


def gallery(at) -> list[str]:
    return [c.value.rsplit("#", 1)[1] for c in at.caption if "#" in c.value]


def test_turning_on_photos_keeps_the_selection(indexed):
    at = _select(_explore(indexed), ["3", "1"])
    assert gallery(at) == ["3", "1"]
    at.toggle(key="map_photos").set_value(True).run()
    assert not at.exception and gallery(at) == ["3", "1"]
    at.run()  # any later rerun reads the redrawn chart, whose own selection is empty
    assert gallery(at) == ["3", "1"]
    at.selectbox(key="map_colour").set_value("gender").run()
    assert gallery(at) == ["3", "1"]


def test_clear_selection_empties_the_gallery_for_good(indexed):
    at = _select(_explore(indexed), ["3", "1"])
    at.button(key="map_clear").click().run()
    assert not at.exception and gallery(at) == []
    at.run()
    assert gallery(at) == [] and any("Lasso" in c.value for c in at.caption)

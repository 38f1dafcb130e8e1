"""The Explore page's map and gallery (issue 9, defect 11): a selection that survives a redrawn chart."""

from __future__ import annotations

from tests.helpers.apptest import explore as _explore, select_on_map as _select


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


def test_a_large_selection_reads_only_its_gallery_until_asked_for_all(indexed, monkeypatch):
    """Past MAX_SELECTION_READ (a lasso over a million-product map) the page reads the gallery's products only;
    'Add all' and the look-alike search still get the whole selection, the CSV is read when downloaded."""
    import core.curation.export
    import core.map.figure
    import core.search.query
    from core.curation.boards import BoardStore

    monkeypatch.setattr(core.map.figure, "MAX_SELECTION_READ", 2)
    monkeypatch.setattr(core.map.figure, "MAX_GALLERY", 2)
    exported, read = [], []
    monkeypatch.setattr(core.curation.export, "selection_csv", lambda results: exported.append(results) or "")
    real_get = core.search.query.get_products
    monkeypatch.setattr(core.search.query, "get_products", lambda store, ids: read.append(list(ids)) or real_get(store, ids))
    BoardStore(indexed.data_dir / "boards").create("Picks")
    at = _select(_explore(indexed), ["3", "1", "2"])
    assert not at.exception
    assert [s.value for s in at.subheader] == ["3 selected"]
    assert gallery(at) == ["3", "1"] and read == [["3", "1"]] and exported == []
    at.button(key="map_add_all").click().run()
    assert [i.product_id for i in BoardStore(indexed.data_dir / "boards").list()[0].items] == ["3", "1", "2"]
    at.button(key="map_lookalike").click().run()
    assert at.session_state["selection"] == ["3", "1", "2"]


def test_a_map_of_an_index_nobody_has_written_since_needs_no_digest_to_be_fresh(indexed, monkeypatch):
    """The digest of every fingerprint takes seconds at a million products: while the index's last_indexed stamp
    and count are those the map was made with, the page does not compute it; once they change, it does."""
    import time

    import core.map.build
    import core.map.storage
    from app import resources
    from tests.helpers.apptest import start

    store = resources.store(indexed)
    core.map.build.compute_map(store, indexed.data_dir, indexed.collection)
    digests = []
    monkeypatch.setattr(core.map.storage, "index_key", lambda s: digests.append(1) or ("another index", {}))
    at = start("pages/explore.py")
    assert not at.exception and not at.info and digests == []
    assert [e.key for e in at.get("plotly_chart")] == ["map"]
    store.update_meta(last_indexed=time.time() + 60)  # an indexing run since the map was made
    at = start("pages/explore.py")
    assert digests == [1] and [i.value for i in at.info] == [
        "The index changed since this map was made: update it to place new and changed products."]


def _shop_indexed(settings, tmp_path):
    from tests.helpers.shop_catalogues import index_shopify_export

    index_shopify_export(settings, tmp_path / "shop")
    return settings


def _plain(ids: list[str]) -> list[str]:
    return [i.replace("\\", "") for i in ids]  # captions escape Markdown: sky\-red\-tee


def _drawn_ids(at) -> set[str]:
    import json

    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    return {row[0] for trace in spec["data"] for row in trace.get("customdata") or []}


def test_drafts_stay_off_the_map_and_out_of_a_selection_until_shown(app_settings, tmp_path):
    settings = _shop_indexed(app_settings, tmp_path)
    at = _select(_explore(settings), ["linen-shorts", "sky-red-tee", "silk-scarf"])
    assert not at.exception
    assert _drawn_ids(at) == {"sky-red-tee", "wool-coat", "leather-belt"}
    assert _plain(gallery(at)) == ["sky-red-tee"]  # a draft lassoed with the rest is not selected
    at.toggle(key="hidden_toggle").set_value(True).run()
    assert not at.exception
    assert _drawn_ids(at) == {"sky-red-tee", "wool-coat", "leather-belt", "linen-shorts", "silk-scarf"}
    assert any("greyed where they are" in c.value for c in at.caption)
    assert _plain(gallery(at)) == ["linen-shorts", "sky-red-tee", "silk-scarf"]

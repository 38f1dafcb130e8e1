"""Catalogue health on hand-made stored products (both backends): one planted product per kind among honest ones,
the exact products of each kind in order, the score and per-category counts, the caches and their staleness, the
history rows, filters, and what is refused."""

from __future__ import annotations

import os

import numpy as np
import pytest

from core.common.errors import BadQuery, NotIndexed
from core.common.fields import STANDARD_FILTERS, Schema
from core.common.filters import Filters
from core.curation.duplicate_dismissals import DuplicateDismissals
from core.index.store import StoredPoint, point_id
from core.insights.audit_decisions import AuditDecisions, change_held
from core.insights.enrich import EnrichResult, Proposal
from core.insights.enrich_decisions import EnrichmentDecisions
from core.insights.health import KINDS, HealthReport, cached_report, check_health, health_history
from core.insights.health_cache import decisions_stamp
from core.insights.health_rules import is_apparel, missing_attributes, price_problems

DIM = 32
APPAREL_LOOK, ACCESSORY_LOOK = 30, 31  # the directions the two category prompts point in
VERSION = 1000.0


def basis(n: int, look: int | None) -> list[float]:
    v = np.zeros(DIM, dtype=np.float32)
    v[n] = 1.0
    if look is not None:
        v[look] = 0.5
    return list(v / np.linalg.norm(v))


class FakeTextTower:
    """The category prompts' vectors by hand, so the audit's one suspect is known; counts its calls."""

    name, dim, image_size = "hand-made", DIM, None

    def __init__(self):
        self.calls = 0

    def encode_texts(self, texts, batch_size=64):
        self.calls += 1
        looks = {"a photo of a Apparel": APPAREL_LOOK, "a photo of a Accessories": ACCESSORY_LOOK}
        return np.stack([np.eye(DIM, dtype=np.float32)[looks[t]] for t in texts])


def never():
    raise AssertionError("the encoder was asked for: the audit was not taken from its cache")


def accessory(pid: str, **changes) -> dict:
    ref = f"/img/{pid}.jpg"
    payload = {"product_id": pid, "title": f"Leather watch {pid}", "description": "A watch.", "brand": "Acme",
               "category": "Accessories", "price": 50.0, "status": "active", "inventory": 3, "photos": [ref],
               "image_path": "", "text_only": False, "photo_sizes": {ref: [400, 400]}}
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not None}


def apparel(pid: str, **changes) -> dict:
    ref = f"/img/{pid}.jpg"
    return accessory(pid, **{"category": "Apparel", "colour": "Red", "size": ["S", "M"], "gender": "Women",
                             "age_group": "adult", "photo_sizes": {ref: [800, 1000]}, **changes})


NO_PHOTO = {"photos": None, "text_only": True, "photo_sizes": None}
# id -> (payload, image vector's basis direction or None for text-only, category look)
CATALOGUE = {
    "ok-acc": (accessory("ok-acc"), 0, ACCESSORY_LOOK),
    "ok-app": (apparel("ok-app"), 1, APPAREL_LOOK),
    "ok-nocat": (accessory("ok-nocat", category=None, photo_sizes={"/img/ok-nocat.jpg": [120, 120]}), 2, None),
    "unsized": (accessory("unsized", photo_sizes=None), 3, ACCESSORY_LOOK),
    "no-photo": (accessory("no-photo", **NO_PHOTO, image_problem="no image"), None, None),
    "photo-failed": (accessory("photo-failed", **NO_PHOTO, image_problem="image file not found: gone.jpg"), None,
                     None),
    "extra-failed": (accessory("extra-failed", photo_problems={"/img/back.jpg": "not an image"}), 4, ACCESSORY_LOOK),
    "small-app": (apparel("small-app", photo_sizes={"/img/small-app.jpg": [200, 600]}), 5, APPAREL_LOOK),
    "dup-a": (accessory("dup-a"), 6, ACCESSORY_LOOK),
    "dup-b": (accessory("dup-b"), 6, ACCESSORY_LOOK),
    "dup-c": (accessory("dup-c"), 6, ACCESSORY_LOOK),  # dismissed against both: no longer a duplicate
    "suspect": (accessory("suspect"), 7, APPAREL_LOOK),  # labelled Accessories, its photo looks Apparel
    "missing-app": (apparel("missing-app", colour=None, size=None, brand=None, age_group=None,
                            variants=[{"sku": "M-1", "colour": "Red", "size": "M"}]), 8, APPAREL_LOOK),
    "missing-desc": (accessory("missing-desc", description=""), 9, ACCESSORY_LOOK),
    "one-word": (accessory("one-word", title="Watch"), 10, ACCESSORY_LOOK),
    "long-title": (accessory("long-title", title="Very " * 30 + "long"), 11, ACCESSORY_LOOK),
    "np-draft": (accessory("np-draft", price=None, status="draft", inventory=0), 12, ACCESSORY_LOOK),
    "np-archived": (accessory("np-archived", price=None, status="archived", inventory=100), 13, ACCESSORY_LOOK),
    "np-low": (accessory("np-low", price=None, inventory=1), 14, ACCESSORY_LOOK),
    "np-high": (accessory("np-high", price=None, inventory=9), 15, ACCESSORY_LOOK),
    "bad-sale": (accessory("bad-sale", compare_at_price=40.0), 16, ACCESSORY_LOOK),
    "oos-active": (accessory("oos-active", inventory=0), 17, ACCESSORY_LOOK),
    "oos-nostatus": (accessory("oos-nostatus", status=None, inventory=None, in_stock="no"), 18, ACCESSORY_LOOK),
    "in-stock-draft": (accessory("in-stock-draft", status="draft", inventory=4), 19, ACCESSORY_LOOK),
}
EXPECTED = {
    "no_photo": ["no-photo"],
    "photo_failed": ["extra-failed", "photo-failed"],
    "small_photo": ["small-app"],
    "duplicate_photo": ["dup-a", "dup-b"],
    "suspect_label": ["suspect"],
    "missing_attribute": ["missing-app", "missing-desc"],
    "title_length": ["long-title", "one-word"],
    "no_price": ["np-high", "np-low", "np-draft", "np-archived"],  # active by inventory, then draft, then archived
    "bad_sale_price": ["bad-sale"],
    "out_of_stock_active": ["oos-active", "oos-nostatus"],
    "in_stock_draft": ["in-stock-draft"],
}


@pytest.fixture
def planted(store, tmp_path):
    """The catalogue stored by hand at index version VERSION; dup-c's pairs dismissed. Returns (store, data dir)."""
    store.ensure("hand-made", DIM)
    store.add_fields(Schema(keyword=(*STANDARD_FILTERS, "status")))
    points = []
    for pid, (payload, direction, look) in CATALOGUE.items():
        vectors = {"text": basis(20, None)}
        if direction is not None:
            vectors["image"] = basis(direction, look)
        points.append(StoredPoint(point_id(pid), vectors, payload))
    store.upsert(points)
    store.update_meta(last_indexed=VERSION)
    data_dir = tmp_path / "data"
    DuplicateDismissals(data_dir, store.collection).dismiss_all([("dup-a", "dup-c"), ("dup-b", "dup-c")])
    return store, data_dir


def test_every_planted_product_is_under_its_kind_most_important_first(planted):
    store, data_dir = planted
    tower = FakeTextTower()
    report = check_health(store, data_dir, encoder=lambda: tower)
    assert {p.kind: p.products for p in report.problems} == EXPECTED
    assert report.products == 24
    assert report.score == round(100 * 5 / 24, 1) == 20.8  # ok-acc, ok-app, ok-nocat, unsized and dup-c are clean
    assert [p.kind for p in report.problems] == ["no_price", "photo_failed", "duplicate_photo", "missing_attribute",
                                                 "title_length", "out_of_stock_active", "no_photo", "small_photo",
                                                 "suspect_label", "bad_sale_price", "in_stock_draft"]
    assert report.index_version == VERSION
    assert report.notes == ["1 product(s) have no photo size yet, so small photos were not judged for them: re-run "
                            "`python -m core index` to store their sizes"]


def test_details_say_why_in_plain_text(planted):
    store, data_dir = planted
    report = check_health(store, data_dir, encoder=FakeTextTower)
    details = {p.kind: p.details for p in report.problems}
    assert details["no_photo"] == {"no-photo": "no photo"}
    assert details["photo_failed"] == {"photo-failed": "photo failed: image file not found: gone.jpg",
                                       "extra-failed": "1 other photo(s) failed: /img/back.jpg: not an image"}
    assert details["small_photo"] == {"small-app": "photo 200x600 px: shorter side 200 under 250 px"}
    assert details["duplicate_photo"] == {"dup-a": "group of 2: with dup-b", "dup-b": "group of 2: with dup-a"}
    assert report.problem("duplicate_photo").related == {"dup-a": ["dup-b"], "dup-b": ["dup-a"]}
    assert details["suspect_label"] == {"suspect": "category: Accessories (photo looks Apparel)"}
    assert report.problem("suspect_label").related == {"suspect": ["category"]}
    assert details["missing_attribute"] == {"missing-app": "missing: brand, age_group",
                                            "missing-desc": "missing: description"}
    assert report.problem("missing_attribute").related == {"missing-app": ["brand", "age_group"],
                                                           "missing-desc": ["description"]}
    assert details["title_length"] == {"one-word": "one word", "long-title": "154 characters, over 150"}
    assert details["bad_sale_price"] == {"bad-sale": "compare-at price 40 is not above the price 50"}
    assert details["out_of_stock_active"] == {"oos-active": "active, inventory 0",
                                              "oos-nostatus": "active, out of stock"}
    assert details["in_stock_draft"] == {"in-stock-draft": "draft, inventory 4"}


def test_by_category_counts_and_scores(planted):
    store, data_dir = planted
    by_category = check_health(store, data_dir, encoder=FakeTextTower).by_category
    assert list(by_category) == ["(none)", "Accessories", "Apparel"]
    zero = dict.fromkeys(KINDS, 0)
    assert by_category["(none)"] == {"products": 1, "score": 100.0, **zero}
    assert by_category["Apparel"] == {"products": 3, "score": 33.3, **zero, "small_photo": 1, "missing_attribute": 1}
    assert by_category["Accessories"] == {
        "products": 20, "score": 15.0, **zero, "no_photo": 1, "photo_failed": 2, "duplicate_photo": 2,
        "suspect_label": 1, "missing_attribute": 1, "title_length": 2, "no_price": 4, "bad_sale_price": 1,
        "out_of_stock_active": 2, "in_stock_draft": 1}


def test_json_has_exactly_the_issues_keys_and_round_trips(planted):
    store, data_dir = planted
    report = check_health(store, data_dir, encoder=FakeTextTower)
    d = report.as_dict()
    assert list(d) == ["products", "checked_at", "score", "problems", "by_category"]
    assert all(list(p) == ["kind", "count", "products", "details"] for p in d["problems"])
    assert d["problems"][0] == {"kind": "no_price", "count": 4, "products": EXPECTED["no_price"],
                                "details": dict.fromkeys(EXPECTED["no_price"], "no price")}
    again = HealthReport.from_dict(report.to_cache())
    assert again == report


def test_a_second_check_of_the_same_index_version_reuses_the_caches(planted):
    store, data_dir = planted
    tower = FakeTextTower()
    first = check_health(store, data_dir, encoder=lambda: tower)
    assert tower.calls == 1
    assert cached_report(store, data_dir) == first  # the whole report, as computed, with nothing computed
    again = check_health(store, data_dir, encoder=never)  # the products read again, the audit's cache reused
    assert (again.problems, again.score, again.by_category) == (first.problems, first.score, first.by_category)
    assert cached_report(store, data_dir) == again
    # another filter set: a new report, but near-duplicates and the audit come from their caches
    kept = check_health(store, data_dir, Filters.of({"category": ["Accessories"]}), encoder=never)
    assert kept.problem("suspect_label").products == ["suspect"]
    assert kept.problem("duplicate_photo").products == ["dup-a", "dup-b"]


def test_a_new_index_version_makes_every_cache_stale(planted):
    store, data_dir = planted  # stamped before content_version existed: last_indexed stands in for it
    tower = FakeTextTower()
    check_health(store, data_dir, encoder=lambda: tower)
    store.update_meta(last_indexed=VERSION + 1)
    assert cached_report(store, data_dir) is None
    report = check_health(store, data_dir, encoder=lambda: tower)
    assert tower.calls == 2
    assert report.index_version == VERSION + 1


def test_a_decision_made_since_makes_the_report_stale(planted):
    store, data_dir = planted
    check_health(store, data_dir, encoder=FakeTextTower)
    DuplicateDismissals(data_dir, store.collection).dismiss("dup-a", "dup-b")
    assert cached_report(store, data_dir) is None
    report = check_health(store, data_dir, encoder=never)  # pairs are cached; dismissals apply to them afresh
    assert report.problem("duplicate_photo").products == []
    AuditDecisions(data_dir).judge_right("suspect", "category", "Accessories")
    tower = FakeTextTower()
    assert check_health(store, data_dir, encoder=lambda: tower).problem("suspect_label").products == []
    assert tower.calls == 1  # the audit ran again: a confirmed label is left out


def test_without_an_encoder_an_unaudited_index_says_labels_were_not_checked(planted):
    store, data_dir = planted
    report = check_health(store, data_dir)
    assert report.problem("suspect_label").products == []
    assert "suspect labels not checked" in report.notes[1]
    assert report.problem("no_photo").products == ["no-photo"]


def test_history_keeps_one_row_per_index_version(planted):
    store, data_dir = planted
    first = check_health(store, data_dir, encoder=FakeTextTower)
    again = check_health(store, data_dir, encoder=FakeTextTower, use_cache=False)
    rows = health_history(store)
    assert len(rows) == 1  # replaced, not duplicated
    assert rows[0] == {"indexed_at": VERSION, "checked_at": again.checked_at, "products": 24, "score": 20.8,
                       "counts": first.counts}
    check_health(store, data_dir, Filters.of({"category": ["Apparel"]}), encoder=FakeTextTower)
    assert len(health_history(store)) == 1  # a filtered check is not the catalogue's health
    store.update_meta(last_indexed=VERSION + 5)
    check_health(store, data_dir, encoder=FakeTextTower)
    assert [r["indexed_at"] for r in health_history(store)] == [VERSION, VERSION + 5]


def test_filters_check_only_the_products_they_keep(planted):
    store, data_dir = planted
    report = check_health(store, data_dir, Filters.of({"category": ["Apparel"]}), encoder=FakeTextTower)
    assert report.products == 3
    assert {p.kind: p.products for p in report.problems if p.count} == {"small_photo": ["small-app"],
                                                                         "missing_attribute": ["missing-app"]}
    assert report.score == 33.3
    assert list(report.by_category) == ["Apparel"]
    drafts = check_health(store, data_dir, Filters.of({"status": ["draft", "archived"]}), encoder=FakeTextTower)
    assert drafts.products == 3
    assert drafts.problem("no_price").products == ["np-draft", "np-archived"]


def test_an_empty_filter_result_is_an_error_not_a_perfect_score(planted):
    store, data_dir = planted
    with pytest.raises(BadQuery, match="no product matches these filters"):
        check_health(store, data_dir, Filters.of({"category": ["Nothing"]}), encoder=never)


def test_no_index_is_not_indexed(store, tmp_path):
    with pytest.raises(NotIndexed, match="index"):
        check_health(store, tmp_path / "data", encoder=never)
    assert cached_report(store, tmp_path / "data") is None


@pytest.mark.parametrize("payload, expected", [
    ({"category": "Apparel"}, True), ({"category": "Footwear"}, True),
    ({"category": "Apparel & Accessories", "sub_category": "Clothing"}, True),
    ({"product_type": "Running Shoes"}, True), ({"google_product_category": "Apparel & Accessories > Clothing"}, True),
    ({"category": "Accessories", "sub_category": "Watches"}, False), ({}, False)])
def test_apparel_is_decided_by_the_products_kind(payload, expected):
    assert is_apparel(payload) is expected


def test_age_group_may_come_from_the_google_shopping_column():
    payload = apparel("x", age_group=None)
    assert missing_attributes(payload, True) == ["age_group"]
    assert missing_attributes({**payload, "google_shopping_age_group": "adult"}, True) == []
    assert missing_attributes({**payload, "google_shopping_age_group": ""}, True) == ["age_group"]


def test_only_the_latest_filter_sets_reports_are_kept(planted, monkeypatch):
    from core.insights import health_cache

    store, data_dir = planted
    monkeypatch.setattr(health_cache, "MAX_REPORTS", 2)
    apparel_only, accessories = Filters.of({"category": ["Apparel"]}), Filters.of({"category": ["Accessories"]})
    check_health(store, data_dir, apparel_only, encoder=FakeTextTower)
    check_health(store, data_dir, accessories, encoder=never)
    assert cached_report(store, data_dir, apparel_only) is not None
    check_health(store, data_dir, encoder=never)
    assert cached_report(store, data_dir, apparel_only) is None  # the oldest of three
    assert cached_report(store, data_dir, accessories).products == 20
    assert cached_report(store, data_dir).products == 24


def test_a_read_only_copy_is_checked_but_its_history_left_as_it_is(planted, tmp_path):
    from core.index.store import EdgeStore

    store, data_dir = planted
    if not isinstance(store, EdgeStore):
        pytest.skip("only the embedded engine publishes a read-only copy")
    store.publish()
    copy = EdgeStore.snapshot_reader(tmp_path / "store", store.collection)
    try:
        assert copy.read_only
        report = check_health(copy, data_dir, encoder=FakeTextTower)
        assert {p.kind: p.products for p in report.problems} == EXPECTED
        assert health_history(copy) == [] and health_history(store) == []
        assert not any("history" in note for note in report.notes)  # skipped silently, not tried and failed
    finally:
        copy.close()


def test_a_model_other_than_the_indexs_leaves_labels_unchecked_and_says_why(planted):
    store, data_dir = planted

    class Other(FakeTextTower):
        name = "another model"

    report = check_health(store, data_dir, encoder=Other)
    assert report.problem("suspect_label").products == []
    assert report.notes[1].startswith("suspect labels not checked: ")
    assert report.problem("no_photo").products == ["no-photo"]
    assert check_health(store, data_dir, encoder=FakeTextTower).problem("suspect_label").products == ["suspect"]


def test_an_unreadable_dismissals_file_leaves_duplicates_unchecked_and_says_why(planted):
    store, data_dir = planted
    DuplicateDismissals(data_dir, store.collection).path.write_text("not json")
    report = check_health(store, data_dir, encoder=FakeTextTower)
    assert report.problem("duplicate_photo").products == []
    assert any(note.startswith("near-duplicates not checked: the dismissed near-duplicates file") for note in
               report.notes)
    assert report.problem("suspect_label").products == ["suspect"]


def test_a_failed_hero_listed_among_failed_photos_too_is_said_once():
    from core.insights.health_rules import photo_problems

    payload = {"text_only": True, "image_problem": "not an image file", "image_path": "/img/h.jpg",
               "photos": ["/img/h.jpg", "/img/b.jpg"],
               "photo_problems": {"/img/h.jpg": "not an image file", "/img/c.jpg": "image file not found: c.jpg"}}
    assert photo_problems(payload) == [("photo_failed", "photo failed: not an image file; 1 other photo(s) failed: "
                                                        "/img/c.jpg: image file not found: c.jpg")]
    only_hero = dict(payload, photo_problems={"/img/h.jpg": "not an image file"})
    assert photo_problems(only_hero) == [("photo_failed", "photo failed: not an image file")]


def test_the_costly_caches_follow_the_content_version_not_every_run(planted):
    store, data_dir = planted
    store.update_meta(content_version=VERSION)
    tower = FakeTextTower()
    check_health(store, data_dir, encoder=lambda: tower)
    store.update_meta(last_indexed=VERSION + 1)  # a run that changed nothing: only last_indexed moved
    assert cached_report(store, data_dir) is None  # the report is the run's own (its history row)
    again = check_health(store, data_dir, encoder=never)
    assert (again.index_version, again.problem("suspect_label").products) == (VERSION + 1, ["suspect"])
    store.update_meta(last_indexed=VERSION + 2, content_version=VERSION + 2)  # a run that wrote products
    assert check_health(store, data_dir, encoder=lambda: tower).problem("suspect_label").products == ["suspect"]
    assert tower.calls == 2


def test_an_audit_change_written_into_the_stored_payload_makes_the_audit_run_again(planted):
    store, data_dir = planted
    tower = FakeTextTower()
    assert check_health(store, data_dir, encoder=lambda: tower).problem("suspect_label").products == ["suspect"]
    change_held(AuditDecisions(data_dir), store, "suspect", "category", "Accessories", "Apparel")
    report = check_health(store, data_dir, encoder=lambda: tower)
    assert tower.calls == 2  # no new index version: the decisions file's stamp moved the audit's key
    assert report.problem("suspect_label").products == []


def test_an_accepted_enrichment_written_into_the_stored_payload_makes_the_audit_run_again(planted):
    store, data_dir = planted
    tower = FakeTextTower()
    assert check_health(store, data_dir, encoder=lambda: tower).problem("suspect_label").products == ["suspect"]
    decisions = EnrichmentDecisions(data_dir)
    decisions.save(EnrichResult("category", ["Accessories", "Apparel"], "photo", True, {}, [
        Proposal("suspect", "category", "Accessories", "Apparel", 0.9, {"source": "photo"})]))
    decisions.accept(store, "category", "suspect")
    report = check_health(store, data_dir, encoder=lambda: tower)
    assert tower.calls == 2
    assert report.problem("suspect_label").products == []
    decisions.undo(store, "category", "suspect")
    assert check_health(store, data_dir, encoder=lambda: tower).problem("suspect_label").products == ["suspect"]
    assert tower.calls == 3


def test_a_decisions_file_rewritten_within_one_clock_tick_still_moves_the_stamp(planted):
    store, data_dir = planted
    decisions = AuditDecisions(data_dir)
    decisions.judge_right("ok-acc", "category", "Accessories")
    before, st = decisions_stamp(data_dir, store.collection), decisions.path.stat()
    decisions.judge_right("suspect", "category", "Accessories")
    os.utime(decisions.path, ns=(st.st_atime_ns, st.st_mtime_ns))  # the same change time as the first write
    assert decisions.path.stat().st_mtime_ns == st.st_mtime_ns
    assert decisions_stamp(data_dir, store.collection)["audit"] != before["audit"]


def test_a_filtered_report_is_never_served_for_other_filters(planted):
    store, data_dir = planted
    whole = check_health(store, data_dir, encoder=FakeTextTower)
    without = Filters().plus(exclude_ids=[point_id("no-photo")])
    assert cached_report(store, data_dir, without) is None
    kept = check_health(store, data_dir, without, encoder=never)
    assert (kept.products, kept.problem("no_photo").products) == (23, [])
    assert cached_report(store, data_dir, without) == kept
    assert cached_report(store, data_dir) == whole
    every = Filters().plus(every={"category": ["Apparel"]})
    assert cached_report(store, data_dir, every) is None
    assert check_health(store, data_dir, every, encoder=never).products == 3
    assert cached_report(store, data_dir).products == 24


def test_history_keeps_the_newest_hundred_rows(planted):
    store, data_dir = planted
    old = [{"indexed_at": float(n), "checked_at": float(n), "products": 1, "score": 100.0, "counts": {}}
           for n in range(1, 101)]
    store.update_meta(health_history=old)
    check_health(store, data_dir, encoder=FakeTextTower)
    rows = health_history(store)
    assert len(rows) == 100
    assert [r["indexed_at"] for r in rows[:2]] == [2.0, 3.0] and rows[-1]["indexed_at"] == VERSION


@pytest.mark.parametrize("compare_at, expected", [
    (0, []), ("0.00", []), (-1, []), (None, []), (60.0, []),
    (50.0, [("bad_sale_price", "compare-at price 50 is not above the price 50")]),
    (10.0, [("bad_sale_price", "compare-at price 10 is not above the price 50")])])
def test_a_compare_at_price_of_zero_means_none(compare_at, expected):
    assert price_problems({"price": 50.0, "compare_at_price": compare_at}) == expected

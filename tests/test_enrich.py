"""Enrichment on hand-made vectors: the zero-shot winner, margins, not_applicable, calibration and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.common.errors import BadQuery, LensError, NotIndexed
from core.common.fields import PRODUCT_ID, Schema
from core.common.filters import Filters
from core.index.store import StoredPoint, point_id
from core.insights.enrich import MIN_KNOWN, MIN_SUPPORT, check_request, enrich, kinds_for

DIM = 4
E1, E2, E3, E4 = np.eye(DIM, dtype=np.float32)


class FakeTextTower:
    """Stands in for CLIP's text tower: a prompt naming "striped" embeds as E1, "plain" as E2, any other (the null
    prompt "a photo of a {kind}.") as E3; so a vector (x, y, n, z) has cosine x with striped, y with plain and n
    with the null prompt, whatever the template."""

    name, dim, image_size = "hand-made", DIM, None

    def __init__(self):
        self.seen: list[str] = []

    def encode_texts(self, texts, batch_size=64):
        self.seen.extend(texts)
        return np.stack([E1 if "striped" in t else E2 if "plain" in t else E3 for t in texts])


def unit(x, y, n=0.0, z=0.0) -> list[float]:
    v = np.array([x, y, n, z], dtype=np.float64)
    return list(v / np.linalg.norm(v))


def leaning(d: float) -> list[float]:
    """A photo whose striped cosine is above its plain cosine by d (negative: plain wins), null cosine 0."""
    return unit(0.5 + d, 0.5, 0.0, 0.7)


def margin_of(d: float) -> float:
    """p(top) - p(second) of a softmax over two values whose 100 x cosines differ by 100 d: tanh(50 |d'|), where
    d' is the cosine difference after normalising (leaning() scales both cosines by one factor)."""
    v = np.array([0.5 + d, 0.5, 0.0, 0.7])
    diff = (v[0] - v[1]) / np.linalg.norm(v)
    return math.tanh(50 * abs(diff))


def point(pid, payload, image=None, photos=None, text=None) -> StoredPoint:
    vectors = {"text": text if text is not None else list(E4)}
    if image is not None:
        vectors["image"] = image
    if photos is not None:
        vectors["photos"] = photos
    return StoredPoint(point_id(pid), vectors, {PRODUCT_ID: pid, **payload})


def put(store, pid, payload, image=None, photos=None, text=None):
    store.upsert([point(pid, payload, image, photos, text)])


@pytest.fixture
def shop(store):
    store.ensure("hand-made", DIM)
    put(store, "p1", {}, image=leaning(0.02))                                       # striped
    put(store, "p2", {"pattern": ""}, image=leaning(-0.005))                       # plain, small margin
    put(store, "p3", {}, image=list(E3))                                             # the null prompt fits best
    put(store, "p4", {"pattern": "Striped"}, image=leaning(0.01))                  # known, right
    put(store, "p5", {"pattern": "plain"}, image=leaning(0.03))                    # known, wrong (striped)
    put(store, "p6", {"pattern": "dotted"}, image=leaning(-0.01))                  # another value, not known
    put(store, "p7", {})                                                             # no photo: skipped
    put(store, "p8", {}, image=leaning(-0.04), photos=[leaning(0.01), leaning(-0.002)])  # photo rows win over hero
    return store


def test_empty_values_get_the_zero_shot_winner_most_confident_first(shop):
    result = enrich(shop, FakeTextTower(), "pattern", "striped,plain")
    # p8: mean of its two rows' distributions
    p_first = 1 / (1 + math.exp(-100 * (leaning(0.01)[0] - leaning(0.01)[1])))
    p_second = 1 / (1 + math.exp(-100 * (leaning(-0.002)[0] - leaning(-0.002)[1])))
    p8 = abs(p_first + p_second - 1)  # (p1 + p2)/2 - (1 - (p1 + p2)/2)
    expected = sorted([("p1", "striped", margin_of(0.02)), ("p2", "plain", margin_of(-0.005)),
                       ("p8", "striped", p8)], key=lambda t: (-t[2], t[0]))
    assert [(p.product_id, p.proposed) for p in result.proposals] == [(pid, v) for pid, v, _ in expected]
    assert [p.evidence["margin"] for p in result.proposals] == pytest.approx([m for *_, m in expected], abs=1e-4)
    assert [p.confidence for p in result.proposals] == pytest.approx([m for *_, m in expected], abs=1e-6)
    assert all(p.evidence["confidence"] == "margin" for p in result.proposals)  # 2 known: not calibrated
    by_id = {p.product_id: p for p in result.proposals}
    assert by_id["p8"].evidence["photos"] == 2 and by_id["p1"].evidence["photos"] == 1
    assert by_id["p1"].current == "" and by_id["p1"].attribute == "pattern"
    assert set(by_id["p1"].as_dict()) == {"product_id", "attribute", "current", "proposed", "confidence", "evidence"}
    assert result.summary == {"products": 8, "proposed": 3, "not_applicable": 1, "known": 2,
                              "accuracy_on_known": 0.5}
    assert result.details == {"skipped": 1, "confidence": "margin"}
    assert result.as_dict()["summary"] == result.summary and result.as_dict()["details"] == result.details


def test_a_known_product_judged_not_applicable_counts_as_wrong(store):
    """Its value is known to apply, so "no value fits" is a wrong answer; not_applicable counts only the products
    that could get a proposal (an empty value, or all of them with overwrite)."""
    store.ensure("hand-made", DIM)
    put(store, "a", {}, image=leaning(0.02))                    # proposed striped
    put(store, "k1", {"pattern": "striped"}, image=leaning(0.02))  # known, right
    put(store, "k2", {"pattern": "plain"}, image=list(E3))      # known, but the null prompt fits best: wrong
    put(store, "o", {"pattern": "dotted"}, image=list(E3))      # holds another value: no proposal either way
    put(store, "n", {}, image=list(E3))                         # empty and not applicable
    result = enrich(store, FakeTextTower(), "pattern", "striped,plain")
    assert result.summary == {"products": 5, "proposed": 1, "not_applicable": 1, "known": 2,
                              "accuracy_on_known": 0.5}
    assert [(p.product_id, p.proposed) for p in result.proposals] == [("a", "striped")]
    assert [n for *_, n in result.calibration] == [1]  # only the known product that beat the null prompt
    overwrite = enrich(store, FakeTextTower(), "pattern", "striped,plain", overwrite=True)
    assert overwrite.summary == {"products": 5, "proposed": 1, "not_applicable": 3, "known": 2,
                                 "accuracy_on_known": 0.5}


def test_prompts_are_the_ensemble_for_the_products_kind(store):
    store.ensure("hand-made", DIM)
    put(store, "a", {"product_type": "Shirts"}, image=leaning(0.02))
    put(store, "b", {"category": "Apparel"}, image=leaning(0.02))
    tower = FakeTextTower()
    enrich(store, tower, "pattern", ["striped", "plain"])
    assert "a close-up photo of a striped Shirts." in tower.seen and "a photo of a plain Apparel." in tower.seen
    assert "a photo of a Shirts." in tower.seen and "a product photo of a striped product." in tower.seen


def test_overwrite_proposes_changes_but_never_the_value_held(shop):
    result = enrich(shop, FakeTextTower(), "pattern", "striped,plain", overwrite=True)
    changes = {p.product_id: (p.current, p.proposed) for p in result.proposals if p.current}
    # p4 already holds Striped (its winner): nothing; p5 plain -> striped; p6 dotted -> plain
    assert changes == {"p5": ("plain", "striped"), "p6": ("dotted", "plain")}
    assert result.summary["proposed"] == 5


def test_text_source_reads_the_text_vector_only(store):
    store.ensure("hand-made", DIM)
    x, y, n, z = leaning(0.02)
    put(store, "t1", {}, image=[x, y, n, z], text=[y, x, n, z])  # the text leans to plain as much
    put(store, "t2", {}, text=list(E3))
    result = enrich(store, FakeTextTower(), "pattern", "striped,plain", source="text")
    assert [(p.product_id, p.proposed, p.evidence["source"]) for p in result.proposals] == [("t1", "plain", "text")]
    assert result.summary["not_applicable"] == 1
    both = enrich(store, FakeTextTower(), "pattern", "striped,plain", source="both")
    # t1: photo says striped, text says plain, with equal margins: the mean is a tie, broken by value order
    assert [(p.product_id, p.evidence["source"]) for p in both.proposals] == [("t1", "both")]
    assert both.proposals[0].evidence["margin"] == pytest.approx(0.0, abs=1e-6)


def known_catalogue(store, n=24):
    """n known products (every third one's photo leans the wrong way) and three unknown ones."""
    store.ensure("hand-made", DIM)
    rows, points = [], []
    for i in range(n):
        d = 0.001 * (i + 1)
        right = i % 3 != 0
        label = "striped" if i % 2 else "plain"
        sign = 1 if (label == "striped") == right else -1
        points.append(point(f"k{i:02}", {"pattern": label}, image=leaning(sign * d)))
        rows.append((margin_of(d), right))
    points += [point(f"u{j}", {}, image=leaning(d)) for j, d in enumerate((0.0015, 0.0105, 0.05))]
    store.upsert(points)
    return rows


def independent_confidence(known, margin):
    """share right among known products with margin >= t, at the largest threshold t <= margin (the smallest when
    below it), then the least of it and every higher threshold's share; thresholds are the known margins with
    MIN_SUPPORT known products or more at or above them."""
    thresholds = sorted(m for m, _ in known if sum(other >= m for other, _ in known) >= MIN_SUPPORT)
    below = [t for t in thresholds if t <= margin + 1e-12]
    start = below[-1] if below else thresholds[0]

    def raw(t):
        kept = [ok for m, ok in known if m >= t - 1e-12]
        return sum(kept) / len(kept)

    return min(raw(t) for t in thresholds if t >= start - 1e-12)


def test_accuracy_on_known_and_calibrated_confidence(store):
    known = known_catalogue(store)
    assert len(known) >= MIN_KNOWN
    result = enrich(store, FakeTextTower(), "pattern", "striped,plain")
    right = sum(1 for i in range(24) if i % 3 != 0)
    assert result.summary["known"] == 24
    assert result.summary["accuracy_on_known"] == round(right / 24, 4) == 0.6667
    assert result.details["confidence"] == "calibrated"
    expected = {f"u{j}": independent_confidence(known, margin_of(d)) for j, d in enumerate((0.0015, 0.0105, 0.05))}
    assert expected["u2"] > expected["u1"]  # the data tells levels apart (u0 and u1 share one: ties go by id)
    assert [p.product_id for p in result.proposals] == sorted(expected, key=lambda pid: (-expected[pid], pid))
    for p in result.proposals:
        assert p.confidence == pytest.approx(expected[p.product_id])
        assert p.evidence["confidence"] == "calibrated"
    # the smallest margin gets the whole known set's share (2/3 right), but never more than a higher level's
    assert result.proposals[-1].confidence == pytest.approx(independent_confidence(known, 0.0))


def test_calibration_table_is_monotone_and_answers_precision_at(store):
    known = known_catalogue(store)
    result = enrich(store, FakeTextTower(), "pattern", "striped,plain")
    levels = [c for c, _, _ in result.calibration]
    assert levels == sorted(levels, reverse=True)
    assert [n for *_, n in result.calibration] == sorted(n for *_, n in result.calibration)
    assert result.calibration[-1][2] == 24
    conf = [independent_confidence(known, m) for m, _ in known]
    for level, share, n in result.calibration:
        kept = [ok for c, (_, ok) in zip(conf, known) if c >= level - 1e-12]
        assert (share, n) == (pytest.approx(sum(kept) / len(kept)), len(kept))
    assert result.precision_at(0.0) == (pytest.approx(16 / 24), 24)
    assert result.precision_at(1.01) == (None, 0)
    top_level, top_share, top_n = result.calibration[0]
    assert result.precision_at(top_level) == (top_share, top_n)


def test_calibrated_confidence_never_drops_as_the_margin_grows(store):
    known_catalogue(store)
    result = enrich(store, FakeTextTower(), "pattern", "striped,plain")
    assert [c for c, _, _ in result.calibration] == sorted((c for c, _, _ in result.calibration), reverse=True)


def test_filters_narrow_the_products(shop):
    shop.add_fields(Schema(keyword=("pattern",)))
    result = enrich(shop, FakeTextTower(), "pattern", "striped,plain", filters=Filters.of({"pattern": ["plain"]}))
    assert result.summary["products"] == 1 and result.proposals == []


@pytest.mark.parametrize("attribute", ["product_id", "photos", "variants", "image", "link", "sku", "price",
                                       "photo_sizes", "image_path", "fingerprint", "title", "tags", "status"])
def test_reserved_attribute_names_are_refused(attribute):
    with pytest.raises(BadQuery, match="enrichment does not write"):
        check_request(attribute, "a,b")


@pytest.mark.parametrize("attribute", ["Pattern", "sleeve length", "", "1st", "a" * 65])
def test_invalid_attribute_names_are_refused(attribute):
    with pytest.raises(BadQuery, match="not an attribute name"):
        check_request(attribute, "a,b")


@pytest.mark.parametrize("values", ["striped", "striped, Striped ,STRIPED", ",, ,", []])
def test_fewer_than_two_distinct_values_are_refused(values):
    with pytest.raises(BadQuery, match="at least 2 distinct values"):
        check_request("pattern", values)


def test_a_500_value_list_is_refused():
    with pytest.raises(BadQuery, match="500 values are too many"):
        check_request("pattern", [f"v{i}" for i in range(500)])


def test_values_are_tidied_and_deduplicated_keeping_the_first_spelling():
    assert check_request("pattern", " Striped ,plain,  striped,Polka   dot ") == \
        ("pattern", ["Striped", "plain", "Polka dot"])


def test_enrich_with_no_products_indexed(store):
    with pytest.raises(NotIndexed):
        enrich(store, FakeTextTower(), "pattern", "striped,plain")
    store.ensure("hand-made", DIM)
    with pytest.raises(NotIndexed, match="no products to enrich"):
        enrich(store, FakeTextTower(), "pattern", "striped,plain")


def test_an_empty_filter_result_is_refused(shop):
    with pytest.raises(BadQuery, match="no product matches the filters"):
        enrich(shop, FakeTextTower(), "pattern", "striped,plain", filters=Filters.of({"category": ["Nothing"]}))


def test_a_bad_source_or_another_model_is_refused(shop):
    with pytest.raises(BadQuery, match="--from"):
        enrich(shop, FakeTextTower(), "pattern", "striped,plain", source="audio")
    other = FakeTextTower()
    other.name = "another-model"
    with pytest.raises(LensError):
        enrich(shop, other, "pattern", "striped,plain")


def test_one_wrong_product_at_the_top_does_not_sink_every_confidence(store):
    """20 known products, only the most confident one wrong: each threshold needs MIN_SUPPORT products above it,
    so the top level is 9 right of 10 and every level below it is capped there, not at the single product's 0."""
    store.ensure("hand-made", DIM)
    points = [point(f"k{i:02}", {"pattern": "striped"}, image=leaning(0.001 * (i + 1) * (-1 if i == 19 else 1)))
              for i in range(20)]
    points += [point("u0", {}, image=leaning(0.002)), point("u1", {}, image=leaning(0.05))]
    store.upsert(points)
    result = enrich(store, FakeTextTower(), "pattern", "striped,plain")
    assert result.summary["accuracy_on_known"] == 0.95
    assert [(p.product_id, p.confidence) for p in result.proposals] == [("u0", pytest.approx(0.9)),
                                                                          ("u1", pytest.approx(0.9))]
    assert result.calibration == [(pytest.approx(0.9), 0.95, 20)]


def test_kinds_with_their_own_prompts_shrink_as_the_value_list_grows():
    assert kinds_for(10) == 50          # 51 x 11 x 4 = 2,244 prompts
    assert kinds_for(100) == 8          # 9 x 101 x 4 = 3,636 prompts
    assert all((kinds_for(v) + 1) * (v + 1) * 4 <= 4000 for v in range(2, 101))


def test_rare_kinds_are_asked_as_products(store, monkeypatch):
    monkeypatch.setattr("core.insights.enrich.MAX_KINDS", 1)
    store.ensure("hand-made", DIM)
    store.upsert([point("a", {"product_type": "Shirts"}, image=leaning(0.02)),
                  point("b", {"product_type": "Shirts"}, image=leaning(0.02)),
                  point("c", {"product_type": "Caps"}, image=leaning(0.02))])
    tower = FakeTextTower()
    result = enrich(store, tower, "pattern", ["striped", "plain"])
    assert "a photo of a striped Shirts." in tower.seen and "a photo of a striped product." in tower.seen
    assert not any("Caps" in t for t in tower.seen)
    assert [p.product_id for p in result.proposals] == ["a", "b", "c"]

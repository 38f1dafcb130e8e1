"""The variant-aware colour audit on hand-made colour statistics: a colour is judged on the photo of the variant that
carries it, else on every photo; never flagged for a colour one of its photos shows; shared photos, unknown colour
names and drafts are left out of the judgement."""

from __future__ import annotations

import numpy as np
import pytest

from core.common.fields import (COLOUR_STATS, IMAGE_PATH, MATCHED_PHOTOS, PHOTO_COLOURS, PRODUCT_ID, SHARED_PHOTOS,
                                STATUS, VARIANTS)
from core.index.store import StoredPoint, point_id
from core.ingest.colour_stats import delta_e, reference_lab
from core.insights.audit import audit

DIM = 4
E1, E2, E3, E4 = np.eye(DIM, dtype=np.float32)


class ZeroTextTower:
    """Stands in for CLIP's text tower: every prompt's vector is orthogonal to every image vector here (E4 against
    E1), so CLIP adds 0 to every fit and the margins are the pixels' alone, known exactly; `like` gives some labels'
    prompts the image's own direction instead."""

    name, dim, image_size = "hand-made", DIM, None

    def __init__(self, like: tuple[str, ...] = ()):
        self.like = like

    def encode_texts(self, texts, batch_size=64):
        return np.stack([E1 if any(f"a {name} product" in t for name in self.like) else E4 for t in texts])


def unit(*parts) -> list[float]:
    v = np.sum(parts, axis=0)
    return list(v / np.linalg.norm(v))


def stats(name: str, weight: float = 1.0) -> list[list[float]]:
    """One photo's colour statistics: the colour's exact reference Lab covering `weight` of the product."""
    return [[*reference_lab(name), weight]]


def put(store, pid: str, colour, photos: dict[str, str | None] | None = None, variants=(), **payload):
    """A product whose photos (reference -> the colour it shows) are all matched; the hero is the first."""
    photos = photos or {}
    body = {PRODUCT_ID: pid, "colour": colour, IMAGE_PATH: next(iter(photos), ""), **payload}
    if photos:
        body.update({MATCHED_PHOTOS: list(photos), PHOTO_COLOURS: [stats(c) if c else None for c in photos.values()],
                     COLOUR_STATS: stats(next(iter(photos.values())))})
    if variants:
        body[VARIANTS] = [{"sku": f"{pid}-{i}", "colour": c, "image": image} for i, (c, image) in enumerate(variants)]
    store.upsert([StoredPoint(point_id(pid), {"image": list(E1), "text": list(E2)}, body)])


@pytest.fixture
def shop(edge):
    """Every label of LABELS held by some product, so each is a candidate the audit may suggest."""
    put(edge, "white-shirt", "White", {"white.jpg": "White"})
    put(edge, "green-coat", "Forest Green", {"coat.jpg": "Forest Green"})
    return edge


def suspects(store, **kwargs) -> list[tuple[str, str, str]]:
    return [(s.product_id, s.label, s.suggested) for s in audit(store, ZeroTextTower(), "colour", **kwargs).suspects]


def test_a_sky_blue_and_red_tee_with_a_red_variant_photo_is_not_flagged_for_red(shop):
    put(shop, "tee", ["Sky Blue", "Red"], {"front.jpg": "Sky Blue", "back.jpg": "Sky Blue", "sky.jpg": "Sky Blue",
                                           "red.jpg": "Red"},
        variants=[("Sky Blue", "sky.jpg"), ("Red", "red.jpg")])
    result = audit(shop, ZeroTextTower(), "colour")
    assert result.suspects == [] and result.checked == 3 and result.unknown == []


def test_a_variant_colour_that_no_photo_shows_is_flagged_on_its_own_photo(shop):
    # the Red variant's photo shows a white tee (a wrong variant image, or a wrong colour): Red is in no photo
    put(shop, "tee", ["Sky Blue", "Red"], {"front.jpg": "Sky Blue", "sky.jpg": "Sky Blue", "red.jpg": "White"},
        variants=[("Sky Blue", "sky.jpg"), ("Red", "red.jpg")])
    [suspect] = audit(shop, ZeroTextTower(), "colour").suspects
    assert (suspect.product_id, suspect.label, suspect.suggested) == ("tee", "Red", "White")
    assert suspect.evidence["photo"] == "red.jpg" and suspect.image_path == "red.jpg"
    red_from_white = delta_e(reference_lab("Red"), reference_lab("White"))
    assert suspect.margin == pytest.approx(red_from_white / 100, abs=1e-6)
    assert suspect.evidence["given_de"] == pytest.approx(red_from_white, abs=0.05)
    assert suspect.evidence["suggested_de"] == 0.0


def test_a_variant_colour_shown_by_another_of_its_photos_is_not_flagged(shop):
    # the Red variant's own photo is white, but the product's detail shot is red: a photo shows Red
    put(shop, "tee", ["Sky Blue", "Red"], {"front.jpg": "Sky Blue", "detail.jpg": "Red", "red.jpg": "White"},
        variants=[("Red", "red.jpg")])
    assert suspects(shop) == []


def test_a_colour_without_a_variant_photo_is_judged_on_every_photo(shop):
    put(shop, "back-red", "Red", {"front.jpg": "White", "back.jpg": "Red"})        # the back view shows it
    put(shop, "never-red", "Red", {"front.jpg": "White", "side.jpg": "Forest Green"})  # no photo does
    assert suspects(shop) == [("never-red", "Red", "White")]


def test_several_values_no_variant_carries_are_not_suspected_of_lacking_one(shop):
    put(shop, "striped", ["Red", "White"], {"front.jpg": "Red"})
    put(shop, "neither", ["Red", "Sky Blue"], {"front.jpg": "Forest Green"})
    # the given label is the product's value the photo comes closest to, as the audit always chose it
    green = reference_lab("Forest Green")
    assert delta_e(green, reference_lab("Sky Blue")) < delta_e(green, reference_lab("Red"))
    assert suspects(shop) == [("neither", "Sky Blue", "Forest Green")]


def test_a_photo_shared_by_many_products_is_left_out_of_the_judgement(shop):
    # a white size chart beside a red product labelled White: only the chart is white, and it does not count
    put(shop, "chart-white", "White", {"red.jpg": "Red", "size-chart.jpg": "White"},
        **{SHARED_PHOTOS: ["size-chart.jpg"]})
    put(shop, "chart-red", "Red", {"red.jpg": "Red", "size-chart.jpg": "White"}, **{SHARED_PHOTOS: ["size-chart.jpg"]})
    assert suspects(shop) == [("chart-white", "White", "Red")]


def test_an_unknown_colour_name_is_reported_as_unknown_never_judged(shop):
    put(shop, "uv", "Ultraviolet", {"uv.jpg": "Forest Green"})
    put(shop, "uv-red", ["Ultraviolet", "Red"], {"front.jpg": "Forest Green"})  # Red may be wrong, Ultraviolet right
    result = audit(shop, ZeroTextTower(), "colour")
    assert result.suspects == []
    assert [u.as_dict() for u in result.unknown] == [
        {"product_id": "uv", "field": "colour", "label": "Ultraviolet", "outcome": "unknown"},
        {"product_id": "uv-red", "field": "colour", "label": "Ultraviolet", "outcome": "unknown"}]
    assert result.unknown_count == 2 and result.checked == 4
    limited = audit(shop, ZeroTextTower(), "colour", limit=1)  # listed up to the limit, every one counted
    assert [u.product_id for u in limited.unknown] == ["uv"] and limited.unknown_count == 2


def test_an_unknown_name_is_never_suggested_by_clip_alone(shop):
    put(shop, "uv", "Ultraviolet", {"uv.jpg": "Forest Green"})
    # no colour statistics at all (an unreadable photo): CLIP alone, and CLIP says Ultraviolet (cosine 1)
    shop.upsert([StoredPoint(point_id("no-stats"), {"image": list(E1), "text": list(E2)},
                             {PRODUCT_ID: "no-stats", "colour": "Red"})])
    assert audit(shop, ZeroTextTower(like=("Ultraviolet",)), "colour").suspects == []
    # a known name CLIP prefers is suggested as before
    [suspect] = audit(shop, ZeroTextTower(like=("White",)), "colour").suspects
    assert (suspect.product_id, suspect.label, suspect.suggested, suspect.margin) == ("no-stats", "Red", "White", 1.0)


def test_a_variant_with_an_unknown_colour_leaves_the_other_variants_judged(shop):
    put(shop, "tee", ["Ultraviolet", "Red"], {"uv.jpg": "Sky Blue", "red.jpg": "White"},
        variants=[("Ultraviolet", "uv.jpg"), ("Red", "red.jpg")])
    result = audit(shop, ZeroTextTower(), "colour")
    assert [(s.product_id, s.label, s.suggested, s.evidence["photo"]) for s in result.suspects] == \
        [("tee", "Red", "White", "red.jpg")]
    assert [(u.product_id, u.label) for u in result.unknown] == [("tee", "Ultraviolet")]


def test_drafts_and_archived_are_left_out_unless_asked(shop):
    put(shop, "draft-red", "Red", {"a.jpg": "White"}, **{STATUS: "draft"})
    put(shop, "archived-red", "Red", {"b.jpg": "White"}, **{STATUS: "archived"})
    put(shop, "active-red", "Red", {"c.jpg": "White"}, **{STATUS: "active"})
    result = audit(shop, ZeroTextTower(), "colour")
    assert [s.product_id for s in result.suspects] == ["active-red"] and result.hidden == 2
    everything = audit(shop, ZeroTextTower(), "colour", show_hidden=True)
    assert [s.product_id for s in everything.suspects] == ["active-red", "archived-red", "draft-red"]
    assert everything.hidden == 0


def test_an_index_without_photo_keys_judges_the_hero_as_before(shop):
    # a product indexed before every photo was kept: its hero's statistics alone
    shop.upsert([StoredPoint(point_id("old"), {"image": list(E1), "text": list(E2)},
                             {PRODUCT_ID: "old", "colour": "Red", IMAGE_PATH: "old.jpg",
                              COLOUR_STATS: stats("Forest Green")})])
    [suspect] = audit(shop, ZeroTextTower(), "colour").suspects
    assert (suspect.product_id, suspect.label, suspect.suggested, suspect.evidence["photo"]) == \
        ("old", "Red", "Forest Green", "old.jpg")


def test_clip_judges_each_photo_from_the_photos_multivector(shop):
    # photos without colour statistics (CLIP alone): the hero looks White to CLIP, the back view Red
    tower = {"a photo of a Red product": E1, "a photo of a White product": E2}

    class Tower(ZeroTextTower):
        def encode_texts(self, texts, batch_size=64):
            return np.stack([tower.get(t, E4) for t in texts])

    def clip_only(pid, photo_rows):
        shop.upsert([StoredPoint(point_id(pid), {"image": photo_rows[0], "text": list(E4), "photos": photo_rows},
                                 {PRODUCT_ID: pid, "colour": "Red", IMAGE_PATH: f"{pid}-0.jpg",
                                  MATCHED_PHOTOS: [f"{pid}-{i}.jpg" for i in range(len(photo_rows))],
                                  PHOTO_COLOURS: [None] * len(photo_rows)})])

    clip_only("red-back", [list(E2), list(E1)])
    clip_only("never-red", [list(E2), unit(E2, E3)])
    result = audit(shop, Tower(), "colour")
    # the closest call is listed: the photo where White beats Red by least (cosine 0.707, not 1)
    assert [(s.product_id, s.label, s.suggested, s.evidence["photo"]) for s in result.suspects] == \
        [("never-red", "Red", "White", "never-red-1.jpg")]
    assert result.suspects[0].margin == pytest.approx(0.5 ** 0.5, abs=1e-4)

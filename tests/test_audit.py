"""The label audit: colour statistics made at index time, the two colour signals, the category path, the CLI."""

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

import core.insights.audit
import core.ingest.images
from core.insights.audit import audit
from core.cli import main
from core.ingest.colour_stats import delta_e, foreground_colours, hex_to_lab, srgb_to_lab
from core.ingest.colours import COLOUR_HEX
from core.common.fields import COLOUR_STATS, PRODUCT_ID
from core.ingest.sample import HEADER
from core.index.store import EdgeStore, StoredPoint, point_id
from tests.conftest import write_csv

DIM = 4  # the hand-made vectors of the category and colour-rule tests (the `edge` fixture's size)
RED, BLUE, NAVY, GREEN = COLOUR_HEX["Red"], COLOUR_HEX["Blue"], COLOUR_HEX["Navy Blue"], COLOUR_HEX["Green"]


def square(colour: str, size: int = 100, box=(23, 23, 77, 77), background="white", mode="RGB") -> Image.Image:
    image = Image.new(mode, (size, size), background)
    ImageDraw.Draw(image).rectangle(box, fill=colour)
    return image


# ---- colour statistics -----------------------------------------------------------------------------------------

def test_lab_conversion_matches_published_srgb_values():
    assert hex_to_lab("#ff0000") == pytest.approx((53.2408, 80.0925, 67.2032), abs=1e-3)
    assert hex_to_lab("#ffffff") == pytest.approx((100.0, 0.0, 0.0), abs=1e-3)
    assert hex_to_lab("#000000") == pytest.approx((0.0, 0.0, 0.0), abs=1e-9)
    assert srgb_to_lab([128, 128, 128]) == pytest.approx((53.585, 0.0, 0.0), abs=1e-2)  # companding undone
    assert delta_e((50, 0, 0), (53, 4, 0)) == 5.0  # CIE76: Euclidean


def test_red_square_on_white_is_one_red_colour():
    # 100 px square drawn off the 64 px thumbnail's grid: its outline blends with white, and must not count
    colours = foreground_colours(square(RED))
    assert len(colours) == 1
    assert delta_e(colours[0], hex_to_lab(RED)) < 3 and colours[0][3] == 1.0


def test_red_blue_product_gives_both_colours_with_their_shares():
    image = Image.new("RGB", (300, 200), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((40, 40, 159, 159), fill=RED)   # 120 columns: 60% of the product
    draw.rectangle((160, 40, 239, 159), fill=BLUE)  # 80 columns: 40%
    colours = foreground_colours(image)
    assert len(colours) == 2
    (red, blue) = colours
    assert delta_e(red, hex_to_lab(RED)) < 3 and delta_e(blue, hex_to_lab(BLUE)) < 3
    assert red[3] == pytest.approx(0.6, abs=0.03) and blue[3] == pytest.approx(0.4, abs=0.03)


def test_a_white_product_outlined_on_white_is_white_not_its_outline():
    # the shirt's white is as close to the background as the background is; the outline encloses it
    image = Image.new("RGB", (200, 240), (248, 248, 246))
    ImageDraw.Draw(image).rectangle((40, 30, 159, 209), fill=(245, 245, 245), outline=(120, 120, 120), width=4)
    colours = foreground_colours(image)
    assert delta_e(colours[0], hex_to_lab(COLOUR_HEX["White"])) < 3 and colours[0][3] > 0.8


@pytest.mark.parametrize("size", [(640, 40), (40, 640), (640, 32), (3, 3), (1, 1)])
def test_thin_and_tiny_photos_still_have_a_colour(size):
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).rectangle((size[0] // 8, size[1] // 8, size[0] - 1 - size[0] // 8,
                                     size[1] - 1 - size[1] // 8), fill=(122, 74, 36))
    colours = foreground_colours(image)
    assert colours and sum(c[3] for c in colours) > 0.9


def test_a_belt_photo_does_not_stop_indexing(settings, tmp_path, capsys):
    folder = tmp_path / "belts"
    image = Image.new("RGB", (640, 40), "white")
    ImageDraw.Draw(image).rectangle((10, 5, 629, 34), fill=(122, 74, 36))
    (folder / "images").mkdir(parents=True)
    image.save(folder / "images" / "b1.png")
    write_csv(folder / "catalog.csv", HEADER, [["b1", "Men", "Accessories", "Belts", "Belts", "Brown", "Casual",
                                              "Brown belt", "b1.png", ""]])
    assert main(["index", "--catalog", str(folder / "catalog.csv"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["indexed"] == 1


def test_sixteen_bit_greyscale_is_grey_not_white():
    import io

    buf = io.BytesIO()
    Image.fromarray((np.ones((20, 30)) * 30000).astype(np.uint16)).save(buf, "PNG")
    image = core.ingest.images.decode_image(buf.getvalue(), 40_000_000)
    assert image.mode == "RGB" and image.getpixel((0, 0)) == (116, 116, 116)  # 30000 / 257, not clipped to 255


def test_product_filling_the_frame_is_its_own_colour():
    colours = foreground_colours(Image.new("RGB", (120, 90), NAVY))
    assert len(colours) == 1 and delta_e(colours[0], hex_to_lab(NAVY)) < 1 and colours[0][3] == 1.0


def test_transparent_pixels_are_background_never_a_colour():
    cutout = Image.new("RGBA", (100, 100), (255, 0, 0, 0))  # a cut-out product on transparent red
    ImageDraw.Draw(cutout).ellipse((10, 10, 90, 90), fill=GREEN)
    colours = foreground_colours(cutout)
    assert len(colours) == 1 and delta_e(colours[0], hex_to_lab(GREEN)) < 3
    # a navy ring filling the frame around a transparent hole: the hole is not a (black) colour of the product
    ring = Image.new("RGBA", (100, 100), NAVY)
    ImageDraw.Draw(ring).ellipse((25, 25, 75, 75), fill=(0, 0, 0, 0))
    colours = foreground_colours(ring)
    assert len(colours) == 1 and delta_e(colours[0], hex_to_lab(NAVY)) < 1


def test_greyscale_and_palette_photos_are_read_as_rgb():
    grey = foreground_colours(square(90, mode="L", background=255))
    assert len(grey) == 1 and delta_e(grey[0], srgb_to_lab([90, 90, 90])) < 1
    palette = foreground_colours(square(RED).convert("P", palette=Image.Palette.ADAPTIVE, colors=4))
    assert len(palette) == 1 and delta_e(palette[0], hex_to_lab(RED)) < 3


# ---- end to end: planted labels through indexing and the CLI ---------------------------------------------------

CORRECT = ["Red", "Blue", "Navy Blue", "Black", "Green", "Yellow", "Orange", "Purple", "Grey", "Brown", "Pink",
           "White"]
PLANTED = {"13": ("Red", "Blue"), "14": ("Navy Blue", "Black")}  # id: (true colour, label given)


def planted_rows(price: str = "10") -> list[list[str]]:
    products = [(str(i + 1), colour, colour) for i, colour in enumerate(CORRECT)]
    products += [(pid, true, given) for pid, (true, given) in PLANTED.items()]
    rows = [[pid, "Men", "Apparel", "Topwear", "Tshirts", given, "Casual", f"{given} tee {pid}", f"{pid}.png", "",
             price] for pid, _, given in products]
    return rows + [["15", "Men", "Apparel", "Topwear", "Tshirts", "Red", "Casual", "Red tee 15", "gone.png", "", price]]


@pytest.fixture
def planted(tmp_path, settings):
    """12 solid products on white labelled right, two planted wrong labels, and one without a photo (text-only)."""
    folder = tmp_path / "planted"
    (folder / "images").mkdir(parents=True)
    for pid, true in [(str(i + 1), c) for i, c in enumerate(CORRECT)] + [(p, t) for p, (t, _) in PLANTED.items()]:
        square(COLOUR_HEX[true], 96, (20, 20, 75, 75)).save(folder / "images" / f"{pid}.png")
    catalog = write_csv(folder / "catalog.csv", [*HEADER, "Price"], planted_rows())
    assert main(["index", "--catalog", str(catalog), "--images", str(folder / "images"), "--json"]) == 0
    return catalog


def count_decodes(monkeypatch) -> list[int]:
    """Counts every photo the audit opens (its own opener, and the decoder underneath any other)."""
    calls = [0]
    real_open, real_decode = core.insights.audit.open_image, core.ingest.images.decode_image

    def opened(*args, **kwargs):
        calls[0] += 1
        return real_open(*args, **kwargs)

    def decoded(*args, **kwargs):
        calls[0] += 1
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(core.insights.audit, "open_image", opened)
    monkeypatch.setattr(core.ingest.images, "decode_image", decoded)
    return calls


def test_cli_ranks_the_two_planted_labels_first(planted, capsys):
    capsys.readouterr()
    assert main(["audit", "--json"]) == 0
    suspects = json.loads(capsys.readouterr().out)
    assert [(s["product_id"], s["label"], s["suggested"]) for s in suspects[:2]] == \
        [("13", "Blue", "Red"), ("14", "Black", "Navy Blue")]
    assert set(suspects[0]) == {"product_id", "field", "label", "outcome", "suggested", "margin", "evidence"}
    assert {s["outcome"] for s in suspects} == {"suspect"}  # every colour name here is known
    red_as_blue, navy_as_black = suspects[0]["evidence"], suspects[1]["evidence"]
    assert red_as_blue["given_de"] == pytest.approx(delta_e(hex_to_lab(RED), hex_to_lab(BLUE)), abs=0.5)
    assert navy_as_black["given_de"] == pytest.approx(
        delta_e(hex_to_lab(NAVY), hex_to_lab(COLOUR_HEX["Black"])), abs=0.5)
    assert red_as_blue["suggested_de"] < 0.5 and navy_as_black["suggested_de"] < 0.5
    # whatever the random model says, a correctly labelled solid product stays below both (CLIP moves <= 0.1)
    assert all(s["margin"] < suspects[1]["margin"] for s in suspects[2:])

    assert main(["audit"]) == 0
    lines = capsys.readouterr().out.splitlines()
    head, margin, evidence = lines[0].split("  ")[:2], lines[0].split("  ")[2], lines[0].split("  ")[3]
    assert head == ["13", "Blue -> Red"] and float(margin.removeprefix("margin ")) == pytest.approx(
        suspects[0]["margin"], abs=6e-4)
    assert evidence == (f"(dE {red_as_blue['given_de']:.1f} vs {red_as_blue['suggested_de']:.1f}, "
                        f"CLIP {red_as_blue['given_cos']:.3f} vs {red_as_blue['suggested_cos']:.3f})")
    assert lines[-1].startswith(f"14 checked, 1 skipped (no photo), 0 confirmed before, {len(suspects)} suspect(s)")


def test_audit_decodes_no_photo_when_the_index_stored_colour_statistics(planted, settings, embedder, monkeypatch):
    store = EdgeStore(settings.data_dir, settings.collection)
    try:
        assert sum(COLOUR_STATS in h.payload for h in store.scroll()) == 14  # not the text-only product
        calls = count_decodes(monkeypatch)
        result = audit(store, embedder)
    finally:
        store.close()
    assert calls[0] == 0 and result.decoded == 0
    assert (result.checked, result.skipped, result.unlabelled) == (14, 1, 0)
    assert [s.product_id for s in result.suspects[:2]] == ["13", "14"]


def test_an_index_without_colour_statistics_gets_them_once(planted, settings, embedder, monkeypatch):
    store = EdgeStore(settings.data_dir, settings.collection)
    try:
        before = {}
        for hit in store.scroll():  # as an index made before statistics were stored
            before[hit.id] = {k: v for k, v in hit.payload.items() if k != COLOUR_STATS}
            store.overwrite_payload(hit.id, before[hit.id])
        calls = count_decodes(monkeypatch)
        first = audit(store, embedder)
        assert calls[0] == 2 * 14 and first.decoded == 14  # each photo opened once (opener + decoder beneath)
        after = {h.id: h.payload for h in store.scroll()}
        assert {k: {x: v for x, v in p.items() if x != COLOUR_STATS} for k, p in after.items()} == before
        assert sum(COLOUR_STATS in p for p in after.values()) == 14
        calls[0] = 0
        second = audit(store, embedder)
    finally:
        store.close()
    assert calls[0] == 0 and second.decoded == 0
    assert [s.as_dict() for s in second.suspects] == [s.as_dict() for s in first.suspects]


def test_confirmed_labels_are_not_suspected_again(planted, settings, embedder):
    store = EdgeStore(settings.data_dir, settings.collection)
    try:
        result = audit(store, embedder, confirmed={("13", "colour", "Blue"), ("14", "category", "Black")})
    finally:
        store.close()
    assert result.suspects[0].product_id == "14" and "13" not in [s.product_id for s in result.suspects]
    assert result.confirmed == 1 and result.checked == 13


def test_attribute_only_reindex_keeps_the_colour_statistics(planted, settings, capsys):
    store = EdgeStore(settings.data_dir, settings.collection)
    stats = store.retrieve([point_id("13")])[0].payload[COLOUR_STATS]
    store.close()
    write_csv(planted, [*HEADER, "Price"], planted_rows(price="12"))  # not part of the text: vectors stay
    capsys.readouterr()
    assert main(["index", "--catalog", str(planted), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["indexed"], report["updated"]) == (0, 15), report["reembedded"]
    store = EdgeStore(settings.data_dir, settings.collection)
    payload = store.retrieve([point_id("13")])[0].payload
    store.close()
    assert payload["price"] == 12 and payload[COLOUR_STATS] == stats


# ---- hand-made vectors: a test double for the text tower only --------------------------------------------------

E1, E2, E3, E4 = np.eye(DIM, dtype=np.float32)


class FakeTextTower:
    """Stands in for CLIP's text tower only: each prompt's vector is given by hand, so every cosine of the audit
    is known exactly. Image vectors are the store's, written by the test; nothing else of a model is used."""

    name, dim, image_size = "hand-made", DIM, None

    def __init__(self, vectors: dict[str, np.ndarray]):
        self.vectors = vectors

    def encode_texts(self, texts, batch_size=64):
        return np.stack([self.vectors[t] for t in texts])


def unit(*parts) -> list[float]:
    v = np.sum(parts, axis=0)
    return list(v / np.linalg.norm(v))


def put(store, pid, payload, image=None):
    vectors = {"text": list(E4)} if image is None else {"image": image, "text": list(E4)}
    store.upsert([StoredPoint(point_id(pid), vectors, {PRODUCT_ID: pid, **payload})])


CATEGORY_TOWER = FakeTextTower({"a photo of a Apparel": E1, "a photo of a Footwear": E2,
                                "a photo of a Accessories": E3})


@pytest.fixture
def categories(edge):
    put(edge, "a1", {"category": "Apparel"}, list(E1))                    # right: margin -1
    put(edge, "a2", {"category": "Apparel"}, unit(0.6 * E1, 0.8 * E2))    # Footwear by 0.2
    put(edge, "a3", {"category": "Footwear"}, list(E3))                   # Accessories by 1.0
    put(edge, "a4", {"category": "Footwear"}, unit(E1, E2))               # a tie is not a suspect
    put(edge, "a5", {"category": "Apparel"})                              # no photo: skipped
    put(edge, "a6", {"category": "Accessories"}, unit(0.8 * E2, 0.6 * E3))  # Footwear by 0.2, after a2 (id)
    put(edge, "a7", {"category": ""}, list(E1))                           # no label
    return edge


def test_category_suspects_in_margin_order_then_product_id(categories):
    result = audit(categories, CATEGORY_TOWER, "category")
    assert [(s.product_id, s.label, s.suggested) for s in result.suspects] == \
        [("a3", "Footwear", "Accessories"), ("a2", "Apparel", "Footwear"), ("a6", "Accessories", "Footwear")]
    assert [s.margin for s in result.suspects] == pytest.approx([1.0, 0.2, 0.2], abs=1e-6)
    assert result.suspects[1].evidence == {"clip_margin": 0.2, "given_cos": 0.6, "suggested_cos": 0.8}
    assert (result.checked, result.skipped, result.unlabelled, result.suspected) == (5, 1, 1, 3)
    assert result.labels == ["Accessories", "Apparel", "Footwear"]


def test_category_limit_and_confirmed(categories):
    limited = audit(categories, CATEGORY_TOWER, "category", limit=2)
    assert [s.product_id for s in limited.suspects] == ["a3", "a2"] and limited.suspected == 3
    confirmed = audit(categories, CATEGORY_TOWER, "category", confirmed={("a3", "category", "Footwear")})
    assert [s.product_id for s in confirmed.suspects] == ["a2", "a6"] and confirmed.confirmed == 1


def test_bad_field_and_limit_are_refused(categories):
    with pytest.raises(core.insights.audit.BadQuery, match="colour, category, sub_category, not 'price'"):
        audit(categories, CATEGORY_TOWER, "price")
    with pytest.raises(core.insights.audit.BadQuery, match="at least 1"):
        audit(categories, CATEGORY_TOWER, "category", limit=0)


def stats(*colours):
    """Colour statistics as the indexer stores them, from (hex, weight) pairs (exact Lab, unrounded)."""
    return [[*hex_to_lab(COLOUR_HEX[name]), weight] for name, weight in colours]


def test_colour_rules_on_hand_made_statistics(edge):
    """Multi has no reference colour (CLIP alone); a two-colour label is not missing its second colour; pixels
    outvote any CLIP cosine beyond 10 ΔE, and CLIP decides within it."""
    tower = FakeTextTower({"a photo of a Red product": E1, "a photo of a White product": E2,
                           "a photo of a Multi product": E3, "a photo of a Blue product": E4})
    red_white = stats(("Red", 0.6), ("White", 0.4))
    put(edge, "c1", {"colour": ["Red", "White"], COLOUR_STATS: red_white}, list(E1))
    put(edge, "c2", {"colour": "White", COLOUR_STATS: red_white}, list(E1))       # Red: 4 ΔE and CLIP
    put(edge, "c3", {"colour": "White", COLOUR_STATS: red_white}, list(E2))       # CLIP says White: kept
    put(edge, "c4", {"colour": "Multi", COLOUR_STATS: stats(("Red", 1.0))}, unit(0.8 * E1, 0.6 * E3))
    put(edge, "c5", {"colour": "Blue", COLOUR_STATS: stats(("Blue", 1.0))}, list(E1))  # CLIP says Red: kept
    result = audit(edge, tower, "colour")
    assert [(s.product_id, s.label, s.suggested) for s in result.suspects] == \
        [("c4", "Multi", "Red"), ("c2", "White", "Red")]
    multi, white = result.suspects
    assert multi.margin == pytest.approx(0.2, abs=1e-6) and multi.evidence["pixel_margin"] is None
    # pixels: White fits at 20 * (1 - 0.4) = 12, Red at 20 * (1 - 0.6) = 8; CLIP: cos 1 for Red, 0 for White
    assert white.margin == pytest.approx((12 - 8) / 100 + 0.05 * 1.0, abs=1e-6)
    assert (white.evidence["pixel_margin"], white.evidence["clip_margin"]) == (4.0, 1.0)
    assert result.checked == 5 and result.decoded == 0


def test_set_payload_adds_keys_and_keeps_the_others(store):
    store.ensure("hand-made", DIM)
    put(store, "p1", {"colour": "Red", "title": "a"}, list(E1))
    put(store, "p2", {"colour": "Blue"}, list(E2))
    store.set_payload({point_id("p1"): {COLOUR_STATS: [[1.0, 2.0, 3.0, 1.0]]}})
    store.flush()
    payloads = {h.payload[PRODUCT_ID]: h.payload for h in store.retrieve([point_id("p1"), point_id("p2")])}
    assert payloads == {"p1": {PRODUCT_ID: "p1", "colour": "Red", "title": "a", COLOUR_STATS: [[1.0, 2.0, 3.0, 1.0]]},
                        "p2": {PRODUCT_ID: "p2", "colour": "Blue"}}


# ---- bad input through the CLI ---------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--field", "price"], "error: the audit checks colour, category, sub_category, not 'price'"),
    (["--limit", "0"], "error: --limit must be at least 1, got 0"),
    (["--limit", "-3"], "error: --limit must be at least 1, got -3"),
])
def test_cli_refuses_bad_field_and_limit_in_one_line(settings, capsys, args, message):
    assert main(["audit", *args]) == 2
    assert capsys.readouterr().err.strip() == message


def test_cli_on_a_missing_or_empty_index_says_so(settings, embedder, capsys):
    assert main(["audit"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "python -m core index" in err
    store = EdgeStore(settings.data_dir, settings.collection)
    store.ensure(embedder.name, embedder.dim)
    store.close()
    assert main(["audit"]) == 2
    assert capsys.readouterr().err.strip() == "error: the index has no products to audit: index a catalogue first"

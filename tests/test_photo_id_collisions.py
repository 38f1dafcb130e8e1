"""Product ids that collide once made file-name safe never take another product's photo: an exact file name
always wins, and a photo that several ids could claim goes to none of them, each reported with the reason."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from PIL import Image

from core.ingest.catalog import read_catalog
from tests.conftest import write_csv

ROOT = Path(__file__).resolve().parent.parent
DEADLINE_S = 120  # seconds at 20,000 ids when linear, over ten minutes when quadratic
FILES = ("a_b.jpg", "ABC.jpg", "abc.jpg", "_.jpg", "__.jpg")
IDS = ("abc", "a/b", "a b", "a:b", "a_b", "é", "ü")
OWNED = "photo not chosen: a_b.jpg is the photo of product a_b, whose id is its exact name"
SHARED = ("photo not chosen: _.jpg could be the photo of several products, whose ids differ only in case or in "
          "characters a file name cannot hold; it is given to none of them: name each photo exactly after its "
          "product id")


def photos(folder: Path, names=FILES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n, name in enumerate(names):
        Image.new("RGB", (16, 16), (40 * n, 255 - 40 * n, 90)).save(folder / name)
    return folder


def catalogue(folder: Path, ids=IDS) -> Path:
    return write_csv(folder / "items.csv", ["id", "title"], [[i, f"Product {i}"] for i in ids])


def chosen(catalog) -> dict[str, tuple[str | None, str | None]]:
    return {p.product_id: (p.image_file.name if p.image_file else None, p.image_problem) for p in catalog.products}


def test_exact_names_win_and_contested_photos_go_to_no_one(tmp_path):
    images = photos(tmp_path / "images")
    catalog = read_catalog(catalogue(tmp_path), images)
    assert chosen(catalog) == {
        "abc": ("abc.jpg", None),           # not ABC.jpg, although it sorts first
        "a/b": (None, OWNED), "a b": (None, OWNED), "a:b": (None, OWNED),
        "a_b": ("a_b.jpg", None),
        "é": (None, SHARED), "ü": (None, SHARED),
    }
    assert catalog.problems == []  # still indexed, from their text, with the reason listed


def test_a_loose_match_only_one_id_claims_is_still_found(tmp_path):
    images = photos(tmp_path / "images")
    catalog = read_catalog(catalogue(tmp_path, ("a b", "ü", "ABC")), images)
    assert chosen(catalog) == {"a b": ("a_b.jpg", None), "ü": ("_.jpg", None), "ABC": ("ABC.jpg", None)}


def test_two_photos_that_read_the_same_are_given_to_neither(tmp_path):
    images = photos(tmp_path / "images")
    catalog = read_catalog(catalogue(tmp_path, ("Abc",)), images)
    assert chosen(catalog) == {"Abc": (None, "photo not chosen: ABC.jpg, abc.jpg could each be the photo of Abc and "
                                             "none has its exact name; name the photo exactly after the product id")}


def test_two_photos_that_read_the_same_with_different_extensions_are_given_to_neither(tmp_path):
    """abc.jpg and Abc.png for ABC gave the .jpg silently (the first extension with a match was the only one
    looked at), where abc.jpg and Abc.jpg were refused."""
    images = photos(tmp_path / "images", ("abc.jpg", "Abc.png", "x.webp"))
    catalog = read_catalog(catalogue(tmp_path, ("ABC", "X")), images)
    assert chosen(catalog) == {"ABC": (None, "photo not chosen: Abc.png, abc.jpg could each be the photo of ABC and "
                                             "none has its exact name; name the photo exactly after the product id"),
                               "X": ("x.webp", None)}


def test_an_exact_file_name_in_a_sub_folder_wins_too(tmp_path):
    images = tmp_path / "images"
    photos(images / "shoes", ("ABC.jpg",))
    photos(images / "tops", ("abc.jpg",))
    catalog = read_catalog(catalogue(tmp_path, ("abc", "ABC")), images)
    assert chosen(catalog) == {"abc": ("abc.jpg", None), "ABC": ("ABC.jpg", None)}
    [abc, upper] = catalog.products
    assert abc.image_file.parent.name == "tops" and upper.image_file.parent.name == "shoes"
    by_reference = read_catalog(write_csv(tmp_path / "refs.csv", ["id", "title", "image"],
                                          [["1", "Cap", "abc.jpg"], ["2", "Hat", "ABC.jpg"]]), images)
    assert chosen(by_reference) == {"1": ("abc.jpg", None), "2": ("ABC.jpg", None)}


def test_the_index_report_lists_each_product_refused_a_photo_with_its_reason(settings, tmp_path, capsys):
    from core.cli import main

    images = photos(tmp_path / "images")
    path = catalogue(tmp_path)
    assert main(["index", "--catalog", str(path), "--images", str(images), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["total"], report["indexed"], report["text_only"]) == (7, 7, 5)
    assert report["failed"] == [
        {"row": 3, "product_id": "a/b", "reason": f"indexed text-only: {OWNED}"},
        {"row": 4, "product_id": "a b", "reason": f"indexed text-only: {OWNED}"},
        {"row": 5, "product_id": "a:b", "reason": f"indexed text-only: {OWNED}"},
        {"row": 7, "product_id": "é", "reason": f"indexed text-only: {SHARED}"},
        {"row": 8, "product_id": "ü", "reason": f"indexed text-only: {SHARED}"}]


def test_a_row_with_an_empty_image_cell_claims_by_id(tmp_path):
    """A row with an image column left empty looks its photo up by id, and so takes part in the claims."""
    images = photos(tmp_path / "images")
    path = write_csv(tmp_path / "items.csv", ["id", "title", "image"],
                     [["é", "Cap", ""], ["ü", "Hat", ""], ["x", "Scarf", "__.jpg"]])
    assert chosen(read_catalog(path, images)) == {"é": (None, SHARED), "ü": (None, SHARED),
                                                              "x": ("__.jpg", None)}


MANY = 20_000
READ_MANY_CLAIMANTS = f"""
import sys
from pathlib import Path
from core.ingest.catalog import read_catalog
from tests.conftest import write_csv
from tests.test_photo_id_collisions import photos

folder = Path(sys.argv[1])
ids = ["x" + chr(0x4E00 + n) for n in range({MANY})]  # each reads 'x_' loosely, none has a photo of its own
photos(folder / "images", ("x_.jpg",))
path = write_csv(folder / "items.csv", ["id", "title"], [[i, "Tea bowl"] for i in ids])
products = read_catalog(path, folder / "images").products
print(len(products), sum(p.image_file is None for p in products), len({{p.image_problem for p in products}}))
"""


def test_twenty_thousand_ids_claiming_one_photo_are_read_in_linear_time(tmp_path):
    """Each claimant used to walk every other claimant (and look up its exact photo): 8,000 ids took 113 s. In a
    subprocess with a generous deadline, so the quadratic version fails instead of hanging the suite."""
    proc = subprocess.run([sys.executable, "-c", READ_MANY_CLAIMANTS, str(tmp_path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=DEADLINE_S)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == [str(MANY), str(MANY), "1"]  # all refused x_.jpg, with one and the same reason


def test_one_more_id_claiming_a_contested_photo_embeds_only_that_product(settings, embedder, tmp_path):
    """A missing photo's fingerprint came from its message, which counted and named the claimants: adding ö
    beside é and ü embedded é and ü again too, as 'photo changed'."""
    from core.index.fingerprints import NEW_PRODUCT
    from core.index.indexer import index_catalog
    from core.index.store import EdgeStore

    images = photos(tmp_path / "images")
    store = EdgeStore(settings.data_dir, settings.collection)
    try:
        first = index_catalog(catalogue(tmp_path, ("é", "ü", "abc")), images, embedder, store)
        assert (first.indexed, first.text_only) == (3, 2)
        again = index_catalog(catalogue(tmp_path, ("é", "ü", "abc", "ö")), images, embedder, store)
        assert (again.indexed, again.unchanged, again.text_only) == (1, 3, 3)
        assert again.reembedded == [("ö", [NEW_PRODUCT])]
        assert [(p.product_id, p.reason) for p in again.failed] == [
            ("é", f"indexed text-only: {SHARED}"), ("ü", f"indexed text-only: {SHARED}"),
            ("ö", f"indexed text-only: {SHARED}")]  # the same words for each: nothing stored goes stale
        order = index_catalog(catalogue(tmp_path, ("ö", "abc", "ü", "é")), images, embedder, store)
        assert (order.indexed, order.reembedded) == (0, [])  # nor does a new order
    finally:
        store.close()

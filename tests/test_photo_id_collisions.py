"""Product ids that collide once made file-name safe never take another product's photo: an exact file name
always wins, and a photo that several ids could claim goes to none of them, each reported with the reason."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from core.catalog import read_catalog
from tests.conftest import write_csv

FILES = ("a_b.jpg", "ABC.jpg", "abc.jpg", "_.jpg", "__.jpg")
IDS = ("abc", "a/b", "a b", "a:b", "a_b", "é", "ü")
OWNED = "photo not chosen: a_b.jpg is the photo of product a_b, whose id is its exact name"
SHARED = ("photo not chosen: _.jpg could be the photo of 2 products (é, ü), whose ids differ only in case or in "
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

"""Catalogue reading: schema, payload keys, image resolution and every kind of bad row."""

import pytest

from core.ingest.catalog import product_text, read_catalog, snake_case
from core.common.errors import CatalogError
from tests.conftest import PRODUCTS, write_catalog


def test_payload_uses_snake_case_keys_and_keeps_extra_columns(catalog):
    result = read_catalog(catalog, catalog.parent / "images")
    assert [p.product_id for p in result.products] == [r[0] for r in PRODUCTS]
    first = result.products[0]
    # Typed values: colour is a list role, price a number; the empty ImageURL cell is left out.
    assert first.payload == {
        "product_id": "1", "gender": "Women", "category": "Apparel", "sub_category": "Dress",
        "product_type": "Dresses", "colour": ["Red"], "usage": "Party", "title": "Mango Women Red Dress",
        "price": 10.0, "on_sale": "no", "image_path": str((catalog.parent / "images/Apparel/1.jpg").resolve()),
        "photos": [str((catalog.parent / "images/Apparel/1.jpg").resolve())],  # issue 21: every photo, hero first
    }
    assert result.problems == [] and result.total_rows == len(PRODUCTS)


def test_images_found_recursively_by_product_id_when_image_column_absent(tmp_path):
    folder = tmp_path / "c"
    write_catalog(folder)
    text = (folder / "catalog.csv").read_text().splitlines()
    # Drop the Image and ImageURL columns.
    (folder / "catalog.csv").write_text("\n".join(",".join(line.split(",")[:8]) for line in text) + "\n")
    result = read_catalog(folder / "catalog.csv", folder / "images")
    assert all(p.image_file and p.image_file.name == f"{p.product_id}.jpg" for p in result.products)


def test_missing_required_column_names_it_and_lists_found_columns(tmp_path):
    csv_path = tmp_path / "bad.csv"
    csv_path.write_text("ProductId,Gender,Category,SubCategory,ProductType,Usage,ProductTitle\n1,Men,A,B,C,D,E\n")
    with pytest.raises(CatalogError) as err:
        read_catalog(csv_path)
    assert "Colour" in str(err.value)
    assert "7 column(s) found (comma-separated): ProductId, Gender, Category, SubCategory, ProductType, Usage, ProductTitle" in str(err.value)


def test_missing_csv_file_is_a_clear_error(tmp_path):
    with pytest.raises(CatalogError, match="not found"):
        read_catalog(tmp_path / "nope.csv")


def test_bad_rows_are_reported_with_row_numbers_and_reasons(tmp_path):
    folder = tmp_path / "c"
    csv_path = write_catalog(folder, rows=PRODUCTS[:2])
    with open(csv_path, "ab") as fh:
        fh.write(b",Men,Apparel,Topwear,Tshirts,Blue,Casual,No id,x.jpg,\n")             # row 4: empty id
        fh.write(b"1,Men,Apparel,Topwear,Tshirts,Blue,Casual,Dup,1.jpg,\n")              # row 5: duplicate
        fh.write(b"7,Men,Apparel,Topwear\n")                                              # row 6: too few fields
        fh.write(b"8,Men,Apparel,Topwear,Tshirts,Blue,Casual,Caf\xe9 tee,8.jpg,\n")      # row 7: not UTF-8
    result = read_catalog(csv_path, folder / "images")
    assert [p.product_id for p in result.products] == ["1", "2"]
    assert [(p.row, p.product_id) for p in result.problems] == [(4, ""), (5, "1"), (6, "7"), (7, "8")]
    reasons = [p.reason for p in result.problems]
    assert reasons[0] == "empty ProductId"
    assert reasons[1] == "duplicate ProductId 1 (first seen on row 2)"
    assert reasons[2] == "unreadable CSV row: expected 10 fields, found 4"
    assert reasons[3] == "row is not valid UTF-8 text"
    assert result.total_rows == 6


@pytest.mark.parametrize("image_value, reason", [
    ("../secret.jpg", "escapes the images folder"),
    ("sub/../../secret.jpg", "escapes the images folder"),
    ("/etc/passwd", "absolute"),
    ("missing.jpg", "image file not found: missing.jpg"),
])
def test_image_paths_outside_the_folder_are_refused(tmp_path, image_value, reason):
    (tmp_path / "secret.jpg").write_bytes(b"x")
    images = tmp_path / "images"
    images.mkdir()
    csv_path = tmp_path / "c.csv"
    csv_path.write_text("ProductId,Gender,Category,SubCategory,ProductType,Colour,Usage,ProductTitle,Image\n"
                        f"1,Men,A,B,C,Red,D,Title,{image_value}\n")
    product = read_catalog(csv_path, images).products[0]
    assert product.image_file is None
    assert reason in product.image_problem


def test_product_text_adds_only_attributes_the_title_lacks_and_is_capped():
    payload = {"title": "Mango Women Red Dress", "colour": "Red", "product_type": "Dresses", "gender": "Women",
               "usage": "Party", "sub_category": "Dress", "category": "Apparel"}
    assert product_text(payload) == "Mango Women Red Dress. Dresses, Party, Apparel"
    long = dict(payload, title=" ".join(f"word{i}" for i in range(200)))
    assert len(product_text(long).split()) == 40


@pytest.mark.parametrize("name, key", [("SubCategory", "sub_category"), ("ProductTitle", "product_title"),
                                       ("Season Year", "season_year"), ("price", "price")])
def test_snake_case(name, key):
    assert snake_case(name) == key


@pytest.mark.parametrize("header, clash", [
    ("ProductId,Gender,Category,SubCategory,ProductType,Colour,Usage,ProductTitle,Title", "title"),
    ("ProductId,Gender,Category,SubCategory,ProductType,Colour,Usage,ProductTitle,Price,price", "price"),
    ("ProductId,Gender,Category,SubCategory,ProductType,Colour,Usage,ProductTitle,Fingerprint", "fingerprint"),
    ("ProductId,Gender,Category,SubCategory,ProductType,Colour,Usage,ProductTitle,Image Path", "image_path"),
])
def test_columns_that_would_overwrite_each_other_are_refused(tmp_path, header, clash):
    csv_path = tmp_path / "c.csv"
    csv_path.write_text(header + "\n")
    with pytest.raises(CatalogError, match=f"would overwrite.*{clash}"):
        read_catalog(csv_path)


def test_overlong_image_name_is_a_row_problem_not_a_crash(tmp_path):
    csv_path = tmp_path / "c.csv"
    csv_path.write_text("ProductId,Gender,Category,SubCategory,ProductType,Colour,Usage,ProductTitle,Image\n"
                        f"1,Men,A,B,C,Red,D,Title,{'x' * 300}.jpg\n")
    product = read_catalog(csv_path, tmp_path).products[0]
    assert product.image_file is None and "image path unusable" in product.image_problem


def test_image_lookup_is_case_insensitive_and_never_swaps_folders(tmp_path):
    images = tmp_path / "images"
    (images / "men").mkdir(parents=True)
    (images / "men/1.jpg").write_bytes(b"x")
    (images / "deep/er").mkdir(parents=True)
    (images / "deep/er/7.JPG").write_bytes(b"x")
    (images / "8.jpeg").write_bytes(b"x")
    csv_path = tmp_path / "c.csv"
    csv_path.write_text("ProductId,Gender,Category,SubCategory,ProductType,Colour,Usage,ProductTitle,Image\n"
                        "1,Women,A,B,C,Red,D,T,women/1.jpg\n7,Men,A,B,C,Red,D,T,\n8,Men,A,B,C,Red,D,T,\n")
    by_id = {p.product_id: p for p in read_catalog(csv_path, images).products}
    assert by_id["1"].image_file is None and "women/1.jpg" in by_id["1"].image_problem
    assert by_id["7"].image_file.name == "7.JPG"
    assert by_id["8"].image_file.name == "8.jpeg"

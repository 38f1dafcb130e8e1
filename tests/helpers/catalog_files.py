"""Catalogue files as a merchandiser uploads them: CSVs in known and unknown layouts, photos, a zip of photos."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

from core.ingest.sample import draw_product

KNOWN = ["SKU", "Name", "Color", "Photo"]


KNOWN_ROWS = [["D1", "Red summer dress", "Red", "d1.jpg"], ["T2", "Blue cotton tee", "Blue", "t2.jpg"],
              ["S3", "Brown leather sandal", "Brown", "s3.jpg"]]


UNKNOWN = ["Item Code", "Product Name", "Colour Name", "Cost", "Picture"]


UNKNOWN_ROWS = [["D1", "Red summer dress", "Red", "49.90", "d1.jpg"],
                ["T2", "Blue cotton tee", "Blue", "19.99", "t2.jpg"],
                ["S3", "Brown leather sandal", "Brown", "35.00", "s3.jpg"]]


KINDS = {"D1": ("Dresses", "Red"), "T2": ("Tshirts", "Blue"), "S3": ("Sandals", "Brown")}


def csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def photo(product_id: str) -> bytes:
    buf = io.BytesIO()
    draw_product(*KINDS[product_id], "Solid").save(buf, "JPEG")
    return buf.getvalue()


def photos_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def everything(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}

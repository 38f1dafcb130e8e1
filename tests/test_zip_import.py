"""extract_photos on zips built here: photos only, nothing outside the target, bombs refused and cleaned up."""

from __future__ import annotations

import io
import stat
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from core.ingest import zip_import
from core.common.errors import CatalogError
from core.ingest.zip_import import ExtractReport, extract_photos

PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # incompressible enough: a deflate ratio near 1


def build(path: Path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> Path:
    """A zip at path holding members (name -> bytes)."""
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def everything(folder: Path) -> set[str]:
    """Every path under folder, relative to it."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_only_photos_are_extracted_and_the_rest_is_skipped_with_a_reason(tmp_path):
    zipped = build(tmp_path / "photos.zip", {
        "a.jpg": PHOTO, "shoes/red/b.PNG": PHOTO, "c.webp": PHOTO, "d.gif": PHOTO, "e.jpeg": PHOTO,
        "readme.txt": b"hello", "run.sh": b"rm -rf /", "noext": b"x", "empty/": b""})
    report = extract_photos(zipped, tmp_path / "out")
    assert report == ExtractReport(extracted=5, skipped=[("readme.txt", "not a photo (.txt)"),
                                                         ("run.sh", "not a photo (.sh)"),
                                                         ("noext", "not a photo (no extension)")],
                                   bytes_written=5 * len(PHOTO))
    assert everything(tmp_path / "out") == {"a.jpg", "shoes", "shoes/red", "shoes/red/b.PNG", "c.webp", "d.gif",
                                            "e.jpeg", "empty"}
    assert (tmp_path / "out" / "shoes" / "red" / "b.PNG").read_bytes() == PHOTO


def test_an_uploaded_file_object_works_like_a_path(tmp_path):
    upload = io.BytesIO(build(tmp_path / "photos.zip", {"a.jpg": PHOTO}).read_bytes())
    report = extract_photos(upload, tmp_path / "out")
    assert (report.extracted, report.bytes_written) == (1, len(PHOTO))
    assert (tmp_path / "out" / "a.jpg").read_bytes() == PHOTO


@pytest.mark.parametrize("name, reason", [
    ("../evil.png", "path leaves the folder (..)"), ("a/../../evil.png", "path leaves the folder (..)"),
    ("../", "path leaves the folder (..)"),
    ("/tmp/evil.png", "absolute path"), ("C:/evil.png", "absolute path"), ("C:evil.png", "absolute path"),
    ("..\\evil.png", "backslash in path"), ("a\\..\\..\\evil.png", "backslash in path")])
def test_entries_that_would_land_outside_the_target_are_skipped(tmp_path, name, reason):
    root = tmp_path / "root"
    root.mkdir()
    zipped = build(tmp_path / "photos.zip", {name: PHOTO, "ok.png": PHOTO})
    report = extract_photos(zipped, root / "upload" / "out")
    assert report.skipped == [(name, reason)]
    assert report.extracted == 1
    assert everything(root) == {"upload", "upload/out", "upload/out/ok.png"}
    assert everything(tmp_path) == {"root", "photos.zip", *(f"root/{p}" for p in everything(root))}


def test_symlink_entries_are_skipped_and_never_created(tmp_path):
    link = zipfile.ZipInfo("link.png")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(tmp_path / "photos.zip", "w") as zf:
        zf.writestr(link, "/etc/passwd")
        zf.writestr("ok.png", PHOTO)
    report = extract_photos(tmp_path / "photos.zip", tmp_path / "out")
    assert report.skipped == [("link.png", "symbolic link")]
    assert everything(tmp_path / "out") == {"ok.png"}


def test_a_folder_in_the_target_that_links_elsewhere_is_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "shoes").symlink_to(outside)
    report = extract_photos(build(tmp_path / "photos.zip", {"shoes/a.png": PHOTO}), tmp_path / "out")
    assert report.skipped == [("shoes/a.png", "path leaves the folder")]
    assert list(outside.iterdir()) == []


def test_a_declared_total_over_the_cap_refuses_the_whole_zip_before_extracting(tmp_path):
    zipped = build(tmp_path / "photos.zip", {"a.png": PHOTO, "b.png": PHOTO})
    with pytest.raises(CatalogError, match=f"would take {2 * len(PHOTO):,} bytes; the limit is 1,500"):
        extract_photos(zipped, tmp_path / "out", max_total_bytes=1500)
    assert not (tmp_path / "out").exists()


def test_too_many_files_refuses_the_whole_zip(tmp_path):
    zipped = build(tmp_path / "photos.zip", {f"{i}.png": PHOTO for i in range(4)})
    with pytest.raises(CatalogError, match="the zip holds 4 files; at most 3"):
        extract_photos(zipped, tmp_path / "out", max_files=3)
    assert not (tmp_path / "out").exists()


def test_a_real_zip_bomb_is_stopped_and_what_was_extracted_is_removed(tmp_path):
    zipped = build(tmp_path / "bomb.zip", {"first.png": PHOTO, "deep/bomb.png": bytes(50_000_000)})
    assert zipped.stat().st_size < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(CatalogError, match=r"^deep/bomb.png expands more than 100 times \(a zip bomb\?\)"):
            extract_photos(zipped, tmp_path / "out")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8_000_000  # streamed in chunks, never held whole
    assert everything(tmp_path / "out") == set()


def test_the_real_total_is_counted_while_streaming_when_headers_lie(tmp_path, monkeypatch):
    monkeypatch.setattr(zip_import, "_declared_total", lambda plan: 0)  # as if every header claimed 0 bytes
    zipped = build(tmp_path / "photos.zip", {"a.png": PHOTO, "b/b.png": PHOTO, "c.png": PHOTO},
                   zipfile.ZIP_STORED)
    with pytest.raises(CatalogError, match="the photos expand past 2,500 bytes"):
        extract_photos(zipped, tmp_path / "out", max_total_bytes=2500)
    assert everything(tmp_path / "out") == set()


def test_a_member_whose_header_understates_its_size_is_skipped_as_damaged(tmp_path):
    zipped = build(tmp_path / "photos.zip", {"a.png": PHOTO, "ok.png": PHOTO}, zipfile.ZIP_STORED)
    data = bytearray(zipped.read_bytes())
    local, central = data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02")
    data[local + 22:local + 26] = (100).to_bytes(4, "little")      # uncompressed size in the local header
    data[central + 24:central + 28] = (100).to_bytes(4, "little")  # ... and in the central directory
    zipped.write_bytes(bytes(data))
    report = extract_photos(zipped, tmp_path / "out")
    assert report.extracted == 1 and report.bytes_written == len(PHOTO)
    assert [(name, reason.startswith("damaged or unsupported in the zip")) for name, reason in report.skipped] == [
        ("a.png", True)]
    assert everything(tmp_path / "out") == {"ok.png"}


@pytest.mark.parametrize("content", [b"<html>not a zip</html>", b"PK\x03\x04" + bytes(100), b""])
def test_a_corrupt_or_non_zip_upload_is_a_catalog_error(tmp_path, content):
    with pytest.raises(CatalogError, match="^not a zip file"):
        extract_photos(io.BytesIO(content), tmp_path / "out")
    (tmp_path / "upload.zip").write_bytes(content)
    with pytest.raises(CatalogError, match="^not a zip file"):
        extract_photos(tmp_path / "upload.zip", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_member_with_a_corrupt_deflate_stream_is_skipped_not_fatal(tmp_path):
    path = build(tmp_path / "photos.zip", {"a.jpg": PHOTO * 4, "b.jpg": PHOTO})
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        first = zf.getinfo("a.jpg")
    start = first.header_offset + 30 + len(first.filename)  # the local header is 30 bytes plus the name
    raw[start:start + 8] = b"\xff" * 8  # garbage where the deflate stream begins
    path.write_bytes(bytes(raw))
    report = extract_photos(path, tmp_path / "out")
    assert report.extracted == 1 and [name for name, _ in report.skipped] == ["a.jpg"]
    assert report.skipped[0][1].startswith("damaged or unsupported in the zip")
    assert everything(tmp_path / "out") == {"b.jpg"}


def test_gif_photos_from_a_zip_are_found_by_the_catalogue(tmp_path):
    from core.ingest.catalog import ImageResolver

    build(tmp_path / "photos.zip", {"shop/p1.gif": b"GIF89a" + bytes(40)})
    extract_photos(tmp_path / "photos.zip", tmp_path / "out")
    path, problem = ImageResolver(tmp_path / "out").resolve("p1", "")
    assert problem is None and path.name == "p1.gif"


# ---- issue 19, item 21: one long member name never aborts the import --------------------------------------------

LONG = "x" * 246 + ".jpg"  # 250 characters: a legal file name, but ".<name>.part" is not


def test_a_250_character_member_name_is_skipped_with_its_reason_and_the_rest_imported(tmp_path):
    zipped = build(tmp_path / "photos.zip", {"a.jpg": PHOTO, LONG: PHOTO, "b.jpg": PHOTO})
    report = extract_photos(zipped, tmp_path / "out")
    assert report == ExtractReport(extracted=2, skipped=[(LONG, "name too long (250 bytes; at most 200 per folder "
                                                                "or file name)")], bytes_written=2 * len(PHOTO))
    assert everything(tmp_path / "out") == {"a.jpg", "b.jpg"}


def test_a_long_folder_name_in_a_member_path_is_skipped_too(tmp_path):
    folder = "é" * 101 + "/c.jpg"  # 101 characters, 202 bytes: the limit is the file system's, in bytes
    report = extract_photos(build(tmp_path / "photos.zip", {folder: PHOTO, "a.jpg": PHOTO}), tmp_path / "out")
    assert report.skipped == [(folder, "name too long (202 bytes; at most 200 per folder or file name)")]
    assert everything(tmp_path / "out") == {"a.jpg"}


def test_a_name_the_file_system_refuses_is_skipped_even_when_removing_its_part_file_fails_again(tmp_path,
                                                                                                monkeypatch):
    monkeypatch.setattr(zip_import, "MAX_NAME_BYTES", 255, raising=False)  # let the name reach the file system
    report = extract_photos(build(tmp_path / "photos.zip", {"a.jpg": PHOTO, LONG: PHOTO, "b.jpg": PHOTO}),
                            tmp_path / "out")
    assert (report.extracted, report.skipped) == (2, [(LONG, "cannot be written (File name too long)")])
    assert everything(tmp_path / "out") == {"a.jpg", "b.jpg"}

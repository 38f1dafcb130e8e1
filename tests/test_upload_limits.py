"""Uploads (issue 19: 6, 7, 8): .tsv and .txt catalogues, one size limit per kind of file with the server's cap
equal to the zip import's, uploads saved in chunks, photos from a folder or .zip on the server, a chosen zip that
never arrived stops the run, and the Gaps page's report after adding a reference."""

from __future__ import annotations

import io
import tomllib

import pytest

from core.ingest import uploads

from core.ingest import zip_import
from core.common.errors import CatalogError
from core.ingest.uploads import CATALOGUE, MB, PHOTOS_ZIP, QUERY_PHOTO, UploadKind, save_upload, server_photos
from tests.conftest import ROOT, write_catalog
from tests.helpers.apptest import shown, start
from tests.helpers.catalog_files import KNOWN, KNOWN_ROWS, csv_bytes, everything, photo, photos_zip

TSV = csv_bytes(KNOWN, KNOWN_ROWS).replace(b",", b"\t")
PHOTOS = {f"{r[0].lower()}.jpg": photo(r[0]) for r in KNOWN_ROWS}


class Upload(io.BytesIO):
    """A named file object, as Streamlit's UploadedFile is."""

    def __init__(self, name: str, data: bytes):
        super().__init__(data)
        self.name, self.size = name, len(data)


# ---- limits ----------------------------------------------------------------------------------------------------

def test_the_servers_upload_cap_is_the_largest_kinds_limit_and_a_server_zip_may_be_larger():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == uploads.SERVER_MAX_MB == PHOTOS_ZIP.max_mb == 1000
    # Streamlit holds an upload in memory: a zip on the server, read from disk, may expand to twice that.
    assert zip_import.MAX_TOTAL_BYTES == 2 * PHOTOS_ZIP.max_bytes


def test_a_catalogue_and_a_query_photo_have_limits_far_below_a_zip_of_photos():
    assert (CATALOGUE.max_mb, QUERY_PHOTO.max_mb, PHOTOS_ZIP.max_mb) == (200, 20, 1000)
    assert CATALOGUE.types == ("csv", "tsv", "txt") and PHOTOS_ZIP.types == ("zip",)


def test_an_upload_over_its_kinds_limit_is_refused_while_it_is_saved_and_nothing_is_kept(tmp_path):
    tiny = UploadKind("catalogue file", ("csv",), 1)
    with pytest.raises(CatalogError, match=r"^big.csv is 1.0 MB; a catalogue file may be at most 1 MB$"):
        save_upload(Upload("big.csv", bytes(MB + 1)), tmp_path / "up" / "big.csv", tiny)
    assert everything(tmp_path / "up") == set()
    unsized = io.BytesIO(bytes(3 * MB))  # a stream that does not say its size is counted as it is written
    with pytest.raises(CatalogError, match=r"^big.csv is 2.0 MB; a catalogue file may be at most 1 MB$"):
        save_upload(unsized, tmp_path / "up" / "big.csv", tiny, "big.csv")
    assert everything(tmp_path / "up") == set() and unsized.tell() == 2 * MB  # stopped at the second chunk
    saved = save_upload(Upload("ok.csv", bytes(MB)), tmp_path / "up" / "ok.csv", tiny)  # exactly the limit
    assert saved.read_bytes() == bytes(MB) and everything(tmp_path / "up") == {"ok.csv"}


def test_an_upload_is_saved_in_chunks(tmp_path):
    class Counted(Upload):
        reads: list[int] = []

        def read(self, size=-1):
            self.reads.append(size)
            return super().read(size)

        def getvalue(self):
            raise AssertionError("the whole upload was asked for at once")

    source = Counted("feed.tsv", bytes(range(256)) * 20_000)  # 5 MB
    save_upload(source, tmp_path / "feed.tsv", CATALOGUE)
    assert (tmp_path / "feed.tsv").read_bytes() == source.getbuffer().tobytes()
    assert len(source.reads) == 6 and set(source.reads) == {uploads.CHUNK}


# ---- photos on the server --------------------------------------------------------------------------------------

def test_a_server_path_is_a_folder_or_a_zip_and_anything_else_says_what_is_wrong(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos.zip").write_bytes(photos_zip(PHOTOS))
    (tmp_path / "notes.txt").write_text("hello")
    assert server_photos("") is None and server_photos("  ") is None
    assert server_photos(str(tmp_path / "photos")) == tmp_path / "photos"
    assert server_photos(f" {tmp_path / 'photos.zip'} ") == tmp_path / "photos.zip"
    with pytest.raises(CatalogError, match=f"^no folder or .zip of photos at {tmp_path / 'gone'} on this server$"):
        server_photos(str(tmp_path / "gone"))
    with pytest.raises(CatalogError, match=f"^{tmp_path / 'notes.txt'} is neither a folder nor a .zip of photos"):
        server_photos(str(tmp_path / "notes.txt"))


@pytest.mark.parametrize("hostile, reason", [
    ("~no-such-user-here/photos", "Could not determine home directory"),  # expanduser raises RuntimeError
    ("/tmp/" + "x" * 5000, "File name too long"),  # ENAMETOOLONG from stat
])
def test_a_hostile_server_path_is_a_catalog_error_never_a_traceback(hostile, reason):
    with pytest.raises(CatalogError, match=f"^cannot read .* on this server: .*{reason}"):
        server_photos(hostile)


def _catalog_page(csv_data: bytes, name: str = "items.tsv"):
    at = start("pages/catalog.py")
    at.file_uploader(key="idx_upload").upload(name, csv_data, "text/tab-separated-values")
    return at.run()


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_a_zip_on_the_server_is_extracted_and_indexed_with_a_tsv_upload(app_settings, tmp_path):
    (tmp_path / "photos.zip").write_bytes(photos_zip(PHOTOS))
    at = _catalog_page(TSV)
    assert at.file_uploader(key="idx_upload").proto.type == [".csv", ".tsv", ".txt"]
    at.text_input(key="idx_images").input(str(tmp_path / "photos.zip"))
    at.button(key="idx_go").click().run()
    assert not at.exception and not at.error
    assert (_metrics(at)["Indexed"], _metrics(at)["Text only"], _metrics(at)["Failed"]) == ("3", "0", "0")
    assert any(shown(m.value) == "**Photos** 3 photos extracted from photos.zip" for m in at.markdown)
    assert everything(app_settings.data_dir / "uploads") == {"items.tsv", "items-photos", "items-photos/d1.jpg",
                                                             "items-photos/t2.jpg", "items-photos/s3.jpg"}


@pytest.mark.parametrize("path, message", [
    ("gone", "no folder or .zip of photos at {tmp}/gone on this server"),
    ("notes.txt", "{tmp}/notes.txt is neither a folder nor a .zip of photos: give the photos' folder, or a .zip of "
                  "them"),
    ("fake.zip", "{tmp}/fake.zip is not a zip file (or a damaged one)"),
])
def test_a_server_path_that_is_not_photos_is_an_error_and_nothing_is_indexed(indexed, tmp_path, path, message):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "fake.zip").write_bytes(b"PK\x03\x04" + bytes(100))  # named .zip, starts like one, is not one
    at = start("pages/catalog.py")
    at.text_input(key="idx_csv").input(str(write_catalog(tmp_path / "again")))
    at.text_input(key="idx_images").input(str(tmp_path / path))
    at.button(key="idx_go").click().run()
    assert not at.exception
    assert [shown(e.value) for e in at.error] == [message.format(tmp=tmp_path)]
    assert "Rows" not in _metrics(at)  # no run, no report


def test_a_chosen_zip_that_never_arrived_stops_the_run_before_anything_is_written(indexed, tmp_path):
    at = _catalog_page(TSV)
    at.radio(key="idx_photos_from").set_value("Upload a .zip").run()
    assert at.file_uploader(key="idx_photos").proto.max_upload_size_mb == 1000
    at.button(key="idx_go").click().run()  # as after the browser refused the zip: the page never saw it
    assert not at.exception
    assert [shown(e.value) for e in at.error] == [
        "No zip of photos arrived, so nothing was indexed. Choose the .zip above and wait until its name shows "
        "without an error: a file over 1,000 MB is refused by the browser. For a larger zip, give its path on this "
        "server (up to 2,000 MB), or unzip it there and give the folder."]
    assert "Rows" not in _metrics(at) and not (indexed.data_dir / "uploads").exists()


def test_a_catalogue_the_browser_refused_never_indexes_a_path_typed_on_the_other_tab(indexed, tmp_path):
    other = write_catalog(tmp_path / "other", rows=[("77", "Men", "Apparel", "Topwear", "Tshirts", "Green", "Casual",
                                                     "Another Green Tee")])
    at = start("pages/catalog.py")
    at.text_input(key="idx_csv").input(str(other)).run()
    at.session_state["idx_source"] = "Upload a CSV"  # then the upload tab, where the browser refused the file
    at.run()
    at.button(key="idx_go").click().run()
    assert not at.exception
    assert [shown(e.value) for e in at.error] == [
        "No catalogue file arrived, so nothing was indexed. Choose a .csv, .tsv or .txt above and wait until its name "
        "shows without an error: a file over 200 MB is refused by the browser."]
    assert "Rows" not in _metrics(at) and _metrics(at)["Products"] == "6"  # the other CSV's product never came in


def test_uploads_over_their_kinds_limit_are_refused_by_the_app_itself(indexed, tmp_path, monkeypatch):
    """A client that ignores the browser's check still meets the app's: per kind, the catalogue far below a zip."""
    monkeypatch.setattr(uploads, "CATALOGUE", UploadKind("catalogue file", ("csv", "tsv", "txt"), 1))
    monkeypatch.setattr(uploads, "PHOTOS_ZIP", UploadKind("zip of photos", ("zip",), 2))
    big_tsv = TSV + b"".join(b"X%d\tFiller\tRed\tx.jpg\n" % i for i in range(80_000))
    assert MB < len(big_tsv) < 2 * MB
    at = _catalog_page(big_tsv)
    assert at.file_uploader(key="idx_upload").proto.max_upload_size_mb == 1
    at.button(key="idx_go").click().run()
    assert [shown(e.value) for e in at.error] == [f"items.tsv is {len(big_tsv) / MB:.1f} MB; a catalogue file may be "
                                                  "at most 1 MB"]
    assert everything(indexed.data_dir / "uploads") == set() and "Rows" not in _metrics(at)

    # The same bytes are a small enough zip: the limit is the kind's, not one for every file.
    at = _catalog_page(TSV)
    at.radio(key="idx_photos_from").set_value("Upload a .zip").run()
    at.file_uploader(key="idx_photos").upload("photos.zip", photos_zip({"d1.jpg": big_tsv}), "application/zip").run()
    at.button(key="idx_go").click().run()
    assert not at.exception and not at.error and _metrics(at)["Indexed"] == "3"
    at.file_uploader(key="idx_photos").upload("huge.zip", photos_zip({"d1.jpg": big_tsv + big_tsv}).ljust(
        2 * MB + 1, b"\0"), "application/zip").run()
    at.button(key="idx_go").click().run()
    assert [shown(e.value) for e in at.error] == ["huge.zip is 2.0 MB; a zip of photos may be at most 2 MB"]


# ---- the Gaps page -----------------------------------------------------------------------------------------------

def test_adding_a_reference_shows_the_catalog_pages_report_with_counts_and_no_raw_markdown(indexed, tmp_path):
    folder = tmp_path / "rival"
    (folder / "photos").mkdir(parents=True)
    for name, data in PHOTOS.items():
        (folder / "photos" / name).write_bytes(data)
    at = start("pages/gaps.py")
    at.text_input(key="gaps_new_name").input("rival")
    at.file_uploader(key="gaps_upload").upload("rival_feed.tsv", TSV + b"S3\tDuplicate\tRed\ts3.jpg\n",
                                               "text/tab-separated-values")
    at.run()
    at.text_input(key="gaps_photos_path").input(str(folder / "photos"))
    at.button(key="gaps_add").click().run()
    assert not at.exception and not at.error
    assert [s.value for s in at.success] == ["The reference catalogue rival is indexed."]
    metrics = _metrics(at)
    assert (metrics["Rows"], metrics["Indexed"], metrics["Text only"], metrics["Failed"]) == ("4", "3", "0", "1")
    lines = [shown(m.value) for m in at.markdown]
    assert any(line.startswith("**Format** generic · **Columns** product_id = SKU") for line in lines)
    assert not [e.value for e in (*at.success, *at.markdown, *at.caption) if "\\*\\*" in e.value]  # no escaped '**'
    failed = next(d.value for d in at.dataframe if "reason" in d.value.columns)  # the failed rows' table
    assert list(failed["product_id"]) == ["S3"] and failed["reason"][0].startswith("duplicate")
    assert (indexed.data_dir / "uploads" / "references" / "rival" / "rival_feed.tsv").read_bytes().startswith(b"SKU\t")


def test_the_query_photo_keeps_its_own_limit_under_the_servers_larger_cap(indexed):
    at = start(mode="image")
    uploader = at.file_uploader(key="upload")
    assert (uploader.proto.max_upload_size_mb, list(uploader.proto.type)) == (20, [".jpg", ".jpeg", ".png", ".webp"])

"""Upload widgets: a catalogue uploader with its types and limit, and the photos choice (a .zip upload, or a folder
or .zip on the server) that notices when the zip it was given never arrived."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from core.common.errors import CatalogError
from core.ingest import uploads
from core.ingest import zip_import

ZIP_UPLOAD = "Upload a .zip"
ON_SERVER = "A folder or .zip on this server"


def limit_mb(kind: uploads.UploadKind) -> int:
    """The kind's limit, or the server's own cap when an operator set it lower (the browser enforces this one)."""
    return max(1, min(kind.max_mb, int(st.get_option("server.maxUploadSize"))))


def catalogue_uploader(container, label: str, key: str):
    """A catalogue or feed: .csv, .tsv or .txt (the delimiter is detected), under the catalogue limit."""
    cap = limit_mb(uploads.CATALOGUE)
    return container.file_uploader(label, type=list(uploads.CATALOGUE.types), key=key, max_upload_size=cap,
                                   help=f"A .csv, .tsv or .txt export (comma, semicolon, tab or pipe separated), "
                                        f"at most {cap:,} MB")


@dataclass
class PhotosChoice:
    """Where the user said the photos are: a zip upload (None when none arrived) or a path on the server ('')."""

    wants_upload: bool
    upload: object | None = None
    server_path: str = ""
    max_mb: int = 0  # the limit the browser enforced on the zip

    @property
    def given(self) -> bool:
        """Whether any photos were chosen: a zip (arrived or not), or a path on the server."""
        return self.wants_upload or bool(self.server_path.strip())

    def resolve(self, extract_to: Path) -> tuple[object | None, Path | None]:
        """(the zip to extract, the images folder): a zip goes to extract_to; a folder is used as it is; (None,
        None) for no photos. CatalogError when the chosen zip did not arrive (the browser refuses a file over the
        limit, so the page never sees it), is over the limit, or the path names nothing usable."""
        if self.wants_upload:
            if self.upload is None:
                raise CatalogError(f"No zip of photos arrived, so nothing was indexed. Choose the .zip above and wait "
                                   f"until its name shows without an error: a file over {self.max_mb:,} MB is refused "
                                   f"by the browser. For a larger zip, give its path on this server (up to "
                                   f"{zip_import.MAX_TOTAL_BYTES // uploads.MB:,} MB), or unzip it there and give "
                                   f"the folder.")
            uploads.PHOTOS_ZIP.check_size(self.upload.name, self.upload.size)
            return self.upload, extract_to
        path = uploads.server_photos(self.server_path)
        if uploads.is_zip(path):
            return path, extract_to
        return None, path


def photos_picker(key: str, path_key: str, upload_key: str, path_label: str) -> PhotosChoice:
    """A choice between a .zip upload and a folder or .zip on this server, and the widget for the one chosen."""
    how = st.radio("Photos", (ON_SERVER, ZIP_UPLOAD), key=key, horizontal=True)
    if how == ZIP_UPLOAD:
        cap = limit_mb(uploads.PHOTOS_ZIP)
        upload = st.file_uploader(f"The photos, as a .zip (at most {cap:,} MB)", type=list(uploads.PHOTOS_ZIP.types),
                                  key=upload_key, max_upload_size=cap,
                                  help="Extracted on the server; only photos inside the zip's own folder are used.")
        return PhotosChoice(True, upload, max_mb=cap)
    path = st.text_input(path_label, key=path_key, placeholder="/data/photos or /data/photos.zip",
                         help="A folder (searched recursively) or a .zip of photos, on the machine running this app.")
    return PhotosChoice(False, server_path=path)

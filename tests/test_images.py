"""Image decoding refuses every kind of bad file with a reason."""

import io
import re

import pytest
from PIL import Image

from core.common.errors import ImageRejected, IncompleteImage
from core.ingest.images import decode_image, open_image, read_image_bytes


def _jpeg(size=(64, 48), colour=(200, 30, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "JPEG")
    return buf.getvalue()


def test_good_jpeg_decodes_to_rgb():
    image = decode_image(_jpeg(), max_pixels=10_000)
    assert image.mode == "RGB" and image.size == (64, 48)


def test_transparent_png_is_composited_on_white():
    buf = io.BytesIO()
    Image.new("RGBA", (16, 16), (0, 0, 0, 0)).save(buf, "PNG")
    assert decode_image(buf.getvalue(), 1000).getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize("data, reason", [
    (b"", "empty (0 bytes)"),
    (b"this is a text file, not a photo", "not an image file"),
    (_jpeg()[:200], "corrupt or truncated"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 100, "not an image file"),
])
def test_bad_bytes_are_rejected_with_reason(data, reason):
    with pytest.raises(ImageRejected, match=re.escape(reason)):
        decode_image(data, max_pixels=10_000_000)


def test_decompression_bomb_is_refused_before_decoding():
    buf = io.BytesIO()
    Image.new("1", (9000, 9000)).save(buf, "PNG")  # 81 MP, but only a few KB on disk
    assert len(buf.getvalue()) < 100_000
    with pytest.raises(ImageRejected, match="9000x9000 = 81.0 MP, above the 40 MP cap"):
        decode_image(buf.getvalue(), max_pixels=40_000_000)


def test_missing_and_folder_paths_are_rejected(tmp_path):
    with pytest.raises(ImageRejected, match="not found"):
        read_image_bytes(tmp_path / "nope.jpg")
    with pytest.raises(ImageRejected, match="folder"):
        read_image_bytes(tmp_path)


def test_open_image_accepts_path_bytes_and_pil(tmp_path):
    path = tmp_path / "a.jpg"
    path.write_bytes(_jpeg())
    for source in (path, str(path), _jpeg(), Image.new("L", (16, 16))):
        assert open_image(source, 10_000).mode == "RGB"


def test_importing_the_project_leaves_pillows_own_bomb_guard_on():
    import core.ingest.images  # noqa: F401
    import core.index.indexer  # noqa: F401

    assert Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS >= 40_000_000


def test_a_picture_beyond_pillows_guard_is_a_reason_not_a_crash():
    buf = io.BytesIO()
    Image.new("1", (20000, 10000)).save(buf, "PNG")  # 200 MP: above twice Pillow's limit, so Pillow refuses it
    with pytest.raises(ImageRejected, match="decoder's own size guard"):
        decode_image(buf.getvalue(), max_pixels=10**12)


def _png(**save) -> bytes:
    import numpy as np

    noise = np.random.default_rng(1).integers(0, 255, (32, 32, 3), dtype=np.uint8)  # 3 KB of pixel data
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, "PNG", **save)
    return buf.getvalue()


def _damaged(data: bytes, at: int) -> bytes:
    return data[:at] + b"\xff" * 30 + data[at + 30:]


@pytest.mark.parametrize("data", [
    _png()[:1000],  # cut inside the pixel data
    _jpeg()[:-200],  # a JPEG without its last 200 bytes
    _damaged(_png(), 100),  # "broken data stream"
    _damaged(_png(), 1000),  # "unrecognized data stream contents"
], ids=["cut-png", "cut-jpeg", "damaged-png-start", "damaged-png-middle"])
def test_cut_or_damaged_image_data_is_an_incomplete_image(data):
    with pytest.raises(IncompleteImage, match="corrupt or truncated image"):
        decode_image(data, max_pixels=10_000_000)


def test_a_complete_png_with_an_oversized_text_chunk_is_refused_but_not_called_incomplete():
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "a" * (2 * 1024 * 1024), zip=True)  # 2 KB on disk, 2 MB once decompressed
    with pytest.raises(ImageRejected, match="image cannot be decoded: Decompressed data too large") as caught:
        decode_image(_png(pnginfo=info), max_pixels=10_000_000)
    assert not isinstance(caught.value, IncompleteImage)


def test_a_codec_this_build_lacks_is_refused_but_not_called_incomplete(monkeypatch):
    def missing(name, *args, **kwargs):
        raise OSError(f"decoder {name} not available")

    photo = _png()
    monkeypatch.setattr(Image, "_getdecoder", missing)
    with pytest.raises(ImageRejected, match="image cannot be decoded: decoder RGB not available") as caught:
        decode_image(photo, max_pixels=10_000_000)
    assert not isinstance(caught.value, IncompleteImage)

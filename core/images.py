"""Safe image decoding: size caps before decode, clear reasons for every kind of bad file."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Union

from PIL import Image, ImageFile, UnidentifiedImageError

from core.errors import ImageRejected

# We enforce our own pixel cap from the header, before any pixel is decoded.
Image.MAX_IMAGE_PIXELS = None
ImageFile.LOAD_TRUNCATED_IMAGES = False

ImageSource = Union[str, Path, bytes, Image.Image]


def read_image_bytes(path: Path) -> bytes:
    """Read a file's bytes, turning OS problems into a reason."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ImageRejected(f"image file not found: {path}") from None
    except IsADirectoryError:
        raise ImageRejected(f"image path is a folder, not a file: {path}") from None
    except OSError as exc:
        raise ImageRejected(f"image file cannot be read: {exc.strerror or exc}") from None
    if not data:
        raise ImageRejected("image file is empty (0 bytes)")
    return data


def decode_image(data: bytes, max_pixels: int, draft_size: int | None = None) -> Image.Image:
    """Decode bytes to an RGB image, refusing non-images, truncation and oversize images.

    draft_size lets JPEG decode at a reduced scale (DCT scaling) that is still at least that
    many pixels on the short side: CLIP resizes to 224 anyway, and this makes decode ~4x cheaper.
    """
    if not data:
        raise ImageRejected("image file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise ImageRejected(
                    f"image is {width}x{height} = {width * height / 1e6:.1f} MP, above the "
                    f"{max_pixels / 1e6:.0f} MP cap (LENS_MAX_PIXELS)"
                )
            if draft_size and image.format == "JPEG":
                image.draft("RGB", (draft_size, draft_size))
            image.load()
    except ImageRejected:
        raise
    except UnidentifiedImageError:
        raise ImageRejected("not an image file (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(f"corrupt or truncated image: {exc}") from None
    return to_rgb(image)


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert to RGB, compositing transparency onto white as shop photos expect."""
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def open_image(source: ImageSource, max_pixels: int, draft_size: int | None = None) -> Image.Image:
    """Open an image given as a path, raw bytes or a PIL image (uploads and CLI queries)."""
    if isinstance(source, Image.Image):
        return to_rgb(source)
    if isinstance(source, (bytes, bytearray)):
        return decode_image(bytes(source), max_pixels, draft_size)
    return decode_image(read_image_bytes(Path(source)), max_pixels, draft_size)

"""Photo sizing shared by every backend: the size a model's own processor resizes a photo to, computed ahead, and
that resize done early (in the decode threads) with a bound on what it may allocate."""

from __future__ import annotations

from PIL import Image

from core.common.errors import ImageRejected
from core.ingest.images import MAX_ASPECT


def short_side_size(w: int, h: int, side: int) -> tuple[int, int]:
    """(width, height) with the short side `side` and the long side truncated, as transformers' and torchvision's
    resizes compute it (rounding came out a pixel longer for some shapes, and the processor resampled again)."""
    long_side = max(1, int(side * max(w, h) / min(w, h)))
    return (side, long_side) if w <= h else (long_side, side)


def resized_for_model(image: Image.Image, size: tuple[int, int], side: int,
                      resample: Image.Resampling = Image.Resampling.BICUBIC) -> Image.Image:
    """The photo resized to `size`, what the model's processor would resize it to (its input's short side is
    `side`), so that the processor's own resize has nothing left to do. A size larger than any photo within the
    aspect cap (check_shape) could need is refused, whatever the decoder let through."""
    if size[0] * size[1] > side ** 2 * MAX_ASPECT:
        w, h = image.size
        raise ImageRejected(f"image is {w}x{h}: resizing it for the model would need {size[0]}x{size[1]} px")
    return image if size == image.size else image.resize(size, resample)

"""The user's photo made 9:16 for image-to-video: image models keep the input's shape, so a landscape
photo would give a landscape video.

``crop`` (the default) cuts the centre 9:16 out of the photo; ``pad`` fits the whole photo inside 9:16 on a
blurred copy of itself (or black). The result is an RGB JPEG of exactly 9:16, at most 1080x1920 and never
larger than the photo needs: a small photo stays small rather than being blown up into a blurry one.
Metadata (EXIF, GPS) is not carried over; its orientation is applied to the pixels first.

Everything Pillow cannot read safely (junk, truncated files, decompression bombs past
``Image.MAX_IMAGE_PIXELS``) raises ``PhotoUnreadable``, one exception the caller turns into a clear reply.

It is CPU work (0.2-0.5 s for a 12 MP photo on a busy 2-core machine): call it through ``asyncio.to_thread``.
Pillow is imported on the first photo, not at start: a process that never gets one does not carry it.
"""

from __future__ import annotations

import io
import math
import warnings
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from PIL import Image

Fit = Literal["crop", "pad"]
Background = Literal["blur", "black"]

MAX_UNIT = 120  # output is (9 * unit) x (16 * unit): 1080x1920 at most
JPEG_QUALITY = 90
# What a user can send as a photo or an image document; fewer decoders, less to attack. (Phones' multi-picture
# JPEGs open through JPEG, as MPO images.)
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
ALPHA_BACKGROUND = (255, 255, 255)  # transparency becomes white: dark logos and text stay readable
BLUR_DIVISOR = 20  # the blurred background's radius is the canvas width over this
BLUR_DIM = 0.6  # and it is darkened, so the photo in front stands out


# Magic numbers of the formats a photo can be in: (offset, bytes, file extension, MIME type).
SIGNATURES = (
    (0, b"\xff\xd8\xff", "jpg", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "png", "image/png"),
    (8, b"WEBP", "webp", "image/webp"),  # after "RIFF" and the size
    (0, b"GIF8", "gif", "image/gif"),
)
UNKNOWN = ("bin", "application/octet-stream")


def image_type(data: bytes) -> tuple[str, str]:
    """The file extension and MIME type ``data`` really is, read from its first bytes, whatever it was
    called before: KIE's file host serves an upload with the type its name says, and Veo fails a JPEG served
    as PNG with a misleading "unable to generate audio" (shared/reference/kie_api.md 13.3)."""
    for offset, magic, extension, mime in SIGNATURES:
        if data[offset : offset + len(magic)] == magic and (offset == 0 or data[:4] == b"RIFF"):
            return extension, mime
    return UNKNOWN


class PhotoUnreadable(Exception):
    """The bytes are not an image we can read safely: junk, a truncated file, or too many pixels."""


def to_vertical(data: bytes, *, fit: Fit = "crop", background: Background = "blur") -> bytes:
    """``data`` (any common image format) as a 9:16 RGB JPEG, at most 1080x1920."""
    if fit not in ("crop", "pad") or background not in ("blur", "black"):
        raise ValueError(f"fit must be crop or pad and background blur or black, not {fit!r}/{background!r}")
    image = _decode(data)
    out = _crop(image, _crop_unit(image.size)) if fit == "crop" else _pad(image, background)
    buffer = io.BytesIO()
    out.save(buffer, "JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def _decode(data: bytes) -> Image.Image:
    """The photo upright, in RGB, fully decoded; PhotoUnreadable for anything else."""
    from PIL import Image, ImageOps

    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that; a photo that large is a bomb here too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=FORMATS) as opened:
                # JPEG can decode at 1/2, 1/4 or 1/8 scale: keep both sides >= 1920, all any output needs.
                opened.draft("RGB", (16 * MAX_UNIT, 16 * MAX_UNIT))
                opened.load()
                upright = ImageOps.exif_transpose(opened)
                return _rgb(upright)
    # Pillow's decoders raise OSError, ValueError, SyntaxError, EOFError, struct.error, DecompressionBombError
    # and more on hostile input; whatever it is, the photo is unreadable and the caller says so.
    except Exception as error:
        raise PhotoUnreadable(f"the photo could not be read: {type(error).__name__}") from error


def _rgb(image: Image.Image) -> Image.Image:
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, ALPHA_BACKGROUND)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


def _crop_unit(size: tuple[int, int]) -> int:
    """The output unit for a centre crop: the crop's own size, shrunk to 1080x1920 if larger."""
    width, height = size
    return max(1, min(MAX_UNIT, width // 9, height // 16))


def _crop(image: Image.Image, unit: int) -> Image.Image:
    """The centre 9:16 of ``image``, resized to (9 * unit) x (16 * unit)."""
    from PIL import Image

    width, height = image.size
    if width * 16 > height * 9:  # wider than 9:16: cut the sides
        crop_w, crop_h = height * 9 / 16, float(height)
    else:  # taller: cut the top and bottom
        crop_w, crop_h = float(width), width * 16 / 9
    left, top = (width - crop_w) / 2, (height - crop_h) / 2
    box = (left, top, left + crop_w, top + crop_h)
    return image.resize((9 * unit, 16 * unit), Image.Resampling.LANCZOS, box=box)


def _pad(image: Image.Image, background: Background) -> Image.Image:
    """The whole of ``image`` centred on a 9:16 canvas just large enough for it (1080x1920 at most)."""
    from PIL import Image, ImageFilter

    width, height = image.size
    unit = max(1, min(MAX_UNIT, math.ceil(max(width / 9, height / 16))))
    canvas_w, canvas_h = 9 * unit, 16 * unit
    scale = min(canvas_w / width, canvas_h / height, 1.0)
    inner = (max(1, round(width * scale)), max(1, round(height * scale)))
    if background == "blur":
        canvas = _crop(image, unit).filter(ImageFilter.GaussianBlur(max(1, canvas_w // BLUR_DIVISOR)))
        canvas = canvas.point(lambda value: round(value * BLUR_DIM))
    else:
        canvas = Image.new("RGB", (canvas_w, canvas_h))
    photo = image if inner == image.size else image.resize(inner, Image.Resampling.LANCZOS)
    canvas.paste(photo, ((canvas_w - inner[0]) // 2, (canvas_h - inner[1]) // 2))
    return canvas

"""core.pipeline.photos makes any input photo a 9:16 RGB JPEG, or says clearly that it cannot."""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import pytest
from PIL import Image

from core.pipeline.photos import PhotoUnreadable, image_type, to_vertical

RED, BLUE, GREEN = (220, 20, 20), (20, 20, 220), (20, 200, 20)


def encode(image: Image.Image, fmt: str = "JPEG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def striped(width: int, height: int) -> Image.Image:
    """Red left third, green middle, blue right third: where a crop cut shows in the colours left."""
    image = Image.new("RGB", (width, height), GREEN)
    image.paste(RED, (0, 0, width // 3, height))
    image.paste(BLUE, (width - width // 3, 0, width, height))
    return image


def result(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and image.mode == "RGB"
    width, height = image.size
    assert width * 16 == height * 9, image.size  # exactly 9:16
    assert width <= 1080 and height <= 1920
    return image


def near(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


def test_landscape_is_cropped_to_its_centre() -> None:
    out = result(to_vertical(encode(striped(1920, 1080))))
    assert out.size == (603, 1072)  # the crop's own size: 1080 * 9 / 16 wide, never scaled up
    assert near(out.getpixel((out.width // 2, out.height // 2)), GREEN)
    assert near(out.getpixel((5, 5)), GREEN) and near(out.getpixel((out.width - 5, 5)), GREEN)  # sides cut away


def test_large_portrait_is_scaled_down_to_1080x1920() -> None:
    image = Image.new("RGB", (3000, 6000), RED)
    image.paste(BLUE, (0, 0, 3000, 300))  # the top 5 % is cut by a 9:16 crop of a 1:2 photo
    out = result(to_vertical(encode(image)))
    assert out.size == (1080, 1920)
    assert near(out.getpixel((540, 5)), RED)


def test_square_is_cropped_and_small_photos_stay_small() -> None:
    out = result(to_vertical(encode(striped(600, 600))))
    assert out.size == (333, 592)  # 600 // 16 = 37 units of 9x16, not blown up to 1080x1920
    assert near(out.getpixel((out.width // 2, out.height // 2)), GREEN)


def test_pad_keeps_the_whole_photo_on_a_blurred_or_black_background() -> None:
    photo = encode(striped(1600, 900))
    out = result(to_vertical(photo, fit="pad", background="black"))
    assert out.size == (1080, 1920)  # 1600 wide needs the largest canvas; the photo is 1080x608 in it
    middle = out.height // 2
    assert near(out.getpixel((20, middle)), RED) and near(out.getpixel((out.width - 20, middle)), BLUE)  # all there
    assert near(out.getpixel((out.width // 2, 20)), (0, 0, 0), tolerance=8)  # black above
    blurred = result(to_vertical(photo, fit="pad"))
    top = blurred.getpixel((blurred.width // 2, 20))
    assert not near(top, (0, 0, 0), tolerance=8) and near(top, tuple(round(c * 0.6) for c in GREEN), tolerance=40)


def test_pad_never_upscales_a_small_photo() -> None:
    out = result(to_vertical(encode(striped(360, 200)), fit="pad", background="black"))
    assert out.size == (360, 640)
    assert near(out.getpixel((10, 320)), RED) and near(out.getpixel((350, 320)), BLUE)


@pytest.mark.parametrize(("orientation", "expected_size"), [(6, (1080, 1920)), (8, (1080, 1920)), (3, (1080, 1920))])
def test_exif_orientation_is_applied(orientation: int, expected_size: tuple[int, int]) -> None:
    # A phone held upright stores a landscape 4032x2268 frame with orientation 6 (rotate 90 clockwise).
    stored = Image.new("RGB", (4032, 2268) if orientation != 3 else (2268, 4032), RED)
    marker = (0, 0, 4032, 400) if orientation != 3 else (0, 4032 - 400, 2268, 4032)
    stored.paste(BLUE, marker)  # stored: top rows (6, 8) or bottom rows (3)
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = result(to_vertical(encode(stored, exif=exif.tobytes())))
    assert out.size == expected_size  # upright portrait: no crop of a landscape
    # 6 turns the stored top to the right edge, 8 to the left, 3 the stored bottom to the top.
    probe_at = {6: (out.width - 5, out.height // 2), 8: (5, out.height // 2), 3: (out.width // 2, 5)}[orientation]
    assert near(out.getpixel(probe_at), BLUE)
    assert out.getexif().get(0x0112) is None  # the orientation is in the pixels, not in a tag


def test_png_with_alpha_becomes_rgb_on_white() -> None:
    image = Image.new("RGBA", (900, 1600), (0, 0, 0, 0))
    image.paste((20, 20, 220, 255), (300, 600, 600, 1000))
    out = result(to_vertical(encode(image, "PNG")))
    assert out.size == (900, 1600)
    assert near(out.getpixel((10, 10)), (255, 255, 255), tolerance=8)
    assert near(out.getpixel((450, 800)), BLUE)


def test_palette_and_cmyk_inputs_become_rgb() -> None:
    palette = striped(900, 1600).convert("P")
    assert result(to_vertical(encode(palette, "PNG"))).size == (900, 1600)
    cmyk = Image.new("CMYK", (900, 1600), (0, 255, 255, 0))
    assert near(result(to_vertical(encode(cmyk))).getpixel((450, 800)), (255, 0, 0), tolerance=50)


@pytest.mark.parametrize("fmt", ["JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_common_formats_are_read(fmt: str) -> None:
    assert result(to_vertical(encode(striped(180, 320), fmt))).size == (180, 320)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"definitely not an image",
        b"\xff\xd8\xff\xe0" + bytes(200),  # a JPEG marker and nothing behind it
        encode(striped(800, 800))[:600],  # truncated JPEG
        encode(striped(800, 800), "PNG")[:300],  # truncated PNG
        b"GIF89a" + bytes(20),
    ],
    ids=["empty", "text", "jpeg-marker", "cut-jpeg", "cut-png", "gif-header"],
)
def test_junk_and_truncated_images_are_unreadable(data: bytes) -> None:
    with pytest.raises(PhotoUnreadable, match="could not be read"):
        to_vertical(data)


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` 1-bit pixels in a few dozen bytes: a decompression bomb."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("factor", [1.2, 3.0], ids=["past-the-warning", "past-the-error"])
def test_decompression_bombs_are_unreadable(factor: float) -> None:
    side = int((Image.MAX_IMAGE_PIXELS * factor) ** 0.5) + 1
    bomb = png_header(side, side)
    assert len(bomb) < 200
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # as in production, where Pillow's warning would not stop anything
        with pytest.raises(PhotoUnreadable):
            to_vertical(bomb)


def test_bad_options_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="fit"):
        to_vertical(encode(striped(90, 160)), fit="stretch")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("JPEG", ("jpg", "image/jpeg")),
        ("PNG", ("png", "image/png")),
        ("WEBP", ("webp", "image/webp")),
        ("GIF", ("gif", "image/gif")),
    ],
)
def test_the_type_is_read_from_the_bytes(fmt: str, expected: tuple[str, str]) -> None:
    """KIE serves an upload with the type its name says: the name must come from the bytes (issue 14)."""
    buffer = io.BytesIO()
    Image.new("RGB", (90, 160), (10, 20, 30)).save(buffer, fmt)
    assert image_type(buffer.getvalue()) == expected


def test_what_is_no_known_image_is_called_so() -> None:
    assert image_type(b"") == image_type(b"RIFF0000WAVE") == image_type(b"hello") == ("bin", "application/octet-stream")
    assert image_type(to_vertical(encode(striped(400, 300), "PNG"))) == (
        "jpg",
        "image/jpeg",
    )  # what the pipeline uploads

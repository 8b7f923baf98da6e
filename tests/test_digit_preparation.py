"""--predict's preparation of a photo, on digits drawn here: no shared photos, no Keras.

The README: "each image is turned to grey, the paper's grey is taken away (dark ink on light
paper or light ink on dark, decided from the image), the digit is cropped, thin pen strokes
are thickened to MNIST's weight, and the result is scaled and centred": white ink on black,
the digit fitting 20x20 pixels, its centre of mass at the centre of 28x28.
"""

import numpy as np
import pytest
from PIL import Image

from makers import draw_digit
from own_digits import open_image, prepare_digit  # NumPy (and Pillow when used), not Keras

# A 7 (a bar and a slanted stroke: neither symmetric nor centred in its box) in a 1500-pixel
# square, drawn with a pen 120 pixels wide: MNIST's weight, an eighth of the digit's height.
SEVEN = dict(digit="7", size=1500, width=120)


def centre_of_mass(digit):
    return (np.indices(digit.shape) * digit).sum(axis=(1, 2)) / digit.sum()


def assert_same_digit(actual, expected):
    """The same 28x28, up to a grey level here and there on the stroke's edge."""
    difference = np.abs(actual - expected)
    assert difference.mean() < 0.005 and difference.max() < 0.25, (
        difference.mean(),
        difference.max(),
    )


def lit(digit):
    """Pixels of the 28x28 lit more than half-way: the stroke's weight."""
    return int((digit > 0.5).sum())


def test_dark_ink_on_light_paper_and_light_on_dark_give_the_same_mnist_digit():
    dark_on_light = prepare_digit(Image.fromarray(draw_digit(**SEVEN, ink=0, paper=255)))
    light_on_dark = prepare_digit(Image.fromarray(draw_digit(**SEVEN, ink=255, paper=0)))
    assert dark_on_light.shape == (28, 28) and dark_on_light.dtype == np.float32
    assert dark_on_light.min() == 0 and dark_on_light.max() == 1  # white ink on black, 0 to 1
    assert_same_digit(light_on_dark, dark_on_light)
    # Grey paper and grey ink too: the paper's grey is taken away, not only inverted.
    assert_same_digit(
        prepare_digit(Image.fromarray(draw_digit(**SEVEN, ink=60, paper=200))), dark_on_light
    )


@pytest.mark.parametrize("shift", [(0, 0), (-350, 150)], ids=["centred", "off-centre on the page"])
def test_the_digit_fits_20x20_and_its_centre_of_mass_is_at_the_centre(shift):
    digit = prepare_digit(
        Image.fromarray(
            draw_digit(**SEVEN, canvas=(2000, 1700), shift=(300 + shift[0], 100 + shift[1]))
        )
    )
    rows, columns = np.nonzero(digit > 0.05)
    height, width = np.ptp(rows) + 1, np.ptp(columns) + 1
    assert max(height, width) in (19, 20) and min(height, width) <= 20, (
        height,
        width,
    )  # scaled to fit 20x20
    # MNIST centres by the centre of mass, not by the box: a 7's mass is high and to the right,
    # so its box sits lower and further left than a centred box would.
    np.testing.assert_allclose(centre_of_mass(digit), [14, 14], atol=1)
    box_centre = [(rows.min() + rows.max()) / 2, (columns.min() + columns.max()) / 2]
    assert np.abs(np.subtract(box_centre, 13.5)).max() >= 2, box_centre  # the 7 tells the two apart


def test_ink_only_in_the_alpha_channel_is_read():
    """A drawing app's export: every pixel black, the ink only in its opacity."""
    expected = prepare_digit(Image.fromarray(draw_digit(**SEVEN)))
    # Opaque where the ink is, transparent elsewhere.
    transparent_drawing = Image.fromarray(
        draw_digit(**SEVEN, ink=(0, 0, 0, 255), paper=(0, 0, 0, 0))
    )
    assert transparent_drawing.mode == "RGBA"
    assert_same_digit(prepare_digit(transparent_drawing), expected)
    # The same with the ink white on a transparent page.
    white_drawing = Image.fromarray(draw_digit(**SEVEN, ink=(255, 255), paper=(255, 0)))
    assert white_drawing.mode == "LA"
    assert_same_digit(prepare_digit(white_drawing), expected)


@pytest.mark.parametrize(
    "orientation, stored_as",
    [(6, Image.Transpose.ROTATE_90), (8, Image.Transpose.ROTATE_270)],
    ids=["orientation 6", "orientation 8"],
)
def test_a_photo_stored_sideways_with_an_exif_orientation_is_read_upright(
    tmp_path, orientation, stored_as
):
    """Phones store a photo as the sensor saw it and an EXIF tag saying how to turn it."""
    upright = Image.fromarray(
        draw_digit(**SEVEN, canvas=(1600, 1600), ink=(0, 0, 0), paper=(255, 255, 255))
    )
    upright.save(tmp_path / "upright.jpg", quality=95)
    exif = Image.Exif()
    exif[0x0112] = (
        orientation  # Orientation: 6, turn 90 degrees clockwise to view; 8, anticlockwise
    )
    upright.transpose(stored_as).save(tmp_path / "sideways.jpg", quality=95, exif=exif.tobytes())

    expected = prepare_digit(open_image(tmp_path / "upright.jpg"))
    read = prepare_digit(open_image(tmp_path / "sideways.jpg"))
    assert_same_digit(read, expected)  # JPEG's blocks aside
    # Without the tag the digit lies on its side: far from the upright one.
    ignored = prepare_digit(Image.open(tmp_path / "sideways.jpg"))
    assert np.abs(ignored - expected).mean() > 0.1


def test_a_thin_pen_line_on_a_big_page_is_thickened_to_mnists_weight():
    """A 1-pixel line on a 1500-pixel page shrinks to a twentieth of a pixel in 20x20, and
    fades away unless thickened; MNIST's strokes are 2 to 3 pixels wide and white."""
    # SEVEN's pen, an eighth of the digit's height: MNIST's weight.
    thick = prepare_digit(Image.fromarray(draw_digit(**SEVEN)))
    thin = prepare_digit(Image.fromarray(draw_digit(**{**SEVEN, "width": 1})))
    assert lit(thick) >= 60, lit(thick)  # a stroke 2 to 3 pixels wide along the whole 7
    # Measured: 84 lit pixels for the thick pen; the thin line, before the fix in
    # prepare_digit, 4 (thickened, but left grey: at most 0.56).
    assert lit(thin) >= 0.7 * lit(thick), (lit(thin), lit(thick))
    assert thin.max() == pytest.approx(1, abs=0.01)

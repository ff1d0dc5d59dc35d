"""Downloaded files are named the same way on every page, readably and safely."""

import pytest

from imagegen.names import alt_text, counted, download_name, slug


@pytest.mark.parametrize(
    "text,expected",
    [
        ("A cyberpunk cat on a neon skateboard at night", "a-cyberpunk-cat-on-a-neon"),
        ("Café  crème, brûlée!", "cafe-creme-brulee"),
        ("../../etc/passwd", "etc-passwd"),
        ("猫", "image"),
        ("", "image"),
        ("x" * 100, "x" * 48),
    ],
)
def test_a_slug_is_the_first_words_in_plain_ascii(text, expected):
    assert slug(text) == expected


def test_a_download_name_has_the_prompt_the_id_and_the_format():
    record = {"id": "3F2A9C1D77EE4B0A", "format": "webp", "prompt": "A red fox in snow"}
    assert download_name(record) == "imagegen-a-red-fox-in-snow-3f2a9c1d.webp"


def test_a_hostile_id_or_format_cannot_escape_the_name():
    record = {"id": "../../x", "format": "exe/../sh", "prompt": "a fox"}
    assert download_name(record) == "imagegen-a-fox-x.img"


def test_an_images_text_alternative_is_what_it_is_and_its_prompt_cut_at_a_word():
    assert alt_text({"prompt": "a red   fox\nin snow"}) == "Image: a red fox in snow"
    assert alt_text({"prompt": "a red fox"}, "Made from") == "Made from: a red fox"
    assert alt_text({"prompt": ""}) == "Image" and alt_text({}) == "Image"
    long = alt_text({"prompt": "snowy " * 60})
    assert long.startswith("Image: snowy snowy") and long.endswith("snowy...") and len(long) <= 7 + 160 + 3


def test_a_count_and_its_noun_are_written_as_people_write_them():
    assert [counted(n, "image") for n in (0, 1, 2, 1200)] == ["0 images", "1 image", "2 images", "1,200 images"]
    assert counted(1, "reference image") == "1 reference image"

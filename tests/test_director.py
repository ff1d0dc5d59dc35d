import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagegen import DirectorOptions, InvalidRequest, direct, load_presets
from imagegen.director import FACETS

BOOK = load_presets()
PHOTO = BOOK.get("photo")


def test_there_are_at_least_twelve_presets_each_made_of_facets():
    assert len(BOOK.presets) >= 12
    for preset in BOOK.presets.values():
        assert preset.template.startswith("{prompt}")
        assert preset.description
        assert any(preset.facets[f] for f in FACETS)
    for name in ("logo", "icon", "sticker"):
        assert BOOK.get(name).background == "transparent"


def test_a_short_prompt_gets_lighting_camera_and_style():
    result = direct("a car", BOOK.get("product"), DirectorOptions(), limit=4000)
    assert result.text.startswith("a car, ")
    facets = {a.facet for a in result.additions}
    assert {"style", "lighting", "camera"} <= facets
    assert "studio softbox lighting" in result.text
    assert "".join(text for text, _ in result.segments) == result.text


def test_segments_mark_what_the_director_added():
    result = direct("a fox", PHOTO, DirectorOptions(), limit=4000)
    added = [text for text, facet in result.segments if facet]
    assert added == [a.text for a in result.additions]
    assert result.segments[0] == ("a fox", None)


def test_keywords_the_user_wrote_are_not_added_again():
    result = direct("A cat, Soft Natural Light, 4K", PHOTO, DirectorOptions(), limit=4000)
    assert result.text.lower().count("soft natural light") == 1
    assert result.text.lower().count("4k") == 1
    assert "soft natural light" not in [a.text for a in result.additions]


def test_keywords_are_compared_case_folded_across_spaces():
    # the Kelvin sign folds to "k", a long s to "s"; the words may be apart by any spaces
    result = direct("a cat in 4\u212a, ſharp \n  focus", PHOTO, DirectorOptions(), limit=4000)
    assert "4k" not in [a.text for a in result.additions] and "sharp focus" not in [a.text for a in result.additions]
    assert "photorealistic" in [a.text for a in result.additions]


def test_a_word_inside_another_word_is_not_taken_as_written():
    # "authentic" is a keyword; "inauthentic" does not contain it as a word
    result = direct("an inauthentic smile", PHOTO, DirectorOptions(), limit=4000)
    assert "authentic" in [a.text for a in result.additions]


def test_overrides_replace_the_preset_lighting_and_camera():
    result = direct("a fox", PHOTO, DirectorOptions(lighting="neon glow", camera="macro lens"), limit=4000)
    assert "neon glow" in result.text and "macro lens" in result.text
    assert "soft natural light" not in result.text and "35mm lens" not in result.text


def test_raw_sends_the_prompt_exactly_as_typed_after_whitespace():
    result = direct("  a   cat \n on a mat ", PHOTO, DirectorOptions(raw=True), limit=4000)
    assert result.text == "a cat on a mat"
    assert result.additions == ()


def test_the_least_important_additions_are_dropped_first():
    full = direct("a fox", PHOTO, DirectorOptions(), limit=4000)
    limit = len(full.text) - 3
    trimmed = direct("a fox", PHOTO, DirectorOptions(), limit=limit)
    assert len(trimmed.text) <= limit
    assert [(a.facet, a.text) for a in trimmed.dropped] == [("detail", "4k")]
    tight = direct("a fox", PHOTO, DirectorOptions(), limit=len("a fox, professional photograph"))
    assert tight.text == "a fox, professional photograph"


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t"])
def test_an_empty_prompt_is_refused(prompt):
    with pytest.raises(InvalidRequest, match="empty"):
        direct(prompt, PHOTO, DirectorOptions(), limit=100)


def test_a_prompt_over_the_limit_alone_is_refused_not_cut():
    with pytest.raises(InvalidRequest, match="at most 10"):
        direct("x" * 11, PHOTO, DirectorOptions(), limit=10)


def test_unknown_presets_are_refused_with_the_choices():
    with pytest.raises(InvalidRequest, match="photo"):
        BOOK.get("vaporwave")


words = st.text(alphabet=st.characters(codec="utf-8", categories=("L", "N", "P", "Zs")), min_size=1, max_size=300)


@settings(max_examples=300, deadline=None)
@given(
    prompt=words,
    preset=st.sampled_from(sorted(BOOK.presets)),
    limit=st.integers(min_value=1, max_value=400),
    raw=st.booleans(),
)
def test_properties_the_users_words_survive_in_order_and_the_limit_holds(prompt, preset, limit, raw):
    normalised = " ".join(prompt.split())
    options = DirectorOptions(raw=raw)
    try:
        result = direct(prompt, BOOK.get(preset), options, limit)
    except InvalidRequest:
        assert not normalised or len(normalised) > limit
        return
    assert result.text.startswith(normalised)
    assert len(result.text) <= limit
    assert result.text == direct(prompt, BOOK.get(preset), options, limit).text
    assert result.text.split() == " ".join(result.text.split()).split()


def test_a_preset_is_named_by_its_label_and_an_unknown_one_by_its_id():
    book = load_presets()
    assert book.label("render3d") == book.presets["render3d"].label != "render3d"
    assert book.label("retired-style") == "retired-style"

"""Gallery search: the user's words, word by word, stemmed and by prefix, from the index; favourites."""

import pytest

from imagegen import GenerationRequest, HistoryFilter, NotFound, Settings, Studio, history
from imagegen.dialects import SQLITE

PROMPTS = [
    "a red fox in the snow",
    "two cats asleep on a sofa",
    "a lighthouse at dusk",
    "Café at night, neon signs",
    "a cat and a fox, friends",
]


@pytest.fixture
def studio(db_settings):
    studio = Studio(Settings(**{**db_settings.__dict__, "daily_quota": 100}))
    for prompt in PROMPTS:
        studio.generate(GenerationRequest(prompt, preset="photo"), "ann")
    return studio


def found(studio: Studio, text: str, **kw) -> list[str]:
    return sorted(i["prompt"] for i in studio.history(HistoryFilter(text=text, **kw)).items)


def test_words_match_in_any_order(studio):
    assert found(studio, "fox red") == ["a red fox in the snow"]


def test_plurals_and_prefixes_match(studio):
    assert found(studio, "cats") == ["a cat and a fox, friends", "two cats asleep on a sofa"]
    assert found(studio, "light") == ["a lighthouse at dusk"]


def test_accents_and_case_do_not_matter(studio):
    assert found(studio, "CAFE") == ["Café at night, neon signs"]


def test_the_directors_keywords_are_searched_only_when_asked(studio):
    assert found(studio, "photorealistic") == []
    assert len(found(studio, "photorealistic", everywhere=True)) == len(PROMPTS)


def test_search_syntax_typed_by_a_user_is_taken_as_words(studio):
    for hostile in ('"', "fox OR cat", "NEAR(fox cat)", "prompt:fox", "*", "fox -red", "^fox"):
        studio.history(HistoryFilter(text=hostile))  # never an FTS syntax error
    assert found(studio, "fox OR") == []  # "or" is a word that must match too
    assert SQLITE.search('"fox" * NEAR', everywhere=False)[1] == {"search": 'prompt : ("fox"* "near"*)'}
    assert SQLITE.search("   ", everywhere=False) is None


def test_the_index_follows_deletes(studio):
    fox = studio.history(HistoryFilter(text="snow")).items[0]
    studio.delete_image(fox["key"], "ann")
    assert found(studio, "snow") == []
    assert studio.count_images(HistoryFilter(text="fox")) == 1


def test_favourites_are_each_users_own_and_go_with_the_image(studio):
    items = studio.history().items
    keys = [i["key"] for i in items[:2]]
    for key in keys:
        studio.mark_favourite(key, "ann")
    studio.mark_favourite(keys[0], "ann")  # twice is once
    assert studio.favourites_among("ann", [i["key"] for i in items]) == set(keys)
    assert studio.favourites_among("bob", keys) == set()
    assert studio.count_images(HistoryFilter(favourites_of="ann")) == 2
    studio.mark_favourite(keys[1], "ann", favourite=False)
    assert studio.count_images(HistoryFilter(favourites_of="ann")) == 1
    studio.delete_image(keys[0], "ann")
    assert studio.count_images(HistoryFilter(favourites_of="ann")) == 0
    assert studio._engine.db.query("SELECT COUNT(*) FROM favourites")[0][0] == 0
    with pytest.raises(NotFound):
        studio.mark_favourite(keys[0], "ann")


def test_a_search_pages_through_every_match_newest_first_however_it_finds_them(db_settings, monkeypatch):
    # Among the newest images a word may be common (read in order) or rare (found by the index); a page may
    # begin in one and end in the other. Every match comes once, newest first, whatever the window.
    studio = Studio(Settings(**{**db_settings.__dict__, "daily_quota": 100}))
    prompts = [f"{'a fox' if i % 4 == 0 or i >= 9 else 'a cat'} number {i}" for i in range(14)]
    for prompt in prompts:
        studio.generate(GenerationRequest(prompt, preset="photo"), "ann")
    library = studio._engine.library
    wanted = [p for p in reversed(prompts) if "fox" in p]
    for window in (2, 6, 1000):
        monkeypatch.setattr(history, "SEARCH_WINDOW", window)
        seen, token = [], None
        while True:
            page = library.page(HistoryFilter(text="fox"), token, size=3)
            seen += [item["prompt"] for item in page.items]
            if page.next_token is None:
                break
            token = page.next_token
        assert seen == wanted, window
        cats = library.page(HistoryFilter(text="cat", user="ann"), size=2).items
        assert [i["prompt"] for i in cats] == ["a cat number 7", "a cat number 6"], window
        assert library.page(HistoryFilter(text="fox", user="bob"), size=1).items == []  # not ann's, however many

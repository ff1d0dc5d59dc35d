"""What the Generate form offers for a model, and how a form's values are brought within it (form.py)."""

import pytest

from imagegen import (
    CUSTOM_SIZE,
    PRESET_DEFAULT,
    SAME_SHAPE,
    GenerationRequest,
    Settings,
    Studio,
    prefilled,
)


@pytest.fixture
def compatible(openai_studio):
    """A studio on an OpenAI-compatible server: every model of the catalog is offered, shut down or not."""
    return openai_studio


def test_a_new_image_is_offered_the_models_sizes_and_counts_of_its_model(compatible):
    choices = compatible.form_choices("gpt-image-2", editing=False)
    assert choices.spec.id == "gpt-image-2" and not choices.only_editors
    assert "dall-e-3" in choices.models and SAME_SHAPE not in choices.sizes
    assert choices.sizes[-1] == CUSTOM_SIZE  # gpt-image-2 takes any size within its rule
    assert choices.default_size == "1024x1024" and choices.n_max == 10
    assert choices.backgrounds == [PRESET_DEFAULT, "auto", "opaque", "transparent"]
    assert choices.input_fidelities == []  # only an edit has one
    dalle = compatible.form_choices("dall-e-3", editing=False)
    assert CUSTOM_SIZE not in dalle.sizes and dalle.n_max == 1 and dalle.backgrounds == [PRESET_DEFAULT]


def test_values_the_model_does_not_offer_fall_back_to_its_defaults(compatible):
    choices = compatible.form_choices("dall-e-3", editing=False)
    settled = choices.settle(
        {"size": "1536x1024", "n": 4, "quality": "low", "output_format": "webp", "background": "transparent"}
    )
    assert settled["size"] == choices.spec.default_size and settled["n"] == 1
    assert settled["quality"] == choices.spec.default_quality and settled["output_format"] == "png"
    assert settled["background"] == PRESET_DEFAULT
    kept = compatible.form_choices("gpt-image-2", editing=False).settle({"size": "1536x1024", "n": 10})
    assert (kept["size"], kept["n"]) == ("1536x1024", 10)
    assert compatible.form_choices("gpt-image-2", editing=False).settle({"n": 11})["n"] == 1
    counted = compatible.form_choices("gpt-image-2", editing=False).settle({"n": True})["n"]
    assert type(counted) is int and counted == 1  # a bool is no count


def test_a_model_not_offered_becomes_the_default_model(offline_settings, compatible):
    assert compatible.form_choices("no-such-model", editing=False).spec.id == "gpt-image-2.6-flare"
    assert compatible.form_choices(None, editing=False).spec.id == "gpt-image-2.6-flare"
    offline = Studio(offline_settings)
    choices = offline.form_choices("gpt-image-2", editing=False)
    assert choices.spec.id == "offline" and list(choices.models) == ["offline"]


def test_an_edit_is_offered_only_the_models_that_edit_and_the_same_shape_first(compatible):
    choices = compatible.form_choices("dall-e-3", editing=True)
    assert choices.only_editors and "dall-e-3" not in choices.models and "gpt-image-2" in choices.models
    assert choices.spec.id == "gpt-image-2.6-flare"  # dall-e-3 cannot edit: the default model instead
    assert choices.sizes[0] == SAME_SHAPE and choices.default_size == SAME_SHAPE
    fields = choices.request_fields({"size": SAME_SHAPE})
    assert fields["size"] == ""  # the engine takes the starting image's shape
    assert compatible.form_choices("gpt-image-2.6-flare", editing=False).settle({"size": SAME_SHAPE})["size"] == (
        "1024x1024"
    )


def test_input_fidelity_is_offered_for_an_edit_on_a_model_that_has_it(compatible):
    choices = compatible.form_choices("gpt-image-1.5", editing=True)
    assert choices.input_fidelities == [PRESET_DEFAULT, "high", "low"]
    assert choices.request_fields({"input_fidelity": "high"})["input_fidelity"] == "high"
    assert "input_fidelity" not in choices.request_fields({"input_fidelity": PRESET_DEFAULT})
    assert "input_fidelity" not in choices.request_fields({"input_fidelity": "medium"})
    assert compatible.form_choices("gpt-image-2", editing=True).input_fidelities == []


def test_the_directors_choices_are_blank_for_the_preset_and_dropped_when_raw(compatible):
    choices = compatible.form_choices("gpt-image-2", editing=False)
    lighting, camera = choices.lighting[1], choices.camera[1]
    fields = choices.request_fields({"lighting": lighting, "camera": PRESET_DEFAULT, "background": PRESET_DEFAULT})
    assert (fields["lighting"], fields["camera"], fields["background"]) == (lighting, "", "")
    raw = choices.request_fields({"raw": True, "lighting": lighting, "camera": camera})
    assert raw["raw"] is True and raw["lighting"] == raw["camera"] == ""
    assert choices.settle({"raw": "yes"})["raw"] is False  # only a real True sends the prompt raw
    assert choices.settle({"lighting": "<b>neon</b>"})["lighting"] == PRESET_DEFAULT


def test_a_custom_size_is_sent_as_typed_and_an_empty_one_says_what_to_type(compatible):
    choices = compatible.form_choices("gpt-image-2", editing=False)
    problem = choices.size_problem({"size": CUSTOM_SIZE, "custom_size": "  "})
    assert problem is not None and problem.startswith("Type a custom size such as 1536x864: gpt-image-2 takes")
    assert choices.size_problem({"size": CUSTOM_SIZE, "custom_size": "1536x864"}) is None
    assert choices.size_problem({"size": "1024x1024", "custom_size": ""}) is None
    assert choices.request_fields({"size": CUSTOM_SIZE, "custom_size": "1536x864"})["size"] == "1536x864"
    dalle = compatible.form_choices("dall-e-3", editing=False)
    assert dalle.size_problem({"size": CUSTOM_SIZE, "custom_size": ""}) is None  # it offers no custom size


def test_the_presets_offered_differ_for_an_edit(compatible):
    new, edit = (compatible.form_choices("gpt-image-2", editing=e) for e in (False, True))
    assert set(edit.presets) > set(new.presets)  # an edit has its own presets first, then every other
    assert edit.presets[0] not in new.presets
    assert all(new.preset_labels[name] and name in new.preset_descriptions for name in new.presets)


def test_an_edit_may_add_references_up_to_what_its_model_takes(compatible):
    choices = compatible.form_choices("gpt-image-2", editing=True)
    assert choices.spec.edit_inputs == 16
    assert choices.reference_room(0) == 15 and choices.reference_room(14) == 1
    assert choices.reference_room(15) == 0 == choices.reference_room(40)


def test_use_these_settings_fills_the_form_and_leaves_unrecorded_fields_alone(studio):
    record = studio.image(studio.generate(GenerationRequest("a fox", lighting="", camera=""), "ann").image_key)
    values = prefilled(studio.prefill_from(record))
    assert values["prompt"] == "a fox" and values["model"] == "offline"
    assert values["lighting"] == values["camera"] == PRESET_DEFAULT
    assert "custom_size" not in values and "input_fidelity" not in values
    assert prefilled({}) == {"prompt": ""}


def test_an_edit_starts_with_the_first_edit_preset_and_the_images_shape(compatible):
    choices = compatible.form_choices("gpt-image-2", editing=True)
    assert choices.starting_an_edit() == {"preset": choices.presets[0], "size": SAME_SHAPE}
    assert choices.presets[0] not in compatible.form_choices("gpt-image-2", editing=False).presets


def test_values_the_model_offers_are_kept_as_they_are_and_sent_whole(compatible):
    choices = compatible.form_choices("gpt-image-2", editing=False)
    chosen = {
        "kind": "picture",
        "preset": choices.presets[1],
        "raw": False,
        "team_colours": False,
        "lighting": choices.lighting[2],
        "camera": choices.camera[2],
        "model": "gpt-image-2",
        "size": "1536x1024",
        "custom_size": "",
        "input_fidelity": PRESET_DEFAULT,
        "quality": "high",
        "n": 3,
        "output_format": "webp",
        "background": "transparent",
        "frames": 9,
        "frame_ms": 200,
        "rewrite": "",
    }
    assert choices.settle(chosen) == chosen
    assert choices.request_fields(chosen) == {
        "preset": choices.presets[1],
        "model": "gpt-image-2",
        "size": "1536x1024",
        "quality": "high",
        "n": 3,
        "output_format": "webp",
        "background": "transparent",
        "raw": False,
        "team_colours": False,
        "lighting": choices.lighting[2],
        "camera": choices.camera[2],
        "rewrite": "",
    }


def test_a_rewrite_goes_with_the_prompt_only_while_it_is_sent_as_shown(compatible):
    new, editing = (compatible.form_choices("gpt-image-2", editing=e) for e in (False, True))
    key = "ab" * 32
    assert new.request_fields({"raw": True, "rewrite": key})["rewrite"] == key
    assert new.request_fields({"raw": False, "rewrite": key})["rewrite"] == ""  # the Director adds to it
    assert editing.request_fields({"raw": True, "rewrite": key})["rewrite"] == ""
    assert new.request_fields({"raw": True, "rewrite": "../x"})["rewrite"] == ""


def test_a_preset_not_offered_falls_back_to_the_first_and_a_custom_size_must_be_text(compatible):
    choices = compatible.form_choices("gpt-image-2", editing=False)
    assert choices.settle({"preset": "no-such-preset"})["preset"] == choices.presets[0]
    assert choices.settle({"camera": "no such lens"})["camera"] == PRESET_DEFAULT
    assert choices.settle({"quality": "ultra"})["quality"] == choices.spec.default_quality
    assert choices.settle({"custom_size": 1536})["custom_size"] == ""
    assert choices.settle({})["custom_size"] == ""


def test_the_configured_default_model_is_chosen_when_none_is_and_an_edit_falls_back_to_one_that_edits(
    data_dir, fake_openai
):
    def studio(model):
        return Studio(
            Settings(
                data_dir=data_dir,
                provider="openai",
                openai_api_key="sk-test",
                openai_base_url=fake_openai.base_url,
                model=model,
            )
        )

    assert studio("gpt-image-2").form_choices(None, editing=False).spec.id == "gpt-image-2"
    editing = studio("dall-e-3").form_choices(None, editing=True)
    assert editing.spec.id == next(iter(editing.models))  # dall-e-3 cannot edit: the first model that can
    assert studio("dall-e-3").form_choices(None, editing=False).spec.id == "dall-e-3"


def test_one_image_is_a_count_and_a_list_of_editors_alone_is_not_narrowed(compatible, offline_settings):
    assert compatible.form_choices("gpt-image-2", editing=False).settle({"n": 1})["n"] == 1
    offline = Studio(offline_settings).form_choices(None, editing=True)
    assert list(offline.models) == ["offline"] and not offline.only_editors  # every model offered edits
    assert not compatible.form_choices("gpt-image-2", editing=False).only_editors
    assert prefilled({"background": ""})["background"] == PRESET_DEFAULT


def test_a_logo_is_offered_as_svg_alone_one_at_a_time_with_its_own_presets_and_no_background(compatible):
    choices = compatible.form_choices("gpt-image-2", editing=False, kind="vector")
    assert choices.kind == "vector" and choices.formats == ["svg"] and choices.n_max == 1
    assert choices.backgrounds == [PRESET_DEFAULT]
    assert {"mark", "mono_icon", "emblem"} <= set(choices.presets) and "photo" not in choices.presets
    assert "gpt-image-1.5" not in choices.models  # it cannot make an SVG
    fields = choices.request_fields({"preset": "mark", "n": 4, "output_format": "png", "background": "transparent"})
    assert (fields["output_format"], fields["n"], fields["background"]) == ("svg", 1, "")


def test_an_animation_sends_its_frames_and_their_length_within_what_the_form_offers(compatible):
    choices = compatible.form_choices("gpt-image-2", editing=False, kind="animation")
    assert choices.formats == ["gif"] and choices.presets == ["sticker_loop", "spinner", "loop_scene"]
    fields = choices.request_fields({"frames": 12, "frame_ms": 80})
    assert (fields["output_format"], fields["frame_count"], fields["frame_duration_ms"]) == ("gif", 12, 80)
    fields = choices.request_fields({"frames": 40, "frame_ms": "fast"})  # a stale or forged value
    assert (fields["frame_count"], fields["frame_duration_ms"]) == (9, 200)


def test_a_picture_never_sends_frames_and_an_unknown_kind_is_a_picture(compatible):
    choices = compatible.form_choices("gpt-image-2", editing=False, kind="hologram")
    assert choices.kind == "picture" and set(choices.kinds) == {"picture", "vector", "animation"}
    assert "frame_count" not in choices.request_fields({"frames": 5})
    assert "svg" not in choices.formats and "gif" not in choices.formats


def test_the_team_colours_are_offered_only_once_an_admin_set_some_and_never_with_a_raw_prompt(compatible):
    assert (
        compatible.form_choices("gpt-image-2", editing=False).request_fields({"team_colours": True})["team_colours"]
        is False
    )  # none set: nothing to ask for
    compatible.set_palette("#1D3557, e63946", by="boss")
    choices = compatible.form_choices("gpt-image-2", editing=False)
    assert choices.palette == ("#1d3557", "#e63946")
    assert choices.request_fields({"team_colours": True})["team_colours"] is True
    assert choices.request_fields({"team_colours": True, "raw": True})["team_colours"] is False

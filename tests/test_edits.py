"""Edits: a starting image, references, a mask or a markup, through the engine, the ledger, storage and
the OpenAI protocol fake."""

from __future__ import annotations

import io
import threading
import time
from dataclasses import replace
from decimal import Decimal

import pytest
from PIL import Image

from imagegen import Settings, Studio
from imagegen.catalog import Catalog, Charge
from imagegen.edits import EditInputs, closest_size, prepare_edit
from imagegen.errors import InvalidRequest, LimitReached
from imagegen.history import HistoryFilter
from imagegen.masks import markup_from_drawing, mask_from_painting
from imagegen.pipeline import Clock, Generation
from imagegen.request import GenerationRequest
from tests.engine_parts import records_for_request, wait_for


def png(size: tuple[int, int], color: tuple[int, ...] = (30, 90, 160), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, "PNG")
    return out.getvalue()


def painting(size: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    layer = Image.new("RGBA", size)
    layer.paste((255, 0, 0, 255), box)
    return layer


def files_in(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def original(studio: Studio) -> dict:
    result = studio.generate(GenerationRequest("a red fox in snow", size="1536x1024"), "ann")
    return studio.image(result.image_key)


# -- checking what an edit sends --------------------------------------------------------------------------


def test_an_edit_needs_a_starting_image_and_takes_a_mask_or_a_markup_not_both():
    with pytest.raises(InvalidRequest, match="needs a starting image"):
        prepare_edit([])
    start = png((64, 64))
    mask = mask_from_painting(painting((64, 64), (0, 0, 10, 10)), (64, 64))
    markup = markup_from_drawing(painting((64, 64), (0, 0, 10, 10)), (64, 64))
    with pytest.raises(InvalidRequest, match="mask or a markup, not both"):
        prepare_edit([start], mask=mask, markup=markup)


def test_a_mask_or_markup_of_another_size_than_the_starting_image_is_refused():
    start = png((128, 64))
    wrong = mask_from_painting(painting((64, 64), (0, 0, 10, 10)), (64, 64))
    with pytest.raises(InvalidRequest, match="64x64 but the image is 128x64"):
        prepare_edit([start], mask=wrong)
    with pytest.raises(InvalidRequest, match="markup is 64x64 but the image is 128x64"):
        prepare_edit([start], markup=markup_from_drawing(painting((64, 64), (0, 0, 9, 9)), (64, 64)))


def test_a_markup_must_be_see_through_and_not_empty():
    with pytest.raises(InvalidRequest, match="markup is empty"):
        markup_from_drawing(Image.new("RGBA", (32, 32)), (32, 32))
    with pytest.raises(InvalidRequest, match="no transparent pixel"):
        prepare_edit([png((32, 32))], markup=png((32, 32), (1, 2, 3, 255), "RGBA"))
    with pytest.raises(InvalidRequest, match="no transparency"):
        prepare_edit([png((32, 32))], markup=png((32, 32)))


def test_a_markup_drawn_at_screen_size_becomes_one_of_the_image_size_keeping_the_strokes():
    markup = markup_from_drawing(painting((300, 200), (10, 10, 60, 60)), (1536, 1024))
    layer = Image.open(io.BytesIO(markup))
    assert layer.size == (1536, 1024) and layer.format == "PNG"
    alpha = layer.getchannel("A")
    assert alpha.getpixel((150, 150)) > 0 and alpha.getpixel((1000, 800)) == 0


def test_references_are_checked_by_content_and_named_in_the_refusal():
    with pytest.raises(InvalidRequest, match="Reference image 2 is not a readable image"):
        prepare_edit([png((32, 32)), png((16, 16)), b"GIF89a not really"])
    with pytest.raises(InvalidRequest, match="^The starting image is not a readable image"):
        prepare_edit([b"not an image", png((16, 16))])


def test_an_edit_keeps_the_starting_images_shape_unless_a_size_is_asked():
    assert closest_size(["1024x1024", "1536x1024", "1024x1536", "auto"], 3000, 2000) == "1536x1024"
    assert closest_size(["1024x1024", "1536x1024", "1024x1536", "auto"], 900, 1400) == "1024x1536"
    assert closest_size(["1024x1024", "2048x2048"], 1900, 2000) == "2048x2048"
    assert closest_size(["auto"], 10, 10) == "auto"


# -- what a model takes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "change", "message"),
    [
        ("dall-e-3", {}, "DALL.E 3 cannot edit images: choose GPT Image 2.6 Flare .fast. or GPT Image 2.6 Sunburst"),
        ("gpt-image-2.6-flare", {"markup": True}, "does not take a markup drawing. Use GPT Image 2.5 Flare"),
        ("gpt-image-2", {"fidelity": "high"}, "no input fidelity setting"),
        ("gpt-image-1-mini", {"fidelity": "high"}, "takes input fidelity low, not 'high'"),
        ("gpt-image-2.6-sunburst", {"images": 17}, "at most 16 images in an edit: remove 1"),
    ],
)
def test_the_catalog_refuses_what_a_model_cannot_do_in_an_edit(openai_studio, model, change, message):
    studio = openai_studio  # plans only: nothing is sent
    images = [png((32, 32))] * change.get("images", 1)
    markup = markup_from_drawing(painting((32, 32), (0, 0, 5, 5)), (32, 32)) if change.get("markup") else None
    edit = prepare_edit(images, markup=markup)
    request = GenerationRequest("add a scarf", model=model, input_fidelity=change.get("fidelity", ""))
    with pytest.raises(InvalidRequest, match=message):
        studio.plan(request, edit)


def test_a_request_naming_inputs_it_does_not_bring_is_refused(studio):
    with pytest.raises(InvalidRequest, match="images are not here any more"):
        studio.plan(GenerationRequest("add a scarf", inputs=("abc",)))


# -- what it costs ---------------------------------------------------------------------------------------


def test_input_images_are_counted_by_the_vision_tile_rule():
    rule = Catalog.load().image_input
    assert rule.tokens(1024, 1024) == 765  # 768x768: 4 tiles
    assert rule.tokens(512, 512) == 255  # 1 tile
    assert rule.tokens(1536, 1024) == 1105  # 1152x768: 6 tiles
    assert rule.tokens(4000, 3000) == 765  # fitted to 2048, then 1024x768
    assert rule.tokens(4096, 4096, bound=True) == 85 + 170 * 16  # the bound skips the short-side scaling


def test_an_edit_is_priced_with_its_input_images_and_its_bound_covers_them(tmp_path):
    catalog = Catalog.load()
    request = GenerationRequest("add a red scarf", model="gpt-image-2.6-sunburst", size="1024x1024", quality="low")
    plain = catalog.estimate_cost(request)
    inputs = [(1536, 1024), (1024, 1024)]
    edited = catalog.estimate_cost(request, inputs=inputs)
    assert edited - plain == Decimal(1105 + 765) * Decimal("8.0") / 1_000_000
    assert catalog.estimate_cost(replace(request, input_fidelity="high"), inputs=inputs) > edited
    bound = catalog.max_cost(request, inputs=inputs)
    assert bound >= catalog.estimate_cost(replace(request, input_fidelity="high"), inputs=inputs)
    # The bound counts the inputs once for each image asked for, as it does the prompt.
    assert catalog.max_cost(replace(request, n=3), inputs=inputs) == bound * 3


def test_a_model_without_a_published_input_price_says_its_inputs_are_estimated(openai_studio):
    studio = openai_studio  # plans only: nothing is sent
    plan = studio.plan(GenerationRequest("add a scarf", model="gpt-image-2"), prepare_edit([png((64, 64))]))
    assert any("no published price for GPT Image 2's input images" in w for w in plan.warnings)
    assert plan.estimated_cost > studio.plan(GenerationRequest("add a scarf", model="gpt-image-2")).estimated_cost
    priced = studio.plan(GenerationRequest("add a scarf", model="gpt-image-2.6-flare"), prepare_edit([png((64, 64))]))
    assert not any("input images" in w for w in priced.warnings)


# -- the whole way, offline ------------------------------------------------------------------------------


def test_an_edit_of_a_gallery_image_is_kept_with_its_inputs_and_lineage(studio, original):
    start = studio.starting_image(original["key"])
    mask = mask_from_painting(painting((300, 200), (50, 50, 150, 150)), (start.width, start.height))
    edit = studio.prepare_edit([start, png((64, 64), (250, 10, 10))], mask=mask, parent_key=original["key"])
    result = studio.generate(GenerationRequest("add a red scarf", preset="careful"), "ann", edit=edit)

    record = studio.image(result.image_key)
    assert record["parent_key"] == original["key"]
    assert [i["role"] for i in record["inputs"]] == ["image", "reference", "mask"]
    assert studio.input_bytes(record, record["inputs"][0]["key"]) == start.data
    assert studio.input_bytes(record, record["inputs"][2]["key"]) == mask
    assert (record["width"], record["height"]) == (1536, 1024)  # the starting image's shape
    ancestors, children = studio.lineage(record["key"])
    assert [a["key"] for a in ancestors] == [original["key"]]
    assert children == []
    assert [c["key"] for c in studio.lineage(original["key"])[1]] == [record["key"]]
    assert studio.count_images(HistoryFilter(kind="edits")) == 1
    assert studio.count_images(HistoryFilter(kind="originals")) == 1
    assert studio.check_invariants() == []


def test_the_offline_edit_changes_only_the_masked_region(studio, original):
    start = studio.starting_image(original["key"])
    mask = mask_from_painting(painting((1536, 1024), (0, 0, 400, 400)), (1536, 1024))
    result = studio.generate(GenerationRequest("make it red"), "ann", edit=studio.prepare_edit([start], mask=mask))
    before = Image.open(io.BytesIO(start.data)).convert("RGB")
    after = Image.open(io.BytesIO(studio.image_bytes(studio.image(result.image_key)))).convert("RGB")
    assert after.getpixel((1200, 900)) == before.getpixel((1200, 900))
    assert after.crop((0, 0, 400, 400)).tobytes() != before.crop((0, 0, 400, 400)).tobytes()


def test_keep_going_makes_a_chain_the_detail_view_can_walk(studio, original):
    parent = original
    chain = [original["key"]]
    for step in ("add a scarf", "make it night", "add snowfall"):
        edit = studio.prepare_edit([studio.starting_image(parent["key"])], parent_key=parent["key"])
        parent = studio.image(studio.generate(GenerationRequest(step), "ann", edit=edit).image_key)
        chain.append(parent["key"])
    ancestors, _ = studio.lineage(chain[-1])
    assert [a["key"] for a in ancestors] == chain[-2::-1]
    assert [c["key"] for c in studio.lineage(chain[1])[1]] == [chain[2]]


def test_the_same_edit_asked_twice_is_one_request_and_another_mask_is_another(studio, original):
    start = studio.starting_image(original["key"])
    mask_a = mask_from_painting(painting((64, 64), (0, 0, 8, 8)), (1536, 1024))
    mask_b = mask_from_painting(painting((64, 64), (30, 30, 40, 40)), (1536, 1024))
    request = GenerationRequest("add a scarf").with_stable_id("ann", "round-1")
    first = studio.generate(request, "ann", edit=studio.prepare_edit([start], mask=mask_a))
    again = studio.generate(request, "ann", edit=studio.prepare_edit([start], mask=mask_a))
    assert again.image_keys == first.image_keys and "Already generated" in again.warnings[0]
    other = studio.plan(request, studio.prepare_edit([start], mask=mask_b)).request
    assert other.mask != studio.plan(request, studio.prepare_edit([start], mask=mask_a)).request.mask


def test_a_refused_edit_leaves_no_row_and_no_file(studio, original, offline_settings):
    studio.set_quota("ann", 1, by="admin")  # the original used the one image of the day
    before = files_in(offline_settings.data_dir / "images")
    edit = studio.prepare_edit([studio.starting_image(original["key"])], parent_key=original["key"])
    with pytest.raises(LimitReached):
        studio.generate(GenerationRequest("add a scarf"), "ann", edit=edit)
    assert files_in(offline_settings.data_dir / "images") == before
    assert studio.count_images() == 1
    assert studio.check_invariants() == []


def test_a_crash_after_the_answer_still_keeps_the_edits_inputs(studio, original):
    start = studio.starting_image(original["key"])
    edit = studio.prepare_edit([start, png((40, 40))], parent_key=original["key"])
    plan = studio.plan(GenerationRequest("add a scarf", request_id="crashed-edit-1"), edit)
    generation = Generation(studio._engine, plan, "ann", "crashed-edit-1", lambda stage, details: None, Clock())
    generation.reserve()
    generation.keep_raw(generation.render(), Charge(plan.estimated_cost, False)).release()  # then the process died

    assert studio.reconcile()["uploaded"] == ["crashed-edit-1"]
    [record] = records_for_request(studio._engine.db, "crashed-edit-1")
    assert record["parent_key"] == original["key"]
    assert studio.input_bytes(record, record["inputs"][0]["key"]) == start.data
    assert studio._engine.ledger.generation("crashed-edit-1")["status"] == "committed"


def test_the_index_rebuilt_from_storage_keeps_lineage(studio, original):
    edit = studio.prepare_edit([studio.starting_image(original["key"])], parent_key=original["key"])
    child = studio.generate(GenerationRequest("add a scarf"), "ann", edit=edit).image_key
    assert studio._engine.library.reindex() == 2
    assert studio.count_images(HistoryFilter(kind="edits")) == 1
    assert [c["key"] for c in studio.lineage(original["key"])[1]] == [child]


def test_an_edits_inputs_are_only_read_for_that_image(studio, original):
    edit = studio.prepare_edit([studio.starting_image(original["key"])], parent_key=original["key"])
    record = studio.image(studio.generate(GenerationRequest("add a scarf"), "ann", edit=edit).image_key)
    with pytest.raises(Exception, match="not one of this image's inputs"):
        studio.input_bytes(original, record["inputs"][0]["key"])


def test_saved_inputs_read_back_byte_for_byte(tmp_path):
    mask = mask_from_painting(painting((32, 32), (0, 0, 4, 4)), (32, 32))
    edit = prepare_edit([png((32, 32)), png((8, 8))], mask=mask, parent_key="k")
    edit.save(tmp_path / "job")
    assert EditInputs.load(tmp_path / "job") == edit
    markup = markup_from_drawing(painting((32, 32), (0, 0, 4, 4)), (32, 32))
    drawn = prepare_edit([png((32, 32))], markup=markup)
    drawn.save(tmp_path / "other")
    assert EditInputs.load(tmp_path / "other") == drawn and drawn.parent_key == ""


# -- the OpenAI protocol ---------------------------------------------------------------------------------


def test_an_edit_goes_to_the_edits_endpoint_as_multipart_and_is_charged_from_usage(openai_studio, fake_openai):
    start = png((1536, 1024))
    mask = mask_from_painting(painting((300, 200), (10, 10, 90, 90)), (1536, 1024))
    edit = openai_studio.prepare_edit([start, png((512, 512))], mask=mask)
    request = GenerationRequest("add a red scarf", model="gpt-image-1.5", quality="low", input_fidelity="high")
    plan = openai_studio.plan(request, edit)
    result = openai_studio.generate(request, "ann", edit=edit)

    [sent] = fake_openai.requests
    assert sent["_path"].endswith("/images/edits")
    assert sent["_files"] == {"image[]": 2, "mask": 1}
    assert sent["input_fidelity"] == "high" and sent["size"] == "1536x1024"
    row = openai_studio._engine.ledger.generation(result.id)
    assert row["input_image_tokens"] == 1105 + 255 + 6240
    assert row["actual_micros"] <= plan.reserve_micros
    assert result.cost_usd > float(
        openai_studio._engine.catalog.estimate_cost(plan.request, plan.directed.text)
    )  # the inputs cost on top of the prompt and the output


def test_a_single_image_edit_streams_its_partials(openai_studio, fake_openai):
    fake_openai.default = "stream"
    seen = []
    request = GenerationRequest("add a scarf", model="gpt-image-2.6-flare", quality="low")
    edit = openai_studio.prepare_edit([png((1024, 1024))])
    openai_studio.generate(request, "ann", lambda stage, details: seen.append(stage), edit=edit)
    assert fake_openai.requests[0]["_files"] == {"image": 1}
    assert seen.count("partial") == 2


def test_a_markup_goes_to_a_model_that_takes_it(openai_studio, fake_openai):
    markup = markup_from_drawing(painting((64, 64), (5, 5, 20, 20)), (1024, 1024))
    edit = openai_studio.prepare_edit([png((1024, 1024))], markup=markup)
    openai_studio.generate(GenerationRequest("circle: make it a lamp", model="gpt-image-2.5-flare"), "ann", edit=edit)
    assert fake_openai.requests[0]["_files"] == {"image": 1, "markup": 1}


@pytest.mark.parametrize(
    ("fields", "files", "message"),
    [
        ({"model": "gpt-image-2", "prompt": "x"}, {}, "Missing required parameter: 'image'"),
        ({"model": "dall-e-3", "prompt": "x"}, {"image": 1}, "not supported for this model"),
        ({"model": "gpt-image-2", "prompt": "x"}, {"image[]": 17}, "array too long"),
        ({"model": "gpt-image-2", "prompt": "x"}, {"image": 1, "mask": "wrong"}, "same dimensions"),
        ({"model": "gpt-image-2", "prompt": "x"}, {"image": 1, "mask": "jpeg"}, "must be a PNG"),
        (
            {"model": "gpt-image-2.5-flare", "prompt": "x"},
            {"image": 1, "mask": "ok", "markup": "ok"},
            "cannot be combined",
        ),
        ({"model": "gpt-image-2", "prompt": "x"}, {"image": 1, "markup": "ok"}, "'markup' is not supported"),
        ({"model": "gpt-image-2", "prompt": "x", "input_fidelity": "high"}, {"image": 1}, "input_fidelity"),
        ({"model": "gpt-image-2", "prompt": "x", "moderation": "low"}, {"image": 1}, "Unknown parameter"),
    ],
)
def test_the_fake_refuses_edits_the_api_refuses(fake_openai, fields, files, message):
    import httpx

    start = png((64, 64))
    overlay = {
        "ok": mask_from_painting(painting((64, 64), (0, 0, 9, 9)), (64, 64)),
        "wrong": mask_from_painting(painting((32, 32), (0, 0, 9, 9)), (32, 32)),
        "jpeg": _jpeg((64, 64)),
    }
    parts = []
    for name, value in files.items():
        if name.startswith("image"):
            parts += [(name, ("in.png", start, "image/png"))] * value
        else:
            parts.append((name, (f"{name}.png", overlay[value], "image/png")))
    answer = httpx.post(
        fake_openai.base_url + "/images/edits",
        data={k: str(v) for k, v in fields.items()},
        files=parts or None,
        headers={"authorization": "Bearer sk-test"},
    )
    assert answer.status_code in (400, 404)
    error = answer.json()["error"]
    assert message in error["message"] and set(error) == {"message", "type", "param", "code"}


def _jpeg(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size).save(out, "JPEG")
    return out.getvalue()


# -- limits under a burst --------------------------------------------------------------------------------


def test_a_burst_of_edits_admits_exactly_what_the_budget_holds(tmp_path, fake_openai):
    settings = Settings(
        data_dir=tmp_path,
        provider="openai",
        openai_api_key="sk-test",
        openai_base_url=fake_openai.base_url,
        daily_quota=100,
        daily_budget_usd=Decimal("1"),
    )
    studio = Studio(settings)
    edit = studio.prepare_edit([png((1024, 1024)), png((1024, 1024), (9, 9, 9))])
    request = GenerationRequest("add a scarf", model="gpt-image-2.6-sunburst", quality="medium", size="1024x1024")
    bound = studio.plan(request, edit).reserve_micros
    fits = 1_000_000 // bound
    assert 1 < fits < 24
    fake_openai.gate = threading.Event()  # every reservation is decided before any commit frees what it overestimated
    outcomes: list[str] = []
    start = threading.Barrier(24)

    def one(i: int) -> None:
        fresh = Studio(settings)
        start.wait()
        try:
            fresh.generate(replace(request, request_id=f"burst-edit-{i:02d}"), f"user{i}", edit=edit)
            outcomes.append("admitted")
        except LimitReached:
            outcomes.append("refused")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    deadline = time.time() + 30
    while len(fake_openai.requests) + outcomes.count("refused") < 24 and time.time() < deadline:
        time.sleep(0.01)
    fake_openai.gate.set()
    for t in threads:
        t.join()
    assert (outcomes.count("admitted"), outcomes.count("refused")) == (fits, 24 - fits)
    assert studio.check_invariants() == []
    assert len(fake_openai.requests) == fits


# -- in the background -----------------------------------------------------------------------------------


def test_a_queued_edit_keeps_its_inputs_until_it_has_run(studio, original):
    from imagegen.jobs import JobRunner

    release = threading.Event()
    render = studio._engine.provider.render

    def held_render(job, on_partial):
        release.wait(30)
        return render(job, on_partial)

    studio._engine.provider.render = held_render
    runner = JobRunner(studio._engine, workers=1)
    try:
        edit = studio.prepare_edit([studio.starting_image(original["key"])], parent_key=original["key"])
        job_id = runner.submit(GenerationRequest("add a scarf", request_id="queued-edit-1"), "ann", edit)
        assert EditInputs.load(runner.inputs_dir(job_id)) == edit  # on disk while it waits
        release.set()
        job = wait_for(runner, job_id, timeout=30)
    finally:
        release.set()
        runner.shutdown()
    assert job.status == "succeeded", job.error
    assert studio.image(job.result["image_key"])["parent_key"] == original["key"]
    assert not runner.inputs_dir(job_id).exists()


def test_a_queued_edit_whose_inputs_were_lost_fails_without_a_charge(studio, original):
    import shutil

    from imagegen.jobs import JobRunner

    release = threading.Event()
    render = studio._engine.provider.render
    studio._engine.provider.render = lambda job, on_partial: (release.wait(30), render(job, on_partial))[1]
    runner = JobRunner(studio._engine, workers=1)
    try:
        edit = studio.prepare_edit([studio.starting_image(original["key"])])
        runner.submit(GenerationRequest("a cat", request_id="blocking-job-1"), "ann")
        job_id = runner.submit(GenerationRequest("add a scarf", request_id="lost-inputs-1"), "ann", edit)
        shutil.rmtree(runner.inputs_dir(job_id))
        release.set()
        job = wait_for(runner, job_id, timeout=30)
    finally:
        release.set()
        runner.shutdown()
    assert job.status == "failed" and "were lost" in job.error and not job.charged
    assert studio._engine.ledger.generation(job_id) is None


def test_an_edited_image_can_be_made_again_from_its_kept_inputs(studio, original):
    start = studio.starting_image(original["key"])
    mask = mask_from_painting(painting((64, 64), (0, 0, 20, 20)), (1536, 1024))
    edit = studio.prepare_edit([start, png((32, 32))], mask=mask, parent_key=original["key"])
    record = studio.image(studio.generate(GenerationRequest("add a scarf"), "ann", edit=edit).image_key)
    assert studio.edit_of_record(record) == edit
    assert studio.edit_of_record(original) is None


def test_azure_edits_go_to_the_deployments_edit_path(azure_studio, fake_openai):
    studio = azure_studio
    edit = studio.prepare_edit([png((1024, 1024))])
    result = studio.generate(GenerationRequest("add a hat", model="gpt-image-2.6-flare"), "ann", edit=edit)
    assert result.provider == "azure" and result.status == "succeeded"
    sent = fake_openai.requests[-1]
    assert sent["_path"].startswith("/openai/deployments/gpt-image-2.6-flare/images/edits")
    assert sent["_files"] == {"image": 1}


def test_a_rate_limited_edit_is_asked_again_and_a_refused_one_is_refunded(openai_studio, fake_openai):
    fake_openai.then("429", "b64")
    edit = openai_studio.prepare_edit([png((1024, 1024))])
    request = GenerationRequest("add a hat", model="gpt-image-2.6-flare", quality="low")
    assert openai_studio.generate(request, "ann", edit=edit).status == "succeeded"
    assert len(fake_openai.requests) == 2
    fake_openai.then("content_policy")
    with pytest.raises(Exception, match="content policy") as refused:
        openai_studio.generate(replace(request, request_id="refused-edit-1"), "ann", edit=edit)
    assert not refused.value.charged
    assert openai_studio.check_invariants() == []


def test_deleting_an_edits_last_image_removes_the_inputs_it_was_sent_with(studio, original, offline_settings):
    face = png((64, 64), (230, 180, 160))
    edit = studio.prepare_edit([studio.starting_image(original["key"]), face], parent_key=original["key"])
    result = studio.generate(GenerationRequest("add the face", n=2), "ann", edit=edit)
    first, second = (studio.image(key) for key in result.image_keys)
    store = offline_settings.data_dir / "images"
    inputs = [store / item["key"] for item in first["inputs"]]
    assert all(path.is_file() for path in inputs)
    studio.delete_image(first["key"], "ann")
    assert all(path.is_file() for path in inputs)  # the other image of the edit still names them
    assert studio.input_bytes(studio.image(second["key"]), second["inputs"][1]["key"]) == face
    studio.delete_image(second["key"], "ann")
    assert not any(path.exists() for path in inputs)
    assert studio.image(original["key"])  # the image it was edited from stays


def test_a_queued_edit_is_taken_by_a_free_process_on_the_same_disk_with_its_inputs(studio, original):
    from imagegen.jobs import JobRunner

    release = threading.Event()
    render = studio._engine.provider.render
    studio._engine.provider.render = lambda job, on_partial: (release.wait(30), render(job, on_partial))[1]
    busy = JobRunner(studio._engine, workers=1)  # its one worker is stuck: the edit waits in the queue
    survivor = None
    try:
        busy.submit(GenerationRequest("a cat", request_id="stuck-job-1"), "ann")
        edit = studio.prepare_edit([studio.starting_image(original["key"])], parent_key=original["key"])
        job_id = busy.submit(GenerationRequest("add a scarf", request_id="orphan-edit-1"), "ann", edit)
        assert busy.job(job_id).status == "queued"
        survivor = JobRunner(Studio(studio._engine.settings)._engine, workers=1)
        release.set()
        job = wait_for(survivor, job_id, timeout=30)
    finally:
        release.set()
        busy.shutdown()
        if survivor is not None:
            survivor.shutdown()
    assert job.status == "succeeded", job.error
    assert survivor.db.query("SELECT owner FROM jobs WHERE id = :id", {"id": job_id})[0][0] == survivor.owner
    assert studio.image(job.result["image_key"])["parent_key"] == original["key"]
    assert not survivor.inputs_dir(job_id).exists()


def test_a_model_takes_exactly_its_limit_of_images(openai_studio):
    studio = openai_studio  # plans only: nothing is sent
    edit = prepare_edit([png((32, 32))] * 16)
    assert studio.plan(GenerationRequest("use them all", model="gpt-image-2.6-flare"), edit).edit == edit


def test_a_markup_names_the_request_and_is_billed_as_an_input_image():
    start = png((64, 64))
    markup_a = markup_from_drawing(painting((64, 64), (0, 0, 9, 9)), (64, 64))
    markup_b = markup_from_drawing(painting((64, 64), (20, 20, 29, 29)), (64, 64))
    request = GenerationRequest("make it a lamp")
    first = prepare_edit([start], markup=markup_a).applied_to(request)
    second = prepare_edit([start], markup=markup_b).applied_to(request)
    assert first.markup and first.markup != second.markup and not first.mask
    assert first.with_stable_id("ann", "n").request_id != second.with_stable_id("ann", "n").request_id
    with_markup = prepare_edit([start], markup=markup_a)
    assert with_markup.priced_sizes() == [(64, 64), (64, 64)]  # the image, and the markup laid over it
    mask = mask_from_painting(painting((64, 64), (0, 0, 9, 9)), (64, 64))
    with_mask = prepare_edit([start], mask=mask)
    assert with_mask.priced_sizes() == [(64, 64)]  # a mask is not billed as an image...
    assert with_mask.priced_sizes(bound=True) == [(64, 64), (64, 64)]  # ...but the reservation allows for it


def test_inputs_are_kept_with_their_roles_and_content_types():
    mask = mask_from_painting(painting((64, 64), (0, 0, 9, 9)), (64, 64))
    jpeg = io.BytesIO()
    Image.new("RGB", (16, 16)).save(jpeg, "JPEG")
    files = prepare_edit([png((64, 64)), jpeg.getvalue()], mask=mask).files()
    assert [(f.name, f.role, f.content_type) for f in files] == [
        ("input-0.png", "image", "image/png"),
        ("input-1.jpeg", "reference", "image/jpeg"),
        ("mask.png", "mask", "image/png"),
    ]
    markup = markup_from_drawing(painting((64, 64), (0, 0, 9, 9)), (64, 64))
    [_, drawn] = prepare_edit([png((64, 64))], markup=markup).files()
    assert (drawn.name, drawn.role, drawn.content_type) == ("markup.png", "markup", "image/png")


def test_two_deletes_at_once_of_an_edits_two_images_leave_no_input_behind(db_settings):
    db_settings = replace(db_settings, daily_quota=100)
    replicas = [Studio(db_settings), Studio(db_settings)]  # two servers on one database and one store
    studio = replicas[0]
    store = db_settings.data_dir / "images"
    for round_ in range(8):
        start = studio.generate(GenerationRequest(f"a lighthouse {round_}"), "ann")
        edit = studio.prepare_edit([studio.starting_image(start.image_key), png((64, 64))])
        result = studio.generate(GenerationRequest(f"add a boat {round_}", n=2), "ann", edit=edit)
        inputs = [store / item["key"] for item in studio.image(result.image_keys[0])["inputs"]]
        assert inputs and all(path.is_file() for path in inputs)
        together = threading.Barrier(2)
        failures: list[BaseException] = []

        def delete(replica: Studio, key: str) -> None:
            together.wait()
            try:
                replica.delete_image(key, "ann")
            except BaseException as exc:  # noqa: BLE001 (reported below)
                failures.append(exc)

        threads = [threading.Thread(target=delete, args=pair) for pair in zip(replicas, result.image_keys)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert failures == []
        assert not any(path.exists() for path in inputs), f"round {round_}: inputs left with no image"
        assert studio.image(start.image_key)


def test_reconcile_finishes_the_deletes_a_stopped_store_left(studio, offline_settings):
    from imagegen.errors import StorageError

    result = studio.generate(GenerationRequest("a kite"), "ann")
    record = studio.image(result.image_key)
    delete = studio._engine.library.store.delete
    studio._engine.library.store.delete = lambda keys: (_ for _ in ()).throw(StorageError("the store is down"))
    studio.delete_image(result.image_key, "ann")  # gone from the gallery at once
    original = offline_settings.data_dir / "images" / record["key"]
    assert original.is_file()  # the store did not answer
    studio._engine.library.store.delete = delete
    assert studio.reconcile()["deleted"] == 3
    assert not original.exists()
    assert studio.reconcile()["deleted"] == 0


def test_reindex_removes_inputs_an_older_version_left_without_an_image(studio, original, offline_settings):
    from imagegen import history

    edit = studio.prepare_edit([studio.starting_image(original["key"]), png((64, 64))], parent_key=original["key"])
    result = studio.generate(GenerationRequest("add a moon"), "ann", edit=edit)
    record = studio.image(result.image_key)
    inputs = [offline_settings.data_dir / "images" / item["key"] for item in record["inputs"]]
    # What a delete of an older version left: the image, its record and its row gone, the inputs kept.
    studio._engine.library.store.delete([record["key"], record["thumb_key"], record["record_key"]])
    with studio._engine.db.write() as conn:
        conn.execute("DELETE FROM images WHERE key = :key", {"key": record["key"]})
    studio._engine.library.reindex()
    assert all(path.is_file() for path in inputs)  # too young: it may be an image being stored right now
    history.ORPHAN_AGE_SECONDS, age = -60.0, history.ORPHAN_AGE_SECONDS
    try:
        studio._engine.library.reindex()
    finally:
        history.ORPHAN_AGE_SECONDS = age
    assert not any(path.exists() for path in inputs)
    assert studio.image(original["key"])


def test_a_gpt_image_2_edit_is_charged_for_the_input_tokens_its_usage_reports_as_an_estimate(
    openai_studio, fake_openai
):
    studio = openai_studio
    edit = studio.prepare_edit([png((1024, 1024)) for _ in range(4)])
    result = studio.generate(GenerationRequest("add a hat", model="gpt-image-2", quality="low"), "ann", edit=edit)
    row = studio._engine.ledger.generation(result.id)
    table = Decimal("0.006")
    image_tokens = row["input_image_tokens"]
    assert image_tokens >= 4 * 765  # what the provider reported for the four inputs
    assert Decimal(row["actual_micros"]) / 1_000_000 >= table + Decimal(image_tokens) * 10 / 1_000_000
    assert row["cost_estimated"] == 1
    assert row["actual_micros"] <= row["estimated_micros"]  # within what was reserved
    assert studio.figures_today().estimated_usd == row["actual_micros"] / 1_000_000
    plain = studio.generate(GenerationRequest("a hat", model="gpt-image-2.6-flare", quality="low"), "ann")
    assert studio._engine.ledger.generation(plain.id)["cost_estimated"] == 0
    assert studio.check_invariants() == []


def test_a_refused_edit_names_at_most_three_models_that_can_edit_and_two_that_take_a_markup():
    from imagegen.edits import check_edit

    catalog = Catalog.load()
    editors = [m for m in catalog.models() if m.edits]
    markers = [m for m in editors if m.markup]
    assert len(editors) >= 4 and len(markers) >= 3
    edit = prepare_edit([png((32, 32))], markup=markup_from_drawing(painting((32, 32), (0, 0, 5, 5)), (32, 32)))
    dalle, flare = catalog.get("dall-e-3"), catalog.get("gpt-image-2.6-flare")
    with pytest.raises(InvalidRequest) as cannot:
        check_edit(catalog, editors, dalle, GenerationRequest("x", model=dalle.id), edit)
    assert cannot.value.message == f"DALL-E 3 cannot edit images: choose {' or '.join(m.label for m in editors[:3])}."
    with pytest.raises(InvalidRequest) as alone:
        check_edit(catalog, [dalle], dalle, GenerationRequest("x", model=dalle.id), edit)
    assert alone.value.message == "DALL-E 3 cannot edit images."
    with pytest.raises(InvalidRequest) as no_markup:
        check_edit(catalog, editors, flare, GenerationRequest("x", model=flare.id), edit)
    assert no_markup.value.message == (
        f"{flare.label} does not take a markup drawing. Use {markers[0].label} or {markers[1].label}, or paint a "
        "mask instead."
    )
    with pytest.raises(InvalidRequest) as nowhere:
        check_edit(catalog, [flare], flare, GenerationRequest("x", model=flare.id), edit)
    assert nowhere.value.message == f"{flare.label} does not take a markup drawing. Paint a mask instead."


def test_inputs_saved_again_into_their_folder_and_a_manifest_without_a_parent_read_back(tmp_path):
    import json

    edit = prepare_edit([png((32, 32))])
    edit.save(tmp_path / "job")
    edit.save(tmp_path / "job")  # a job written again after a restart
    manifest = tmp_path / "job" / "inputs.json"
    manifest.write_text(json.dumps({"files": json.loads(manifest.read_text())["files"]}))  # an older manifest
    assert EditInputs.load(tmp_path / "job").parent_key == ""

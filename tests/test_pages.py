"""The pages through Streamlit's AppTest, against the offline provider and a real data folder."""

import ast
import io
import json
import re
import time

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from imagegen import DESCRIBER, GenerationRequest, InvalidRequest, Settings, Studio
from imagegen.jobs import JobRunner
from tests.conftest import ROOT
from tests.engine_parts import wait_for
from ui import runtime, widgets


def app(prompt: str | None = None, user: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    if prompt is not None:
        at.session_state["g_prompt_value"] = prompt
    if user is not None:
        at.user = user
    return at.run()


def generate_button(at: AppTest):
    """The page's main button (its label changes while a render runs, and for an edit)."""
    labels = ("Generate", "Generate another", "Edit image", "Edit again")
    return next(b for b in at.button if b.label in labels)


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [e.value for e in at.error]
    parts += [w.value for w in at.warning] + [s.value for s in at.header] + [i.value for i in at.info]
    # as a reader sees it: without the escapes and code fences that keep user text inert
    return re.sub(r"\\(.)", r"\1", "\n".join(str(p) for p in parts)).replace("`", "")


def signed_in(email: str, *, verified: bool = True, sub: str | None = None, **claims) -> dict:
    """What st.user holds after a sign-in at the company's identity provider."""
    return {
        "is_logged_in": True,
        "iss": "https://login.example.com",
        "sub": sub or f"sub-{email}",
        "email": email,
        "email_verified": verified,
        **claims,
    }


def everything(at: AppTest) -> str:
    """Every element's full message as the browser receives it: captions, metrics, code, widgets' labels."""
    found, stack = [], [at._tree]
    while stack:
        node = stack.pop()
        if getattr(node, "proto", None) is not None:
            found.append(str(node.proto))
        children = getattr(node, "children", {})
        stack.extend(children.values() if isinstance(children, dict) else children)
    return "\n".join(found)


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def wait_until_idle(at: AppTest, timeout: float = 20) -> AppTest:
    deadline = time.time() + timeout
    while time.time() < deadline:
        at.run()
        if "Latest result" in texts(at) or at.error:
            return at
        time.sleep(0.1)
    raise AssertionError("the job never finished")


def component_data(at: AppTest, name: str) -> dict:
    """The data the page sent to one of its components (the browser draws it; see tests/e2e)."""
    found, stack = [], [at._tree]
    while stack:
        node = stack.pop()
        proto = getattr(node, "proto", None)
        if proto is not None and getattr(proto, "component_name", "") == name:
            found.append(json.loads(proto.json))
        children = getattr(node, "children", {})
        stack.extend(children.values() if isinstance(children, dict) else children)
    assert len(found) == 1, f"{len(found)} {name} components on the page"
    return found[0]


def test_the_preview_shows_the_directed_prompt_the_cost_and_what_is_left(env):
    at = app("a car")
    assert not at.exception
    preview = component_data(at, "imagegen_directed_preview")
    server = preview["server"]
    assert server["for"] == "a car" and server["kind"] == "directed"
    assert ["professional photograph", "style"] in server["segments"]
    assert server["text"].startswith("a car, ") and server["added"] == len([s for s in server["segments"] if s[1]])
    assert preview["plan"]["limit"] == 32000 and not preview["plan"]["raw"]
    assert metric(at, "Estimated cost") == "$0.00"
    assert metric(at, "Images left") == "5 / 5"
    assert metric(at, "Budget left") == "$10.00"
    at.selectbox(key="g_preset").set_value("watercolor").run()
    preview = component_data(at, "imagegen_directed_preview")
    assert "watercolor painting" in preview["server"]["text"]
    assert {"facet": "style", "text": "watercolor painting", "key": "watercolor painting",
            "needle": "watercolor painting"} in preview["plan"]["keywords"]  # fmt: skip
    at.toggle(key="g_raw").set_value(True).run()
    preview = component_data(at, "imagegen_directed_preview")
    assert preview["server"]["segments"] == [["a car", None]] and preview["plan"]["raw"]


def test_a_prompt_s_own_problem_is_the_preview_s_to_show(env):
    at = app("x" * 40_000)
    preview = component_data(at, "imagegen_directed_preview")
    assert preview["server"] == {
        "for": "x" * 40_000,
        "kind": "error",
        "message": "The prompt has 40,000 characters; this model takes at most 32,000. Shorten it.",
    }
    assert not at.error  # shown once, in the preview, where the keys that mend it redraw it
    assert next(b for b in at.button if b.label == "Generate").disabled
    at = app("\u200b\u200b")
    assert component_data(at, "imagegen_directed_preview")["server"]["message"].startswith("Write a prompt")
    at = app("   ")
    assert component_data(at, "imagegen_directed_preview")["server"] == {"for": "   ", "kind": "blank"}


def test_generating_shows_the_result_and_spends_the_quota(env):
    at = app("a lighthouse at dusk")
    generate_button(at).click().run()
    at = wait_until_idle(at)
    assert not at.exception
    assert "Latest result" in texts(at)
    assert len(at.get("image")) >= 1
    assert metric(at, "Images left") == "4 / 5"
    again = next(b for b in at.button if b.label == "More like this")
    again.click().run()  # it generates, with the same settings: it does not just refill the form
    deadline = time.time() + 20
    while time.time() < deadline and metric(at, "Images left") != "3 / 5":
        time.sleep(0.1)
        at.run()
    assert metric(at, "Images left") == "3 / 5"
    assert not [r for r in at.get("exception")] and not at.warning


def test_edit_on_a_result_a_newer_one_replaced_as_it_was_clicked_edits_the_image_clicked(env):
    at = app("a lighthouse at dusk")
    generate_button(at).click().run()
    at = wait_until_idle(at)
    studio = Studio(Settings.from_env())
    [first] = studio.history().items
    clicked = next(b for b in at.button if b.label == "Edit")
    newer = studio.submit(GenerationRequest("a windmill at noon"), first["user"], None)
    assert wait_for(studio, newer).status == "succeeded"  # it ends before the click lands
    clicked.click().run()  # the run that handles the click draws the windmill's result, not this button
    assert not at.exception
    assert at.session_state["g_edit"].parent_key == first["key"]
    assert "Editing" in texts(at)


def test_edit_on_a_result_whose_image_was_deleted_since_says_so_and_edits_nothing(env):
    at = app("a lighthouse at dusk")
    generate_button(at).click().run()
    at = wait_until_idle(at)
    studio = Studio(Settings.from_env())
    [image] = studio.history().items
    studio.delete_image(image["key"], image["user"])
    next(b for b in at.button if b.label == "Edit").click().run()
    assert not at.exception
    assert "g_edit" not in at.session_state
    assert any("not in the gallery" in e.value for e in at.error)


def test_the_status_shows_each_stage_while_rendering(env):
    env.setenv("IMAGEGEN_OFFLINE_DELAY", "2")
    ledger = Studio(Settings.from_env())._engine.ledger
    earlier = {"model": "offline", "quality": "auto", "size": "1024x1024", "provider": "offline"}
    for index, total in enumerate((4000, 5000, 6000)):  # three renders like this one: enough for an ETA
        ledger.reserve(ledger_id=f"earlier{index}", user="bob", n=1, estimated_micros=0, details=earlier)
        ledger.commit(f"earlier{index}", actual_micros=0, timings_ms={"total": total})
    at = app("a slow fox")
    generate_button(at).click().run()
    seen = set()
    deadline = time.time() + 20
    while time.time() < deadline and "Latest result" not in texts(at):
        seen |= {line for line in texts(at).splitlines() if "Directing" in line or "Rendering" in line}
        seen |= {p.text for p in at.get("progress")}
        time.sleep(0.2)
        at.run()
    assert any("✓ Directing" in s for s in seen)
    assert any("◐ Rendering" in s for s in seen)
    assert any("Usually about 5s" in s for s in seen)
    assert "Latest result" in texts(at)


def test_the_status_says_when_the_image_service_is_asked_again(env, fake_openai):
    env.setenv("OPENAI_API_KEY", "sk-test")
    env.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    fake_openai.then("500")
    fake_openai.then("500")  # waits 1 s, then 2 s, before asking again
    at = app("a patient fox")
    generate_button(at).click().run()
    seen = set()
    deadline = time.time() + 20
    while time.time() < deadline and "Latest result" not in texts(at):
        seen |= set(texts(at).splitlines())
        time.sleep(0.2)
        at.run()
    assert "Latest result" in texts(at)
    assert any("Retrying: the image service had an error (500)." in s and "attempt 3 of 3" in s for s in seen)
    assert not at.warning  # gone once the render is done


def test_when_the_quota_is_spent_the_button_is_disabled_and_says_why(env):
    Studio(Settings.from_env()).set_quota("ann", 0, by="test")
    at = app("a fox")
    assert generate_button(at).disabled
    assert "your quota is 0 images a day. Ask an admin to raise it." in texts(at)


def test_bad_input_is_explained_and_the_button_stays_off(env):
    at = app("a fox")
    at.selectbox(key="g_size").set_value("Custom...").run()
    at.text_input[0].set_value("1000x1000").run()
    assert "multiples of 16" in texts(at)
    assert generate_button(at).disabled


def test_a_double_click_starts_one_generation(env):
    env.setenv("IMAGEGEN_OFFLINE_DELAY", "1")
    at = app("one fox")
    generate_button(at).click().run()
    generate_button(at).click().run()
    wait_until_idle(at)
    studio = Studio(Settings.from_env())
    assert studio._engine.db.query("SELECT COUNT(*) FROM generations")[0][0] == 1


def test_the_same_settings_after_the_first_finished_generate_again(env):
    at = app("one fox")
    generate_button(at).click().run()
    wait_until_idle(at)
    generate = next(b for b in at.button if b.label == "Generate")
    generate.click().run()
    deadline = time.time() + 20
    studio = Studio(Settings.from_env())
    committed = "SELECT COUNT(*) FROM generations WHERE status = 'committed'"
    while time.time() < deadline and studio._engine.db.query(committed)[0][0] < 2:
        time.sleep(0.1)
        at.run()
    assert studio._engine.db.query(committed)[0][0] == 2


def test_a_job_survives_reruns_and_two_users_at_once(data_dir):
    settings = Settings(data_dir=data_dir, offline_delay=0.5)
    runner = JobRunner(Studio(settings)._engine, workers=2)
    first = runner.submit(GenerationRequest("ann's fox"), "ann")
    second = runner.submit(GenerationRequest("bob's owl"), "bob")
    # A "rerun" is a new runner handle on the same database: the job is found from there.
    elsewhere = JobRunner(Studio(settings)._engine, workers=1)
    assert elsewhere.job(first).status in ("queued", "running")
    assert wait_for(runner, first).status == "succeeded" and wait_for(runner, second).status == "succeeded"
    assert [j.user for j in elsewhere.jobs_for("bob")] == ["bob"]
    assert elsewhere.job(first).result["user"] == "ann"
    assert "rendering" in [s["stage"] for s in elsewhere.job(first).stages]
    assert elsewhere.job(first).partials == 3


def test_jobs_left_by_a_dead_process_are_settled_at_start_up(data_dir):
    settings = Settings(data_dir=data_dir, offline_delay=0)
    studio = Studio(settings)
    stale = time.time() - 3600
    with studio._engine.db.write() as conn:
        for job_id, status in (("queuedjob1", "queued"), ("runningjob", "running")):
            conn.execute(
                "INSERT INTO jobs (id, user, status, stage, request, created_at, owner, heartbeat_at) "
                "VALUES (:id, 'ann', :status, :status, :request, :stale, 'dead-host:1', :stale)",
                {
                    "id": job_id,
                    "status": status,
                    "request": json.dumps(GenerationRequest("a fox", request_id=job_id).to_dict()),
                    "stale": stale,
                },
            )
    studio._engine.ledger.reserve(ledger_id="runningjob", user="ann", n=1, estimated_micros=0, details={})
    runner = JobRunner(Studio(settings)._engine)
    outcome = runner.recover()
    assert outcome["failed"] == ["runningjob"]  # the queued job needs no recovery: the runner takes it
    assert wait_for(runner, "queuedjob1").status == "succeeded"
    interrupted = runner.job("runningjob")
    assert interrupted.status == "failed" and "restarted" in interrupted.error and interrupted.charged is False
    assert studio.check_invariants() == []


def test_a_non_admin_has_no_admin_page_and_cannot_open_it(env):
    env.setenv("IMAGEGEN_AUTH", "oidc")
    env.setenv("IMAGEGEN_ADMINS", "boss@example.com")
    at = app(user=signed_in("bob@example.com"))
    assert "Signed in as **bob@example.com**" in texts(at) and "(admin)" not in texts(at)
    with pytest.raises(ValueError, match="Known pages: .*generate.*gallery.*boards.*runs.py'\\]"):
        at.switch_page("pages/admin.py")
    assert not any(m.label == "Spent today" for m in at.metric)


def test_the_admin_page_refuses_a_direct_visit_by_a_non_admin(env):
    env.setenv("IMAGEGEN_AUTH", "oidc")
    at = AppTest.from_file(str(ROOT / "pages" / "admin.py"), default_timeout=30)
    from ui.identity import Viewer

    at.session_state["viewer"] = Viewer("bob@example.com", False)
    at.run()
    assert "Only admins may open this page." in texts(at)
    assert not at.metric


def test_the_admin_page_shows_estimated_charges_apart(env):
    studio = Studio(Settings.from_env())
    studio.generate(GenerationRequest("a fox"), "ann")
    at = app()
    at.switch_page("pages/admin.py").run()
    assert "of today's spend is estimated" not in texts(at)  # the offline renderer's $0 is no estimate
    ledger_id = studio._engine.ledger.reserve(
        ledger_id="estimated-1", user="ann", n=1, estimated_micros=90_000, details={}
    ).ledger_id
    studio._engine.ledger.commit(ledger_id, actual_micros=61_300, estimated=True)
    at.run()
    assert "$0.0613 of today's spend is estimated" in texts(at)
    assert "$0.0613 of it estimated" in next(m.help for m in at.metric if m.label == "Spent today")


def test_an_admin_sees_every_figure_and_a_quota_set_there_takes_effect(env):
    studio = Studio(Settings.from_env())
    studio.generate(GenerationRequest("a fox"), "ann")
    at = app()
    at.switch_page("pages/admin.py").run()
    assert not at.exception
    labels = {m.label for m in at.metric}
    assert {"Spent today", "Images today", "Active users", "Failed today", "Median render"} <= labels
    assert metric(at, "Images today") == "1"
    shown = texts(at)
    for title in (
        "Spend per day by model",
        "Spend per user",
        "Quota use today",
        "Renders per preset",
        "Render time per model",
        "Recent generations",
    ):
        assert title in shown
    charts = [
        c.proto.spec + json.dumps([d.data for d in c.proto.datasets], default=str) for c in at.get("vega_lite_chart")
    ]
    assert len(charts) >= 3  # the offline renderer spends nothing: the spend charts say so
    assert '"Used"' in charts[0] and '"Left"' in charts[0] and "in_flight" not in charts[0]  # the legend reads
    assert "Photo" in charts[1] and "photo" not in charts[1]  # presets by their labels
    assert [i.value for i in at.info].count("No spend yet.") == 2
    assert at.selectbox(key="quota_user").options == ["ann", "Someone new..."]  # known users, not free text
    at.selectbox(key="quota_user").set_value("ann")
    at.number_input(key="quota_images").set_value(1)
    next(b for b in at.button if b.label == "Set quota").click().run()
    assert "ann may now make 1 image a day" in [s.value for s in at.success][0]
    assert studio._engine.limits.allowance("ann").quota == 1
    assert at.dataframe[-1].value.iloc[0]["To"] == "1 image a day"
    at.number_input(key="budget_amount").set_value(3.0)
    next(b for b in at.button if b.label == "Set budget").click().run()
    assert "of $3.00 team budget" in [p.text for p in at.get("progress")][0]  # the header at once
    at = app("another fox")
    at.switch_page("pages/generate.py").run()
    assert generate_button(at).disabled and "Daily image quota reached" in texts(at)


def test_a_non_owner_sees_no_delete_in_the_detail_view(env):
    env.setenv("IMAGEGEN_AUTH", "oidc")
    studio = Studio(Settings.from_env())
    result = studio.generate(GenerationRequest("ann's fox"), "ann@example.com")
    at = app(user=signed_in("bob@example.com"))
    at.switch_page("pages/gallery.py").run()
    at.session_state["gallery_open"] = result.image_key
    at.run()
    assert "ann's fox" in texts(at)
    assert not any(t.label == "Delete..." for t in at.toggle)
    owner = app(user=signed_in("ann@example.com"))
    owner.switch_page("pages/gallery.py").run()
    owner.session_state["gallery_open"] = result.image_key
    owner.run()
    assert any(t.label == "Delete..." for t in owner.toggle)


def test_an_empty_gallery_says_how_to_make_the_first_image(env):
    at = app()
    at.switch_page("pages/gallery.py").run()
    assert "No images yet" in texts(at)


def test_no_page_shows_the_api_key(env, fake_openai):
    env.setenv("OPENAI_API_KEY", "sk-very-secret-key")
    env.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    at = app("a fox")
    for page in ("pages/generate.py", "pages/gallery.py", "pages/boards.py", "pages/admin.py"):
        at.switch_page(page).run()
        assert not at.exception
        rendered = everything(at)
        assert any(title in rendered for title in ("Gallery", "Admin", "Generate", "Boards"))  # the walk sees the page
        assert "sk-very-secret-key" not in rendered


def test_prompts_are_shown_as_text_never_as_markdown(env):
    studio = Studio(Settings.from_env())
    studio.generate(GenerationRequest("![tracker](http://example.com/t.png) **bold**", raw=True), "ann")
    at = app()
    at.switch_page("pages/gallery.py").run()
    titles = [b.label for b in at.button]  # each gallery tile is opened by its prompt
    assert "`![tracker](http://example.com/t.png)` \\*\\*bold\\*\\*" in titles


def test_a_failed_generation_says_what_happened_and_that_nothing_was_charged(env, fake_openai):
    env.setenv("OPENAI_API_KEY", "sk-test")
    env.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    fake_openai.default = "content_policy"
    at = app("something the policy refuses")
    assert "Estimated cost" in [m.label for m in at.metric] and metric(at, "Estimated cost") != "$0.00"
    generate_button(at).click().run()
    deadline = time.time() + 20
    while time.time() < deadline and not at.error:
        time.sleep(0.1)
        at.run()
    assert "content policy" in at.error[0].value
    assert "You were not charged." in texts(at)
    assert metric(at, "Images left") == "5 / 5"


def test_oidc_asks_for_sign_in_then_knows_the_user(env):
    env.setenv("IMAGEGEN_AUTH", "oidc")
    env.setenv("IMAGEGEN_ADMINS", "ann@example.com")
    signed_out = app(user={"is_logged_in": False})
    assert [b.label for b in signed_out.button] == ["Sign in"]
    assert not signed_out.metric
    assert not signed_out.sidebar.caption  # nothing but the sign-in prompt
    at = app(user=signed_in("ann@example.com", name="Ann"))
    assert "Signed in as **Ann** (admin)" in texts(at)
    assert "Sign out" in [b.label for b in at.button]


@pytest.mark.parametrize(
    "forged",
    [
        {"is_logged_in": True, "iss": "https://login.example.com", "sub": "mallory", "name": "ann@example.com"},
        signed_in("ann@example.com", verified=False, sub="mallory"),
        signed_in("ann@example.com", verified="false", sub="mallory"),
    ],
    ids=["display-name-is-the-admins-email", "unverified-email", "unverified-email-as-text"],
)
def test_an_identity_cannot_be_borrowed_by_name_or_unverified_email(env, forged):
    env.setenv("IMAGEGEN_AUTH", "oidc")
    env.setenv("IMAGEGEN_ADMINS", "ann@example.com")
    studio = Studio(Settings.from_env())
    studio.generate(GenerationRequest("ann's fox"), "ann@example.com")
    at = app(user=forged)
    assert not at.exception
    assert "(admin)" not in texts(at)
    assert metric(at, "Images left") == "5 / 5"  # not ann's quota
    assert studio._engine.accounts.known_users() == ["login.example.com:mallory"]


def test_two_accounts_with_one_display_name_are_two_users(env):
    env.setenv("IMAGEGEN_AUTH", "oidc")
    first = app(user={"is_logged_in": True, "iss": "https://login.example.com", "sub": "u1", "name": "Sam"})
    second = app(user={"is_logged_in": True, "iss": "https://login.example.com", "sub": "u2", "name": "Sam"})
    assert first.session_state["viewer"].name != second.session_state["viewer"].name


def test_a_group_claim_makes_an_admin(env):
    env.setenv("IMAGEGEN_AUTH", "oidc")
    env.setenv("IMAGEGEN_ADMIN_CLAIM", "groups")
    env.setenv("IMAGEGEN_ADMIN_CLAIM_VALUE", "imagegen-admins")
    member = app(user=signed_in("lee@example.com", groups=["staff", "imagegen-admins"]))
    assert "(admin)" in texts(member)
    assert member.session_state["viewer"].is_admin
    other = app(user=signed_in("kim@example.com", groups=["staff"]))
    assert not other.session_state["viewer"].is_admin


def test_a_request_that_did_not_come_through_the_proxy_is_refused(env):
    env.setenv("IMAGEGEN_AUTH", "proxy")
    env.setenv("IMAGEGEN_PROXY_SECRET", "a-shared-secret-of-length")
    at = app(user={"email": "bob@example.com"})  # the identity header without the proxy's secret
    assert "only through the company's sign-in proxy" in texts(at)
    assert not at.metric


def test_the_gallery_filters_by_text_user_and_mine(env):
    studio = Studio(Settings.from_env())
    studio.generate(GenerationRequest("a castle on a hill"), "ann")
    studio.generate(GenerationRequest("a teapot"), "ann")
    studio.generate(GenerationRequest("a castle in the sea"), "bob")
    at = app()
    at.switch_page("pages/gallery.py").run()
    assert "3 images" in texts(at) and len(at.get("image")) == 3
    at.text_input(key="gal_text").set_value("castle").run()
    assert "2 images" in texts(at)
    at.selectbox(key="gal_user").set_value("bob").run()
    assert "1 image" in texts(at).splitlines()
    at.selectbox(key="gal_user").set_value("Anyone").run()
    at.button_group(key="gal_scope").set_value("Mine").run()
    assert "1 image" in texts(at).splitlines()  # ann's castle


def test_the_key_finder_sees_a_key_printed_in_a_caption():
    at = AppTest.from_string("import streamlit as st\nst.caption('key sk-very-secret-key')").run()
    assert "sk-very-secret-key" in everything(at)


def test_bare_links_in_user_text_stay_text(env):
    studio = Studio(Settings.from_env())
    studio.generate(GenerationRequest("see https://evil.example/x and www.evil.example", raw=True), "ann")
    at = app()
    at.switch_page("pages/gallery.py").run()
    title = next(b.label for b in at.button if "evil" in b.label)  # the tile's, named by its prompt
    # each as inline code: never a link, and copied exactly as typed (no invisible character inside)
    assert "`https://evil.example/x`" in title and "`www.evil.example`" in title and "\u2060" not in title


@pytest.mark.parametrize(
    ("text", "drawn"),
    [
        ("by ann@example.com", "by `ann@example.com`"),
        ("a *b* [c](d) <i>", "a \\*b\\* \\[c\\]\\(d\\) \\<i\\>"),
        ("x `a`b@c.d`", "x `` `a`b@c.d` ``"),  # a fence longer than any backtick run inside, padded
        ("ok.", "ok\\."),
    ],
)
def test_user_text_is_drawn_inert(text, drawn):
    assert widgets.plain(text) == drawn


def test_a_providers_error_text_is_shown_inert(env):
    studio = Studio(Settings.from_env())
    hostile = "Denied. ![x](http://evil.example/p.png) [Sign in again](http://evil.example/login)"
    with studio._engine.db.write() as conn:
        conn.execute(
            "INSERT INTO jobs (id, user, status, stage, request, error, error_code, charged, created_at, finished_at) "
            "VALUES ('j1', 'ann', 'failed', 'failed', :request, :error, 'x', 0, 1, 2)",
            {"request": json.dumps(GenerationRequest("a fox").to_dict()), "error": hostile},
        )
    at = app()
    error = next(e.value for e in at.error if "Denied" in e.value)
    assert error.startswith("Denied\\. `![x](http://evil.example/p.png)`")  # inline code: not an image
    assert error.endswith(" \\[Sign in `again](http://evil.example/login)`")  # no link either


def test_pages_stay_up_and_say_so_when_storage_is_down(env, s3_settings, moto):
    from tests.conftest import free_port

    studio = Studio(s3_settings)
    runner = JobRunner(studio._engine, workers=1)
    try:
        wait_for(runner, runner.submit(GenerationRequest("a fox"), "ann"))
    finally:
        runner.shutdown()
    [item] = studio.history().items
    env.setenv("IMAGEGEN_STORAGE", "s3")
    env.setenv("IMAGEGEN_S3_BUCKET", s3_settings.s3_bucket)
    env.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    at = app()
    assert not at.exception
    assert "Storage cannot be reached" in texts(at)
    at.session_state["gallery_open"] = item["key"]
    at.switch_page("pages/gallery.py").run()
    assert not at.exception


def test_every_setting_survives_a_page_switch_and_a_reload(env):
    at = app("a lighthouse\nat dusk")
    at.selectbox(key="g_preset").set_value("anime").run()
    at.selectbox(key="g_size").set_value("1536x1024").run()
    at.selectbox(key="g_quality").set_value("low").run()
    at.selectbox(key="g_output_format").set_value("webp").run()
    at.number_input(key="g_n").set_value(2).run()
    at.selectbox(key="g_lighting").set_value(at.selectbox(key="g_lighting").options[2]).run()
    lighting = at.selectbox(key="g_lighting").value
    chosen = {"g_preset": "anime", "g_size": "1536x1024", "g_quality": "low", "g_output_format": "webp"}

    at.switch_page("pages/gallery.py").run()
    at.switch_page("pages/generate.py").run()
    for key, value in chosen.items():
        assert at.selectbox(key=key).value == value, key
    assert at.number_input(key="g_n").value == 2 and at.selectbox(key="g_lighting").value == lighting

    reloaded = app()  # a new browser session: nothing in session state
    for key, value in chosen.items():
        assert reloaded.selectbox(key=key).value == value, key
    assert reloaded.number_input(key="g_n").value == 2
    assert reloaded.session_state["g_prompt_value"] == "a lighthouse\nat dusk"
    assert metric(reloaded, "Estimated cost") != "-"  # the restored prompt is previewed and priced
    assert not reloaded.exception


def test_a_custom_size_left_empty_says_what_to_type_and_spaced_sizes_are_understood(env):
    at = app("a fox")
    at.selectbox(key="g_size").set_value("Custom...").run()
    assert "Type a custom size such as 1536x864" in texts(at) and generate_button(at).disabled
    at.text_input(key="g_custom_size").set_value("1536 x 1024").run()
    assert generate_button(at).disabled is False
    assert not at.error


def test_the_gallery_shows_labels_keeps_favourites_and_confirms_a_delete(env):
    studio = Studio(Settings.from_env())
    kept = studio.generate(GenerationRequest("a castle on a hill", preset="pixel"), "ann")
    studio.generate(GenerationRequest("a teapot", preset="render3d"), "ann")
    at = app()
    at.switch_page("pages/gallery.py").run()
    preset_select = at.selectbox(key="gal_preset")
    assert "render3d" in preset_select.options or "3D render" in str(preset_select.options)
    assert "Pixel art" in [preset_select.format_func(o) for o in preset_select.options] or all(
        o == "Any" or studio._engine.presets.get(o).label for o in preset_select.options
    )
    at.session_state["gallery_open"] = kept.image_key
    at.run()
    assert studio._engine.presets.get("pixel").label in texts(at) and "· pixel ·" not in texts(at)
    assert f"?image={studio.image(kept.image_key)['id']}" in everything(at)  # the short link, to copy
    at.toggle(key=f"fav-{kept.image_key}").set_value(True).run()
    assert studio.favourites_among("ann", [kept.image_key]) == {kept.image_key}
    at.button_group(key="gal_scope").set_value("Favourites").run()
    assert "1 image" in texts(at).splitlines()
    at.session_state["gallery_open"] = kept.image_key
    at.run()
    at.toggle(key="detail-delete-arm").set_value(True).run()
    at.button(key="detail-delete").click().run()
    assert any("Deleted: a castle on a hill" in s.value for s in at.success)
    at.run()  # closing the dialog reruns the page: the confirmation is still there to be seen
    assert any("Deleted: a castle on a hill" in s.value for s in at.success)
    assert studio.count_images() == 1


def test_a_shared_link_opens_its_image(env):
    studio = Studio(Settings.from_env())
    result = studio.generate(GenerationRequest("a shared fox"), "bob")
    at = app()
    at.query_params["image"] = result.image_key
    at.switch_page("pages/gallery.py").run()
    assert "a shared fox" in " ".join(m.value for m in at.markdown)


def test_an_edit_from_the_gallery_is_planned_priced_and_made_with_its_parent(env):
    from ui.editor import EditSource

    studio = Studio(Settings.from_env())
    original = studio.generate(GenerationRequest("a red fox in snow", size="1536x1024"), "ann")
    start = studio.starting_image(original.image_key)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.session_state["g_edit"] = EditSource(start, "a red fox in snow", parent_key=original.image_key)
    at.session_state["g_prompt_value"] = "add a red scarf"
    at.run()
    assert not at.exception
    assert "Editing" in texts(at) and "a red fox in snow" in texts(at)
    assert at.selectbox(key="g_size").value == "As the image"
    assert at.selectbox(key="g_preset").options[:2] == ["Careful edit", "Combine references"]
    server = component_data(at, "imagegen_directed_preview")["server"]
    assert server["text"].startswith("add a red scarf. ")
    assert any(text == "keep everything not mentioned exactly as it is" and facet for text, facet in server["segments"])
    button = next(b for b in at.button if b.label == "Edit image")
    assert not button.disabled
    button.click().run()
    at = wait_until_idle(at)
    [edited] = [i for i in studio.history().items if i.get("inputs")]
    assert edited["parent_key"] == original.image_key and (edited["width"], edited["height"]) == (1536, 1024)
    assert next(b for b in at.button if b.label == "Keep going")
    next(b for b in at.button if b.label == "More like this").click().run()  # the same edit, made again
    deadline = time.time() + 20
    while time.time() < deadline and studio.count_images() < 3:
        time.sleep(0.1)
    again = [i for i in studio.history().items if i.get("inputs") and i["key"] != edited["key"]]
    assert len(again) == 1 and again[0]["parent_key"] == original.image_key
    assert [i["role"] for i in again[0]["inputs"]] == ["image"]
    at.run()
    next(b for b in at.button if b.label == "Keep going").click().run()  # edit the newest result
    assert not at.exception
    assert at.session_state["g_edit"].parent_key in {i["key"] for i in studio.history().items if i.get("inputs")}

    at.switch_page("pages/gallery.py").run()
    at.selectbox(key="gal_kind").set_value("Edits only").run()
    assert "2 images" in texts(at).splitlines()
    at.session_state["gallery_open"] = edited["key"]
    at.run()
    assert "Lineage" in texts(at) and not at.exception


def test_painting_is_asked_for_before_an_edit_can_be_bought(env):
    from ui.editor import PAINT, EditSource

    studio = Studio(Settings.from_env())
    original = studio.generate(GenerationRequest("a fox"), "ann")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.session_state["g_edit"] = EditSource(studio.starting_image(original.image_key), "a fox")
    at.session_state["g_prompt_value"] = "add a hat"
    at.session_state["g_edit_mode"] = PAINT
    at.run()
    assert "Paint over the part to change" in texts(at)
    assert next(b for b in at.button if b.label == "Edit image").disabled


def test_a_gallery_image_is_added_to_the_edit_as_a_reference(env):
    from ui.editor import EditSource

    studio = Studio(Settings.from_env())
    start = studio.generate(GenerationRequest("a red fox in snow"), "ann")
    logo = studio.generate(GenerationRequest("a round logo", preset="logo"), "ann")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.session_state["g_edit"] = EditSource(studio.starting_image(start.image_key), "a red fox", start.image_key)
    at.run()
    at.switch_page("pages/gallery.py").run()
    at.session_state["gallery_open"] = logo.image_key
    at.run()
    at.button(key="detail-reference").click().run()
    source = at.session_state["g_edit"]
    assert len(source.references) == 1
    sent, kept = (
        Image.open(io.BytesIO(data))
        for data in (source.references[0].data, studio.image_bytes(studio.image(logo.image_key)))
    )
    assert sent.tobytes() == kept.tobytes()  # the gallery image's pixels, rebuilt like every input


def test_a_three_digit_quota_shows_what_is_left_whole(env):
    env.setenv("IMAGEGEN_DAILY_QUOTA", "200")
    at = app("a car")
    assert metric(at, "Images left") == "200"  # "200 / 200" would be cut off in its column
    assert "of 200" in next(m.help for m in at.metric if m.label == "Images left")


def test_the_offline_notice_is_shown_once_and_tells_each_user_what_they_can_do(env):
    notices = [i.value for i in app().info if "Offline mode" in i.value]
    assert notices == [
        "Offline mode: images are local placeholders at $0. Set OPENAI_API_KEY (see the README) for real renders."
    ]
    assert "placeholder" not in " ".join(c.value for c in app().caption)  # not a second time under the price
    env.setenv("IMAGEGEN_AUTH", "oidc")
    runtime._read.cache_clear()  # a server reads its environment once
    member = app(user=signed_in("bob@example.com"))
    assert [i.value for i in member.info if "Offline mode" in i.value] == [
        "Offline mode: images are local placeholders at $0. Ask an admin to connect OpenAI for real renders."
    ]


def bare_expressions(source: str) -> list[int]:
    """The lines of expressions Streamlit's "magic" would have drawn: neither calls nor docstrings."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        for body in (getattr(node, name, None) for name in ("body", "orelse", "finalbody")):
            for index, child in enumerate(body if isinstance(body, list) else []):
                if not isinstance(child, ast.Expr) or isinstance(child.value, ast.Call | ast.Await | ast.Yield):
                    continue
                documented = isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                if documented and index == 0 and isinstance(child.value, ast.Constant):
                    continue  # a docstring
                lines.append(child.lineno)
    return lines


def test_magic_is_off_and_no_page_leaves_a_bare_expression_it_would_have_drawn():
    assert "magicEnabled = false" in (ROOT / ".streamlit" / "config.toml").read_text()
    assert bare_expressions('"""doc"""\nx = 1\nx\nif x:\n    "shown"\n') == [3, 5]
    for script in [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]:
        assert bare_expressions(script.read_text()) == [], script.name


def image_urls(at: AppTest) -> list[str]:
    return [img.url for element in at.get("image") for img in element.proto.imgs]


def test_a_logo_is_made_from_the_logo_presets_and_shown_as_a_drawn_image_never_as_svg(env):
    at = app("a fox mark")
    at.radio(key="g_kind").set_value("vector").run()
    assert at.selectbox(key="g_preset").value == "logo" and "Flat logo mark" in at.selectbox(key="g_preset").options
    assert at.number_input(key="g_n").max == 1 and "kept as SVG" in texts(at)
    assert not [w for w in at.selectbox if w.key in ("g_output_format", "g_background")]  # nothing to choose
    next(b for b in at.button if b.label == "Generate").click().run()
    at = wait_until_idle(at)
    assert not at.exception and not at.error
    urls = image_urls(at)
    assert urls and all(url.rsplit(".", 1)[-1] in ("png", "jpg", "jpeg", "webp") for url in urls), urls
    [record] = Studio(Settings.from_env()).history().items
    assert record["format"] == "svg" and record["kind"] == "vector"


def test_an_animation_sends_its_frames_and_the_gallery_finds_it_by_kind(env):
    at = app("a loading spinner")
    at.radio(key="g_kind").set_value("animation").run()
    assert at.selectbox(key="g_preset").value == "sticker_loop"
    at.number_input(key="g_frames").set_value(4).run()
    next(b for b in at.button if b.label == "Generate").click().run()
    at = wait_until_idle(at)
    studio = Studio(Settings.from_env())
    [record] = studio.history().items
    assert (record["kind"], record["frame_count"], record["format"]) == ("animation", 4, "gif")
    studio.generate(GenerationRequest("a plain fox"), "ann")
    at.switch_page("pages/gallery.py").run()
    assert "2 images" in texts(at)
    at.selectbox(key="gal_asset").set_value("Animations").run()
    assert "1 image" in texts(at).splitlines()


def test_an_animation_cannot_start_an_edit_and_the_gallery_says_why(env):
    studio = Studio(Settings.from_env())
    loop = studio.generate(GenerationRequest("a spinner", output_format="gif", frame_count=2, size="256x256"), "ann")
    with pytest.raises(InvalidRequest, match="cannot be the starting image"):
        studio.starting_image(loop.image_key)
    logo = studio.generate(GenerationRequest("a fox mark", output_format="svg"), "ann")
    start = studio.starting_image(logo.image_key)  # a logo starts an edit as its PNG drawing
    assert start.format == "png" and max(start.width, start.height) == 1024


def test_an_admin_sets_the_team_colours_and_a_prompt_can_ask_for_them(env):
    at = app("a fox mark")
    at.switch_page("pages/admin.py").run()
    at.text_input(key="palette_text").set_value("#1D3557, blue").run()
    next(b for b in at.button if b.label == "Set colours").click().run()
    assert "'blue' is not a colour" in texts(at)
    at.text_input(key="palette_text").set_value("#1D3557, e63946").run()
    next(b for b in at.button if b.label == "Set colours").click().run()
    [said] = [s.value.replace("\\", "") for s in at.success]  # drawn inert: Markdown's characters escaped
    assert said == "The team's colours are now #1d3557, #e63946."
    assert Studio(Settings.from_env()).palette() == ("#1d3557", "#e63946")
    at.switch_page("pages/generate.py").run()
    at.toggle(key="g_team_colours").set_value(True).run()
    server = component_data(at, "imagegen_directed_preview")["server"]
    assert "in the team's colours #1d3557, #e63946" in server["text"]


def test_write_it_up_shows_an_editable_rewrite_and_using_it_sends_exactly_that(env):
    at = app("a red fox")
    next(b for b in at.button if b.label == "Write it up").click().run()
    assert not at.exception
    [area] = [t for t in at.text_area if t.label.startswith("Written up")]
    assert area.value.startswith("a red fox, professional photograph")
    assert "offline-rewriter" in texts(at) and "$0.00" in texts(at)
    area.set_value("a red fox in fresh snow, low winter sun").run()
    next(b for b in at.button if b.label == "Use this prompt").click().run()
    assert not at.exception
    assert at.session_state["g_prompt_value"] == "a red fox in fresh snow, low winter sun"
    assert at.session_state["g_raw"] is True
    server = component_data(at, "imagegen_directed_preview")["server"]
    assert server["text"] == "a red fox in fresh snow, low winter sun"  # what will be sent: exactly that
    assert not [t for t in at.text_area if t.label.startswith("Written up")]
    generate_button(at).click().run()
    wait_until_idle(at)
    studio = Studio(Settings.from_env())
    [made] = studio.history().items
    assert made["prompt"] == "a red fox in fresh snow, low winter sun" and made["raw"]
    assert (made["rewrite"]["user_text"], made["rewrite"]["model"]) == ("a red fox", "offline-rewriter")


def test_a_rewrite_marks_what_it_added_and_keeps_hostile_words_inert(env):
    at = app("a red fox <img src=x onerror=alert(1)>")
    next(b for b in at.button if b.label == "Write it up").click().run()
    [marked] = [h.proto.body for h in at.get("html") if "<mark" in h.proto.body]
    assert marked.startswith("<p") and 'title="added: style"' in marked
    assert "a red fox &lt;img src=x onerror=alert(1)&gt;" in marked and "<img" not in marked
    assert marked.count("<mark") >= 2 and "a red fox" not in re.findall(r"<mark[^>]*>([^<]*)", marked)[0]


def test_an_image_described_in_the_detail_starts_a_new_image_or_an_edit(env):
    studio = Studio(Settings.from_env())
    result = studio.generate(GenerationRequest("a fox in the snow"), "ann")
    at = app()
    at.switch_page("pages/gallery.py").run()
    at.session_state["gallery_open"] = result.image_key
    at.run()
    next(b for b in at.button if b.label == "Describe as a prompt").click().run()
    assert not at.exception
    described = next(m.value for m in at.markdown if "image in" in m.value)
    assert "Offline describer" not in described and "no new call" not in texts(at)
    assert "Cost $0.00, counted against the team budget" in texts(at)
    next(b for b in at.button if b.label == "Start a new image from it").click().run()
    assert not at.exception
    at.switch_page("pages/generate.py").run()  # where the click went (AppTest reruns the page it was told)
    assert at.session_state["g_raw"] is True and at.session_state["g_prompt_value"].startswith("A square image in")
    generate_button(at).click().run()
    wait_until_idle(at)
    newest = studio.history().items[0]
    assert newest["rewrite"]["from"] == "image" and newest["prompt"].startswith("A square image in")
    again = app()
    again.switch_page("pages/gallery.py").run()
    again.session_state["gallery_open"] = result.image_key
    again.run()
    next(b for b in again.button if b.label == "Describe as a prompt").click().run()
    assert "no new call, no cost" in texts(again)  # the same pixels: the team's kept description
    next(b for b in again.button if b.label == "Edit this image from it").click().run()
    again.switch_page("pages/generate.py").run()
    assert again.session_state["g_edit"].parent_key == result.image_key
    assert again.session_state["g_prompt_value"] == newest["prompt"]


def test_an_admin_writes_a_presets_instructions_and_the_next_rewrite_names_their_version(env):
    at = app("a red fox")
    at.switch_page("pages/admin.py").run()
    assert {"Flat logo mark", "Loading spinner"} <= set(at.selectbox(key="instr_preset").options)  # every kind's
    at.selectbox(key="instr_preset").set_value("photo").run()
    at.text_area(key="instr_text_photo").set_value("Warm palettes; never neon.").run()
    next(b for b in at.button if b.label == "Save instructions").click().run()
    assert not at.exception
    studio = Studio(Settings.from_env())
    assert studio.rewriter_instructions("photo") == "Warm palettes; never neon."
    assert studio.rewrite("a red fox", "photo", "ann").instruction_version == 1
    [change] = studio.rewriter_history("photo")
    assert (change.old_value, change.new_value, change.set_by) == (None, "Warm palettes; never neon.", "ann")


def test_the_image_an_edit_starts_from_is_described_into_what_to_change(env):
    from ui.editor import EditSource

    studio = Studio(Settings.from_env())
    original = studio.generate(GenerationRequest("a red fox in snow", size="1536x1024"), "ann")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.session_state["g_edit"] = EditSource(studio.starting_image(original.image_key), "a red fox in snow")
    at.run()
    next(b for b in at.button if b.label == "Describe as a prompt").click().run()
    assert not at.exception
    assert at.session_state["g_prompt_value"].startswith("A wide image in")  # the offline describer's words
    assert [r["kind"] for r in studio.recent_generations(5).to_dict("records")][0] == "rewrite"


def test_an_admin_sets_the_describers_instructions_and_whether_writing_counts_in_quotas(env):
    at = app()
    at.switch_page("pages/admin.py").run()
    at.selectbox(key="instr_preset").set_value(DESCRIBER).run()
    at.text_area(key=f"instr_text_{DESCRIBER}").set_value("Name the brand's colours.").run()
    next(b for b in at.button if b.label == "Save instructions").click().run()
    assert "Describing an image\\: instructions version 1" in at.success[0].value
    toggle = next(t for t in at.toggle if t.label.startswith("Rewrites and descriptions count"))
    assert toggle.value is False  # the stated default
    toggle.set_value(True).run()
    assert not at.exception
    studio = Studio(Settings.from_env())
    assert studio.writing_in_quota() and studio.rewriter_instructions(DESCRIBER) == "Name the brand's colours."
    assert at.dataframe[-1].value.iloc[0][["Before", "After", "Who"]].tolist() == ["Not counted", "Counted", "ann"]

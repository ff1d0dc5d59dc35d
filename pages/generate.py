"""Generate: a prompt, the Director's preview, the price before spending, and the render where the user
is looking: right under the button."""

import uuid

import streamlit as st

from imagegen import (
    CUSTOM_SIZE,
    FRAME_MS,
    FRAMES,
    SETTINGS,
    FormChoices,
    GenerationRequest,
    ImagegenError,
    InvalidPrompt,
    InvalidRequest,
    prefilled,
)
from ui import attention, editor, runtime, widgets, writing
from ui.identity import viewer
from ui.prompt_box import directed_preview, prompt_box, server_result

EDIT_LABEL = "What to change"
#: the longest figure a metric of the side column shows whole at 1280 px
SHORT_FIGURE = 7

studio = runtime.studio()
me = viewer()
state = st.session_state
state.setdefault("generate_nonce", uuid.uuid4().hex)
state.setdefault("g_prompt_version", 0)


def restore_form() -> None:
    """Streamlit forgets a page's widgets when another page is shown, and everything on a reload: fill
    whatever is missing from the form this user left last."""
    missing = [name for name in SETTINGS if f"g_{name}" not in state]
    if not missing and "g_prompt_value" in state:
        return
    draft = studio.remembered_form(me.name)
    for name in missing:
        if name in draft:
            state[f"g_{name}"] = draft[name]
    if "g_prompt_value" not in state:
        state["g_prompt_value"] = draft.get("prompt", "")
        state["g_prompt_version"] += 1
        resume_edit(draft)


def resume_edit(draft: dict) -> None:
    """A new session finds the edit of a gallery image the user left, with what they had typed (an edit of
    an upload cannot come back: nothing of an upload is kept but its pixels in the image it made)."""
    if not draft.get("edit_of") or editor.EDITING in state or editor.PENDING in state:
        return
    try:
        editor.begin(studio, draft["edit_of"], draft.get("edit_prompt", ""))
    except ImagegenError:
        pass  # the image was deleted since: a new image it is


def apply_prefill(prefill: dict) -> None:
    """ "Use these settings" from the gallery or the recent strip: fill the form, then let the user edit."""
    values = prefilled(prefill)
    for name in SETTINGS:
        if name in values:
            state[f"g_{name}"] = values[name]
    if "prompt" in prefill:  # an edit's instruction comes with the edit itself (editor.EditSource)
        state["g_prompt_value"] = values["prompt"]
        state["g_prompt_version"] += 1


def submit(request: GenerationRequest, edit=None) -> None:
    """Queue a generation (or an edit); the same settings after the last one finished are a new, deliberate
    one."""
    if studio.is_done(request, me.name):
        state["generate_nonce"] = uuid.uuid4().hex
        request = request.with_stable_id(me.name, state["generate_nonce"])
    try:
        state["g_follow"] = studio.submit(request, me.name, edit)
    except ImagegenError as exc:
        state["g_submit_error"] = exc.message
    attention.ask("results")  # its progress (or why it was refused), and then its result, in view


restore_form()
prefill = state.pop("generate_prefill", None)
if prefill:
    apply_prefill(prefill)


def settled_form(editing) -> tuple[dict, FormChoices]:
    """Bring every setting in the session within what the chosen model offers (for an edit, the models
    that edit), and return the request's fields and the choices. Read before the widgets are drawn, so the
    preview can be drawn (and sent) first."""
    choices = studio.form_choices(state.get("g_model"), editing=editing is not None, kind=state.get("g_kind"))
    values = {name: state.get(f"g_{name}") for name in SETTINGS}
    for name, value in choices.settle(values).items():
        state[f"g_{name}"] = value
    return choices.request_fields(values), choices


def settings_form(choices: FormChoices) -> None:
    """The style, the Director's choices and the model's options, each kept in the session by its key."""
    st.selectbox("Style preset", choices.presets, format_func=choices.preset_labels.get, key="g_preset")
    st.caption(choices.preset_descriptions[state["g_preset"]])
    with st.expander("Director: lighting, camera, raw"):
        raw = st.toggle("Raw: send my prompt exactly as typed", key="g_raw")
        if choices.palette:
            st.toggle(
                "In the team's colours",
                key="g_team_colours",
                disabled=raw,
                help="Adds the team's colours to the prompt: " + ", ".join(choices.palette),
            )
        st.selectbox("Lighting", choices.lighting, key="g_lighting", disabled=raw)
        st.selectbox("Camera", choices.camera, key="g_camera", disabled=raw)
    st.selectbox("Model", list(choices.models), format_func=choices.models.get, key="g_model")
    if choices.only_editors:
        st.caption("Only the models that can edit images are listed.")
    left, middle, right = st.columns(3)
    left.selectbox("Size", choices.sizes, key="g_size")
    middle.selectbox("Quality", choices.qualities, key="g_quality")
    right.number_input("Images", min_value=1, max_value=choices.n_max, step=1, key="g_n")
    if state["g_size"] == CUSTOM_SIZE:
        st.text_input(
            "Custom size (width x height)",
            key="g_custom_size",
            placeholder="1536x864",
            help=choices.spec.describe_sizes(),
        )
    if choices.kind == "picture":
        left, right = st.columns(2)
        left.selectbox("Format", choices.formats, key="g_output_format")
        right.selectbox("Background", choices.backgrounds, key="g_background", disabled=not choices.spec.backgrounds)
    elif choices.kind == "animation":
        left, right = st.columns(2)
        left.number_input("Frames", min_value=FRAMES[0], max_value=FRAMES[1], step=1, key="g_frames")
        right.number_input("Each frame (ms)", min_value=FRAME_MS[0], max_value=FRAME_MS[1], step=10, key="g_frame_ms")
        st.caption("Kept as a looping GIF.")
    else:
        st.caption("A logo or icon is made one at a time, with no backdrop: it is kept as SVG, shown as an image.")
    if choices.input_fidelities:
        st.selectbox(
            "Input fidelity",
            choices.input_fidelities,
            key="g_input_fidelity",
            help="How closely the result keeps the input images' features, faces above all. High costs more.",
        )


def kind_choice(choices: FormChoices) -> None:
    """Picture, logo or icon, or animation: what the prompt will make (only the kinds a model here makes)."""
    if len(choices.kinds) > 1:
        st.radio("Make", list(choices.kinds), format_func=choices.kinds.get, horizontal=True, key="g_kind")


def remember(typed: str, editing) -> None:
    """Keep the form for this user, so a page switch or a reload finds it as it was left: the new image's
    prompt, and apart from it an edit's instruction."""
    current_form = {"prompt": editor.new_image_prompt(typed), **{name: state.get(f"g_{name}") for name in SETTINGS}}
    if editing is not None:
        current_form.update(edit_prompt=typed, edit_of=editing.parent_key)
    if state.get("g_saved_form") != current_form:
        studio.remember_form(me.name, current_form)
        state["g_saved_form"] = current_form


def checked(request: GenerationRequest, choices: FormChoices, editing, edit, edit_problem):
    """(the plan, what is wrong with the request, what is wrong with its prompt): at most one is not None;
    none is for a prompt not typed yet."""
    if not request.prompt.strip():
        return None, None, None
    if editing is not None and edit is None:
        return None, edit_problem, None
    size_problem = choices.size_problem({name: state.get(f"g_{name}") for name in SETTINGS})
    if size_problem:
        return None, size_problem, None
    try:
        return studio.plan(request, edit), None, None
    except InvalidPrompt as exc:
        return None, None, exc.message  # the preview shows it, and follows the keys that mend it
    except InvalidRequest as exc:
        return None, exc.message, None


def preview(request: GenerationRequest, choices: FormChoices, editing, edit, edit_problem):
    """The Director's expanded prompt (drawn by the browser as keys come), and what else is wrong with the
    request; returns the plan when there is one."""
    st.header("What will be sent")
    plan, problem, prompt_problem = checked(request, choices, editing, edit, edit_problem)
    what = "what to change" if editing else "a prompt"
    directed_preview(
        studio.browser_plan(request),
        server_result(request.prompt, plan.directed if plan else None, prompt_problem),
        version=state["g_prompt_version"],
        hint=f"Type {what}: the Director's expanded version appears here as you type.",
        key="g_directed_preview",
    )
    for warning in plan.warnings if plan else []:
        st.warning(widgets.plain(warning))
    if problem:
        st.error(widgets.plain(problem))
    return plan


#: the rewrite on show, waiting to be used or discarded
WRITTEN = "g_written"


def write_up(typed: str, preset: str) -> None:
    """The writing Director: the prompt written up under the preset's instructions (streamed in as it is
    written), shown with its additions marked and to edit before it is used; what is used is sent exactly
    (raw, naming the rewrite it came from), and what the rewrite cost is said."""
    rewrite = state.get(WRITTEN)
    if rewrite is None:
        if st.button("Write it up", icon=":material/edit_note:", disabled=not typed.strip(),
                     help="A writer turns your words into a full art direction in this preset's house style. "
                     "Metered against the team budget; the same words come back from the team's cache for free."):  # fmt: skip
            written = writing.written_live(
                "Writing it up...", lambda heard: studio.rewrite(typed, preset, me.name, on_text=heard)
            )
            if written is not None:
                state[WRITTEN] = written
                state["g_rewrite_round"] = state.get("g_rewrite_round", 0) + 1
                st.rerun()  # drawn again with the rewrite in place of the button
        return
    with st.container(border=True, key="write-up"):
        st.markdown("**Written up** (what it added is marked)")
        writing.marked(rewrite.segments, key="write-up-marked")
        written = st.text_area(
            "Written up: edit it, then use it",
            value=rewrite.prompt,
            height=160,
            key=f"g_rewrite_{state['g_rewrite_round']}",
        )
        cost = writing.cost_note(rewrite, studio.writing_in_quota())
        st.caption(
            widgets.plain(f"{rewrite.reason} ({rewrite.model}; instructions v{rewrite.instruction_version}). {cost}")
        )
        use, drop = st.columns(2)
        if use.button("Use this prompt", type="secondary", width="stretch", disabled=not written.strip()):
            state["g_prompt_value"] = written
            state["g_prompt_version"] += 1
            state["g_raw"] = True  # what was shown is what is sent: the Director adds nothing more
            state["g_rewrite"] = rewrite.key  # the image's record keeps the words it was written from
            state.pop(WRITTEN)
            st.rerun()
        if drop.button("Discard", width="stretch"):
            state.pop(WRITTEN)
            st.rerun()


def price(request: GenerationRequest, plan):
    """What it costs and what is left; returns the allowance and why it cannot be bought, if it cannot."""
    allowance = studio.allowance(me.name)
    cost, images, budget = st.columns(3)
    cost.metric("Estimated cost", widgets.usd(plan.estimated_cost) if plan else "-")
    left = f"{allowance.images_left} / {allowance.quota}"
    images.metric(
        "Images left",
        left if len(left) <= SHORT_FIGURE else f"{allowance.images_left:,}",  # a long one is cut off in its column
        help=f"Your images left today, of {allowance.quota:,}",
    )
    budget.metric(
        "Budget left",
        widgets.usd(allowance.budget_left_usd),
        help=f"The team's budget left today, of {widgets.usd(allowance.budget_usd)} a day",
    )
    if plan is not None and plan.max_cost > plan.estimated_cost:
        st.caption(f"Reserves up to {widgets.usd(plan.max_cost)} until the real cost is known.")
    refusal = allowance.refusal(request.n, plan.reserve_micros if plan else 0)
    if refusal is not None:
        st.error(widgets.plain(refusal.message))
    return allowance, refusal


@st.fragment
def composer() -> None:
    """The prompt, the form, the preview and the render. A fragment: a keystroke reruns only this, not the
    sidebar, the navigation or the recent strip."""
    editing = editor.active(studio)
    chosen, choices = settled_form(editing)
    if editing is not None:
        editor.header(studio, editing, me.name)
    kind_choice(choices)
    typed = prompt_box(
        EDIT_LABEL if editing else "Prompt",
        value=state["g_prompt_value"],
        version=state["g_prompt_version"],
        key=f"g_prompt_box_{state['g_prompt_version']}",
        placeholder="add a red scarf; make the background navy" if editing else "a cyberpunk cat on a neon skateboard",
        action="makes the edit" if editing else "generates",
    )
    state["g_prompt_value"] = typed.text
    if not typed.text.strip():
        chosen["rewrite"] = state["g_rewrite"] = ""  # nothing left of the rewrite to keep
    form, side = st.columns([3, 2], gap="large")
    widgets.first_on_phones("generate-side")  # the preview, the button and the render right under the prompt
    remember(typed.text, editing)  # first: a page switch may cut this run short, and must find the form kept
    edit, edit_problem = None, None
    if editing is not None:
        with form:  # the image to edit beside the preview and the button, all in view
            edit, edit_problem = editor.panel(studio, choices, editing)
    request = GenerationRequest(prompt=typed.text, **chosen)
    if edit is not None:
        request = edit.applied_to(request)
    request = request.with_stable_id(me.name, state["generate_nonce"])
    with side, st.container(key="generate-side"):
        plan = preview(request, choices, editing, edit, edit_problem)
        if editing is None:
            write_up(typed.text, request.preset)
        allowance, refusal = price(request, plan)
        ready = plan is not None and refusal is None
        jobs = studio.jobs_for(me.name, limit=8)
        busy = any(j.active for j in jobs)
        label = ("Edit again" if busy else "Edit image") if editing else ("Generate another" if busy else "Generate")
        clicked = st.button(
            label,
            type="primary",
            disabled=not ready,
            width="stretch",
            help="Ctrl+Enter in the prompt does the same.",
        )
        if (clicked or typed.submitted) and ready:
            submit(request, edit)
            jobs = studio.jobs_for(me.name, limit=8)
        if state.get("g_submit_error"):
            st.error(widgets.plain(state.pop("g_submit_error")))
        with st.container(key="generate-results"):
            show_running_jobs(any(j.active for j in jobs), allowance)
            finished = [j for j in jobs if not j.active]
            if finished:
                show_result(finished[0])
    with form:
        settings_form(choices)  # drawn after the preview: a keystroke's preview reaches the browser first
    attention.bring("results", ".st-key-generate-results", key="g_bring_results")
    attention.bring("result", ".st-key-latest-result", key="g_bring_result")
    attention.bring("editor", ".st-key-edit-header", focus=f'textarea[aria-label="{EDIT_LABEL}"]', key="g_bring_editor")


def show_running_jobs(active: bool, drawn_allowance) -> None:
    if not active:
        return  # no idle fragment inside the composer: one left Streamlit's page blank as keys cut reruns short

    @st.fragment(run_every=0.5)
    def poll() -> None:
        """Polls the database while jobs run; the whole page reruns when the last one ends."""
        running = [j for j in studio.jobs_for(me.name, limit=8) if j.active]
        for job in running:
            widgets.job_status(job, studio.eta_seconds(job.request))
            if job.status == "queued" and st.button("Cancel", key=f"cancel-{job.id}", help="Nothing is charged"):
                if studio.cancel(job.id, me.name):
                    st.toast("Cancelled before it started: nothing was charged.")
                else:
                    st.toast("It had already started and runs to its end: a render sent cannot be taken back.")
                st.rerun(scope="app")
        if bool(running) != active or studio.allowance(me.name) != drawn_allowance:
            st.rerun(scope="app")  # a job started, reserved or ended: what is left and the result changed

    poll()


def show_result(job) -> None:
    if state.get("g_follow") == job.id:  # the one the user started here has ended: its outcome in view
        state.pop("g_follow")
        attention.ask("result")
    with st.container(key="latest-result"):
        outcome(job)


def outcome(job) -> None:
    if job.status == "cancelled":
        st.info("The last request was cancelled before it started: nothing was charged.")
        return
    if job.status == "failed":
        st.error(widgets.plain(job.error or "The generation failed."))
        st.caption("You may have been charged for this request." if job.charged else "You were not charged.")
        return
    succeeded(job)


def succeeded(job) -> None:
    result = job.result or {}
    keys = result.get("image_keys") or []
    st.markdown("**Latest result**")
    columns = st.columns(min(len(keys), 2) or 1)
    for index, key in enumerate(keys):
        with columns[index % len(columns)]:
            widgets.result_image(studio, key, result)
    if len(keys) > 2:
        st.caption(f"{len(keys)} images: all are in the gallery.")
    if result.get("revised_prompt"):
        st.caption(f"The model revised the prompt to: {widgets.plain(result['revised_prompt'])}")
    if result.get("pending_upload"):
        st.warning("Storage is unreachable: the image is kept on this server and uploads automatically later.")
    st.caption(
        f"Cost {widgets.usd(result.get('cost_usd') or 0)} (estimated {widgets.usd(result.get('estimated_cost_usd') or 0)})"
    )
    again, change = st.columns(2)  # three side by side are cut off in the side column
    if again.button("More like this", key=f"again-{job.id}", help="The same settings, new images", width="stretch"):
        state["generate_nonce"] = uuid.uuid4().hex
        submit(job.request.with_stable_id(me.name, state["generate_nonce"]), remade_edit(job))
        st.rerun(scope="app")
    label = "Keep going" if job.request.is_edit else "Edit"
    if keys:  # a callback: it runs even when a newer result has replaced this one by the time the click lands
        change.button(label, key=f"edit-{job.id}", help="Edit this image: say what to change", width="stretch",
                      on_click=begin_edit, args=(keys[0],))  # fmt: skip
    if keys:  # a link, not a button: no rerun of this fragment stands between the click and the gallery
        st.page_link(
            "pages/gallery.py",
            label="Open in gallery",
            icon=":material/photo_library:",
            query_params={"image": studio.link_for(keys[0])},
            width="stretch",
        )


def begin_edit(key: str) -> None:
    try:
        editor.begin(studio, key)
    except ImagegenError as exc:
        state["g_submit_error"] = exc.message
    st.rerun()  # the whole page: the offer to upload an image, outside the composer, goes


def remade_edit(job):
    """An edit's inputs, read back from the first image it made, to make it again; None for a new image."""
    keys = (job.result or {}).get("image_keys") or []
    if not job.request.is_edit or not keys:
        return None
    try:
        return studio.edit_of_record(studio.image(keys[0]))
    except ImagegenError:
        return None  # its image was deleted: the request is refused with what to do


def show_recent(done: list) -> None:
    """The user's last generations, to look back at and run again."""
    shown = [j for j in done if j.status == "succeeded" and (j.result or {}).get("image_keys")][:6]
    if not shown:
        return
    st.header("Your recent generations")
    columns = st.columns(6)
    for index, job in enumerate(shown):
        with columns[index]:
            widgets.thumbnail(studio, job.result["image_keys"][0])
            st.caption(widgets.plain(job.request.prompt[:50]))
            if st.button("Re-run", key=f"rerun-{job.id}", width="stretch"):
                submit(job.request.with_stable_id(me.name, uuid.uuid4().hex), remade_edit(job))
                st.rerun(scope="app")
            if st.button("Edit settings", key=f"settings-{job.id}", width="stretch", type="tertiary"):
                settings = job.request.to_dict()
                if job.request.is_edit:
                    settings.pop("prompt")  # the instruction comes back as what to change, not as a prompt
                state["generate_prefill"] = settings
                try:
                    if job.request.is_edit:
                        editor.remake(studio, studio.image(job.result["image_keys"][0]))
                    else:
                        editor.stop()
                except ImagegenError as exc:
                    state["g_submit_error"] = exc.message
                st.rerun(scope="app")


st.title("Generate")
composer()
if editor.EDITING not in state:
    editor.offer_upload(studio)  # outside the composer: a keystroke does not redraw it
show_recent([j for j in studio.jobs_for(me.name, limit=8) if not j.active])

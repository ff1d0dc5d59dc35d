"""Generate: a prompt, the Director's preview, the price before spending, and a live loading state."""

import uuid

import streamlit as st
from st_keyup import st_keyup

from imagegen import GenerationRequest, ImagegenError, InvalidRequest
from ui import runtime, widgets
from ui.identity import viewer

COMMON_SIZES = ["1024x1024", "1536x1024", "1024x1536", "1536x864", "864x1536", "2048x2048", "auto"]
CUSTOM = "Custom..."
DEFAULT = "Preset default"

studio = runtime.studio()
runner = runtime.runner()
me = viewer()
state = st.session_state
state.setdefault("generate_nonce", uuid.uuid4().hex)

prefill = state.pop("generate_prefill", None)
if prefill:
    # "Use these settings" from the gallery, or "generate again": fill the form, then let the user edit.
    for name in ("preset", "model", "size", "quality", "n", "output_format", "raw", "lighting", "camera", "background"):
        if prefill.get(name) not in (None, ""):
            state[f"g_{name}"] = prefill[name]
    state["g_prompt_value"] = prefill.get("prompt", "")
    state["g_prompt_key"] = uuid.uuid4().hex  # a fresh input, so the prefilled text shows

st.title("Generate")
form, preview = st.columns([3, 2], gap="large")

with form:
    prompt = st_keyup(
        "Prompt",
        value=state.get("g_prompt_value", ""),
        key=state.setdefault("g_prompt_key", "prompt"),
        debounce=150,
        placeholder="a cyberpunk cat on a neon skateboard",
    )
    state["g_prompt_value"] = prompt or ""  # kept for when the user comes back from another page
    presets = studio.presets.presets
    preset = st.selectbox("Style preset", list(presets), format_func=lambda p: presets[p].label, key="g_preset")
    st.caption(presets[preset].description)
    with st.expander("Director: lighting, camera, raw"):
        raw = st.toggle("Raw: send my prompt exactly as typed", key="g_raw")
        lighting = st.selectbox("Lighting", [DEFAULT, *studio.presets.lighting_choices], key="g_lighting", disabled=raw)
        camera = st.selectbox("Camera", [DEFAULT, *studio.presets.camera_choices], key="g_camera", disabled=raw)

    models = {m.id: m for m in studio.models()}
    if state.get("g_model") not in models:
        state["g_model"] = (
            studio.settings.default_model if studio.settings.default_model in models else next(iter(models))
        )
    model_id = st.selectbox("Model", list(models), format_func=lambda m: models[m].label, key="g_model")
    spec = models[model_id]

    left, middle, right = st.columns(3)
    with left:
        sizes = [*spec.sizes] if spec.sizes else [*COMMON_SIZES, CUSTOM]
        if state.get("g_size") not in sizes:
            state["g_size"] = spec.default_size if spec.default_size in sizes else sizes[0]
        size = st.selectbox("Size", sizes, key="g_size")
        if size == CUSTOM:
            size = st.text_input("Width x height", value="1536x864", help=spec.describe_sizes()).strip().lower()
    with middle:
        if state.get("g_quality") not in spec.qualities:
            state["g_quality"] = spec.default_quality
        quality = st.selectbox("Quality", list(spec.qualities), key="g_quality")
    with right:
        n = st.number_input("Images", min_value=1, max_value=min(spec.n_max, 4), value=1, step=1, key="g_n")

    left, right = st.columns(2)
    with left:
        if state.get("g_output_format") not in spec.formats:
            state["g_output_format"] = spec.formats[0]
        output_format = st.selectbox("Format", list(spec.formats), key="g_output_format")
    with right:
        backgrounds = [DEFAULT, *spec.backgrounds] if spec.backgrounds else [DEFAULT]
        if state.get("g_background") not in backgrounds:
            state["g_background"] = DEFAULT
        background = st.selectbox("Background", backgrounds, key="g_background", disabled=not spec.backgrounds)

request = GenerationRequest(
    prompt=prompt or "",
    preset=preset,
    model=model_id,
    size=size,
    quality=quality,
    n=int(n),
    output_format=output_format,
    background="" if background == DEFAULT else background,
    raw=raw,
    lighting="" if lighting == DEFAULT or raw else lighting,
    camera="" if camera == DEFAULT or raw else camera,
).with_stable_id(me.name, state["generate_nonce"])

with preview:
    st.subheader("What will be sent")
    plan, problem = None, None
    if (prompt or "").strip():
        try:
            plan = studio.plan(request)
        except InvalidRequest as exc:
            problem = exc.message
    if plan is not None:
        widgets.directed_prompt(plan.directed, spec.prompt_max)
        for warning in plan.warnings:
            st.warning(warning)
    elif problem:
        st.error(widgets.plain(problem))
    else:
        st.caption("Type a prompt: the Director's expanded version appears here as you type.")

    allowance = studio.allowance(me.name)
    estimate = float(plan.estimated_cost) if plan else 0.0
    cost, images = st.columns(2)
    cost.metric("Estimated cost", widgets.usd(estimate) if plan else "-")
    images.metric("Your images left today", f"{allowance.images_left} / {allowance.quota}")
    st.metric("Team budget left", f"{widgets.usd(allowance.budget_left_usd)} / {widgets.usd(allowance.budget_usd)}")
    if plan is not None and plan.max_cost > plan.estimated_cost:
        st.caption(f"Reserves up to {widgets.usd(float(plan.max_cost))} until the real cost is known.")
    refusal = allowance.refusal(request.n, plan.reserve_micros if plan else 0)
    if refusal is not None:
        st.error(widgets.plain(refusal.message))
    if studio.settings.provider == "offline":
        st.caption("Offline renderer: a local placeholder image, $0. Configure OPENAI_API_KEY for real renders.")

    clicked = st.button("Generate", type="primary", disabled=plan is None or refusal is not None, width="stretch")

if clicked and plan is not None:
    existing = runner.job(runner.job_id_for(request, me.name))
    if existing is not None and not existing.active:
        # The same settings again after the last one finished: a new, deliberate generation.
        state["generate_nonce"] = uuid.uuid4().hex
        request = request.with_stable_id(me.name, state["generate_nonce"])
    try:
        runner.submit(request, me.name)
    except ImagegenError as exc:
        st.error(widgets.plain(exc.message))

jobs = runner.jobs_for(me.name, limit=4)
active = [j for j in jobs if j.active]
drawn_allowance = allowance


@st.fragment(run_every=0.5 if active else None)
def show_running_jobs() -> None:
    """Polls the database while jobs run; the whole page reruns when the last one ends."""
    running = [j for j in runner.jobs_for(me.name, limit=4) if j.active]
    for job in running:
        widgets.job_status(job, studio.eta_seconds(job.request))
    if bool(running) != bool(active) or studio.allowance(me.name) != drawn_allowance:
        st.rerun(scope="app")  # a job started, reserved or ended: what is left and the result changed


def show_result(job) -> None:
    st.divider()
    if job.status == "failed":
        st.error(widgets.plain(job.error or "The generation failed."))
        st.caption("You may have been charged for this request." if job.charged else "You were not charged.")
        return
    result = job.result or {}
    st.subheader("Latest result")
    keys = result.get("image_keys") or []
    columns = st.columns(min(len(keys), 2) or 1)
    for index, key in enumerate(keys):
        try:
            record = studio.image(key)
        except ImagegenError:
            columns[index % len(columns)].warning("This image was deleted from the gallery.")
            continue
        with columns[index % len(columns)]:
            original = widgets.stored_bytes(studio.image_bytes, record)
            if original is None:
                continue
            st.image(original, caption=widgets.result_caption(result), width=560)
            st.download_button(
                "Download",
                original,
                file_name=key.rsplit("/", 2)[-2] + "." + record["format"],
                mime=f"image/{record['format']}",
                key=f"download-{key}",
            )
    if result.get("revised_prompt"):
        st.caption(f"The model revised the prompt to: {widgets.plain(result['revised_prompt'])}")
    if result.get("pending_upload"):
        st.warning("Storage is unreachable: the image is kept on this server and uploads automatically later.")
    st.caption(
        f"Cost {widgets.usd(result.get('cost_usd') or 0)} (estimated {widgets.usd(result.get('estimated_cost_usd') or 0)})"
    )
    again, gallery = st.columns(2)
    if again.button("Generate again with these settings", key=f"again-{job.id}"):
        st.session_state["generate_prefill"] = job.request.to_dict()
        st.session_state["generate_nonce"] = uuid.uuid4().hex
        st.rerun(scope="app")
    if gallery.button("Open in gallery", key=f"open-{job.id}"):
        st.session_state["gallery_open"] = keys[0] if keys else None
        st.switch_page("pages/gallery.py")


show_running_jobs()
latest = next((j for j in jobs if not j.active), None)
if latest is not None:
    show_result(latest)

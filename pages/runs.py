"""Runs: many prompts at once, each in every chosen preset and size. Before anything is spent the page lists
every request the run will make, its total estimate and how much of it the user's quota and the team's
budget can hold; the user chooses all or nothing or as far as it goes, then follows the run's progress (it
can be cancelled) to the board that holds its results."""

import secrets

import streamlit as st

from imagegen import CUSTOM_SIZE, GenerationRequest, ImagegenError, RunPlan, RunStatus, counted, usd
from ui import attention, runtime, widgets
from ui.identity import viewer

studio = runtime.studio()
me = viewer()
state = st.session_state

TERMS = studio.batch_terms()
MODE_LABELS = {
    "all": "All or nothing: reserve the whole run now, or refuse it whole",
    "as far as it goes": "As far as it goes: make what fits, in order, then stop",
    "batch": f"Delayed, through the Batch API: reserved whole now, made within {TERMS.window_hours} hours; "
    + (f"{TERMS.discount:.0%} off" if TERMS.confirmed else "no discount is confirmed for images, so it costs as now"),
}
STATUS_WORDS = {"queued": "waiting", "running": "rendering", "succeeded": "done", "failed": "failed",
                "cancelled": "cancelled"}  # fmt: skip
#: the run whose progress is shown; the id the next start uses (a second click is the same run)
OPEN, NONCE = "run_open", "run_nonce"
state.setdefault(NONCE, secrets.token_hex(6))

st.title("Runs")
st.caption(
    "Many prompts at once: every prompt in every preset and size you choose, on a board of its own. "
    "Nothing is spent until you start it."
)


def choose() -> tuple[str, bytes | None, list[str], list[str], GenerationRequest]:
    """The run's prompts and choices, each kept within what the chosen model offers."""
    text = st.text_area("Prompts, one per line", height=160, key="r_prompts",
                        placeholder="a red fox in the snow\na lighthouse at dawn\n...")  # fmt: skip
    upload = st.file_uploader("Or a CSV file: its first column, one prompt per row", type=["csv"], key="r_csv")
    choices = studio.form_choices(state.get("r_model"), editing=False, kind=state.get("r_kind"))
    sizes = [size for size in choices.sizes if size != CUSTOM_SIZE]
    state["r_kind"], state["r_model"] = choices.kind, choices.spec.id
    state["r_presets"] = [p for p in state.get("r_presets", choices.presets[:1]) if p in choices.presets]
    state["r_sizes"] = [s for s in state.get("r_sizes", [choices.default_size]) if s in sizes]
    if state.get("r_quality") not in choices.qualities:
        state["r_quality"] = choices.qualities[0]
    if len(choices.kinds) > 1:
        st.radio("Make", list(choices.kinds), format_func=choices.kinds.get, horizontal=True, key="r_kind")
    st.multiselect("Style presets", choices.presets, format_func=choices.preset_labels.get, key="r_presets")
    st.multiselect("Sizes", sizes, key="r_sizes")
    model, quality = st.columns(2)
    model.selectbox("Model", list(choices.models), format_func=choices.models.get, key="r_model")
    quality.selectbox("Quality", choices.qualities, key="r_quality")
    fields = choices.request_fields({"kind": choices.kind, "model": choices.spec.id, "quality": state["r_quality"]})
    base = GenerationRequest("run", **fields)
    return text, upload.getvalue() if upload else None, state["r_presets"], state["r_sizes"], base


def preview(run: RunPlan) -> None:
    """Every request and what it may cost, the totals, and what today's limits hold."""
    with st.container(key="run-figures"):
        widgets.figures_in_a_row("run-figures")
        requests, images, estimate = st.columns(3)
        requests.metric("Requests", f"{len(run.items):,}")
        images.metric("Images", f"{run.images:,}")
        estimate.metric("Estimate", usd(run.estimate_usd), help=f"Reserved while it runs: up to {usd(run.reserve_usd)}")
    fits = run.fitting()
    left = run.allowance
    limits = f"You have {counted(left.images_left, 'image')} left today; the team has {usd(left.budget_left_usd)}."
    if run.fits_whole:
        st.success(f"{limits} The whole run fits.", icon=":material/check_circle:")
    else:
        st.warning(
            f"{limits} That holds the first {fits} of {len(run.items)} requests: all or nothing would be refused; "
            f"as far as it goes makes those {fits} and stops.",
            icon=":material/warning:",
        )
    rows = [{"#": i.position + 1, "Prompt": i.prompt, "Preset": i.preset, "Size": i.size, "About": usd(i.estimate_usd)}
            for i in run.items]  # fmt: skip
    st.dataframe(rows, hide_index=True, width="stretch", height=min(400, 38 + 35 * len(rows)))


def start(run: RunPlan) -> None:
    mode = st.radio("How", studio.run_modes(), format_func=MODE_LABELS.get, key="r_mode",
                    index=0 if run.fits_whole else 1)  # fmt: skip
    name = st.text_input("Board name for the results", max_chars=80, placeholder=f"Run of {len(run.items)}")
    if st.button(f"Start the run of {counted(run.images, 'image')}", type="primary", icon=":material/play_arrow:"):
        try:
            run_id = studio.start_run(run, me.name, mode, name)
        except ImagegenError as exc:
            st.error(widgets.plain(exc.message))
            return
        state[OPEN], state[NONCE] = run_id, secrets.token_hex(6)
        attention.ask("run")
        st.rerun()


def progress(run_id: str) -> None:
    try:
        status = studio.run_status(run_id, me.name)
    except ImagegenError as exc:
        st.error(widgets.plain(exc.message))
        state.pop(OPEN, None)
        return

    unread = [status]  # the page's own run draws what it just read; each of the fragment's reruns reads anew

    # a batch moves on at each server's minute sweep: looking every few seconds is enough
    @st.fragment(run_every=None if status.finished else 10.0 if status.mode == "batch" else 1.5)
    def follow() -> None:
        shown = unread.pop() if unread else studio.run_status(run_id, me.name)
        draw_status(shown)
        if shown.finished != status.finished:
            st.rerun(scope="app")

    with st.container(key="run-progress", border=True):
        follow()


def draw_status(status: RunStatus) -> None:
    done = status.settled
    st.header(widgets.plain(status.name))
    counts = ", ".join(f"{n} {STATUS_WORDS.get(s, s)}" for s, n in sorted(status.counts.items()))
    st.progress(
        done / status.total if status.total else 1.0, text=f"{done} of {status.total} requests settled: {counts}"
    )
    st.caption(
        f"Started {studio.local_time(status.created_at)} · {MODE_LABELS[status.mode].split(':')[0].lower()} · "
        f"charged {usd(status.spent_usd)} of up to {usd(status.estimated_usd)}"
        + (" · cancelled" if status.cancelled else "")
    )
    failed = [item for item in status.items if item["status"] == "failed"]
    for item in failed[:5]:
        st.markdown(widgets.plain(f"#{item['position'] + 1} {item['prompt'][:60]}: {item['error'] or 'failed'}"))
    link, cancel = st.columns([3, 1], vertical_alignment="center")
    link.page_link("pages/boards.py", label=f"Open its board ({counted(status.images, 'image')} so far)",
                   icon=":material/dashboard:", query_params={"board": status.board_id})  # fmt: skip
    if not status.finished and cancel.button("Cancel the rest", key=f"run-cancel-{status.id}",
                                             help="Requests not yet started stop at no cost"):  # fmt: skip
        stopped = studio.cancel_run(status.id, me.name)
        st.toast(f"Cancelled {counted(stopped, 'request')} at no cost; those already rendering finish.")
        st.rerun(scope="app")


def earlier_runs() -> None:
    runs = [r for r in studio.runs(me.name, limit=10) if r.id != state.get(OPEN)]
    if not runs:
        return
    st.header("Your earlier runs")
    for run in runs:
        done = run.counts.get("succeeded", 0)
        with st.container(border=True):
            words = f"{studio.local_time(run.created_at)} · {done} of {run.total} made · {usd(run.spent_usd)}"
            st.markdown(widgets.plain(run.name) + f"  \n{widgets.plain(words)}")
            left, right = st.columns(2)
            left.page_link("pages/boards.py", label="Its board", icon=":material/dashboard:",
                           query_params={"board": run.board_id})  # fmt: skip
            if right.button("Follow it here", key=f"run-follow-{run.id}", type="tertiary"):
                state[OPEN] = run.id
                attention.ask("run")
                st.rerun()


if state.get(OPEN):
    progress(state[OPEN])
with st.container(key="run-new", border=True):
    st.header("A new run")
    text, csv_bytes, presets, sizes, base = choose()
    plan = None
    if text.strip() or csv_bytes:
        try:
            plan = studio.plan_run(me.name, prompts=text, csv_bytes=csv_bytes, presets=presets, sizes=sizes,
                                   base=base, run_id=state[NONCE])  # fmt: skip
        except ImagegenError as exc:
            st.error(widgets.plain(exc.message))
    if plan is not None:
        preview(plan)
        start(plan)
earlier_runs()
attention.bring("run", ".st-key-run-progress", key="r_bring_run")

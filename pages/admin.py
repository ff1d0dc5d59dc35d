"""Admin: spend and quota use from the generation log, limits, and the log as CSV."""

from datetime import timedelta

import altair as alt
import pandas as pd
import streamlit as st

from imagegen import DESCRIBER, MAX_BUDGET_USD, MAX_QUOTA_IMAGES, ImagegenError
from ui import runtime, widgets
from ui.identity import require_admin

me = require_admin()
studio = runtime.studio()

st.title("Admin")

today = studio.figures_today()
spend, images, users, failed, render = st.columns(5)
spend.metric(
    "Spent today",
    widgets.usd(today.spend_usd),
    help=f"{widgets.usd(today.in_flight_usd)} in flight; {widgets.usd(today.estimated_usd)} of it estimated",
)
spend.progress(
    min(1.0, today.spend_usd / today.budget_usd) if today.budget_usd else 1.0,
    text=f"of {widgets.usd(today.budget_usd)} team budget",
)
images.metric("Images today", today.images, help=f"{today.requests} requests")
users.metric("Active users", today.active_users)
failed.metric(
    "Failed today", f"{today.failed_share:.0%}", help=f"{today.refunded_share:.0%} of requests refunded in full"
)
render.metric("Median render", f"{today.median_render_s:.1f}s" if today.median_render_s is not None else "-")
if today.estimated_usd:
    st.caption(
        f"{widgets.usd(today.estimated_usd)} of today's spend is estimated: charged at conservative rates where no "
        "source gives the model's price for some of the tokens its usage reported (see the README)."
    )

#: the quota frame's columns, as the chart's legend names them
QUOTA_PARTS = {"committed": "Used", "in_flight": "In flight", "remaining": "Left"}


def bar_chart(title: str, frame: pd.DataFrame, empty: str, measure: str, **encoding: object) -> None:
    """A bar chart, or a sentence saying there is nothing to chart (an axis of zeros says nothing)."""
    st.header(title)
    if len(frame) and frame[measure].sum() > 0:
        st.altair_chart(alt.Chart(frame).mark_bar().encode(**encoding), width="stretch")
    else:
        st.info(empty)


def count_axis(field: str, title: str | None = None, **kw: object) -> alt.X:
    return alt.X(field, title=title, axis=alt.Axis(tickMinStep=1, format="d"), **kw)


left, right = st.columns(2)
with left:
    bar_chart(
        "Spend per day by model (30 days)",
        studio.spend_per_day_by_model(30),
        "No spend yet.",
        "spend_usd",
        x=alt.X("day:T", title=None),
        y=alt.Y("spend_usd:Q", title="USD", stack=True),
        color="model:N",
        tooltip=["day", "model", alt.Tooltip("spend_usd", format="$.4f"), "images"],
    )
with right:
    bar_chart(
        "Spend per user (top 10, 30 days)",
        studio.spend_per_user(30, 10),
        "No spend yet.",
        "spend_usd",
        x=alt.X("spend_usd:Q", title="USD"),
        y=alt.Y("user:N", sort="-x", title=None),
        tooltip=["user", alt.Tooltip("spend_usd", format="$.4f"), "images"],
    )

left, right = st.columns(2)
with left:
    quota = studio.quota_today()
    bar_chart(
        "Quota use today",
        quota.rename(columns=QUOTA_PARTS).melt(
            id_vars=["user"], value_vars=list(QUOTA_PARTS.values()), var_name="part", value_name="images"
        )
        if len(quota)
        else quota,
        "Nobody has generated today.",
        "images",
        x=count_axis("images:Q", "images", stack=True),
        y=alt.Y("user:N", title=None),
        color=alt.Color(
            "part:N",
            title=None,
            sort=list(QUOTA_PARTS.values()),
            # "Left" is a neutral grey that reads on a light and a dark background alike
            scale=alt.Scale(domain=list(QUOTA_PARTS.values()), range=["#3a5ccc", "#f4a261", "rgba(128,128,128,0.35)"]),
        ),
        tooltip=["user", "part", "images"],
    )
with right:
    bar_chart(
        "Renders per preset (30 days)",
        studio.renders_per_preset(30),
        "No renders yet.",
        "renders",
        x=count_axis("renders:Q", "renders"),
        y=alt.Y("preset:N", sort="-x", title=None),
    )

bar_chart(
    "Render time per model (30 days)",
    studio.render_time_per_model(30),
    "No renders yet.",
    "renders",
    x=alt.X("median_s:Q", title="median seconds"),
    y=alt.Y("model:N", title=None),
    tooltip=["model", "renders", alt.Tooltip("median_s", format=".2f"), alt.Tooltip("p90_s", format=".2f")],
)

st.header("Recent generations")
st.dataframe(
    studio.recent_generations(50),
    width="stretch",
    hide_index=True,
    column_config={
        "created_at": st.column_config.TextColumn("When"),
        "user": "User",
        "kind": "Kind",
        "model": "Model",
        "preset": "Preset",
        "size": "Size",
        "quality": "Quality",
        "n": st.column_config.NumberColumn("Images", format="%d"),
        "status": "Status",
        "error_code": "Error",
        "cost_usd": st.column_config.NumberColumn("Cost", format="dollar"),
        "render_ms": st.column_config.NumberColumn("Render (ms)", format="%d"),
    },
)


def show_note(key: str) -> None:
    """What the last change said (kept across the rerun its button started), shown once, inert."""
    note = st.session_state.pop(key, None)
    if note:
        (st.success if note[0] == "success" else st.error)(widgets.plain(note[1]))


def setting_changes(title: str, changes: list, shown=lambda value: value or "-") -> None:
    """A team setting's changes, newest first: when (the team's time), who, before and after (each value
    as `shown` words it)."""
    if not changes:
        return
    st.caption(title)
    rows = [
        {
            "When": studio.local_time(c.set_at),
            "Who": c.set_by,
            "Before": shown(c.old_value),
            "After": shown(c.new_value),
        }
        for c in changes
    ]
    st.dataframe(rows, hide_index=True, width="stretch")


st.header("Limits")
NEW_USER = "Someone new..."


def save_quota() -> None:
    chosen = state["quota_user"]
    user = state.get("quota_new_user", "") if chosen == NEW_USER else chosen
    try:
        images = int(state["quota_images"])
        studio.set_quota(user, images, by=me.name)
        state["admin_note"] = (
            "success",
            f"{user.strip()} may now make {images} image{'' if images == 1 else 's'} a day.",
        )
    except ImagegenError as exc:
        state["admin_note"] = ("error", exc.message)


def remove_quota() -> None:
    user = state["quota_remove"]
    if studio.clear_quota(user, by=me.name):
        state["admin_note"] = ("success", f"{user} is back on the default of {studio.default_quota} a day.")


def save_budget() -> None:
    try:
        studio.set_budget(round(state["budget_amount"], 2), by=me.name)
        state["admin_note"] = ("success", f"The team budget is now {widgets.usd(state['budget_amount'])} a day.")
    except ImagegenError as exc:
        state["admin_note"] = ("error", exc.message)


state = st.session_state
show_note("admin_note")
quota_col, budget_col = st.columns(2)
with quota_col, st.container(border=True):
    st.markdown("**A user's own daily quota**")
    st.selectbox("User", [*studio.known_users(), NEW_USER], key="quota_user")
    if state.get("quota_user") == NEW_USER:
        st.text_input("New user's name (as they sign in)", key="quota_new_user")
    st.number_input(
        "Images a day", min_value=0, max_value=MAX_QUOTA_IMAGES, value=studio.default_quota, key="quota_images"
    )
    st.button("Set quota", on_click=save_quota)
with budget_col, st.container(border=True):
    st.markdown("**The team's daily budget**")
    st.number_input(
        "Dollars a day",
        min_value=0.0,
        max_value=float(MAX_BUDGET_USD),
        value=float(today.budget_usd),
        step=1.0,
        format="%.2f",
        key="budget_amount",
    )
    st.button("Set budget", on_click=save_budget)
overrides = studio.quota_overrides()
if overrides:
    st.caption(f"Users with a quota of their own (everyone else: {studio.default_quota} a day)")
    st.dataframe(overrides, hide_index=True, width="stretch")
    remove_col, button_col = st.columns([2, 1], vertical_alignment="bottom")
    remove_col.selectbox("Back to the default", [o["User"] for o in overrides], key="quota_remove")
    button_col.button("Remove their own quota", on_click=remove_quota)
changes = studio.limit_changes(20)
if changes:
    st.caption("Recent limit changes")
    st.dataframe(changes, hide_index=True, width="stretch")

st.header("Team colours")


def save_palette() -> None:
    try:
        kept = studio.set_palette(state["palette_text"], by=me.name)
        said = f"The team's colours are now {', '.join(kept)}." if kept else "The team's colours are cleared."
        state["palette_note"] = ("success", said)
    except ImagegenError as exc:
        state["palette_note"] = ("error", exc.message)


show_note("palette_note")
palette = studio.palette()
with st.container(border=True):
    st.caption(
        "A few colours (#rrggbb) a prompt can ask for: the Director's \"In the team's colours\" adds them to what "
        "is sent. Leave it empty to clear them."
    )
    state.setdefault("palette_text", " ".join(palette))
    text_col, button_col = st.columns([3, 1], vertical_alignment="bottom")
    text_col.text_input("Colours", key="palette_text", placeholder="#1d3557 #e63946 #f1faee")
    button_col.button("Set colours", on_click=save_palette, width="stretch")
    if palette:
        widgets.swatches(palette)
setting_changes("Recent colour changes", studio.palette_history())

st.header("Writing Director")


def save_instructions() -> None:
    preset = state["instr_preset"]
    try:
        version = studio.set_rewriter_instructions(preset, state[f"instr_text_{preset}"], by=me.name)
        name = "Describing an image" if preset == DESCRIBER else studio.preset_label(preset)
        state["instr_note"] = ("success", f"{name}: instructions version {version}; the next one written uses them.")
    except ImagegenError as exc:
        state["instr_note"] = ("error", exc.message)


show_note("instr_note")
with st.container(border=True):
    st.caption(
        "What the writer is told for each preset beside the studio's own rules: house style, palette, words "
        "to avoid, what a logo needs. Users' words are given to it as data, never as instructions."
    )
    chosen = st.selectbox(
        "Preset",
        [*studio.preset_names(), DESCRIBER],
        format_func=lambda name: "Describing an image" if name == DESCRIBER else studio.preset_label(name),
        key="instr_preset",
    )
    state.setdefault(f"instr_text_{chosen}", studio.rewriter_instructions(chosen))
    st.text_area("Instructions", key=f"instr_text_{chosen}", height=120, max_chars=4000)
    st.button("Save instructions", on_click=save_instructions)
setting_changes(
    "Changes to the describer's instructions"
    if chosen == DESCRIBER
    else f"Changes to {studio.preset_label(chosen)}'s instructions",
    studio.rewriter_history(chosen),
)


def save_writing_in_quota() -> None:
    studio.set_writing_in_quota(state["writing_in_quota"], by=me.name)


state["writing_in_quota"] = studio.writing_in_quota()
st.toggle(
    "Rewrites and descriptions count against each user's daily images",
    key="writing_in_quota",
    on_change=save_writing_in_quota,
    help="Off (the default): they count against the team budget only. On: each also takes one of the "
    "user's images for the day.",
)
setting_changes(
    "Changes to whether writing counts against quotas",
    studio.writing_in_quota_history(),
    shown=lambda value: "Counted" if value == "yes" else "Not counted",
)

st.header("Export the log")
first, last = st.columns(2)
today_here = studio.today()
since = first.date_input("From", value=today_here - timedelta(days=30), key="export_from")
until = last.date_input("To", value=today_here, key="export_to")
try:
    export = studio.export_csv(since, until)
except ImagegenError as exc:
    st.error(widgets.plain(exc.message))
else:
    st.download_button("Download CSV", export, file_name=f"imagegen-log-{since}-{until}.csv", mime="text/csv")

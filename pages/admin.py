"""Admin: spend and quota use from the generation log, limits, and the log as CSV."""

from datetime import date, timedelta

import altair as alt
import pandas as pd
import streamlit as st

from imagegen import ImagegenError
from ui import runtime, widgets
from ui.identity import require_admin

me = require_admin()
studio = runtime.studio()
analytics = studio.analytics()

st.title("Admin")

today = analytics.today()
spend, images, users, failed, render = st.columns(5)
spend.metric("Spent today", widgets.usd(today.spend_usd), help=f"{widgets.usd(today.in_flight_usd)} in flight")
spend.progress(
    min(1.0, today.spend_usd / today.budget_usd) if today.budget_usd else 1.0,
    text=f"of {widgets.usd(today.budget_usd)} team budget",
)
images.metric("Images today", today.images, help=f"{today.requests} requests")
users.metric("Active users", today.active_users)
failed.metric("Failed / refunded", f"{today.failed_share:.0%} / {today.refunded_share:.0%}")
render.metric("Median render", f"{today.median_render_s:.1f}s" if today.median_render_s is not None else "-")

QUOTA_PARTS = ["committed", "in_flight", "remaining"]


def bar_chart(title: str, frame: pd.DataFrame, empty: str, **encoding: object) -> None:
    st.subheader(title)
    if len(frame):
        st.altair_chart(alt.Chart(frame).mark_bar().encode(**encoding), width="stretch")
    else:
        st.caption(empty)


left, right = st.columns(2)
with left:
    bar_chart(
        "Spend per day by model (30 days)",
        analytics.spend_per_day_by_model(30),
        "No spend yet.",
        x=alt.X("day:T", title=None),
        y=alt.Y("spend_usd:Q", title="USD", stack=True),
        color="model:N",
        tooltip=["day", "model", alt.Tooltip("spend_usd", format="$.4f"), "images"],
    )
with right:
    bar_chart(
        "Spend per user (top 10, 30 days)",
        analytics.spend_per_user(30, 10),
        "No spend yet.",
        x=alt.X("spend_usd:Q", title="USD"),
        y=alt.Y("user:N", sort="-x", title=None),
        tooltip=["user", alt.Tooltip("spend_usd", format="$.4f"), "images"],
    )

left, right = st.columns(2)
with left:
    quota = analytics.quota_today()
    bar_chart(
        "Quota use today",
        quota.melt(id_vars=["user"], value_vars=QUOTA_PARTS, var_name="part", value_name="images")
        if len(quota)
        else quota,
        "Nobody has generated today.",
        x=alt.X("images:Q", stack=True),
        y=alt.Y("user:N", title=None),
        color=alt.Color(
            "part:N", sort=QUOTA_PARTS, scale=alt.Scale(domain=QUOTA_PARTS, range=["#3a5ccc", "#f4a261", "#dde3ea"])
        ),
        tooltip=["user", "part", "images"],
    )
with right:
    bar_chart(
        "Renders per preset (30 days)",
        analytics.renders_per_preset(30),
        "No renders yet.",
        x="renders:Q",
        y=alt.Y("preset:N", sort="-x", title=None),
    )

bar_chart(
    "Render time per model (30 days)",
    analytics.render_time_per_model(30),
    "No renders yet.",
    x=alt.X("median_s:Q", title="median seconds"),
    y=alt.Y("model:N", title=None),
    tooltip=["model", "renders", alt.Tooltip("median_s", format=".2f"), alt.Tooltip("p90_s", format=".2f")],
)

st.subheader("Recent generations")
st.dataframe(analytics.recent(50), width="stretch", hide_index=True)

st.subheader("Limits")
quota_form, budget_form = st.columns(2)
with quota_form, st.form("quota"):
    user = st.text_input("User")
    images_per_day = st.number_input("Daily images", min_value=0, max_value=100_000, value=studio.settings.daily_quota)
    if st.form_submit_button("Set quota"):
        try:
            studio.set_quota(user, int(images_per_day), by=me.name)
            st.success(f"{user.strip()} may now make {int(images_per_day)} images a day.")
        except ImagegenError as exc:
            st.error(widgets.plain(exc.message))
with budget_form, st.form("budget"):
    amount = st.number_input(
        "Team budget per day (USD)",
        min_value=0.0,
        max_value=1_000_000.0,
        value=float(today.budget_usd),
        step=1.0,
        format="%.2f",
    )
    if st.form_submit_button("Set budget"):
        try:
            studio.set_budget(round(amount, 2), by=me.name)
            st.success(f"The team budget is now {widgets.usd(amount)} a day.")
        except ImagegenError as exc:
            st.error(widgets.plain(exc.message))
overrides = studio.quota_overrides()
if overrides:
    st.caption("Quotas set by an admin")
    st.dataframe(overrides, hide_index=True, width="stretch")
changes = studio.limit_changes(20)
if changes:
    st.caption("Recent limit changes")
    st.dataframe(changes, hide_index=True, width="stretch")

st.subheader("Export the log")
first, last = st.columns(2)
since = first.date_input("From", value=date.today() - timedelta(days=30), key="export_from")
until = last.date_input("To", value=date.today(), key="export_to")
try:
    export = analytics.export_csv(since, until)
except ImagegenError as exc:
    st.error(widgets.plain(exc.message))
else:
    st.download_button("Download CSV", export, file_name=f"imagegen-log-{since}-{until}.csv", mime="text/csv")

"""What an action starts or changes is brought where the user is looking: scrolled into view whole (as
little as it takes), and focused when it waits for typing. Streamlit redraws a page in place and leaves the
scroll where it was, so a result, a progress box or an edit's form can appear off-screen without a word."""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Any

import streamlit as st

#: how long the page keeps bringing the target into view while what is above it is still being drawn
SETTLE_MS = 2500

_JS = """
const done = new Set();

export default function (component) {
  const { data } = component;
  if (done.has(data.nonce)) return;
  done.add(data.nonce);
  const until = Date.now() + data.settle;
  let focused = false;
  let left = null;  // where this left the scroll: moved by anyone else, the user has taken over
  let stopped = false;
  const stop = () => { stopped = true; };
  for (const kind of ["wheel", "touchstart", "pointerdown", "keydown"]) {
    window.addEventListener(kind, stop, { once: true, capture: true });
  }
  const bring = () => {
    const target = document.querySelector(data.target);
    if (target) {
      const scroller = scrollerOf(target);
      if (left !== null && Math.abs(scroller.scrollTop - left) > 2) stopped = true;
      if (stopped) return;
      target.style.scrollMarginTop = "4.5rem";  // clear of Streamlit's header
      target.style.scrollMarginBottom = "1rem";
      const box = target.getBoundingClientRect();
      const header = 64;
      const whole = box.top >= header && box.bottom <= window.innerHeight;
      if (!whole) target.scrollIntoView({ block: box.height > window.innerHeight - header ? "start" : "nearest" });
      left = scroller.scrollTop;
      const field = data.focus && deepQuery(data.focus);
      if (field && !focused) {
        field.focus({ preventScroll: true });
        focused = document.activeElement === field || field.getRootNode().activeElement === field;
      }
    }
    if (!stopped && Date.now() < until) setTimeout(bring, 150);
  };
  bring();
}

function scrollerOf(element) {
  for (let node = element.parentElement; node; node = node.parentElement) {
    const overflow = getComputedStyle(node).overflowY;
    if ((overflow === "auto" || overflow === "scroll") && node.scrollHeight > node.clientHeight) return node;
  }
  return document.scrollingElement;
}

// The prompt box draws its text area inside its own shadow root.
function deepQuery(selector) {
  const found = document.querySelector(selector);
  if (found) return found;
  for (const host of document.querySelectorAll("[data-testid='stBidiComponent'] *, .stElementContainer *")) {
    const inner = host.shadowRoot && host.shadowRoot.querySelector(selector);
    if (inner) return inner;
  }
  return null;
}
"""


@lru_cache(maxsize=1)
def _component() -> Any:
    return st.components.v2.component("imagegen_attention", js=_JS)


def ask(reason: str) -> None:
    """Ask the page's next run to bring what `reason` names into view (see `bring`)."""
    st.session_state[f"attention_{reason}"] = uuid.uuid4().hex


def bring(reason: str, target: str, *, focus: str = "", key: str) -> None:
    """If `ask(reason)` was called, scroll the element `target` (a CSS selector) into view, and focus
    `focus` when given; once per ask, however often the page reruns after."""
    nonce = st.session_state.pop(f"attention_{reason}", None)
    if nonce is None:
        return
    _component()(key=key, data={"nonce": nonce, "target": target, "focus": focus, "settle": SETTLE_MS})

"""A multi-line prompt that reports what is typed as the user types (debounced), and generates on
Ctrl+Enter or Cmd+Enter: Streamlit's own text area reports only on blur or Ctrl+Enter, too late for a
live preview. Beside it, the Director's preview, which directs every key in the browser at once
(director.js) and shows the server's own result when it is for the text typed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import streamlit as st

from imagegen import DirectedPrompt, text_tables

HERE = Path(__file__).parent
#: the background of each facet's keywords in the preview: light enough for dark text in either theme
FACET_COLOURS = {
    "style": "#e8f0fe",
    "lighting": "#fef7e0",
    "camera": "#e6f4ea",
    "mood": "#fce8e6",
    "detail": "#f3e8fd",
}
#: the text typed goes to the server once keys pause this long (the preview shows each key at once)
DEBOUNCE_MS = 150

_CSS = """
label { display: block; font-size: 0.875rem; margin-bottom: 0.25rem; color: var(--st-text-color); }
textarea {
  box-sizing: border-box; width: 100%; min-height: 4.6rem; max-height: 24rem; resize: vertical; padding: 0.5rem 0.75rem;
  font: inherit; font-size: 1rem; line-height: 1.4; color: var(--st-text-color);
  background: var(--st-secondary-background-color); border: 1px solid transparent;
  border-radius: var(--st-base-radius, 0.5rem);
}
textarea:focus { outline: 2px solid var(--st-primary-color); outline-offset: 1px; border-color: var(--st-primary-color); }
.hint { font-size: 0.8rem; opacity: 0.7; margin-top: 0.2rem; }
"""

_JS = """
export default function (component) {
  const { parentElement, data, setStateValue, setTriggerValue } = component;
  let box = parentElement.querySelector("textarea");
  if (!box) {
    const label = document.createElement("label");
    label.textContent = data.label;
    label.htmlFor = "prompt-box";
    box = document.createElement("textarea");
    box.id = "prompt-box";
    box.setAttribute("aria-label", data.label);
    box.setAttribute("aria-describedby", "prompt-hint");
    const hint = document.createElement("div");
    hint.className = "hint";
    hint.id = "prompt-hint";
    hint.textContent = data.hint;
    parentElement.append(label, box, hint);
    let timer = null;
    const send = () => { clearTimeout(timer); timer = null; setStateValue("value", box.value); };
    const grow = () => { box.style.height = "auto"; box.style.height = box.scrollHeight + 2 + "px"; };
    box.addEventListener("input", () => {
      announce(box);
      grow();
      clearTimeout(timer);
      timer = setTimeout(send, data.debounce);
    });
    box.addEventListener("blur", () => { if (timer) send(); });
    box.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        send();
        setTriggerValue("submit", Date.now());
      }
    });
  }
  // The label can change with the page's mode (a prompt, or what to change in an edit).
  const label = parentElement.querySelector("label");
  if (label.textContent !== data.label) {
    label.textContent = data.label;
    box.setAttribute("aria-label", data.label);
  }
  parentElement.querySelector(".hint").textContent = data.hint;
  box.placeholder = data.placeholder;
  if (box.dataset.version !== String(data.version)) {
    box.dataset.version = String(data.version);
    box.value = data.value;
    box.style.height = "auto";
    box.style.height = box.scrollHeight + 2 + "px";
  }
  announce(box);
}

// What is typed, for the Director's preview (directed_preview.js) to draw at once.
function announce(box) {
  window.__imagegenPrompt = { text: box.value, version: box.dataset.version };
  window.dispatchEvent(new CustomEvent("imagegen:prompt", { detail: window.__imagegenPrompt }));
}
"""

_component = st.components.v2.component("imagegen_prompt_box", css=_CSS, js=_JS)


@dataclass(frozen=True)
class PromptInput:
    text: str
    submitted: bool


def prompt_box(
    label: str, *, value: str, version: int | str, key: str, placeholder: str = "", action: str = "generates"
) -> PromptInput:
    """The prompt as typed. `value` is shown when `version` changes (a prefill); otherwise the browser keeps
    what the user typed."""
    result = _component(
        key=key,
        data={
            "label": label,
            "value": value,
            "version": str(version),
            "placeholder": placeholder,
            "hint": f"Ctrl+Enter (Cmd+Enter on a Mac) {action}.",
            "debounce": DEBOUNCE_MS,
        },
        default={"value": value},
        on_value_change=lambda: None,
        on_submit_change=lambda: None,
    )
    text = result.get("value") if hasattr(result, "get") else getattr(result, "value", None)
    submitted = bool(result.get("submit") if hasattr(result, "get") else getattr(result, "submit", None))
    return PromptInput(text if isinstance(text, str) else value, submitted)


_PREVIEW_CSS = """
.directed-prompt {
  font-family: ui-monospace, monospace; font-size: 0.9rem; line-height: 1.5; overflow-wrap: anywhere;
  border: 1px solid rgba(128, 128, 128, 0.35); border-radius: 6px; padding: 8px;
}
.directed-prompt mark { color: #1f2330; padding: 0 2px; border-radius: 3px; }
.directed-caption { font-size: 0.875rem; opacity: 0.7; margin-top: 0.25rem; overflow-wrap: anywhere; }
.directed-error {
  padding: 0.75rem 1rem; border-radius: 0.5rem; background: rgba(255, 43, 43, 0.12); overflow-wrap: anywhere;
}
"""


def director_script() -> str:
    """The browser's Director (director.js) made with the engine's character tables, as `DIRECTOR`."""
    director = (HERE / "director.js").read_text(encoding="utf-8")
    tables = json.dumps(text_tables(), ensure_ascii=False, separators=(",", ":"))  # 33 KB, sent with each rerun
    return f"{director}\nconst DIRECTOR = makeDirector({tables});\n"


@lru_cache(maxsize=1)
def _preview_component() -> Any:
    """Registered on first use: its script carries the engine's character tables (made once, ~0.75 s)."""
    preview = (HERE / "directed_preview.js").read_text(encoding="utf-8")
    return st.components.v2.component(
        "imagegen_directed_preview", css=_PREVIEW_CSS, js=director_script() + preview, isolate_styles=False
    )


def server_result(prompt: str, directed: DirectedPrompt | None, problem: str | None) -> dict:
    """What the server found for `prompt`, in the preview's terms; no "kind" when it has not directed it."""
    if directed is not None:
        segments = [list(segment) for segment in directed.segments]
        added, dropped = len(directed.additions), len(directed.dropped)
        return {"for": prompt, "kind": "directed", "text": directed.text, "segments": segments, "added": added,
                "dropped": dropped}  # fmt: skip
    if problem is not None:
        return {"for": prompt, "kind": "error", "message": problem}
    if not prompt.strip():
        return {"for": prompt, "kind": "blank"}
    return {"for": prompt}  # not directed here (the request has another problem): the browser directs it


def directed_preview(plan: dict, server: dict, *, version: int | str, hint: str, key: str) -> None:
    """The exact text that will be sent, with what the Director added highlighted by facet: drawn by the
    browser on every key, from `plan` (Studio.browser_plan), and from `server` when it is for the text typed."""
    _preview_component()(
        key=key,
        data={"plan": plan, "server": server, "version": str(version), "hint": hint, "colours": FACET_COLOURS},
    )

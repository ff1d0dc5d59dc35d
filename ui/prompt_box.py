"""A multi-line prompt that reports what is typed as the user types (debounced), and generates on
Ctrl+Enter or Cmd+Enter: Streamlit's own text area reports only on blur or Ctrl+Enter, too late for a
live preview."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

_CSS = """
label { display: block; font-size: 0.875rem; margin-bottom: 0.25rem; color: var(--st-text-color); }
textarea {
  box-sizing: border-box; width: 100%; min-height: 4.6rem; max-height: 24rem; resize: vertical; padding: 0.5rem 0.75rem;
  font: inherit; font-size: 1rem; line-height: 1.4; color: var(--st-text-color);
  background: var(--st-secondary-background-color); border: 1px solid transparent;
  border-radius: var(--st-base-radius, 0.5rem);
}
textarea:focus { outline: none; border-color: var(--st-primary-color); }
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
    box.addEventListener("input", () => { grow(); clearTimeout(timer); timer = setTimeout(send, data.debounce); });
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
            "debounce": 20,
        },
        default={"value": value},
        on_value_change=lambda: None,
        on_submit_change=lambda: None,
    )
    text = result.get("value") if hasattr(result, "get") else getattr(result, "value", None)
    submitted = bool(result.get("submit") if hasattr(result, "get") else getattr(result, "submit", None))
    return PromptInput(text if isinstance(text, str) else value, submitted)

"""A link to copy with one press, on a phone too (st.code's copy button appears only under a mouse), read
from a field a person can also select by hand where the browser keeps the clipboard to itself."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import streamlit as st

_CSS = """
.copy-link { display: flex; gap: 0.5rem; align-items: stretch; }
label { display: block; font-size: 0.875rem; margin-bottom: 0.25rem; color: var(--st-text-color); }
input {
  flex: 1; min-width: 0; padding: 0.4rem 0.6rem; font: inherit; font-size: 0.875rem; color: var(--st-text-color);
  background: var(--st-secondary-background-color); border: 1px solid transparent;
  border-radius: var(--st-base-radius, 0.5rem);
}
button {
  padding: 0.4rem 0.9rem; font: inherit; font-size: 0.875rem; color: var(--st-text-color); cursor: pointer;
  background: transparent; border: 1px solid rgba(128, 128, 128, 0.45); border-radius: var(--st-base-radius, 0.5rem);
  white-space: nowrap;
}
button:hover { border-color: var(--st-primary-color); color: var(--st-primary-color); }
input:focus-visible, button:focus-visible { outline: 2px solid var(--st-primary-color); outline-offset: 1px; }
.said { font-size: 0.8rem; min-height: 1.1rem; margin-top: 0.2rem; color: var(--st-text-color); }
"""

_JS = """
export default function (component) {
  const { parentElement, data } = component;
  let field = parentElement.querySelector("input");
  if (!field) {
    const label = document.createElement("label");
    label.textContent = data.label;
    label.htmlFor = "copy-link-field";
    field = document.createElement("input");
    field.id = "copy-link-field";
    field.readOnly = true;
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Copy link";
    const said = document.createElement("div");
    said.className = "said";
    said.setAttribute("role", "status");
    const row = document.createElement("div");
    row.className = "copy-link";
    row.append(field, button);
    parentElement.append(label, row, said);
    field.addEventListener("focus", () => field.select());
    button.addEventListener("click", async () => {
      let copied = false;
      try {
        await navigator.clipboard.writeText(field.value);
        copied = true;
      } catch (error) {
        field.focus();
        field.select();
        try { copied = document.execCommand("copy"); } catch (ignored) { copied = false; }
      }
      said.textContent = copied ? "Copied: paste it to a teammate." : "Selected: press Ctrl+C (Cmd+C) to copy it.";
    });
  }
  field.value = data.link;
}
"""


@lru_cache(maxsize=1)
def _component() -> Any:
    return st.components.v2.component("imagegen_copy_link", css=_CSS, js=_JS)


def copy_link(link: str, *, label: str, key: str) -> None:
    """The link in a read-only field, with a Copy link button that says whether it copied."""
    _component()(key=key, data={"link": link, "label": label})

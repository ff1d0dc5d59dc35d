// The Director's preview on the Generate page: the exact text that will be sent, redrawn on every key the
// prompt box reports (its "imagegen:prompt" event), before the server has answered. The server's own
// result is drawn whenever it is for the text now typed. DIRECTOR is made from director.js above.

const MESSAGE = "imagegen:prompt";

function caption(text) {
  const line = document.createElement("div");
  line.className = "directed-caption";
  line.textContent = text;
  return line;
}

function drawn(result, data) {
  if (result.kind === "blank") return [caption(data.hint)];
  if (result.kind === "error") {
    const box = document.createElement("div");
    box.className = "directed-error";
    box.setAttribute("role", "alert");
    box.textContent = result.message;
    return [box];
  }
  const box = document.createElement("div");
  box.className = "directed-prompt";
  for (const [text, facet] of result.segments) {
    if (!facet) {
      box.append(text);
      continue;
    }
    const mark = document.createElement("mark");
    mark.title = facet;
    mark.dataset.facet = facet;
    mark.style.background = data.colours[facet] ?? "#eeeeee";
    mark.textContent = text;
    box.append(mark);
  }
  const length = DIRECTOR.grouped(DIRECTOR.codePoints(result.text));
  const dropped = result.dropped ? `, ${result.dropped} dropped to fit` : "";
  const summary = `${length} / ${DIRECTOR.grouped(data.plan.limit)} characters · ${result.added} keywords added by the Director${dropped}`;
  return [box, caption(summary)];
}

export default function (component) {
  const { parentElement, data } = component;
  let view = parentElement.querySelector(".directed-view");
  if (!view) {
    view = document.createElement("div");
    view.className = "directed-view";
    parentElement.append(view);
  }
  const show = (typed) => {
    const known = typed === data.server.for && data.server.kind;
    const result = known ? data.server : DIRECTOR.live(typed, data.plan);
    const signature = JSON.stringify([result, data.hint, data.plan.limit]);
    if (view.dataset.signature === signature) return;
    view.dataset.signature = signature;
    view.replaceChildren(...drawn(result, data));
  };
  const latest = window.__imagegenPrompt;
  show(latest && latest.version === data.version ? latest.text : data.server.for);

  const onTyped = (event) => {
    if (event.detail.version === data.version) show(event.detail.text);
  };
  if (parentElement.__imagegenTyped) window.removeEventListener(MESSAGE, parentElement.__imagegenTyped);
  parentElement.__imagegenTyped = onTyped;
  window.addEventListener(MESSAGE, onTyped);
  return () => window.removeEventListener(MESSAGE, onTyped);
}

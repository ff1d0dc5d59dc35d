// The Director of imagegen/director.py, with the prompt checks of imagegen/checks.py, for the browser: the
// Generate page shows the exact text a prompt will be sent as while it is typed, without a server round
// trip. Every character rule comes from the server (imagegen/textrules.py), so no Unicode table of this
// browser is used. tests/e2e/test_director_parity.py holds this to the Python it follows.

function makeDirector(tables) {
  const hex = (code) => "\\u{" + code.toString(16) + "}";
  const members = (ranges) => ranges.map(([a, b]) => (a === b ? hex(a) : hex(a) + "-" + hex(b))).join("");
  const WORD = "[" + members(tables.word) + "]";
  const spaceRun = new RegExp("[" + members(tables.space) + "]+", "u");
  const onlySpaces = new RegExp("^[" + members(tables.space) + "]*$", "u");
  const controls = new RegExp("[" + members(tables.control) + "]", "gu");
  const somethingVisible = new RegExp("[^" + members(tables.invisible) + "]", "u");
  const ansi = new RegExp(tables.ansi, "gu");
  const messages = tables.messages;
  const patterns = new Map();

  const codePoints = (text) => {
    let count = 0;
    for (const _ of text) count += 1;
    return count;
  };
  const grouped = (number) => number.toLocaleString("en-US");
  const fold = (text) => {
    let folded = "";
    for (const c of text) folded += tables.fold[c] ?? c;
    return folded;
  };
  const normalise = (text) => text.split(spaceRun).filter(Boolean).join(" ");
  const refused = (message) => ({ kind: "error", message });

  function written(foldedUser, needle) {
    let pattern = patterns.get(needle);
    if (!pattern) {
      const literal = needle.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");
      pattern = new RegExp("(?<!" + WORD + ")" + literal + "(?!" + WORD + ")", "u");
      patterns.set(needle, pattern);
    }
    return pattern.test(foldedUser);
  }

  function render(user, template, additions) {
    const byFacet = new Map();
    for (const addition of additions) {
      if (!byFacet.has(addition.facet)) byFacet.set(addition.facet, []);
      byFacet.get(addition.facet).push(addition.text);
    }
    const segments = [];
    for (const [literal, name] of template) {
      if (name === "prompt") {
        segments.push([literal + user, null]);
        continue;
      }
      const words = (name && byFacet.get(name)) || [];
      if (words.length) {
        segments.push([literal, null]);
        words.forEach((word, index) => {
          if (index) segments.push([", ", null]);
          segments.push([word, name]);
        });
      } else if (name === null) {
        segments.push([literal, null]);
      }
    }
    return segments.filter(([text]) => text);
  }

  const total = (segments) => segments.reduce((sum, [text]) => sum + codePoints(text), 0);

  function leastImportant(kept, facets) {
    // The last keyword of the least important facet still present.
    let victim = kept[0];
    for (const addition of kept) {
      if (facets.indexOf(addition.facet) >= facets.indexOf(victim.facet)) victim = addition;
    }
    return victim;
  }

  function direct(prompt, plan) {
    const user = normalise(prompt);
    if (!user) return refused(messages.empty);
    const count = codePoints(user);
    if (count > plan.limit) {
      return refused(messages.too_long.replace("{count}", grouped(count)).replace("{limit}", grouped(plan.limit)));
    }
    if (plan.raw) return { kind: "directed", text: user, segments: [[user, null]], added: 0, dropped: 0 };
    const foldedUser = fold(user);
    const seen = new Set();
    const kept = [];
    for (const keyword of plan.keywords) {
      if (seen.has(keyword.key) || written(foldedUser, keyword.needle)) continue;
      seen.add(keyword.key);
      kept.push(keyword);
    }
    let dropped = 0;
    let segments = render(user, plan.template, kept);
    while (total(segments) > plan.limit && kept.length) {
      kept.splice(kept.indexOf(leastImportant(kept, plan.facets)), 1);
      dropped += 1;
      segments = render(user, plan.template, kept);
    }
    const text = segments.map(([part]) => part).join("");
    return { kind: "directed", text, segments, added: kept.length, dropped };
  }

  // What the page shows for a prompt as typed: nothing yet ("blank"), why it cannot be sent ("error"), or the
  // text that will be sent ("directed"), in the order the server checks them.
  function live(typed, plan) {
    if (onlySpaces.test(typed)) return { kind: "blank" };
    const cleaned = typed.replace(ansi, "").replace(controls, "");
    if (!somethingVisible.test(cleaned)) return refused(messages.nothing_visible);
    return direct(cleaned, plan);
  }

  return { live, codePoints, grouped };
}

// sdsynth release explorer: bar charts of the synthetic records under a selection, with the released counts.
// Self-contained: the data is the JSON element #release-data; a page served by `sdsynth explore --serve` asks its
// server (same origin, POST api/counts) instead. No other network access (the page's Content-Security-Policy).
(function () {
  "use strict";

  const DATA = JSON.parse(document.getElementById("release-data").textContent);
  const COLUMNS = DATA.columns;
  const R = DATA.reporting_length;
  const DP = DATA.mode === "dp";
  const SHOWN = 10; // values shown per column before "Show all"
  const MAX_COMBINATIONS = 4096; // an OR selection spans the product of its columns' values
  const NUM = new Intl.NumberFormat("en-US");
  const ONE_DECIMAL = new Intl.NumberFormat("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 });

  const offsets = [];
  let nAttributes = 0;
  for (const column of COLUMNS) {
    offsets.push(nAttributes);
    nAttributes += column.values.length;
  }
  const columnIndex = new Map(COLUMNS.map((c, i) => [c.name, i]));
  const valueIndex = COLUMNS.map((c) => new Map(c.values.map((v, i) => [v, i])));
  const isMulti = COLUMNS.map((c) => c.delimiter !== null);

  let selection = COLUMNS.map(() => new Set());

  // ------------------------------------------------------------------------------------------------ data
  function decode(encoded) {
    const text = atob(encoded.data);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    switch (encoded.type) {
      case "u8": return bytes;
      case "u16": return new Uint16Array(bytes.buffer);
      case "u32": return new Uint32Array(bytes.buffer);
      default: return new Float64Array(bytes.buffer);
    }
  }

  function combinationTable(encoded) {
    const ids = decode(encoded.ids);
    const counts = decode(encoded.counts);
    const width = encoded.width;
    const table = new Map();
    for (let r = 0; r < counts.length; r++) {
      const key = [];
      for (let j = 0; j < width; j++) {
        const id = ids[r * width + j];
        if (id !== encoded.pad) key.push(id);
      }
      table.set(key.join(","), counts[r]);
    }
    return table;
  }

  // A selection as attributes: `fixed` always in it (a single value, parts of a multi-value column), `groups` the
  // OR-ed values of single-value columns with several selected; `length` attributes in each combination.
  function selectionParts(sel) {
    const fixed = [];
    const groups = [];
    sel.forEach((set, c) => {
      if (!set.size) return;
      const ids = [...set].sort((a, b) => a - b).map((v) => offsets[c] + v);
      if (isMulti[c] || ids.length === 1) fixed.push(...ids);
      else groups.push(ids);
    });
    return { fixed, groups, length: fixed.length + groups.length };
  }

  function combinations(parts) {
    let found = [parts.fixed.slice()];
    for (const group of parts.groups) {
      const next = [];
      for (const combo of found) for (const id of group) next.push(combo.concat([id]));
      found = next;
      if (found.length > MAX_COMBINATIONS) return null;
    }
    return found.map((combo) => combo.sort((a, b) => a - b));
  }

  function levelEntry(count, length) {
    const level = DATA.levels[String(length)] || {};
    if (DP) return { count: count, sd: level.sd, margin: level.margin };
    return { count: count, lower: count, upper: count + (level.resolution || 1) - 1 };
  }

  // The released answer for a selection, from the released counts of its combinations (`entries`: one per
  // combination, null where not released; null when the selection spans too many combinations).
  function releasedAnswer(parts, entries) {
    if (parts.length === 0) {
      const error = DATA.record_count_error;
      if (DP) return { status: "released", count: DATA.record_count, margin: error.margin, recordCount: true };
      return { status: "released", count: DATA.record_count, lower: DATA.record_count,
               upper: DATA.record_count + (error.resolution || 1) - 1, recordCount: true };
    }
    if (parts.length > R) return { status: "too-long" };
    if (entries === null) return { status: "too-many" };
    const released = entries.filter((e) => e !== null);
    if (released.length < entries.length) return { status: "not-released", released: released.length, of: entries.length };
    const answer = { status: "released", count: 0, combinations: entries.length, length: parts.length };
    if (DP) {
      let variance = 0;
      for (const e of entries) { answer.count += e.count; variance += e.sd * e.sd; }
      answer.margin = entries.length === 1 ? entries[0].margin : Math.round(19.6 * Math.sqrt(variance)) / 10;
    } else {
      answer.lower = 0;
      answer.upper = 0;
      for (const e of entries) { answer.count += e.count; answer.lower += e.lower; answer.upper += e.upper; }
    }
    return answer;
  }

  function embeddedAggregates() {
    const table = combinationTable(DATA.aggregates);
    return function (parts) {
      if (parts.length === 0 || parts.length > R) return null;
      const combos = combinations(parts);
      if (combos === null) return null;
      return combos.map((combo) => {
        const count = table.get(combo.join(","));
        return count === undefined ? null : levelEntry(count, combo.length);
      });
    };
  }

  // Counts from the embedded synthetic records (distinct rows with weights).
  function recordsSource(records) {
    const codes = records.codes.map(decode);
    const weights = decode(records.weights);
    const cells = records.cells;
    const rows = records.rows;
    const aggregates = embeddedAggregates();
    return {
      kind: "records",
      compute(sel) {
        const C = COLUMNS.length;
        const match = COLUMNS.map((_, c) => {
          const set = sel[c];
          const m = new Uint8Array(cells[c].length);
          cells[c].forEach((held, k) => {
            if (!set.size) m[k] = 1;
            else if (!isMulti[c]) m[k] = held.length && set.has(held[0]) ? 1 : 0;
            else m[k] = [...set].every((v) => held.includes(v)) ? 1 : 0;
          });
          return m;
        });
        const bars = COLUMNS.map((c) => new Array(c.values.length).fill(0));
        const missing = new Array(C).fill(0);
        let total = 0;
        const add = (c, r, w) => {
          const held = cells[c][codes[c][r]];
          if (!held.length) missing[c] += w;
          else for (const v of held) bars[c][v] += w;
        };
        for (let r = 0; r < rows; r++) {
          let fails = 0;
          let failed = -1;
          for (let c = 0; c < C; c++) {
            if (!match[c][codes[c][r]]) { fails++; failed = c; if (fails > 1) break; }
          }
          if (fails > 1) continue;
          const w = weights[r];
          if (fails === 0) {
            total += w;
            for (let c = 0; c < C; c++) add(c, r, w);
          } else if (!isMulti[failed]) {
            add(failed, r, w); // a bar of a single-value column ignores the column's own OR-ed values
          }
        }
        const parts = selectionParts(sel);
        return Promise.resolve({ synthetic: total, bars, missing, released: releasedAnswer(parts, aggregates(parts)) });
      },
    };
  }

  // Counts from embedded synthetic counts of combinations of up to `depth` attributes.
  function combinationsSource(encoded) {
    const table = combinationTable(encoded);
    const depth = encoded.depth;
    const aggregates = embeddedAggregates();
    function count(parts) {
      if (parts.length === 0) return DATA.synthetic_records;
      if (parts.length > depth) return null;
      const combos = combinations(parts);
      if (combos === null) return null;
      let total = 0;
      for (const combo of combos) total += table.get(combo.join(",")) || 0;
      return total;
    }
    return {
      kind: "combinations",
      depth,
      compute(sel) {
        const parts = selectionParts(sel);
        const bars = COLUMNS.map((column, c) => column.values.map((_, v) => {
          const other = sel.slice();
          other[c] = isMulti[c] ? new Set([...sel[c], v]) : new Set([v]);
          return count(selectionParts(other));
        }));
        return Promise.resolve({ synthetic: count(parts), bars, missing: null,
                                 released: releasedAnswer(parts, aggregates(parts)) });
      },
    };
  }

  // Counts from `sdsynth explore --serve` (SQL on the release database, read-only).
  function serverSource() {
    return {
      kind: "server",
      async compute(sel) {
        const body = {};
        sel.forEach((set, c) => { if (set.size) body[COLUMNS[c].name] = [...set].map((v) => COLUMNS[c].values[v]); });
        const response = await fetch("api/counts", {
          method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ selection: body }),
        });
        const answer = await response.json();
        if (!response.ok) throw new Error(answer.error || response.statusText);
        const parts = selectionParts(sel);
        return { synthetic: answer.synthetic, bars: answer.bars, missing: answer.missing,
                 released: releasedAnswer(parts, answer.released) };
      },
    };
  }

  const source = DATA.source === "records" ? recordsSource(DATA.records)
    : DATA.source === "combinations" ? combinationsSource(DATA.combinations) : serverSource();

  // ------------------------------------------------------------------------------------------------ page
  const $ = (id) => document.getElementById(id);
  function el(tag, attributes, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attributes || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  const fmt = (n) => (n === null || n === undefined ? "–" : NUM.format(n));

  function describeRelease() {
    const p = DATA.parameters;
    const parts = [];
    if (DP) {
      let privacy = "Differentially private release";
      const figures = [];
      if (p.epsilon !== undefined) figures.push("ε = " + p.epsilon);
      if (p.delta !== undefined) figures.push("δ = " + (p.delta < 0.001 ? p.delta.toExponential() : p.delta));
      if (figures.length) privacy += " (" + figures.join(", ") + ")";
      parts.push(privacy);
    } else {
      parts.push("k-anonymous release (k = " + (p.resolution !== undefined ? p.resolution : "?") + ")");
    }
    parts.push("released counts of combinations of up to " + R + " attributes");
    let synthetic = NUM.format(DATA.synthetic_records) + " synthetic records";
    if (p.synthesis_method) synthetic += " (" + p.synthesis_method + ")";
    parts.push(synthetic);
    parts.push(COLUMNS.length + " columns");
    if (p.schema) parts.push("schema " + p.schema);
    $("release-summary").textContent = parts.join(" · ");
    const note = $("source-note");
    if (source.kind === "records") {
      note.textContent = "Every synthetic record is in this page: any selection can be counted.";
    } else if (source.kind === "combinations") {
      note.textContent = "This page holds synthetic counts of combinations of up to " + source.depth +
        " attributes, not the records (they would be too large): selections of up to " + source.depth +
        " attributes have a synthetic count, and bars answer selections of up to " + (source.depth - 1) +
        ". `sdsynth explore RELEASE --serve` answers any selection.";
    } else {
      note.textContent = "Counts come from the release database, served by `sdsynth explore --serve` on this computer.";
    }
  }

  const cards = [];
  function buildColumns() {
    const main = $("columns");
    COLUMNS.forEach((column, c) => {
      const section = el("section", { class: "column", "data-column-card": column.name,
                                      "aria-labelledby": "column-title-" + c });
      section.appendChild(el("h2", { id: "column-title-" + c }, column.name));
      if (column.description) section.appendChild(el("p", { class: "desc" }, column.description));
      section.appendChild(el("p", { class: "kind" }, isMulti[c]
        ? "Multi-value column: each part is an attribute (selected parts: AND)"
        : "One value per record (selected values: OR)"));
      const list = el("ul", { class: "values", "aria-label": "Values of " + column.name });
      const items = column.values.map((value, v) => {
        const li = el("li");
        const button = el("button", { type: "button", class: "value", "data-column": column.name,
                                      "data-value": value, "aria-pressed": "false" });
        const label = el("span", { class: "label" }, value);
        const bar = el("span", { class: "bar", "aria-hidden": "true" });
        const all = el("span", { class: "bar-all" });
        const part = el("span", { class: "bar-sel" });
        bar.append(all, part);
        const num = el("span", { class: "num" }, "…");
        button.append(label, bar, num);
        button.addEventListener("click", () => toggle(c, v));
        li.appendChild(button);
        list.appendChild(li);
        return { li, button, all, part, num, value, search: value.toLowerCase() };
      });
      section.appendChild(list);
      const more = el("button", { type: "button", class: "more", "aria-expanded": "false" });
      more.addEventListener("click", () => {
        card.expanded = !card.expanded;
        layoutCard(card);
        if (!card.expanded) section.scrollIntoView({ block: "nearest" });
      });
      section.appendChild(more);
      const missing = el("p", { class: "missing" });
      section.appendChild(missing);
      main.appendChild(section);
      const card = { c, section, items, more, missing, expanded: false,
                     search: (column.name + " " + column.description).toLowerCase() };
      cards.push(card);
    });
  }

  let overall = null; // counts with nothing selected: the pale bars and the "count" order
  let order = "count";
  let query = "";

  function orderedValues(c) {
    const indices = COLUMNS[c].values.map((_, v) => v);
    if (order === "count" && overall) indices.sort((a, b) => (overall.bars[c][b] || 0) - (overall.bars[c][a] || 0) || a - b);
    return indices;
  }

  function layoutCard(card) {
    const c = card.c;
    const indices = orderedValues(c);
    const list = card.items[0] ? card.items[0].li.parentNode : null;
    const nameHit = !query || card.search.includes(query);
    const valueHits = query ? indices.filter((v) => card.items[v].search.includes(query)) : [];
    card.section.hidden = !(nameHit || valueHits.length);
    let shown = 0;
    const key = indices.join(",");
    if (list && card.order !== key) { // moving a focused button would drop its focus: only when the order changes
      for (const v of indices) list.appendChild(card.items[v].li);
      card.order = key;
    }
    indices.forEach((v, rank) => {
      const item = card.items[v];
      const visible = !nameHit ? item.search.includes(query)
        : card.expanded || rank < SHOWN || selection[c].has(v) || (query && item.search.includes(query));
      item.li.hidden = !visible;
      if (visible) shown++;
    });
    const hidden = indices.length - shown;
    card.more.hidden = !(indices.length > SHOWN && nameHit && (card.expanded || hidden > 0));
    card.more.textContent = card.expanded ? "Show fewer values" : "Show all " + indices.length + " values";
    card.more.setAttribute("aria-expanded", String(card.expanded));
  }

  function layout() {
    cards.forEach(layoutCard);
    const shown = cards.filter((card) => !card.section.hidden).length;
    $("shown-columns").textContent = query ? shown + " of " + COLUMNS.length + " columns match" : COLUMNS.length + " columns";
  }

  function toggle(c, v) {
    if (selection[c].has(v)) selection[c].delete(v);
    else selection[c].add(v);
    update();
  }

  function renderChips() {
    const chips = $("chips");
    chips.textContent = "";
    let any = false;
    selection.forEach((set, c) => {
      [...set].sort((a, b) => a - b).forEach((v, k) => {
        any = true;
        const li = el("li");
        const chip = el("button", { type: "button", class: "chip",
                                    "aria-label": "Remove " + COLUMNS[c].name + " = " + COLUMNS[c].values[v] });
        if (k > 0) chip.appendChild(el("span", { class: "join" }, isMulti[c] ? "and " : "or "));
        chip.appendChild(document.createTextNode(COLUMNS[c].name + " = " + COLUMNS[c].values[v] + " ✕"));
        chip.addEventListener("click", () => {
          toggle(c, v);
          const next = chips.querySelector("button");
          (next || $("search")).focus();
        });
        li.appendChild(chip);
        chips.appendChild(li);
      });
    });
    $("selection-label").textContent = any ? "Selection:" : "No value selected: every synthetic record.";
  }

  function releasedText(answer) {
    const out = { count: "not released", error: "", note: "", synthetic: false, data: {} };
    if (answer.status === "released") {
      out.count = NUM.format(answer.count);
      out.data.count = answer.count;
      if (DP) {
        out.error = "± " + ONE_DECIMAL.format(answer.margin) + " (95 % margin of error)";
        out.data.margin = answer.margin;
      } else {
        out.error = "true count between " + NUM.format(answer.lower) + " and " + NUM.format(answer.upper);
        out.data.lower = answer.lower;
        out.data.upper = answer.upper;
      }
      if (answer.recordCount) out.note = "The released count of records (nothing selected).";
      else if (answer.combinations > 1) out.note = "The sum of the " + answer.combinations + " released counts this selection spans.";
      else out.note = "The released count of this combination of " + answer.length + " attribute" + (answer.length > 1 ? "s." : ".");
      return out;
    }
    out.synthetic = true;
    if (answer.status === "too-long") {
      out.note = "The count above comes from synthetic records only: the release holds counts of combinations of at most " +
        R + " attributes, and this selection has more.";
    } else if (answer.status === "too-many") {
      out.note = "The count above comes from synthetic records only: this selection spans too many combinations.";
    } else {
      const reason = DP ? "its noisy count fell below the release threshold, or a shorter combination inside it did"
        : "fewer than k records hold it, so it was suppressed";
      out.note = "The count above comes from synthetic records only: the release holds no count for " +
        (answer.of > 1 ? answer.of - answer.released + " of the " + answer.of + " combinations of this selection" : "this combination") +
        " (" + reason + ").";
    }
    return out;
  }

  function setCount(node, value, data) {
    node.textContent = value;
    for (const key of ["count", "margin", "lower", "upper"]) {
      if (data && data[key] !== undefined && data[key] !== null) node.dataset[key] = String(data[key]);
      else delete node.dataset[key];
    }
  }

  function render(result) {
    const syntheticNode = $("synthetic-count");
    setCount(syntheticNode, fmt(result.synthetic), { count: result.synthetic });
    const released = releasedText(result.released);
    const aggregateNode = $("aggregate-count");
    setCount(aggregateNode, released.count, released.data);
    aggregateNode.dataset.status = result.released.status;
    $("aggregate-error").textContent = released.error;
    const note = $("count-note");
    let text = released.note;
    if (result.synthetic === null) {
      text = "This page holds synthetic counts of up to " + source.depth + " attributes: run `sdsynth explore " +
        "RELEASE --serve` for this selection. " + text;
    }
    note.textContent = text;
    note.classList.toggle("synthetic-only", released.synthetic);
    cards.forEach((card) => {
      const c = card.c;
      const top = overall ? Math.max(1, ...overall.bars[c].map((n) => n || 0)) : 1;
      card.items.forEach((item, v) => {
        const n = result.bars[c][v];
        const all = overall ? overall.bars[c][v] || 0 : 0;
        item.num.textContent = fmt(n);
        item.num.classList.toggle("unknown", n === null);
        item.button.dataset.count = n === null ? "" : String(n);
        item.all.style.width = (100 * all / top).toFixed(2) + "%";
        const share = (100 * Math.min(n || 0, top) / top).toFixed(2) + "%";
        item.part.style.width = n > 0 ? "max(2px, " + share + ")" : "0"; // a count of 1 stays visible
        const pressed = selection[c].has(v);
        item.button.setAttribute("aria-pressed", String(pressed));
        item.button.title = COLUMNS[c].name + " = " + item.value + ": " + fmt(n) + " synthetic records with the rest of " +
          "the selection, " + fmt(all) + " in all" + (COLUMNS[c].released[v] ? "" : " (no released count uses this value)");
      });
      if (result.missing) card.missing.textContent = "No value: " + fmt(result.missing[c]) + " synthetic records";
      card.missing.hidden = !result.missing || !result.missing[c];
    });
  }

  // ------------------------------------------------------------------------------------------------ the address
  function selectionHash() {
    const params = new URLSearchParams();
    selection.forEach((set, c) => {
      [...set].sort((a, b) => a - b).forEach((v) => params.append(COLUMNS[c].name, COLUMNS[c].values[v]));
    });
    return params.toString();
  }

  function readHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    const sel = COLUMNS.map(() => new Set());
    const ignored = [];
    for (const [name, value] of params) {
      const c = columnIndex.get(name);
      const v = c === undefined ? undefined : valueIndex[c].get(value);
      if (v === undefined) ignored.push(name + " = " + value);
      else sel[c].add(v);
    }
    const note = $("link-note");
    note.hidden = !ignored.length;
    note.textContent = ignored.length ? "Not in this release, left out of the selection: " + ignored.join(", ") : "";
    return sel;
  }

  function writeHash() {
    const hash = selectionHash();
    if (location.hash.slice(1) === hash) return;
    history.replaceState(null, "", hash ? "#" + hash : location.pathname + location.search);
  }

  // ------------------------------------------------------------------------------------------------ updates
  let sequence = 0;
  async function update() {
    const mine = ++sequence;
    const state = selectionHash();
    document.documentElement.dataset.state = "busy";
    writeHash();
    renderChips();
    let result;
    try {
      result = await source.compute(selection);
    } catch (error) {
      if (mine !== sequence) return;
      $("count-note").textContent = "Could not count this selection: " + error.message;
      document.documentElement.dataset.state = "error";
      return;
    }
    if (mine !== sequence) return;
    render(result);
    layout();
    document.documentElement.dataset.selection = state;
    document.documentElement.dataset.state = "ready";
    if (!performance.getEntriesByName("counts-shown").length) performance.mark("counts-shown"); // bench/explore_open.py
  }

  async function start() {
    describeRelease();
    buildColumns();
    try {
      overall = await source.compute(COLUMNS.map(() => new Set()));
    } catch (error) {
      $("count-note").textContent = "Could not read the counts: " + error.message;
      document.documentElement.dataset.state = "error";
      return;
    }
    selection = readHash();
    layout();
    await update();
  }

  $("reset").addEventListener("click", () => {
    selection = COLUMNS.map(() => new Set());
    $("link-note").hidden = true;
    update();
  });
  $("search").addEventListener("input", (event) => {
    query = event.target.value.trim().toLowerCase();
    layout();
  });
  $("search").addEventListener("keydown", (event) => {
    if (event.key === "Escape") { event.target.value = ""; query = ""; layout(); }
  });
  $("order").addEventListener("change", (event) => { order = event.target.value; layout(); });
  document.addEventListener("keydown", (event) => {
    const typing = event.target instanceof HTMLInputElement || event.target instanceof HTMLSelectElement;
    if (event.key === "/" && !typing) { event.preventDefault(); $("search").focus(); }
  });
  window.addEventListener("hashchange", () => {
    if (location.hash.slice(1) === selectionHash()) return;
    selection = readHash();
    update();
  });

  start();
})();

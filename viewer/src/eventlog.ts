// The run's event log: every chunk in order, filterable by type and by text, each one's JSON
// shown when its row is opened.

import { h, json } from "./dom";
import type { Chunk } from "./records";

export interface EventLog {
  element: HTMLElement;
  add(seq: number, chunk: Chunk): void;
}

export function eventLog(): EventLog {
  const typeSelect = h("select", { id: "log-type" }, h("option", { value: "" }, "All types"));
  const text = h("input", { id: "log-text", type: "search", placeholder: "step name or text" });
  const count = h("p", { class: "summary", "aria-live": "off" });
  const list = h("ol", { class: "log", id: "event-log" });
  const types = new Set<string>();
  const entries: { el: HTMLElement; type: string; text: string }[] = [];
  const matches = (e: { type: string; text: string }) =>
    (!typeSelect.value || e.type === typeSelect.value) && (!text.value || e.text.includes(text.value.toLowerCase()));
  let shown = 0;
  const refilter = () => {
    shown = 0;
    for (const e of entries) {
      e.el.hidden = !matches(e);
      if (!e.el.hidden) shown += 1;
    }
    counted();
  };
  const counted = () => {
    count.textContent = `${shown} of ${entries.length} records shown`;
  };
  typeSelect.addEventListener("change", refilter);
  text.addEventListener("input", refilter);
  const element = h("section", { class: "event-log", "aria-labelledby": "log-h" },
    h("h2", { id: "log-h" }, "Event log"),
    h("div", { class: "filters" },
      h("div", { class: "field" }, h("label", { for: "log-type" }, "Type"), typeSelect),
      h("div", { class: "field" }, h("label", { for: "log-text" }, "Contains"), text)),
    count, list);
  return {
    element,
    add(seq, chunk) {
      if (!types.has(chunk.type)) {
        types.add(chunk.type);
        typeSelect.append(h("option", { value: chunk.type }, chunk.type));
      }
      const p = (chunk.payload ?? {}) as Record<string, unknown>;
      const step = typeof p.stepName === "string" ? p.stepName : "";
      const status = typeof p.status === "string" ? p.status : typeof p.workflowStatus === "string" ? p.workflowStatus : "";
      const pre = h("pre", {});
      const details = h("details", {},
        h("summary", {}, h("span", { class: "seq" }, `#${seq}`), " ", h("code", {}, chunk.type),
          step ? [" ", h("span", { class: "step" }, step)] : null, status ? ` · ${status}` : ""),
        pre);
      // The JSON is written when the row is first opened: long logs stay cheap.
      details.addEventListener("toggle", () => {
        if (details.open && !pre.textContent) pre.textContent = json(chunk);
      });
      const el = h("li", { class: "log-entry", "data-seq": seq, "data-type": chunk.type }, details);
      const entry = { el, type: chunk.type, text: JSON.stringify(chunk).toLowerCase() };
      entries.push(entry);
      el.hidden = !matches(entry);
      if (!el.hidden) shown += 1;
      list.append(el);
      counted();
    },
  };
}

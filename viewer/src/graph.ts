// A workflow's graph drawn from the details route's `stepGraph`, as nested lists laid out by
// CSS: entries top to bottom, parallel and branch lanes side by side between a fan-out and a
// join, loops and foreach framed and labelled, sleeps as their own node, nested workflows as
// collapsible frames holding their own graph. Step ids of nested steps are "outer.inner".

import type { GraphEntry, GraphStep } from "./api";
import { duration, h } from "./dom";
import { look } from "./status";

export interface NodeState {
  status: string;
  startedAt?: number;
  endedAt?: number;
  starts?: number;
  completed?: number;
  total?: number;
}

export interface NodeView {
  id: string;
  kind: string;
  element: HTMLElement;
  update(state: NodeState): void;
}

export interface Drawn {
  root: HTMLElement;
  nodes: Map<string, NodeView>;
}

interface Options {
  /** Nodes are buttons that call this with their id. */
  onSelect?: (id: string) => void;
  label: string;
}

export function drawGraph(entries: GraphEntry[], options: Options): Drawn {
  const nodes = new Map<string, NodeView>();
  const flow = drawFlow(entries, "", nodes, options);
  const root = h("div", { class: "graph", role: "group", "aria-label": options.label }, flow);
  return { root, nodes };
}

function drawFlow(entries: GraphEntry[], prefix: string, nodes: Map<string, NodeView>, options: Options): HTMLElement {
  const list = h("ol", { class: "flow" });
  for (const entry of entries) list.append(drawEntry(entry, prefix, nodes, options));
  return list;
}

function drawEntry(entry: GraphEntry, prefix: string, nodes: Map<string, NodeView>, options: Options): HTMLElement {
  const item = h("li", { class: `entry kind-${entry.type}` });
  switch (entry.type) {
    case "parallel":
    case "conditional": {
      const conditions = entry.serializedConditions ?? [];
      const label = entry.type === "parallel" ? "parallel" : "branch: the first true condition runs";
      const lanes = h("ul", { class: "lanes" });
      (entry.steps ?? []).forEach((s, i) => {
        const condition = conditions[i];
        lanes.append(
          h(
            "li",
            { class: "lane" },
            condition ? h("span", { class: "condition", title: condition.fn }, `if ${condition.fn}`) : null,
            drawStep(s.step, prefix, entry.type, nodes, options),
          ),
        );
      });
      item.append(h("div", { class: "fan-label" }, label), lanes);
      break;
    }
    case "loop": {
      const until = entry.loopType === "dountil" ? "do … until" : "do … while";
      item.append(
        h("div", { class: "frame loop" }, h("span", { class: "frame-label" }, h("span", { "aria-hidden": "true" }, "↻ "), `loop (${until})`),
          entry.step ? drawStep(entry.step, prefix, "loop", nodes, options) : null),
      );
      break;
    }
    case "foreach": {
      const concurrency = entry.opts?.concurrency ?? 1;
      item.append(
        h("div", { class: "frame foreach" }, h("span", { class: "frame-label" }, h("span", { "aria-hidden": "true" }, "⋔ "), `for each item (concurrency ${concurrency})`),
          entry.step ? drawStep(entry.step, prefix, "foreach", nodes, options) : null),
      );
      break;
    }
    case "sleep":
    case "sleepUntil": {
      const id = prefix + (entry.id ?? "sleep");
      const detail = entry.type === "sleep"
        ? (typeof entry.duration === "number" ? `sleep ${duration(entry.duration)}` : "sleep")
        : (entry.date ? `sleep until ${entry.date}` : "sleep until");
      item.append(drawNode(id, entry.id ?? "sleep", entry.type, detail, nodes, options));
      break;
    }
    case "workflow": {
      const step: GraphStep = { id: entry.id ?? entry.workflowId ?? "workflow", serializedStepFlow: entry.serializedStepFlow, component: "WORKFLOW" };
      item.append(drawStep(step, prefix, "step", nodes, options));
      break;
    }
    default:
      item.append(entry.step ? drawStep(entry.step, prefix, entry.type, nodes, options)
        : drawNode(prefix + (entry.id ?? entry.type), entry.id ?? entry.type, entry.type, entry.type, nodes, options));
  }
  return item;
}

function drawStep(given: GraphStep, prefix: string, kind: string, nodes: Map<string, NodeView>, options: Options): HTMLElement {
  // Mastra wraps a foreach's or loop's step once more: {type: "step", step: {id, …}}.
  const wrapped = (given as { step?: GraphStep }).step;
  const step = given.id === undefined && wrapped ? wrapped : given;
  const id = prefix + step.id;
  const inner = step.serializedStepFlow;
  if (step.component !== "WORKFLOW" || !inner) {
    const detail = kind === "mapping" ? "map" : step.canSuspend ? "can suspend" : "";
    return drawNode(id, step.id, kind, detail, nodes, options, step.description ?? undefined);
  }
  const body = drawFlow(inner, `${id}.`, nodes, options);
  body.id = `nested-${cssId(id)}-${nodes.size}`;
  const toggle = h("button", {
    type: "button",
    class: "toggle",
    "aria-expanded": "true",
    "aria-controls": body.id,
    "aria-label": `Collapse nested workflow ${step.id}`,
  }, "▾");
  const frame = h("div", { class: "nested" });
  toggle.addEventListener("click", () => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    toggle.setAttribute("aria-label", `${open ? "Collapse" : "Expand"} nested workflow ${step.id}`);
    toggle.textContent = open ? "▾" : "▸";
    body.hidden = !open;
    frame.classList.toggle("collapsed", !open);
  });
  const head = h("div", { class: "nested-head" }, toggle, drawNode(id, step.id, "workflow", "nested workflow", nodes, options, step.description ?? undefined));
  frame.append(head, body);
  return frame;
}

function cssId(id: string): string {
  return id.replace(/[^A-Za-z0-9_-]/g, "_");
}

function drawNode(
  id: string,
  name: string,
  kind: string,
  detail: string,
  nodes: Map<string, NodeView>,
  options: Options,
  description?: string,
): HTMLElement {
  const symbol = h("span", { class: "symbol", "aria-hidden": "true" });
  const meta = h("span", { class: "meta" }, detail);
  const bar = h("progress", { max: 1, value: 0 });
  const count = h("span", { class: "progress-count" });
  const progress = h("span", { class: "progress", hidden: true }, bar, count);
  const stateText = h("span", { class: "visually-hidden state-text" });
  const attrs = { class: `node node-${kind}`, "data-node-id": id, "data-kind": kind, title: description ?? id };
  const element = options.onSelect
    ? h("button", { ...attrs, type: "button", onclick: () => options.onSelect?.(id) })
    : h("div", attrs);
  element.append(symbol, h("span", { class: "name" }, name), stateText, meta, progress);
  const view: NodeView = {
    id,
    kind,
    element,
    update(state: NodeState) {
      const { symbol: mark, label } = look(state.status);
      element.dataset.status = state.status;
      symbol.textContent = mark;
      stateText.textContent = `: ${label}`;
      const parts: string[] = [label];
      if (state.startedAt !== undefined) {
        const end = state.endedAt ?? (state.status === "running" || state.status === "waiting" ? Date.now() : undefined);
        if (end !== undefined) parts.push(duration(end - state.startedAt));
      }
      if ((state.starts ?? 0) > 1) parts.push(`${state.starts} runs`);
      meta.textContent = [detail, ...parts.slice(1)].filter(Boolean).join(" · ");
      if (state.total !== undefined && state.total > 0) {
        progress.hidden = false;
        bar.max = state.total;
        bar.value = state.completed ?? 0;
        const percent = Math.round(((state.completed ?? 0) / state.total) * 100);
        bar.setAttribute("aria-label", `${name}: ${state.completed ?? 0} of ${state.total} items`);
        progress.dataset.percent = String(percent);
        count.textContent = `${state.completed ?? 0}/${state.total}`;
      }
    },
  };
  view.update({ status: "pending" });
  if (!options.onSelect) {
    symbol.textContent = "";
    stateText.textContent = "";
    delete element.dataset.status;
  }
  nodes.set(id, view);
  return element;
}

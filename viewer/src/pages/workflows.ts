import { api, type WorkflowInfo } from "../api";
import { h } from "../dom";
import { drawGraph } from "../graph";
import { RUN_STATUSES, badge } from "../status";
import { every, problem } from "./common";

/** Every workflow: description, step count, run counts by status, and its graph. */
export function workflowsPage(main: HTMLElement): () => void {
  const list = h("div", { class: "cards" }, h("p", {}, "Loading…"));
  main.append(h("h1", {}, "Workflows"), list);
  const counters = new Map<string, HTMLElement>();
  let loaded = false;
  const stop = every(5000, async () => {
    try {
      if (!loaded) {
        const workflows = await api.workflows();
        list.replaceChildren(...Object.entries(workflows).map(([key, info]) => card(key, info, counters)));
        if (!Object.keys(workflows).length) list.replaceChildren(h("p", {}, "No workflow is registered."));
        loaded = true;
      }
      await Promise.all([...counters].map(([key, el]) => counts(key, el)));
    } catch (error) {
      if (!loaded) list.replaceChildren(problem(error));
    }
  });
  return stop;
}

function card(key: string, info: WorkflowInfo, counters: Map<string, HTMLElement>): HTMLElement {
  const steps = info.stepCount ?? Object.keys(info.steps ?? {}).length;
  const counted = h("p", { class: "counts", "aria-live": "polite" }, "Counting runs…");
  counters.set(key, counted);
  const { root } = drawGraph(info.stepGraph ?? [], { label: `Graph of ${key}` });
  const headingId = `wf-${key.replace(/[^A-Za-z0-9_-]/g, "_")}`;
  return h("section", { class: "card workflow-card", "data-workflow": key, "aria-labelledby": headingId },
    h("h2", { id: headingId }, h("a", { href: `#/workflow/${encodeURIComponent(key)}` }, key),
      info.name && info.name !== key ? h("span", { class: "subtle" }, ` (${info.name})`) : null),
    info.description ? h("p", { class: "description" }, info.description) : null,
    h("p", { class: "step-count" }, `${steps} step${steps === 1 ? "" : "s"}`),
    counted,
    root,
    h("p", { class: "links" },
      h("a", { class: "button", href: `#/workflow/${encodeURIComponent(key)}` }, `Start a run of ${key}`), " ",
      h("a", { href: `#/runs?workflow=${encodeURIComponent(key)}` }, `Runs of ${key}`)));
}

/** Run counts by status: the `total` of the runs route filtered by each status. A status the
 * server does not know (Mastra has no `restarting`) is refused with a 400: counted as none. */
async function counts(key: string, into: HTMLElement): Promise<void> {
  const answers = await Promise.allSettled(RUN_STATUSES.map((status) => api.runs(key, { status, limit: 1 })));
  const refused = answers.filter((a) => a.status === "rejected");
  if (refused.length === answers.length) throw (refused[0] as PromiseRejectedResult).reason;
  const shown = RUN_STATUSES.map((status, i) => {
    const answer = answers[i];
    return [status, answer.status === "fulfilled" ? answer.value.total : 0] as const;
  }).filter(([, n]) => n > 0);
  if (!shown.length) {
    into.replaceChildren("No runs yet.");
    return;
  }
  into.replaceChildren(
    h("span", { class: "visually-hidden" }, "Runs: "),
    ...shown.map(([status, n]) => h("span", { class: "count", "data-status": status }, badge(status), ` ${n}`)),
  );
}

import { api, type RunListItem, type RunQuery } from "../api";
import { duration, h, when } from "../dom";
import { FINISHED, RUN_STATUSES, badge } from "../status";
import { every, problem, runHref } from "./common";

const PER_PAGE = 20;

interface Row {
  key: string;
  item: RunListItem;
}

function statusOf(item: RunListItem): string {
  const snapshot = item.snapshot;
  if (snapshot && typeof snapshot === "object" && typeof snapshot.status === "string") return snapshot.status;
  if (typeof snapshot === "string") {
    try {
      return (JSON.parse(snapshot) as { status?: string }).status ?? "unknown";
    } catch {
      return "unknown";
    }
  }
  return "unknown";
}

/** The runs of one workflow or of all, newest first: the runs route per workflow, merged. For
 * all workflows, page p needs each workflow's first (p+1)*n runs to merge them exactly. */
async function fetchRuns(keys: string[], query: RunQuery, page: number): Promise<{ rows: Row[]; total: number }> {
  if (keys.length === 1) {
    const { runs, total } = await api.runs(keys[0], { ...query, offset: page * PER_PAGE, limit: PER_PAGE });
    return { rows: runs.map((item) => ({ key: keys[0], item })), total };
  }
  const answers = await Promise.all(
    keys.map(async (key) => ({ key, answer: await api.runs(key, { ...query, offset: 0, limit: (page + 1) * PER_PAGE }) })),
  );
  const rows = answers
    .flatMap(({ key, answer }) => answer.runs.map((item) => ({ key, item })))
    .sort((a, b) => b.item.createdAt.localeCompare(a.item.createdAt));
  const total = answers.reduce((n, a) => n + a.answer.total, 0);
  return { rows: rows.slice(page * PER_PAGE, (page + 1) * PER_PAGE), total };
}

function dayStart(date: string): string | undefined {
  return date ? new Date(`${date}T00:00:00`).toISOString() : undefined;
}

function dayEnd(date: string): string | undefined {
  return date ? new Date(`${date}T23:59:59.999`).toISOString() : undefined;
}

/** Runs with filters (workflow, status, created between two dates) and pages, refreshed
 * every two seconds so statuses change while you look. */
export function runsPage(main: HTMLElement, params: URLSearchParams): () => void {
  const chosen = {
    workflow: params.get("workflow") ?? "",
    status: params.get("status") ?? "",
    from: params.get("from") ?? "",
    to: params.get("to") ?? "",
    page: Math.max(0, Number(params.get("page") ?? "0") || 0),
  };
  const workflowSelect = h("select", { id: "filter-workflow", name: "workflow" }, h("option", { value: "" }, "All workflows"));
  const statusSelect = h("select", { id: "filter-status", name: "status" }, h("option", { value: "" }, "Any status"),
    RUN_STATUSES.map((s) => h("option", { value: s, selected: s === chosen.status }, s)));
  const from = h("input", { id: "filter-from", name: "from", type: "date", value: chosen.from });
  const to = h("input", { id: "filter-to", name: "to", type: "date", value: chosen.to });
  const filters = h("form", { class: "filters", "aria-label": "Filter runs" },
    h("div", { class: "field" }, h("label", { for: "filter-workflow" }, "Workflow"), workflowSelect),
    h("div", { class: "field" }, h("label", { for: "filter-status" }, "Status"), statusSelect),
    h("div", { class: "field" }, h("label", { for: "filter-from" }, "Created from"), from),
    h("div", { class: "field" }, h("label", { for: "filter-to" }, "Created to"), to),
    h("button", { type: "submit" }, "Apply"));
  const apply = () => {
    const query = new URLSearchParams();
    if (workflowSelect.value) query.set("workflow", workflowSelect.value);
    if (statusSelect.value) query.set("status", statusSelect.value);
    if (from.value) query.set("from", from.value);
    if (to.value) query.set("to", to.value);
    location.hash = `#/runs${query.size ? `?${query}` : ""}`;
  };
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    apply();
  });
  for (const control of [workflowSelect, statusSelect, from, to]) control.addEventListener("change", apply);
  const body = h("tbody", {});
  const table = h("table", { class: "runs" },
    h("caption", { class: "visually-hidden" }, "Runs, newest first"),
    h("thead", {}, h("tr", {}, ["Status", "Workflow", "Run", "Started", "Duration", "Resource id"].map((c) => h("th", { scope: "col" }, c)))),
    body);
  const summary = h("p", { class: "summary", "aria-live": "polite" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages of runs" });
  const message = h("div", {});
  main.append(h("h1", {}, "Runs"), filters, message, summary, table, pager);

  let keys: string[] | undefined;
  const pageHref = (page: number) => {
    const query = new URLSearchParams(params);
    if (page) query.set("page", String(page));
    else query.delete("page");
    return `#/runs${query.size ? `?${query}` : ""}`;
  };
  return every(2000, async () => {
    try {
      if (!keys) {
        keys = Object.keys(await api.workflows());
        for (const key of keys) workflowSelect.append(h("option", { value: key, selected: key === chosen.workflow }, key));
      }
      const wanted = chosen.workflow ? [chosen.workflow] : keys;
      const query: RunQuery = { status: chosen.status || undefined, fromDate: dayStart(chosen.from), toDate: dayEnd(chosen.to) };
      const { rows, total } = wanted.length ? await fetchRuns(wanted, query, chosen.page) : { rows: [], total: 0 };
      message.replaceChildren();
      body.replaceChildren(...rows.map(row));
      if (!rows.length) body.append(h("tr", {}, h("td", { colspan: 6 }, "No runs match.")));
      const first = chosen.page * PER_PAGE;
      summary.textContent = total ? `Runs ${first + 1}–${first + rows.length} of ${total}` : "";
      const pages = Math.max(1, Math.ceil(total / PER_PAGE));
      pager.replaceChildren(
        chosen.page > 0 ? h("a", { href: pageHref(chosen.page - 1), rel: "prev" }, "← Newer") : h("span", {}),
        h("span", {}, ` Page ${chosen.page + 1} of ${pages} `),
        first + rows.length < total ? h("a", { href: pageHref(chosen.page + 1), rel: "next" }, "Older →") : h("span", {}),
      );
    } catch (error) {
      message.replaceChildren(problem(error));
    }
  });
}

function row({ key, item }: Row): HTMLTableRowElement {
  const status = statusOf(item);
  const started = Date.parse(item.createdAt);
  const end = FINISHED.has(status) || status === "suspended" ? Date.parse(item.updatedAt) : Date.now();
  return h("tr", { "data-run-id": item.runId, "data-status": status },
    h("td", {}, badge(status)),
    h("td", {}, key),
    h("td", {}, h("a", { href: runHref(key, item.runId), class: "run-link" }, h("code", {}, item.runId.slice(0, 8)),
      h("span", { class: "visually-hidden" }, ` run ${item.runId}`))),
    h("td", {}, h("time", { datetime: item.createdAt }, when(item.createdAt))),
    h("td", {}, status === "pending" ? "" : duration(end - started)),
    h("td", {}, item.resourceId ?? ""));
}

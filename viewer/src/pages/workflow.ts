import { ApiError, api, parseSchema, startStream, type WorkflowInfo } from "../api";
import { announce, h, json } from "../dom";
import { errorItem, example } from "../form";
import { drawGraph } from "../graph";
import { asSchema, validate, type FieldError } from "../schema";
import { problem, runHref } from "./common";

/** One workflow: its graph and input schema, and a form to start a run. */
export function workflowPage(main: HTMLElement, _params: URLSearchParams, parts: string[]): void {
  const key = parts[0] ?? "";
  main.append(h("h1", {}, `Workflow ${key}`));
  const body = h("div", {}, h("p", {}, "Loading…"));
  main.append(body);
  api.workflow(key).then(
    (info) => body.replaceChildren(...workflowView(key, info)),
    (error) => body.replaceChildren(problem(error)),
  );
}

function workflowView(key: string, info: WorkflowInfo): HTMLElement[] {
  const schema = asSchema(parseSchema(info.inputSchema));
  const input = h("textarea", {
    id: "start-input", class: "json", rows: 8, spellcheck: "false",
    "aria-describedby": "start-errors", "aria-invalid": "false",
  });
  input.value = json(example(schema));
  const resource = h("input", { id: "start-resource", type: "text", autocomplete: "off" });
  const errors = h("ul", { id: "start-errors", class: "errors", "aria-live": "polite" });
  const submit = h("button", { type: "submit", id: "start-button" }, "Start run");
  const form = h("form", { class: "start", novalidate: true },
    h("div", { class: "field" }, h("label", { for: "start-input" }, "Input data (JSON)"), input),
    h("div", { class: "field" }, h("label", { for: "start-resource" }, "Resource id (optional)"), resource),
    errors, submit);
  const show = (found: FieldError[]) => {
    errors.replaceChildren(...found.map(errorItem));
    input.setAttribute("aria-invalid", String(found.length > 0));
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    let value: unknown;
    try {
      value = JSON.parse(input.value);
    } catch (e) {
      show([{ path: "", message: `not valid JSON (${(e as Error).message})` }]);
      return;
    }
    const found = validate(schema, value);
    show(found);
    if (found.length) {
      announce(`${found.length} error${found.length === 1 ? "" : "s"} in the input`);
      input.focus();
      return;
    }
    submit.disabled = true;
    void (async () => {
      try {
        const { runId } = await api.createRun(key, resource.value.trim() || undefined);
        await startStream(key, runId, value);
        location.hash = runHref(key, runId);
      } catch (error) {
        errors.replaceChildren(h("li", {}, problem(error)));
        // The server's own checks name fields as "inputData.a.b".
        const issues = error instanceof ApiError ? error.body?.issues ?? [] : [];
        errors.append(...issues.map((i) => errorItem({ path: i.field.replace(/^inputData\.?/, ""), message: i.message })));
      } finally {
        submit.disabled = false;
      }
    })();
  });
  const { root } = drawGraph(info.stepGraph ?? [], { label: `Graph of ${key}` });
  return [
    info.description ? h("p", { class: "description" }, info.description) : h("span", {}),
    h("p", {}, h("a", { href: `#/runs?workflow=${encodeURIComponent(key)}` }, `Runs of ${key}`)),
    h("section", { "aria-labelledby": "graph-h" }, h("h2", { id: "graph-h" }, "Graph"), root),
    h("section", { "aria-labelledby": "start-h" }, h("h2", { id: "start-h" }, "Start a run"), form,
      schema ? h("details", {}, h("summary", {}, "Input schema"), h("pre", {}, json(schema))) : null),
  ];
}

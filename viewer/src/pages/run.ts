import { api, parseSchema, resumeStream, timeTravelStream, type WorkflowInfo } from "../api";
import { announce, duration, h, json, when } from "../dom";
import { eventLog } from "../eventlog";
import { follow, type Follower } from "../follow";
import { schemaForm } from "../form";
import { drawGraph, type Drawn } from "../graph";
import { RunState, type StepView } from "../runstate";
import { asSchema } from "../schema";
import { FINISHED, badge } from "../status";
import { travelForm } from "../travel";
import { problem } from "./common";

/** One run: its graph with each step's live status, the steps' data, resume forms, cancel and
 * restart, and its event log, followed live through `observe`. */
export function runPage(main: HTMLElement, _params: URLSearchParams, parts: string[]): () => void {
  const [key = "", runId = ""] = parts;
  const state = new RunState();
  const statusCell = h("dd", { id: "run-status" });
  const durationCell = h("dd", {});
  const resourceCell = h("dd", {});
  const createdCell = h("dd", {});
  const followState = h("p", { id: "follow-state", class: "follow", role: "status" });
  const message = h("div", {});
  const cancelButton = h("button", { type: "button", id: "cancel-button" }, "Cancel run");
  const restartButton = h("button", { type: "button", id: "restart-button", hidden: true }, "Restart run");
  const actions = h("div", { class: "actions" }, cancelButton, " ", restartButton);
  const resumeBox = h("section", { id: "resume", "aria-labelledby": "resume-h", hidden: true },
    h("h2", { id: "resume-h" }, "Resume"));
  const graphBox = h("section", { "aria-labelledby": "run-graph-h" }, h("h2", { id: "run-graph-h" }, "Graph"));
  const stepsList = h("div", { class: "steps" });
  const result = h("div", { id: "run-result" });
  const log = eventLog();
  main.append(
    h("h1", {}, "Run ", h("code", {}, runId)),
    h("dl", { class: "run-facts" },
      h("dt", {}, "Workflow"), h("dd", {}, h("a", { href: `#/workflow/${encodeURIComponent(key)}` }, key)),
      h("dt", {}, "Status"), statusCell,
      h("dt", {}, "Created"), createdCell,
      h("dt", {}, "Duration"), durationCell,
      h("dt", {}, "Resource id"), resourceCell),
    followState, message, actions, resumeBox, graphBox,
    h("section", { "aria-labelledby": "steps-h" }, h("h2", { id: "steps-h" }, "Steps"), stepsList),
    result, log.element);

  let info: WorkflowInfo | undefined;
  let drawn: Drawn | undefined;
  const stepBoxes = new Map<string, { details: HTMLDetailsElement; body: HTMLElement }>();
  let resumeFor = "";
  let lastStatus = "";
  const dirty = new Set<string>();
  let frame = 0;

  const select = (id: string) => {
    const box = stepBoxes.get(id) ?? stepBox(id);
    box.details.open = true;
    box.details.querySelector("summary")?.focus();
  };

  const stepBox = (name: string) => {
    let box = stepBoxes.get(name);
    if (!box) {
      const body = h("div", {});
      const kind = drawn?.nodes.get(name)?.kind;
      const travel = kind && kind !== "sleep" && kind !== "sleepUntil" ? travelFrom(name) : null;
      const details = h("details", { class: "step-detail", id: `step-${name}`, "data-step": name },
        h("summary", {}, name), body, travel);
      box = { details, body };
      stepBoxes.set(name, box);
      stepsList.append(details);
    }
    return box;
  };

  const stepPath = (name: string) =>
    // A nested step ("outer.inner") is named by its path; a top-level id is taken whole.
    info?.steps?.[name] || !name.includes(".") ? name : name.split(".");

  const travelFrom = (name: string) => {
    const last = name.split(".").pop() ?? name;
    const stepInfo = info?.allSteps?.[name] ?? info?.allSteps?.[last] ?? info?.steps?.[name];
    return travelForm(name, asSchema(parseSchema(stepInfo?.inputSchema)), () => state.steps.get(name)?.payload,
      (inputData) => timeTravelStream(key, runId, stepPath(name), inputData).then(() => follower?.poke()));
  };

  const renderStep = (name: string, view: StepView) => {
    const box = stepBox(name);
    const summary = box.details.querySelector("summary") as HTMLElement;
    summary.replaceChildren(badge(view.status), " ", h("strong", {}, name),
      view.startedAt !== undefined && view.endedAt !== undefined ? ` · ${duration(view.endedAt - view.startedAt)}` : "",
      view.starts > 1 ? ` · ${view.starts} runs` : "",
      view.total ? ` · ${view.completed ?? 0}/${view.total} items` : "");
    const rows: [string, unknown][] = [];
    if (view.payload !== undefined) rows.push(["Input", view.payload]);
    if (view.output !== undefined) rows.push(["Output", view.output]);
    if (view.error !== undefined) rows.push(["Error", view.error]);
    if (view.suspendPayload !== undefined) rows.push(["Suspend payload", view.suspendPayload]);
    if (view.resumePayload !== undefined) rows.push(["Resume data", view.resumePayload]);
    if (view.writes.length) rows.push(["Written by the step", view.writes]);
    box.body.replaceChildren(...rows.map(([label, value]) =>
      h("div", { class: `datum datum-${label.toLowerCase().replace(/\W+/g, "-")}` }, h("h3", {}, label), h("pre", {}, json(value)))));
  };

  const renderResume = () => {
    const waiting = state.suspended();
    const signature = waiting.join("|");
    if (signature === resumeFor) return;
    resumeFor = signature;
    resumeBox.hidden = waiting.length === 0;
    resumeBox.replaceChildren(h("h2", { id: "resume-h" }, "Resume"));
    for (const name of waiting) resumeBox.append(resumeForm(name));
  };

  const resumeForm = (name: string) => {
    const last = name.split(".").pop() ?? name;
    const stepInfo = info?.allSteps?.[name] ?? info?.allSteps?.[last] ?? info?.steps?.[name];
    const schema = asSchema(parseSchema(stepInfo?.resumeSchema));
    const form = schemaForm(schema, `resume-${last}`);
    const submit = h("button", { type: "submit" }, `Resume ${name}`);
    const outcome = h("div", { role: "status" });
    const view = state.steps.get(name);
    const element = h("form", { class: "resume-form card", "data-step": name, novalidate: true },
      h("h3", {}, `Step ${name} is suspended`),
      view?.suspendPayload !== undefined ? [h("p", {}, "It said:"), h("pre", {}, json(view.suspendPayload))] : null,
      form.element, submit, outcome);
    element.addEventListener("submit", (event) => {
      event.preventDefault();
      const { value, errors } = form.read();
      form.show(errors);
      if (errors.length) {
        announce(`${errors.length} error${errors.length === 1 ? "" : "s"} in the resume data`);
        return;
      }
      submit.disabled = true;
      const step = stepPath(name);
      resumeStream(key, runId, step, value).then(
        () => {
          outcome.textContent = "Resumed.";
          follower?.poke();
        },
        (error) => {
          outcome.replaceChildren(problem(error));
          submit.disabled = false;
        },
      );
    });
    return element;
  };

  const render = () => {
    frame = 0;
    if (state.status !== lastStatus) {
      lastStatus = state.status;
      statusCell.replaceChildren(badge(state.status));
      statusCell.dataset.status = state.status;
      announce(`Run ${state.status}`);
    }
    const record = state.record;
    if (record) {
      createdCell.replaceChildren(h("time", { datetime: record.createdAt }, when(record.createdAt)));
      resourceCell.textContent = record.resourceId ?? "—";
      const end = FINISHED.has(state.status) || state.status === "suspended" ? Date.parse(record.updatedAt) : Date.now();
      durationCell.textContent = duration(end - Date.parse(record.createdAt));
    }
    for (const name of dirty) {
      const view = state.steps.get(name);
      if (!view) continue;
      drawn?.nodes.get(name)?.update(view);
      renderStep(name, view);
    }
    dirty.clear();
    renderResume();
    cancelButton.disabled = FINISHED.has(state.status);
    restartButton.hidden = state.status !== "running";
    result.replaceChildren(
      state.status === "success" && state.result !== undefined
        ? h("section", { "aria-labelledby": "result-h" }, h("h2", { id: "result-h" }, "Result"), h("pre", {}, json(state.result)))
        : state.error !== undefined && state.status === "failed"
          ? h("section", { "aria-labelledby": "error-h" }, h("h2", { id: "error-h" }, "Error"), h("pre", {}, json(state.error)))
          : "");
  };
  const later = () => {
    if (!frame) frame = window.requestAnimationFrame(render);
  };
  const markAll = () => {
    for (const name of state.steps.keys()) dirty.add(name);
  };

  // Running steps' durations grow while you look.
  const ticker = window.setInterval(() => {
    for (const [name, view] of state.steps) {
      if (view.status === "running" || view.status === "waiting") dirty.add(name);
    }
    later();
  }, 1000);

  const startFollowing = () => follow(key, runId, {
    chunk(seq, chunk) {
      log.add(seq, chunk);
      const name = state.apply(chunk);
      if (name) dirty.add(name);
      later();
    },
    record(record) {
      state.fromRecord(record);
      markAll();
      later();
    },
    state(text, phase) {
      // The page shows every record read so far before it says it has read them all.
      if (frame) {
        window.cancelAnimationFrame(frame);
        render();
      }
      followState.textContent = text;
      followState.dataset.phase = phase;
    },
    dropped(offset) {
      drops += 1;
      followState.dataset.drops = String(drops);
      followState.dataset.resumeFrom = String(offset);
    },
    failed(error) {
      message.replaceChildren(problem(error));
    },
    lastFinish: () => state.lastFinish,
  });
  let follower: Follower | undefined;
  let drops = 0;

  cancelButton.addEventListener("click", () => {
    cancelButton.disabled = true;
    api.cancel(key, runId).then(
      () => {
        announce("Cancel requested");
        follower?.poke();
      },
      (error) => {
        message.replaceChildren(problem(error));
        cancelButton.disabled = false;
      },
    );
  });
  restartButton.addEventListener("click", () => {
    restartButton.disabled = true;
    api.restart(key, runId).then(
      () => follower?.poke(),
      (error) => message.replaceChildren(problem(error)),
    ).finally(() => {
      restartButton.disabled = false;
    });
  });

  Promise.all([api.workflow(key), api.run(key, runId)]).then(
    ([workflow, record]) => {
      info = workflow;
      drawn = drawGraph(workflow.stepGraph ?? [], { label: `Graph of run ${runId}`, onSelect: select });
      graphBox.append(drawn.root);
      state.fromRecord(record);
      markAll();
      resumeFor = "-";
      render();
      // Followed only now: a record read before would otherwise overwrite newer chunks.
      if (!stopped) follower = startFollowing();
    },
    (error) => message.replaceChildren(problem(error)),
  );

  let stopped = false;
  return () => {
    stopped = true;
    follower?.stop();
    window.clearInterval(ticker);
    if (frame) window.cancelAnimationFrame(frame);
  };
}

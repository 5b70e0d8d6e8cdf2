// Time travel from a step: run a stored run again from that step, with an input given here
// (checked against the step's input schema in the page first).

import { announce, h, json } from "./dom";
import { errorItem } from "./form";
import { validate, type FieldError, type Schema } from "./schema";
import { problem } from "./pages/common";

let counter = 0;

export function travelForm(
  name: string,
  schema: Schema | undefined,
  payload: () => unknown,
  send: (inputData: unknown) => Promise<void>,
): HTMLFormElement {
  const id = `travel-input-${++counter}`;
  const input = h("textarea", { id, class: "json", rows: 4, spellcheck: "false", "aria-describedby": `${id}-errors` });
  let edited = false;
  input.addEventListener("input", () => {
    edited = true;
  });
  const errors = h("ul", { id: `${id}-errors`, class: "errors", "aria-live": "polite" });
  const submit = h("button", { type: "submit" }, `Run again from ${name}`);
  const outcome = h("div", { role: "status" });
  const form = h("form", { class: "travel-form", "data-step": name, novalidate: true },
    h("h3", {}, "Time travel"),
    h("div", { class: "field" }, h("label", { for: id }, `Input for ${name} (JSON)`), input),
    errors, submit, outcome);
  /** Shows the step's latest input unless it was edited here. */
  const refresh = () => {
    if (!edited) input.value = json(payload() ?? null);
  };
  refresh();
  form.addEventListener("focusin", refresh);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    let value: unknown;
    let found: FieldError[];
    try {
      value = JSON.parse(input.value);
      found = validate(schema, value);
    } catch (e) {
      found = [{ path: "", message: `not valid JSON (${(e as Error).message})` }];
    }
    errors.replaceChildren(...found.map(errorItem));
    input.setAttribute("aria-invalid", String(found.length > 0));
    if (found.length) {
      announce(`${found.length} error${found.length === 1 ? "" : "s"} in the input`);
      return;
    }
    submit.disabled = true;
    outcome.replaceChildren();
    send(value).then(
      () => {
        outcome.textContent = `Running again from ${name}.`;
        edited = false;
      },
      (error) => outcome.replaceChildren(problem(error)),
    ).finally(() => {
      submit.disabled = false;
    });
  });
  return form;
}

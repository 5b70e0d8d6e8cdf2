// Forms built from a JSON Schema (resume data), JSON input boxes (run input), and showing
// validation errors beside the field they are about.

import { h } from "./dom";
import { asSchema, validate, type FieldError, type Schema } from "./schema";

let counter = 0;
const nextId = (stem: string) => `${stem}-${++counter}`;

export interface SchemaForm {
  element: HTMLElement;
  /** The value the fields hold and every error (JSON that does not parse, then the schema's). */
  read(): { value: unknown; errors: FieldError[] };
  show(errors: FieldError[]): void;
}

interface Field {
  path: string;
  element: HTMLElement;
  read(errors: FieldError[]): unknown;
  error: HTMLElement;
  input: HTMLElement;
}

/** A form for `schema`: one input per field of an object schema (nested objects as fieldsets),
 * a JSON box for anything else. */
export function schemaForm(schema: Schema | undefined, stem: string): SchemaForm {
  const fields: Field[] = [];
  const general = h("ul", { class: "errors", "aria-live": "polite" });
  const root = buildField(schema, "", "value", fields, stem);
  const element = h("div", { class: "schema-form" }, root.element, general);
  const show = (errors: FieldError[]) => {
    general.replaceChildren();
    for (const field of fields) {
      field.error.textContent = "";
      field.error.hidden = true;
      field.input.removeAttribute("aria-invalid");
    }
    for (const error of errors) {
      const field = closest(fields, error.path);
      if (field && field.path === error.path) {
        field.error.hidden = false;
        field.error.textContent = field.error.textContent ? `${field.error.textContent}; ${error.message}` : error.message;
        field.input.setAttribute("aria-invalid", "true");
      } else {
        general.append(errorItem(error));
        if (field) field.input.setAttribute("aria-invalid", "true");
      }
    }
  };
  return {
    element,
    read() {
      const errors: FieldError[] = [];
      const value = root.read(errors);
      if (errors.length === 0) errors.push(...validate(schema, value));
      return { value, errors };
    },
    show,
  };
}

function closest(fields: Field[], path: string): Field | undefined {
  let best: Field | undefined;
  for (const field of fields) {
    const covers = field.path === path || path.startsWith(`${field.path}.`) || path.startsWith(`${field.path}[`) || field.path === "";
    if (covers && (!best || field.path.length > best.path.length)) best = field;
  }
  return best;
}

export function errorItem(error: FieldError): HTMLLIElement {
  return h("li", { "data-field": error.path }, h("strong", {}, error.path || "input"), `: ${error.message}`);
}

function label(path: string, name: string): string {
  return path || name;
}

function buildField(schema: Schema | undefined, path: string, name: string, fields: Field[], stem: string): Field {
  const id = nextId(stem);
  const errorId = `${id}-error`;
  const error = h("p", { class: "field-error", id: errorId, hidden: true });
  const described = { id, "aria-describedby": errorId };
  const s = schema ?? {};
  const type = Array.isArray(s.type) ? undefined : s.type;
  if (type === "object" && s.properties && Object.keys(s.properties).length) {
    const children = Object.entries(s.properties).map(([key, sub]) =>
      buildField(asSchema(sub), path ? `${path}.${key}` : key, key, fields, stem),
    );
    const set = h("fieldset", { class: "field", "data-field": path },
      path ? h("legend", {}, name) : h("legend", { class: "visually-hidden" }, "Fields"),
      children.map((c) => c.element), error);
    const field: Field = {
      path, element: set, error, input: set,
      read(errors) {
        const out: Record<string, unknown> = {};
        Object.keys(s.properties ?? {}).forEach((key, i) => {
          const v = children[i].read(errors);
          if (v !== undefined) out[key] = v;
        });
        return out;
      },
    };
    fields.push(field);
    return field;
  }
  let input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;
  let read: (errors: FieldError[]) => unknown;
  const options = s.enum;
  if (options && options.length) {
    const select = h("select", described, h("option", { value: "" }, "(choose)"),
      options.map((o, i) => h("option", { value: String(i) }, typeof o === "string" ? o : JSON.stringify(o))));
    input = select;
    read = () => (select.value === "" ? undefined : options[Number(select.value)]);
  } else if (type === "boolean") {
    const box = h("input", { ...described, type: "checkbox" });
    input = box;
    read = () => box.checked;
  } else if (type === "integer" || type === "number") {
    const number = h("input", { ...described, type: "number", step: type === "integer" ? "1" : "any", inputmode: "decimal" });
    input = number;
    read = () => (number.value.trim() === "" ? undefined : Number(number.value));
  } else if (type === "string") {
    const text = h("input", { ...described, type: "text", placeholder: s.format === "date-time" ? "2026-01-02T03:04:05Z" : s.format === "date" ? "2026-01-02" : null });
    input = text;
    read = () => text.value;
  } else {
    const area = h("textarea", { ...described, rows: 4, spellcheck: "false", class: "json" });
    input = area;
    read = (errors) => {
      if (area.value.trim() === "") return undefined;
      try {
        return JSON.parse(area.value) as unknown;
      } catch (e) {
        errors.push({ path, message: `not valid JSON (${(e as Error).message})` });
        return undefined;
      }
    };
  }
  input.dataset.field = path;
  const labelText = label(path, name) + (type === undefined && !options ? " (JSON)" : "");
  const element = type === "boolean"
    ? h("div", { class: "field checkbox", "data-field": path }, input, h("label", { for: id }, labelText), error)
    : h("div", { class: "field", "data-field": path }, h("label", { for: id }, labelText), input, error);
  const field: Field = { path, element, error, input, read };
  fields.push(field);
  return field;
}

/** An example value for `schema` (to prefill a JSON box): fields with placeholder values. */
export function example(schema: Schema | undefined): unknown {
  const s = schema ?? {};
  if (s.default !== undefined) return s.default;
  if (s.enum && s.enum.length) return s.enum[0];
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  if (s.anyOf?.length) return example(s.anyOf[0]);
  switch (type) {
    case "object": {
      const out: Record<string, unknown> = {};
      for (const [key, sub] of Object.entries(s.properties ?? {})) out[key] = example(asSchema(sub));
      return out;
    }
    case "array":
      return [];
    case "string":
      return "";
    case "integer":
    case "number":
      return 0;
    case "boolean":
      return false;
    case "null":
      return null;
    default:
      return null;
  }
}

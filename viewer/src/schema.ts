// A validator for the JSON Schema (draft-07) subset rxflow's servers emit: type, properties,
// required, additionalProperties, items (one schema or a tuple), minItems/maxItems, enum,
// const, anyOf/oneOf/allOf and the date/date-time formats. Anything else is accepted.

export type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema | Schema[];
  minItems?: number;
  maxItems?: number;
  enum?: unknown[];
  const?: unknown;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  format?: string;
  description?: string;
  title?: string;
  default?: unknown;
};

export interface FieldError {
  /** Where: "" for the value itself, else "a.b[0].c". */
  path: string;
  message: string;
}

export function asSchema(value: unknown): Schema | undefined {
  return value && typeof value === "object" && !Array.isArray(value) ? (value as Schema) : undefined;
}

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

function matchesType(value: unknown, type: string): boolean {
  const actual = typeOf(value);
  return actual === type || (type === "number" && actual === "integer");
}

const ARTICLE: Record<string, string> = {
  string: "a string",
  integer: "an integer",
  number: "a number",
  boolean: "true or false",
  null: "null",
  object: "an object",
  array: "a list",
};

function join(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/i;

/** The errors of `value` against `schema`, each with the path of its field. */
export function validate(schema: Schema | undefined, value: unknown, path = ""): FieldError[] {
  if (!schema) return [];
  const errors: FieldError[] = [];
  const fail = (message: string, at = path) => errors.push({ path: at, message });
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((t) => matchesType(value, t))) {
      fail(`expected ${types.map((t) => ARTICLE[t] ?? t).join(" or ")}`);
      return errors;
    }
  }
  if (schema.const !== undefined && !same(schema.const, value)) fail(`must be ${JSON.stringify(schema.const)}`);
  if (schema.enum && !schema.enum.some((option) => same(option, value))) {
    fail(`must be one of ${schema.enum.map((o) => JSON.stringify(o)).join(", ")}`);
  }
  if (typeof value === "string" && schema.format === "date" && !DATE.test(value)) fail("expected a date (YYYY-MM-DD)");
  if (typeof value === "string" && schema.format === "date-time" && !DATE_TIME.test(value)) {
    fail("expected a date and time (ISO 8601)");
  }
  if (typeOf(value) === "object") errors.push(...validateObject(schema, value as Record<string, unknown>, path));
  if (Array.isArray(value)) errors.push(...validateArray(schema, value, path));
  for (const part of schema.allOf ?? []) errors.push(...validate(part, value, path));
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives && alternatives.length) {
    const outcomes = alternatives.map((option) => validate(option, value, path));
    if (!outcomes.some((o) => o.length === 0)) {
      // Every alternative refusing the type alone is said once, naming every type allowed;
      // otherwise the alternative with the fewest errors explains best.
      const typeOnly = outcomes.every(
        (o) => o.length === 1 && o[0].path === path && o[0].message.startsWith("expected "),
      );
      if (typeOnly) fail(`expected ${outcomes.map((o) => o[0].message.slice(9)).join(" or ")}`);
      else errors.push(...outcomes.reduce((a, b) => (b.length < a.length ? b : a)));
    }
  }
  return errors;
}

function validateObject(schema: Schema, value: Record<string, unknown>, path: string): FieldError[] {
  const errors: FieldError[] = [];
  const properties = schema.properties ?? {};
  for (const name of schema.required ?? []) {
    if (!(name in value)) errors.push({ path: join(path, name), message: "is required" });
  }
  for (const [name, field] of Object.entries(value)) {
    if (name in properties) errors.push(...validate(properties[name], field, join(path, name)));
    else if (schema.additionalProperties === false) {
      errors.push({ path: join(path, name), message: "is not a field of this input" });
    } else if (typeof schema.additionalProperties === "object") {
      errors.push(...validate(schema.additionalProperties, field, join(path, name)));
    }
  }
  return errors;
}

function validateArray(schema: Schema, value: unknown[], path: string): FieldError[] {
  const errors: FieldError[] = [];
  if (schema.minItems !== undefined && value.length < schema.minItems) {
    errors.push({ path, message: `expected at least ${schema.minItems} items` });
  }
  if (schema.maxItems !== undefined && value.length > schema.maxItems) {
    errors.push({ path, message: `expected at most ${schema.maxItems} items` });
  }
  if (Array.isArray(schema.items)) {
    schema.items.forEach((item, i) => {
      if (i < value.length) errors.push(...validate(item, value[i], join(path, i)));
    });
  } else if (schema.items) {
    value.forEach((item, i) => errors.push(...validate(schema.items as Schema, item, join(path, i))));
  }
  return errors;
}

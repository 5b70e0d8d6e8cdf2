// The public HTTP routes the viewer uses (Mastra's workflow routes), nothing else.

import { readRecords, type Chunk } from "./records";

export interface StepInfo {
  id: string;
  description?: string;
  inputSchema?: string;
  outputSchema?: string;
  resumeSchema?: string;
  suspendSchema?: string;
  isWorkflow?: boolean;
}

export interface GraphStep {
  id: string;
  description?: string | null;
  canSuspend?: boolean;
  component?: string;
  serializedStepFlow?: GraphEntry[];
}

export interface GraphEntry {
  type: string;
  step?: GraphStep;
  steps?: { type: string; step: GraphStep }[];
  serializedConditions?: { id: string; fn: string }[];
  loopType?: string;
  opts?: { concurrency?: number };
  id?: string;
  duration?: number | null;
  date?: string | null;
  workflowId?: string;
  serializedStepFlow?: GraphEntry[];
  allowFailure?: boolean;
}

export interface WorkflowInfo {
  name: string;
  description?: string;
  steps: Record<string, StepInfo>;
  allSteps: Record<string, StepInfo>;
  stepGraph: GraphEntry[];
  inputSchema?: string;
  outputSchema?: string;
  stepCount?: number;
}

export interface StepRecord {
  status?: string;
  payload?: unknown;
  output?: unknown;
  error?: unknown;
  startedAt?: number;
  endedAt?: number;
  suspendPayload?: unknown;
  suspendedAt?: number;
  resumePayload?: unknown;
  resumedAt?: number;
}

export interface RunRecord {
  runId: string;
  workflowName: string;
  resourceId?: string;
  createdAt: string;
  updatedAt: string;
  status: string;
  result?: unknown;
  error?: unknown;
  payload?: unknown;
  steps?: Record<string, StepRecord>;
}

export interface RunListItem {
  workflowName: string;
  runId: string;
  snapshot: { status?: string; context?: Record<string, StepRecord> } | string | null;
  createdAt: string;
  updatedAt: string;
  resourceId?: string;
}

export interface RunQuery {
  status?: string;
  fromDate?: string;
  toDate?: string;
  offset?: number;
  limit?: number;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: { error?: string; issues?: { field: string; message: string }[] } | null,
  ) {
    super(body?.error ?? `HTTP ${status}`);
  }
}

const BASE_KEY = "rxflow.viewer.apiBase";
const TOKEN_KEY = "rxflow.viewer.token";

/** The API root: a base chosen in the settings, else this server's own prefix. */
export function defaultBase(): string {
  const meta = document.querySelector<HTMLMetaElement>('meta[name="rxflow-api-prefix"]');
  return location.origin + (meta?.content ?? "/api");
}

export const settings = {
  get base(): string {
    return localStorage.getItem(BASE_KEY) || defaultBase();
  },
  set base(value: string) {
    if (value && value !== defaultBase()) localStorage.setItem(BASE_KEY, value.replace(/\/+$/, ""));
    else localStorage.removeItem(BASE_KEY);
  },
  get token(): string {
    return sessionStorage.getItem(TOKEN_KEY) ?? "";
  },
  set token(value: string) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

function headers(body: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  if (body) out["content-type"] = "application/json";
  if (settings.token) out.authorization = `Bearer ${settings.token}`;
  return out;
}

const enc = encodeURIComponent;

async function call<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const response = await fetch(settings.base + path, {
    method,
    headers: headers(body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!response.ok) throw new ApiError(response.status, parsed as ApiError["body"]);
  return parsed as T;
}

function query(params: Record<string, string | number | undefined>): string {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== "")
    .map(([k, v]) => `${enc(k)}=${enc(String(v))}`);
  return parts.length ? `?${parts.join("&")}` : "";
}

export const api = {
  workflows: () => call<Record<string, WorkflowInfo>>("GET", "/workflows"),
  workflow: (key: string) => call<WorkflowInfo>("GET", `/workflows/${enc(key)}`),
  runs: (key: string, q: RunQuery = {}) =>
    call<{ runs: RunListItem[]; total: number }>(
      "GET",
      `/workflows/${enc(key)}/runs` +
        query({ status: q.status, fromDate: q.fromDate, toDate: q.toDate, offset: q.offset, limit: q.limit }),
    ),
  run: (key: string, runId: string) => call<RunRecord>("GET", `/workflows/${enc(key)}/runs/${enc(runId)}`),
  createRun: (key: string, resourceId?: string) =>
    call<{ runId: string }>("POST", `/workflows/${enc(key)}/create-run?`, resourceId ? { resourceId } : {}),
  cancel: (key: string, runId: string) =>
    call<{ message: string }>("POST", `/workflows/${enc(key)}/runs/${enc(runId)}/cancel`),
  restart: (key: string, runId: string) =>
    call<{ message: string }>("POST", `/workflows/${enc(key)}/restart${query({ runId })}`, {}),
};

// Streams opened by a start or a resume, read to their end wherever the page goes: a server
// may record for `observe` only the chunks some stream carried (Mastra does).
const draining = new Set<Promise<void>>();

async function openStream(path: string, body: unknown): Promise<void> {
  const response = await fetch(settings.base + path, {
    method: "POST",
    headers: headers(true),
    body: JSON.stringify(body),
  });
  if (!response.ok || !response.body) {
    let parsed: ApiError["body"] = null;
    try {
      parsed = (await response.json()) as ApiError["body"];
    } catch {
      parsed = null;
    }
    throw new ApiError(response.status, parsed);
  }
  const reader = response.body.getReader();
  const drain = (async () => {
    try {
      while (!(await reader.read()).done) {
        // the run page reads the same chunks through observe
      }
    } catch {
      // a dropped stream: the run goes on, and the run page follows it through observe
    }
  })();
  draining.add(drain);
  void drain.finally(() => draining.delete(drain));
}

/** Start a run (stream route): resolves once the server has accepted the input. */
export function startStream(key: string, runId: string, inputData: unknown): Promise<void> {
  return openStream(`/workflows/${enc(key)}/stream${query({ runId })}`, { inputData });
}

/** Resume a suspended step (resume-stream route): resolves once the server has accepted it. */
export function resumeStream(key: string, runId: string, step: string | string[], resumeData: unknown): Promise<void> {
  return openStream(`/workflows/${enc(key)}/resume-stream${query({ runId })}`, { step, resumeData });
}

/** Run a stored run again from `step` (time-travel-stream route), with `inputData` as the
 * step's input: resolves once the server has accepted it. */
export function timeTravelStream(key: string, runId: string, step: string | string[], inputData: unknown): Promise<void> {
  return openStream(`/workflows/${enc(key)}/time-travel-stream${query({ runId })}`, { step, inputData });
}

/** The run's chunks from record number `offset` on (observe: the recorded ones, then live
 * ones until the run's stream closes). Each chunk comes with its record number. */
export async function* observe(
  key: string,
  runId: string,
  offset: number,
  signal: AbortSignal,
): AsyncGenerator<[number, Chunk]> {
  const response = await fetch(`${settings.base}/workflows/${enc(key)}/observe${query({ runId, offset })}`, {
    method: "POST",
    headers: headers(false),
    signal,
  });
  if (!response.ok || !response.body) {
    let body: ApiError["body"] = null;
    try {
      body = (await response.json()) as ApiError["body"];
    } catch {
      body = null;
    }
    throw new ApiError(response.status, body);
  }
  let number = offset;
  for await (const chunk of readRecords(response.body)) {
    yield [number, chunk];
    number += 1;
  }
}

/** A schema field of the details route: the JSON text of `{"json": <JSON Schema>}` (or a plain
 * JSON Schema). */
export function parseSchema(text: string | undefined): unknown {
  if (!text) return undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed && typeof parsed === "object" && "json" in parsed) return (parsed as { json: unknown }).json;
    return parsed;
  } catch {
    return undefined;
  }
}

// What the run page knows of a run: its status and each step's, built from the stored run
// record and from the run's chunks, applied in order.

import type { RunRecord, StepRecord } from "./api";
import type { Chunk } from "./records";

export interface StepView {
  status: string;
  startedAt?: number;
  endedAt?: number;
  payload?: unknown;
  output?: unknown;
  error?: unknown;
  suspendPayload?: unknown;
  resumePayload?: unknown;
  /** How many times the step started (loop iterations, re-entries on resume). */
  starts: number;
  completed?: number;
  total?: number;
  /** What the step wrote with its writer. */
  writes: unknown[];
}

export class RunState {
  status = "pending";
  result: unknown = undefined;
  error: unknown = undefined;
  input: unknown = undefined;
  lastFinish: string | undefined;
  record: RunRecord | undefined;
  readonly steps = new Map<string, StepView>();

  step(name: string): StepView {
    let view = this.steps.get(name);
    if (!view) {
      view = { status: "pending", starts: 0, writes: [] };
      this.steps.set(name, view);
    }
    return view;
  }

  /** Take what the stored record says (it is as new as anything streamed so far when read
   * after a stream ended). */
  fromRecord(record: RunRecord): void {
    this.record = record;
    this.status = record.status;
    if (record.result !== undefined) this.result = record.result;
    if (record.error !== undefined) this.error = record.error;
    if (record.payload !== undefined) this.input = record.payload;
    for (const [name, stored] of Object.entries(record.steps ?? {})) {
      const view = this.step(name);
      const s: StepRecord = stored ?? {};
      if (s.status) view.status = s.status;
      for (const key of ["startedAt", "endedAt", "payload", "output", "error", "suspendPayload", "resumePayload"] as const) {
        if (s[key] !== undefined) (view as unknown as Record<string, unknown>)[key] = s[key];
      }
    }
  }

  /** Apply one chunk; the name of the step it was about, if any. */
  apply(chunk: Chunk): string | undefined {
    const p = (chunk.payload ?? {}) as Record<string, unknown>;
    const name = typeof p.stepName === "string" ? p.stepName : typeof p.id === "string" ? p.id : undefined;
    switch (chunk.type) {
      case "workflow-start":
        this.status = "running";
        return undefined;
      case "workflow-step-start": {
        if (!name) return undefined;
        const view = this.step(name);
        view.status = "running";
        view.starts += 1;
        if (typeof p.startedAt === "number") view.startedAt = p.startedAt;
        view.endedAt = undefined;
        if ("payload" in p) view.payload = p.payload;
        if ("resumePayload" in p) view.resumePayload = p.resumePayload;
        return name;
      }
      case "workflow-step-result": {
        if (!name) return undefined;
        const view = this.step(name);
        view.status = typeof p.status === "string" ? p.status : "success";
        if (typeof p.endedAt === "number") view.endedAt = p.endedAt;
        if (typeof p.startedAt === "number") view.startedAt = p.startedAt;
        if ("output" in p) view.output = p.output;
        if ("error" in p) view.error = p.error;
        if (view.starts === 0) view.starts = 1;
        return name;
      }
      case "workflow-step-suspended": {
        if (!name) return undefined;
        const view = this.step(name);
        view.status = "suspended";
        view.suspendPayload = p.suspendPayload;
        if (typeof p.startedAt === "number") view.startedAt = p.startedAt;
        return name;
      }
      case "workflow-step-waiting": {
        if (!name) return undefined;
        const view = this.step(name);
        view.status = "waiting";
        view.starts += 1;
        if (typeof p.startedAt === "number") view.startedAt = p.startedAt;
        view.endedAt = undefined;
        return name;
      }
      case "workflow-step-progress": {
        if (!name) return undefined;
        const view = this.step(name);
        if (typeof p.completedCount === "number") view.completed = p.completedCount;
        if (typeof p.totalCount === "number") view.total = p.totalCount;
        return name;
      }
      case "workflow-step-output": {
        if (!name) return undefined;
        // A nested workflow's step may name itself without its workflow's prefix here.
        const owner = this.steps.has(name) ? name : this.runningEndingWith(`.${name}`) ?? name;
        this.step(owner).writes.push(p.output);
        return owner;
      }
      case "workflow-canceled":
        this.status = "canceled";
        return undefined;
      case "workflow-finish": {
        const status = typeof p.workflowStatus === "string" ? p.workflowStatus : this.status;
        this.status = status;
        this.lastFinish = status;
        if ("finalWorkflowResult" in p) this.result = p.finalWorkflowResult;
        const meta = p.metadata as { errorMessage?: string } | undefined;
        if (meta?.errorMessage) this.error = { message: meta.errorMessage };
        return undefined;
      }
      default:
        return undefined;
    }
  }

  private runningEndingWith(suffix: string): string | undefined {
    let found: string | undefined;
    for (const [name, view] of this.steps) if (name.endsWith(suffix) && view.status === "running") found = name;
    return found;
  }

  /** Steps now waiting for resume data: a nested workflow suspended because one of its own
   * steps is counts as that step. */
  suspended(): string[] {
    const all = [...this.steps].filter(([, v]) => v.status === "suspended").map(([k]) => k);
    return all.filter((name) => !all.some((other) => other.startsWith(`${name}.`)));
  }
}

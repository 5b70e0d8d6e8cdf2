import { ApiError } from "../api";
import { h } from "../dom";

/** An error message for the page (a 401 points at the settings). */
export function problem(error: unknown): HTMLElement {
  const text = error instanceof ApiError
    ? `${error.message} (HTTP ${error.status})`
    : error instanceof Error ? error.message : String(error);
  return h("div", { class: "problem", role: "alert" }, text,
    error instanceof ApiError && error.status === 401
      ? [" — ", h("a", { href: "#/settings" }, "set the API token")]
      : null);
}

export function runHref(key: string, runId: string): string {
  return `#/run/${encodeURIComponent(key)}/${encodeURIComponent(runId)}`;
}

/** Calls `tick` now and every `ms` until the returned stop is called (one call at a time). */
export function every(ms: number, tick: () => Promise<void>): () => void {
  let stopped = false;
  let timer: number | undefined;
  const loop = async () => {
    if (stopped) return;
    try {
      await tick();
    } finally {
      if (!stopped) timer = window.setTimeout(loop, ms);
    }
  };
  void loop();
  return () => {
    stopped = true;
    if (timer !== undefined) window.clearTimeout(timer);
  };
}

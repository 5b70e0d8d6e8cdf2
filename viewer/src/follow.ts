// Following a run: observe from record 0, then, whenever a stream ends or drops, again from
// the first record not yet seen, until the run has finished. A dropped connection is retried
// with a growing pause; a stream that ended while the run is not finished (a suspended run,
// one not started yet) is looked at again every second.

import { ApiError, api, observe, type RunRecord } from "./api";
import type { Chunk } from "./records";
import { FINISHED } from "./status";

export type Phase = "live" | "waiting" | "reconnecting" | "finished" | "stopped";

export interface Follower {
  /** Look again now (after a resume or a time travel, say) instead of at the next pause's
   * end; a finished run is looked at again only then. */
  poke(): void;
  stop(): void;
}

export interface FollowEvents {
  chunk(seq: number, chunk: Chunk): void;
  record(record: RunRecord): void;
  /** What following is doing: `text` to show, and its phase: "live" (reading a stream),
   * "waiting" (every record so far read; the run is not finished), "reconnecting",
   * "finished" (every record of a finished run read) or "stopped". */
  state(text: string, phase: Phase): void;
  failed(error: unknown): void;
  /** The connection dropped; following goes on from record `offset`. */
  dropped(offset: number): void;
  /** The last `workflow-finish` status seen, to know the stream has caught up with the run. */
  lastFinish(): string | undefined;
}

export function follow(key: string, runId: string, on: FollowEvents): Follower {
  let offset = 0;
  let stopped = false;
  let controller = new AbortController();
  let wake: (() => void) | undefined;
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      // Infinity: until poked (a finished run is looked at again only when asked to).
      const timer = Number.isFinite(ms) ? window.setTimeout(done, ms) : undefined;
      function done() {
        window.clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = done;
    });

  const loop = async () => {
    let failures = 0;
    let settledChecks = 0;
    while (!stopped) {
      try {
        on.state(offset === 0 ? "connecting" : `following from record ${offset}`, "live");
        controller = new AbortController();
        for await (const [seq, chunk] of observe(key, runId, offset, controller.signal)) {
          if (seq !== offset) continue;
          offset = seq + 1;
          failures = 0;
          on.state(`following live (${offset} records)`, "live");
          on.chunk(seq, chunk);
        }
        const record = await api.run(key, runId);
        on.record(record);
        if (FINISHED.has(record.status)) {
          // The store may say "finished" a moment before the last records can be read.
          if (on.lastFinish() === record.status || ++settledChecks > 3) {
            on.state(`finished: ${record.status} (${offset} records)`, "finished");
            await pause(Infinity);
            settledChecks = 0;
            continue;
          }
          await pause(300);
          continue;
        }
        on.state(record.status === "suspended" ? "suspended: waiting for a resume" : `${record.status}: waiting for records`, "waiting");
        await pause(1000);
      } catch (error) {
        if (stopped) return;
        if (error instanceof ApiError && error.status >= 400 && error.status < 500) {
          on.failed(error);
          on.state("stopped", "stopped");
          return;
        }
        failures += 1;
        on.dropped(offset);
        const wait = Math.min(5000, 250 * 2 ** Math.min(failures, 5));
        on.state(`connection lost: reconnecting from record ${offset}`, "reconnecting");
        await pause(wait);
      }
    }
  };
  void loop();
  return {
    poke() {
      wake?.();
    },
    stop() {
      stopped = true;
      controller.abort();
      wake?.();
    },
  };
}

// Following a run: observe from record 0, then, whenever a stream ends or drops, again from
// the first record not yet seen, until the run has finished. A dropped connection is retried
// with a growing pause; a stream that ended while the run is not finished (a suspended run,
// one not started yet) is looked at again every second.

import { ApiError, api, observe, type RunRecord } from "./api";
import type { Chunk } from "./records";
import { FINISHED } from "./status";

export interface Follower {
  /** Look again now (after a resume, say) instead of at the next pause's end. */
  poke(): void;
  stop(): void;
}

export interface FollowEvents {
  chunk(seq: number, chunk: Chunk): void;
  record(record: RunRecord): void;
  state(text: string, live: boolean): void;
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
      const timer = window.setTimeout(done, ms);
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
        on.state(offset === 0 ? "connecting" : `following from record ${offset}`, true);
        controller = new AbortController();
        for await (const [seq, chunk] of observe(key, runId, offset, controller.signal)) {
          if (seq !== offset) continue;
          offset = seq + 1;
          failures = 0;
          on.state(`following live (${offset} records)`, true);
          on.chunk(seq, chunk);
        }
        const record = await api.run(key, runId);
        on.record(record);
        if (FINISHED.has(record.status)) {
          // The store may say "finished" a moment before the last records can be read.
          if (on.lastFinish() === record.status || ++settledChecks > 3) {
            on.state(`finished: ${record.status} (${offset} records)`, false);
            return;
          }
          await pause(300);
          continue;
        }
        on.state(record.status === "suspended" ? "suspended: waiting for a resume" : `${record.status}: waiting for records`, true);
        await pause(1000);
      } catch (error) {
        if (stopped) return;
        if (error instanceof ApiError && error.status >= 400 && error.status < 500) {
          on.failed(error);
          on.state("stopped", false);
          return;
        }
        failures += 1;
        on.dropped(offset);
        const wait = Math.min(5000, 250 * 2 ** Math.min(failures, 5));
        on.state(`connection lost: reconnecting from record ${offset}`, true);
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

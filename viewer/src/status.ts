// Every status has a colour AND a symbol AND its name, so none is told by colour alone.

export interface StatusLook {
  symbol: string;
  label: string;
}

const LOOKS: Record<string, StatusLook> = {
  pending: { symbol: "○", label: "pending" },
  running: { symbol: "▶", label: "running" },
  waiting: { symbol: "◷", label: "waiting" },
  suspended: { symbol: "‖", label: "suspended" },
  success: { symbol: "✓", label: "success" },
  failed: { symbol: "✗", label: "failed" },
  canceled: { symbol: "⊘", label: "canceled" },
  bailed: { symbol: "↩", label: "bailed" },
  tripwire: { symbol: "⚠", label: "tripwire" },
  paused: { symbol: "∥", label: "paused" },
  skipped: { symbol: "–", label: "skipped" },
  restarting: { symbol: "↻", label: "restarting" },
};

export const RUN_STATUSES = [
  "pending",
  "running",
  "waiting",
  "suspended",
  "success",
  "failed",
  "canceled",
  "bailed",
  "tripwire",
  "paused",
  "restarting",
];

export const FINISHED = new Set(["success", "failed", "canceled", "bailed", "tripwire"]);

export function look(status: string): StatusLook {
  return LOOKS[status] ?? { symbol: "?", label: status };
}

/** A status badge: `<span class="status status-success">✓ success</span>`. */
export function badge(status: string): HTMLSpanElement {
  const span = document.createElement("span");
  const { symbol, label } = look(status);
  span.className = `status status-${LOOKS[status] ? status : "unknown"}`;
  span.dataset.status = status;
  const mark = document.createElement("span");
  mark.setAttribute("aria-hidden", "true");
  mark.textContent = symbol;
  span.append(mark, ` ${label}`);
  return span;
}

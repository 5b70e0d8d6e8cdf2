// The viewer: pages chosen by the location's hash, each drawn into <main>.
//   #/workflows                       every workflow, its graph and run counts
//   #/workflow/<key>                  one workflow: its graph, its input schema, start a run
//   #/runs?workflow=&status=&from=&to=&page=   runs, filtered and paged
//   #/run/<key>/<runId>               one run, followed live
//   #/settings                        the API address and token

import "./style.css";
import { clear, h } from "./dom";
import { runPage } from "./pages/run";
import { runsPage } from "./pages/runs";
import { settingsPage } from "./pages/settings";
import { workflowPage } from "./pages/workflow";
import { workflowsPage } from "./pages/workflows";

export type Cleanup = () => void;
export type Page = (main: HTMLElement, params: URLSearchParams, parts: string[]) => Cleanup | void;

const PAGES: Record<string, [string, Page]> = {
  workflows: ["workflows", workflowsPage],
  workflow: ["workflows", workflowPage],
  runs: ["runs", runsPage],
  run: ["runs", runPage],
  settings: ["settings", settingsPage],
};

let cleanup: Cleanup | void;

function route(): void {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, search = ""] = hash.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const name = parts[0] ?? "workflows";
  const main = document.getElementById("main") as HTMLElement;
  if (cleanup) cleanup();
  cleanup = undefined;
  const found = PAGES[name];
  for (const link of document.querySelectorAll<HTMLAnchorElement>("nav a")) {
    if (found && link.dataset.nav === found[0]) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (!found) {
    clear(main, h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/workflows" }, "Back to the workflows")));
    return;
  }
  clear(main);
  cleanup = found[1](main, new URLSearchParams(search), parts.slice(1));
}

window.addEventListener("hashchange", () => {
  route();
  // Moving between pages puts the keyboard focus at the top of the new page.
  document.getElementById("main")?.focus({ preventScroll: false });
});
// The skip link moves the focus without touching the hash (which names the page).
document.querySelector(".skip")?.addEventListener("click", (event) => {
  event.preventDefault();
  document.getElementById("main")?.focus();
});
route();

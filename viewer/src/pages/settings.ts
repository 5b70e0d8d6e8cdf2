import { defaultBase, settings } from "../api";
import { h } from "../dom";

/** Where the API is (this server by default; any server with the same routes, Mastra's
 * included, when it allows this origin) and the bearer token it asks for, if any. */
export function settingsPage(main: HTMLElement): void {
  const base = h("input", { id: "api-base", type: "url", value: settings.base, size: 50 });
  const token = h("input", { id: "api-token", type: "password", value: settings.token, autocomplete: "off" });
  const saved = h("p", { role: "status" });
  const form = h("form", { class: "settings" },
    h("div", { class: "field" }, h("label", { for: "api-base" }, "API address"), base,
      h("p", { class: "hint" }, `This server's is ${defaultBase()}.`)),
    h("div", { class: "field" }, h("label", { for: "api-token" }, "Bearer token (kept for this tab only)"), token),
    h("button", { type: "submit" }, "Save"),
    saved);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    settings.base = base.value.trim();
    settings.token = token.value.trim();
    saved.textContent = "Saved.";
  });
  main.append(h("h1", {}, "Settings"), form);
}

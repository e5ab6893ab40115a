// The operators' console: polls /admin/ui/state and /admin/instances, renders the
// tables, the trees and the charts, and wires the forms (see actions.js).

import { actionForm, api, bind } from "./actions.js";
import { el, fill } from "./dom.js";
import { find } from "./found.js";
import { renderInstances } from "./tree.js";

const POLL_MS = 2000;
const EVENT_COLUMNS = [
  "id", "type", "session_id", "order_id", "state",
  "attempts", "created_at", "next_attempt_at", "last_error",
];
const OUTBOX_STATES = ["pending", "in_flight", "delivered", "dead"];
let here = null;

function findButton(id) {
  return el("button", { type: "button", className: "link", text: id, dataset: { find: id } });
}

function replayCell(event) {
  if (event.state !== "dead") return [el("td")];
  const form = actionForm("replay", [], "Replay", () => ({
    label: `Replay webhook ${event.id}`,
    method: "POST",
    path: `/admin/webhooks/${encodeURIComponent(event.id)}/replay`,
  }), refreshState);
  return [el("td", {}, form)];
}

function render(state) {
  here = state.instance;
  fill("endpoints", state.endpoints, ["transport", "url"]);
  const counts = {};
  for (const name of OUTBOX_STATES) counts[name] = state.outbox.counts[name] || 0;
  fill("outbox-counts", [counts], OUTBOX_STATES);
  fill("events", state.outbox.events, EVENT_COLUMNS, replayCell);
  fill("latest-sessions", state.latest.sessions, [(s) => findButton(s.id), "expires_at"]);
  fill("latest-orders", state.latest.orders, [
    (o) => findButton(o.id), "checkout_session_id", "created_at", "total", "currency",
  ]);
  document.getElementById("updated").textContent = `Updated ${state.generated_at}`;
}

function showProblem(text) {
  const problem = document.getElementById("problem");
  problem.textContent = text || "";
  problem.hidden = !text;
}

async function load(path, show) {
  try {
    const result = await api("GET", path);
    if (!result.ok) throw new Error(`HTTP ${result.status}`);
    show(result.data);
    showProblem(null);
  } catch (error) {
    showProblem(`Could not refresh: ${error.message}`);
  }
}

async function refreshState() {
  await load("/admin/ui/state", render);
}

async function refreshInstances() {
  await load("/admin/instances", (data) => renderInstances(data.instances, here, refreshInstances));
}

async function poll() {
  await refreshState();
  await refreshInstances();
  window.setTimeout(poll, POLL_MS);
}

document.getElementById("find").addEventListener("submit", (event) => {
  event.preventDefault();
  find(event.target.elements.id.value.trim());
});
document.addEventListener("click", (event) => {
  const target = event.target.closest("[data-find]");
  if (target) find(target.dataset.find);
});
bind(document.getElementById("release-holds"), () => ({
  label: "Release orphan holds",
  method: "POST",
  path: "/admin/holds/release",
  summary: (data) => `${data.settled} holder(s) settled`,
}));

poll();

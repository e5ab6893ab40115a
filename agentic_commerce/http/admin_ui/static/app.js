// The operators' page: polls /admin/ui/state and renders its tables.
// Every value goes in through textContent, never as HTML.
"use strict";

(function () {
  const STATE_URL = "/admin/ui/state";
  const POLL_MS = 2000;
  const ACTOR_COLUMNS = [
    "kind", "id", "status", "session_status",
    "mailbox_depth", "restarts", "age_seconds", "idle_seconds",
  ];
  const EVENT_COLUMNS = [
    "id", "type", "session_id", "order_id", "state",
    "attempts", "created_at", "next_attempt_at", "last_error",
  ];
  const OUTBOX_STATES = ["pending", "in_flight", "delivered", "dead"];
  const ENDPOINT_COLUMNS = ["transport", "url"];

  function cell(value, className) {
    const td = document.createElement("td");
    td.textContent = value === null || value === undefined ? "—" : String(value);
    if (typeof value === "number") td.className = "num";
    if (className) td.classList.add(className);
    return td;
  }

  function fill(table, rows, columns) {
    const body = document.getElementById(table).tBodies[0];
    const fragment = document.createDocumentFragment();
    for (const row of rows) {
      const tr = document.createElement("tr");
      for (const column of columns) tr.appendChild(cell(row[column]));
      fragment.appendChild(tr);
    }
    if (rows.length === 0) {
      const tr = document.createElement("tr");
      const td = cell("none", "empty");
      td.colSpan = columns.length;
      tr.appendChild(td);
      fragment.appendChild(tr);
    }
    body.replaceChildren(fragment);
  }

  function render(state) {
    fill("endpoints", state.endpoints, ENDPOINT_COLUMNS);
    const actors = state.actors;
    fill("actors", actors.items, ACTOR_COLUMNS);
    const shown = actors.items.length;
    document.getElementById("actor-count").textContent =
      shown === actors.total ? "(" + actors.total + ")" : "(" + shown + " of " + actors.total + ")";
    const counts = {};
    for (const name of OUTBOX_STATES) counts[name] = state.outbox.counts[name] || 0;
    fill("outbox-counts", [counts], OUTBOX_STATES);
    fill("events", state.outbox.events, EVENT_COLUMNS);
    document.getElementById("updated").textContent = "Updated " + state.generated_at;
  }

  function showProblem(text) {
    const problem = document.getElementById("problem");
    problem.textContent = text || "";
    problem.hidden = !text;
  }

  async function poll() {
    try {
      const response = await fetch(STATE_URL, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "application/json" },
      });
      if (response.status === 401) {
        window.location.assign("/admin/"); // signed out or expired: back to the form
        return;
      }
      if (!response.ok) throw new Error("HTTP " + response.status);
      render(await response.json());
      showProblem(null);
    } catch (error) {
      showProblem("Could not refresh: " + error.message);
    }
    window.setTimeout(poll, POLL_MS);
  }

  poll();
})();

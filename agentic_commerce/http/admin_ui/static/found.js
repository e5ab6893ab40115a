// The session or order found by id, and what an operator can do to it: cancel a
// session; confirm, ship, complete, cancel or refund an order. The panel is drawn
// again from the server after each action.

import { actionForm, api, report } from "./actions.js";
import { el } from "./dom.js";

const ORDER_STATUSES = ["confirmed", "shipped", "completed", "canceled"];
const REFUND_TYPES = ["original_payment", "store_credit"];

const panel = () => document.getElementById("found");
const path = (kind, id) => `/admin/${kind}/${encodeURIComponent(id)}`;

function total(totals, type) {
  const found = (totals || []).find((t) => t.type === type);
  return found ? found.amount : 0;
}

function facts(rows) {
  return el(
    "dl",
    { className: "facts" },
    ...rows.flatMap(([name, value]) => [
      el("dt", { text: name }),
      el("dd", { text: value === null || value === undefined ? "—" : value, dataset: { fact: name } }),
    ]),
  );
}

function raw(data) {
  return el("details", {}, el("summary", { text: "JSON" }), el("pre", { text: JSON.stringify(data, null, 2) }));
}

function field(label, input) {
  return el("label", {}, label, input);
}

function select(name, options) {
  return el("select", { name }, ...options.map((o) => el("option", { value: o, text: o })));
}

// Finds a session (`cs_…`) or an order (`ord_…`) and lists the outcome.
export async function find(id) {
  report(`Find ${id}`, await show(id));
}

// Draws the panel of `id` again (after an action: only the action's outcome is listed).
async function show(id) {
  const kind = id.startsWith("ord_") ? "orders" : "sessions";
  const result = await api("GET", path(kind, id));
  if (!result.ok) {
    panel().replaceChildren(el("p", { className: "empty", text: `Nothing found for ${id}.` }));
    return result;
  }
  (kind === "orders" ? showOrder : showSession)(result.data);
  return result;
}

function showSession(session) {
  const order = session.order;
  const cancel = actionForm("cancel-session", [], "Cancel session", () => ({
    label: `Cancel session ${session.id}`,
    method: "POST",
    path: `${path("sessions", session.id)}/cancel`,
    summary: (data) => `now ${data.status}`,
  }), () => show(session.id));
  const openOrder = order
    ? el("button", { type: "button", className: "link", text: `Open order ${order.id}`, dataset: { find: order.id } })
    : "";
  panel().replaceChildren(
    el(
      "article",
      { className: "found", dataset: { kind: "session", id: session.id } },
      el("h3", { text: `Session ${session.id}` }),
      facts([
        ["status", session.status],
        ["currency", session.currency],
        ["total", total(session.totals, "total")],
        ["merchant", session.internal && session.internal.merchant_id],
        ["expires_at", session.expires_at],
        ["order", order ? order.id : null],
      ]),
      cancel,
      openOrder,
      raw(session),
    ),
  );
}

function showOrder(order) {
  const again = () => show(order.id);
  const status = actionForm(
    "order-status",
    [
      field("Status ", select("status", ORDER_STATUSES)),
      field("Carrier ", el("input", { name: "carrier", maxlength: 100 })),
      field("Tracking number ", el("input", { name: "tracking_number", maxlength: 100 })),
    ],
    "Change status",
    (form) => {
      const body = { status: form.elements.status.value };
      for (const name of ["carrier", "tracking_number"]) {
        const value = form.elements[name].value.trim();
        if (value) body[name] = value;
      }
      return {
        label: `Order ${order.id} → ${body.status}`,
        method: "POST",
        path: path("orders", order.id),
        body,
        summary: (data) => `now ${data.status}`,
      };
    },
    again,
  );
  const refund = actionForm(
    "refund",
    [
      field("Amount (minor units) ", el("input", { name: "amount", type: "number", min: 1, step: 1, required: "" })),
      field("Type ", select("type", REFUND_TYPES)),
      field("Reason ", el("input", { name: "reason", maxlength: 200 })),
    ],
    "Refund",
    (form) => {
      const body = { amount: Number(form.elements.amount.value), type: form.elements.type.value };
      const reason = form.elements.reason.value.trim();
      if (reason) body.reason = reason;
      return {
        label: `Refund ${body.amount} on order ${order.id}`,
        method: "POST",
        path: `${path("orders", order.id)}/refunds`,
        body,
        summary: (data) => `refunded in total ${total(data.totals, "amount_refunded")}`,
      };
    },
    again,
  );
  panel().replaceChildren(
    el(
      "article",
      { className: "found", dataset: { kind: "order", id: order.id } },
      el("h3", { text: `Order ${order.id}` }),
      facts([
        ["status", order.status],
        ["session", order.checkout_session_id],
        ["total", total(order.totals, "total")],
        ["refunded", total(order.totals, "amount_refunded")],
      ]),
      status,
      refund,
      el("button", { type: "button", className: "link", text: `Open session ${order.checkout_session_id}`, dataset: { find: order.checkout_session_id } }),
      raw(order),
    ),
  );
}

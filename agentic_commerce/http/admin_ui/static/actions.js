// Every change goes to the admin JSON API with the page's cookie and the CSRF token
// of the form it comes from (a form without one is refused by the server); each
// outcome is listed on the page, newest first.

import { el } from "./dom.js";

const CSRF_FIELD = "csrf_token";
const OUTCOMES_SHOWN = 12;

export function tokenInput() {
  const token = document.querySelector('meta[name="csrf-token"]').content;
  return el("input", { type: "hidden", name: CSRF_FIELD, value: token });
}

export async function api(method, path, { body, form } = {}) {
  const headers = { Accept: "application/json" };
  const token = form ? form.elements.namedItem(CSRF_FIELD) : null;
  if (token) headers["X-CSRF-Token"] = token.value;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    cache: "no-store",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) window.location.assign("/admin/"); // signed out or expired
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  return { ok: response.ok, status: response.status, data };
}

export function report(label, result, describe) {
  const data = result.data || {};
  const outcome = result.ok ? "ok" : result.status >= 500 || !result.status ? "failed" : "refused";
  let text = `${label}: ${outcome} (${result.status || "no answer"})`;
  if (result.ok && describe) text += ` ${describe(data)}`;
  if (!result.ok) text += ` ${data.code || ""} ${data.message || ""}`.trimEnd();
  const list = document.getElementById("outcomes");
  list.prepend(el("li", { className: outcome, dataset: { outcome }, text }));
  while (list.children.length > OUTCOMES_SHOWN) list.lastChild.remove();
}

// Sends the action `describe(form)` names ({label, method, path, body?, summary?})
// when the form is submitted; `after(result)` then refreshes what it changed.
export function bind(form, describe, after) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const action = describe(form);
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const result = await api(action.method, action.path, { body: action.body, form });
      report(action.label, result, action.summary);
      if (after) await after(result);
    } catch (error) {
      report(action.label, { ok: false, status: 0, data: { message: error.message } });
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

export function actionForm(className, fields, buttonText, describe, after) {
  const button = el("button", { type: "submit", text: buttonText });
  const form = el("form", { className: `action ${className}` }, tokenInput(), ...fields, button);
  return bind(form, describe, after);
}

// The supervision tree of each instance, as its view says: supervisors with their
// restarts and restart intensity, their children with restarts, mailbox depth and
// status, and a Kill button on each live actor (sent to the instance it runs on).

import { actionForm } from "./actions.js";
import { charts } from "./charts.js";
import { el } from "./dom.js";

function number(label, value, className) {
  return el("span", { className: `stat ${className}`, dataset: { value } }, `${label} `, el("b", { text: value }));
}

function killForm(instance, actorId, after) {
  const query = `?instance=${encodeURIComponent(instance)}`;
  return actionForm("kill", [], "Kill", () => ({
    label: `Kill ${actorId} on ${instance}`,
    method: "POST",
    path: `/admin/actors/${encodeURIComponent(actorId)}/kill${query}`,
  }), after);
}

function child(instance, node, after) {
  const item = el(
    "li",
    { className: "child", dataset: { actor: node.id } },
    el("span", { className: "name", text: node.id }),
    el("span", { className: "kind", text: ` ${node.kind}${node.restart ? `, ${node.restart}` : ""}` }),
    number(" restarts", node.restarts, "restarts"),
  );
  if (node.mailbox_depth !== null && node.mailbox_depth !== undefined) {
    item.append(number(" mailbox", node.mailbox_depth, "mailbox"));
  }
  if (node.status) item.append(el("span", { className: `status ${node.status}`, text: ` ${node.status}` }));
  if (node.session_status) item.append(el("span", { className: "kind", text: ` ${node.session_status}` }));
  if (node.killable) item.append(killForm(instance, node.id, after));
  return item;
}

function supervisor(instance, node, after) {
  const intensity = node.intensity;
  const head = el(
    "div",
    { className: "supervisor-head" },
    el("span", { className: "name", text: node.name }),
    el("span", { className: "kind", text: ` ${node.strategy}` }),
    number(" restarts", node.restarts ?? node.subtree_restarts, "restarts"),
    el("span", {
      className: "kind",
      text: ` (${intensity.recent_restarts} of at most ${intensity.max_restarts} in ${intensity.period_seconds} s)`,
    }),
  );
  if (node.live !== undefined) head.append(number(" live", node.live, "live"));
  const children = (node.children || []).map((c) =>
    c.children !== undefined && c.name !== undefined ? supervisor(instance, c, after) : child(instance, c, after),
  );
  return el("li", { className: "supervisor", dataset: { supervisor: node.name } }, head, el("ul", {}, ...children));
}

function panel(view, here, after) {
  const title = `Instance ${view.instance}${view.instance === here ? " (this one)" : ""}`;
  const section = el(
    "section",
    { className: "instance", dataset: { instance: view.instance } },
    el("h3", { text: title }),
  );
  if (view.error) {
    section.append(el("p", { className: "error", text: view.error }));
    return section;
  }
  section.append(charts(view.history), el("ul", { className: "tree" }, supervisor(view.instance, view.tree, after)));
  return section;
}

export function renderInstances(views, here, after) {
  document.getElementById("instances").replaceChildren(...views.map((v) => panel(v, here, after)));
}

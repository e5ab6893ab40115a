// Small DOM helpers. Every value goes in through textContent or an attribute,
// never as HTML.

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "className") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, String(value));
  }
  node.append(...children);
  return node;
}

export function cell(value) {
  const td = el("td", { text: value === null || value === undefined ? "—" : value });
  if (typeof value === "number") td.className = "num";
  return td;
}

// Rows of a table's body, one cell per column; `more(row)` adds cells (actions).
export function fill(table, rows, columns, more) {
  const fragment = document.createDocumentFragment();
  for (const row of rows) {
    const tr = el("tr");
    for (const column of columns) {
      const value = typeof column === "function" ? column(row) : row[column];
      tr.append(value instanceof Node ? el("td", {}, value) : cell(value));
    }
    if (more) tr.append(...more(row));
    fragment.append(tr);
  }
  if (rows.length === 0) {
    const empty = el("td", { className: "empty", text: "none" });
    empty.colSpan = document.getElementById(table).tHead.rows[0].cells.length;
    fragment.append(el("tr", {}, empty));
  }
  document.getElementById(table).tBodies[0].replaceChildren(fragment);
}

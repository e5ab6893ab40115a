// Small line charts of an instance's last minutes (its own metrics history), drawn
// as inline SVG: nothing loaded from anywhere else.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 240;
const HEIGHT = 60;
const TITLES = {
  requests: "Requests",
  orders: "Orders",
  errors: "Errors",
  webhook_lag: "Webhook lag",
};

function svg(tag, attributes) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  return node;
}

function format(value) {
  if (value === null || value === undefined) return "—";
  return value >= 100 ? value.toFixed(0) : value.toFixed(value >= 10 ? 1 : 2);
}

// Polylines over the points with values (a gap where the store could not say), and
// a dot on the latest value.
function lines(points, start, span, top) {
  const runs = [[]];
  let latest = null;
  for (const [time, value] of points) {
    if (value === null) {
      runs.push([]);
      continue;
    }
    latest = [((time - start) / span) * WIDTH, HEIGHT - (value / top) * (HEIGHT - 4)];
    runs[runs.length - 1].push(`${latest[0].toFixed(1)},${latest[1].toFixed(1)}`);
  }
  const drawn = runs
    .filter((run) => run.length > 0)
    .map((run) => svg("polyline", { points: run.join(" "), class: "line" }));
  if (latest) drawn.push(svg("circle", { cx: latest[0], cy: latest[1], r: 2.5, class: "dot" }));
  return drawn;
}

function chart(name, series, windowSeconds) {
  const points = series.points;
  const values = points.map((p) => p[1]).filter((v) => v !== null);
  const end = points.length ? points[points.length - 1][0] : 0;
  const top = Math.max(...values, 1e-9);
  const last = values.length ? values[values.length - 1] : null;
  const figure = document.createElement("figure");
  figure.className = "chart";
  figure.dataset.series = name;
  figure.dataset.points = String(points.length);
  figure.dataset.max = String(values.length ? Math.max(...values) : 0);
  const caption = document.createElement("figcaption");
  caption.textContent = `${TITLES[name] || name} (${series.unit}): ${format(last)}, max ${format(values.length ? top : null)}`;
  const drawing = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": caption.textContent });
  drawing.append(svg("line", { x1: 0, y1: HEIGHT, x2: WIDTH, y2: HEIGHT, class: "axis" }));
  // From the oldest sample kept (at most the window) to the latest.
  const start = points.length ? Math.max(points[0][0], end - windowSeconds) : end;
  drawing.append(...lines(points, start, Math.max(end - start, 1), top));
  figure.append(caption, drawing);
  return figure;
}

export function charts(history) {
  const box = document.createElement("div");
  box.className = "charts";
  for (const [name, series] of Object.entries(history.series)) {
    box.append(chart(name, series, history.window_seconds));
  }
  return box;
}

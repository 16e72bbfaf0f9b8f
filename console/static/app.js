// The console's page. It reads the cluster from the console's API, again
// and again, and redraws what changed:
//
//   api/namespaces   every second
//   api/servers      every second while the servers are shown
//   api/figures      at each new point of the servers' figures (?after= the
//                    last point it has, so that it reads each point once)
//
// A function's "call" button opens the call form, which sends its call to
// api/call. With an admin token the console offers the actions of
// `slacker-lua admin`, each confirmed first, through api/admin.
"use strict";

const state = {
  settings: { admin: false, token: false, every: 2 },
  token: sessionStorage.getItem("slacker-lua-console-token") || "",
  namespaces: [],
  servers: [],
  figures: { points: [], failures: {}, unreachable: {} },
  shown: { namespaces: "", servers: "" }, // the JSON drawn, to redraw only on change
};
let keep = 150; // points kept for the charts: the console's window, once its settings are read

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    e.setAttribute(k, v);
  }
  for (const k of kids) {
    e.append(k);
  }
  return e;
}

function button(text, cls, onClick, attrs) {
  const b = el("button", Object.assign({ type: "button", class: cls }, attrs || {}), text);
  b.addEventListener("click", onClick);
  return b;
}

// api asks the console's API; it throws the API's error. What has not
// changed since it was last read comes from the browser's cache, checked
// with the console (its ETag): not again over the network.
async function api(path, opts) {
  opts = Object.assign({ cache: "no-cache" }, opts || {});
  opts.headers = Object.assign({}, opts.headers || {});
  if (state.token) {
    opts.headers.Authorization = "Bearer " + state.token;
  }
  const r = await fetch(path, opts);
  let body;
  try {
    body = await r.json();
  } catch (e) {
    body = { error: r.statusText };
  }
  if (r.status === 401) {
    document.getElementById("login").hidden = false;
    throw new Error("a token is required");
  }
  if (!r.ok) {
    const e = new Error((body && body.error) || r.statusText);
    e.status = r.status;
    throw e;
  }
  return body;
}

function post(path, body) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

// Figures.

function series(kind, key, field) {
  return state.figures.points.map(p => {
    const f = kind === "cluster" ? p.cluster : (p[kind] || {})[key];
    return (f && f[field]) || 0;
  });
}

function num(v) {
  return v === 0 ? "0" : v >= 100 ? Math.round(v).toString() : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

// spark draws values as a chart of w×h pixels, the last on the right;
// until there are 40, they take their share of the width of 40.
function spark(values, cls, w, h) {
  w = w || 120;
  h = h || 24;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "spark " + (cls || ""));
  svg.setAttribute("width", w);
  svg.setAttribute("height", h);
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  const top = Math.max(...values, 1e-9);
  const step = w / (Math.max(values.length, 40) - 1);
  const x0 = w - step * (values.length - 1);
  const xy = values.map((v, i) => `${(x0 + i * step).toFixed(1)},${(h - 1 - (h - 2) * v / top).toFixed(1)}`);
  const area = document.createElementNS(ns, "polygon");
  area.setAttribute("points", `${x0.toFixed(1)},${h} ${xy.join(" ")} ${w},${h}`);
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", xy.join(" "));
  svg.append(area, line);
  return svg;
}

const totals = [
  ["calls", "calls/s", ""],
  ["errors", "errors/s", "errors"],
  ["p50", "p50 ms", ""],
  ["p99", "p99 ms", ""],
  ["inflight", "in flight", ""],
];

function drawFigures() {
  const last = state.figures.points[state.figures.points.length - 1];
  document.getElementById("totals").replaceChildren(...totals.map(([field, label, cls]) => {
    const v = series("cluster", "", field);
    return el("div", { class: "total", "data-total": field }, el("b", {}, num(last ? last.cluster[field] || 0 : 0)), label, spark(v, cls, 160, 36));
  }));
  for (const td of document.querySelectorAll("td[data-kind]")) {
    const kind = td.dataset.kind, key = td.dataset.key;
    const f = (last && (last[kind] || {})[key]) || {};
    const parts = [`${num(f.calls || 0)}/s`];
    if (f.errors) {
      parts.push(`${num(f.errors)} errors/s`);
    }
    if (f.calls) {
      parts.push(`p50 ${num(f.p50 || 0)} ms`, `p99 ${num(f.p99 || 0)} ms`);
    }
    if (f.inflight) {
      parts.push(`${num(f.inflight)} in flight`);
    }
    const text = parts.join(", ");
    td.replaceChildren(spark(series(kind, key, "calls")), el("span", { class: "rate" }, text));
  }
}

// Namespaces.

function matches(texts, q) {
  return !q || texts.join("\n").toLowerCase().includes(q);
}

function query() {
  return document.getElementById("search").value.trim().toLowerCase();
}

function nsRow(ns) {
  const name = el("td", {}, el("span", { class: "name" }, ns.name));
  if (ns.stateful) {
    name.append(el("span", { class: "tag" }, "stateful"));
  }
  if (ns.idempotent) {
    name.append(el("span", { class: "tag" }, "idempotent"));
  }
  // A version rolling out: the versions served, the most served first.
  const count = {};
  for (const s of ns.servers) {
    count[s.version] = (count[s.version] || 0) + 1;
  }
  const versions = Object.keys(count).sort((a, b) => count[b] - count[a]);
  if (versions.length > 1) {
    name.append(el("span", { class: "tag warn" }, `${versions.length} versions`));
  }
  const servers = el("td", {});
  for (const s of ns.servers) {
    const v = el("span", { class: "version" + (s.version !== versions[0] ? " odd" : "") }, (s.version || "").slice(0, 12));
    servers.append(el("div", { class: "server" }, s.addr, " ", v));
  }
  const fns = el("td", {});
  for (const f of ns.functions) {
    const tryIt = button("call", "try", () => openCall(ns, f), { "data-function": `${ns.name}/${f.name}` });
    fns.append(el("div", { class: "fn" }, `${f.name}(${(f.params || []).join(", ")})`, tryIt));
    if (f.doc) {
      fns.append(el("p", { class: "doc" }, f.doc));
    }
  }
  return el("tr", { "data-namespace": ns.name }, name, servers, el("td", { class: "server" }, ns.leader || ""),
    el("td", { class: "fig", "data-kind": "namespaces", "data-key": ns.name }), fns);
}

function drawNamespaces() {
  const q = query();
  const shown = state.namespaces.filter(ns => matches([ns.name, ...ns.functions.flatMap(f => [f.name, f.doc || ""])], q));
  document.querySelector("#namespaces tbody").replaceChildren(...shown.map(nsRow));
  document.getElementById("empty").hidden = state.namespaces.length > 0;
  drawFigures();
}

// Servers.

function srvRow(s) {
  const admin = state.settings.admin;
  const st = el("td", {});
  if (s.offline) {
    st.append(el("span", { class: "tag warn" }, "offline"));
  } else if (!s.registered) {
    st.append(el("span", { class: "tag bad" }, "no server node"));
  } else {
    st.append("online");
  }
  if ((s.offline_namespaces || []).length) {
    st.append(el("div", {}, "offline: ", s.offline_namespaces.join(", ")));
  }
  const down = state.figures.unreachable[s.addr];
  if (down) {
    st.append(el("div", { class: "failure" }, "figures: " + down));
  }
  for (const f of state.figures.failures[s.addr] || []) {
    st.append(el("div", { class: "failure", "data-failure": f.file }, f.error));
  }
  if (admin && s.registered) {
    st.append(s.offline
      ? button("put online", "act", () => confirmAct(`Put ${s.addr} back in the cluster?`, { server: s.addr, action: "online" }), { "data-action": "online" })
      : button("take offline", "act", () => confirmAct(`Take ${s.addr} out of the cluster? It goes on serving the calls sent to it.`, { server: s.addr, action: "offline" }), { "data-action": "offline" }));
  }
  const weight = el("td", {}, String(s.weight));
  if (admin && s.registered) {
    const input = el("input", { type: "number", min: "0", value: String(s.weight), class: "weight", "aria-label": "weight of " + s.addr });
    weight.replaceChildren(input, button("set", "act", () => {
      const w = Number(input.value);
      confirmAct(`Set the weight of ${s.addr} to ${w}?`, { server: s.addr, action: "weight", weight: w });
    }, { "data-action": "weight" }));
  }
  const nss = el("td", {});
  const all = [...new Set([...s.namespaces, ...(s.offline_namespaces || [])])].sort();
  for (const ns of all) {
    const line = el("div", { class: "name" }, ns);
    if (admin && !s.offline) {
      const off = (s.offline_namespaces || []).includes(ns);
      line.append(off
        ? button("online", "act", () => confirmAct(`Put ${ns} on ${s.addr} back in the cluster?`, { server: s.addr, action: "online", namespace: ns }))
        : button("offline", "act", () => confirmAct(`Take ${ns} on ${s.addr} out of the cluster?`, { server: s.addr, action: "offline", namespace: ns })));
    }
    nss.append(line);
  }
  return el("tr", { "data-server": s.addr }, el("td", { class: "server" }, s.addr), el("td", {}, s.version || ""),
    el("td", {}, s.started_at ? new Date(s.started_at).toLocaleString() : ""), weight, st,
    el("td", { class: "fig", "data-kind": "servers", "data-key": s.addr }), nss);
}

function drawServers() {
  const q = query();
  const shown = state.servers.filter(s => matches([s.addr, ...s.namespaces], q));
  document.querySelector("#servers tbody").replaceChildren(...shown.map(srvRow));
  drawFigures();
}

// Actions.

const adminKey = "slacker-lua-console-admin-token";

function confirmAct(text, action) {
  const box = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  const ask = state.settings.admin_token && !sessionStorage.getItem(adminKey);
  document.getElementById("admin-token-label").hidden = !ask;
  box.hidden = false;
  const yes = document.getElementById("confirm-yes");
  yes.onclick = async () => {
    box.hidden = true;
    if (ask) {
      sessionStorage.setItem(adminKey, document.getElementById("admin-token").value);
      document.getElementById("admin-token").value = "";
    }
    const answer = document.getElementById("action-answer");
    answer.className = "";
    answer.textContent = "…";
    try {
      const a = await api("api/admin", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Admin-Token": sessionStorage.getItem(adminKey) || "" },
        body: JSON.stringify(action),
      });
      const what = [action.action, action.namespace, action.action === "weight" ? action.weight : ""].filter(x => x !== undefined && x !== "").join(" ");
      answer.textContent = `${what} on ${action.server}: done; now ${JSON.stringify(a.state)}`;
    } catch (e) {
      if (state.settings.admin_token && e.status === 403) {
        sessionStorage.removeItem(adminKey); // asked again at the next action
      }
      answer.className = "failed";
      answer.textContent = `${action.action} on ${action.server} failed: ${e.message}`;
    }
    pollServers(true);
  };
  document.getElementById("confirm-no").onclick = () => { box.hidden = true; };
  (ask ? document.getElementById("admin-token") : yes).focus();
}

// Calls.

function openCall(ns, f) {
  document.getElementById("call").hidden = false;
  document.getElementById("call-fn").textContent = `${ns.name}/${f.name}`;
  document.getElementById("call-doc").textContent = f.doc || "";
  const server = document.getElementById("call-server");
  server.replaceChildren(el("option", { value: "" }, "the cluster (its client picks the server)"),
    ...ns.servers.map(s => el("option", { value: s.addr }, s.addr)));
  document.getElementById("call-answer").textContent = "";
  document.getElementById("call-args").focus();
}

async function call(event) {
  event.preventDefault();
  const answer = document.getElementById("call-answer");
  answer.className = "";
  let args;
  try {
    args = JSON.parse(document.getElementById("call-args").value || "[]");
    if (!Array.isArray(args)) {
      throw new Error("want an array, as [1, \"two\"]");
    }
  } catch (e) {
    answer.className = "failed";
    answer.textContent = "bad arguments: " + e.message;
    return;
  }
  const req = { function: document.getElementById("call-fn").textContent, args: args };
  const server = document.getElementById("call-server").value;
  if (server) {
    req.server = server;
  }
  answer.textContent = "calling…";
  try {
    const a = await post("api/call", req);
    const took = `${a.ms.toFixed(1)} ms`;
    if (a.code === "success") {
      answer.textContent = `success, ${took}\n${JSON.stringify(a.result ?? null, null, 2)}`;
    } else {
      answer.className = "failed";
      answer.textContent = `${a.code || "failed"}, ${took}\n${a.error}`;
    }
  } catch (e) {
    answer.className = "failed";
    answer.textContent = "cannot call: " + e.message;
  }
}

// Polling.

function showing(page) {
  return !document.getElementById("page-" + page).hidden;
}

async function pollNamespaces() {
  const status = document.getElementById("status");
  try {
    const body = await api("api/namespaces");
    status.textContent = "";
    const json = JSON.stringify(body);
    if (json !== state.shown.namespaces) {
      state.shown.namespaces = json;
      state.namespaces = body;
      drawNamespaces();
    }
  } catch (e) {
    status.textContent = "cannot read the cluster: " + e.message;
  }
}

let serversAsked = 0; // counts the polls of api/servers, so that only the last one's answer is drawn

async function pollServers(force) {
  const n = ++serversAsked;
  try {
    const body = await api("api/servers");
    if (n !== serversAsked) {
      return; // a later poll's answer is drawn
    }
    state.servers = body;
    const json = JSON.stringify([body, state.figures.failures, state.figures.unreachable]);
    const typing = document.activeElement && document.activeElement.matches("#servers input");
    if (force || (json !== state.shown.servers && !typing)) {
      state.shown.servers = json;
      drawServers();
    }
  } catch (e) {
    document.getElementById("status").textContent = "cannot read the servers: " + e.message;
  }
}

async function pollFigures() {
  const pts = state.figures.points;
  const after = pts.length ? pts[pts.length - 1].seq : 0;
  try {
    const f = await api("api/figures?after=" + after);
    if (f.seq < after) {
      state.figures.points = []; // the console restarted: its points count again, read from the first next time
      return;
    }
    if (f.error) {
      document.getElementById("status").textContent = "figures: " + f.error;
    }
    state.figures.points = state.figures.points.concat(f.points).slice(-keep);
    state.figures.failures = f.failures;
    state.figures.unreachable = f.unreachable;
    drawFigures();
  } catch (e) {
    // the status line says why, from the other polls
  }
}

function every(ms, fn) {
  const loop = async () => {
    try {
      await fn();
    } finally {
      setTimeout(loop, ms);
    }
  };
  loop();
}

function route() {
  const page = location.hash === "#servers" ? "servers" : "namespaces";
  for (const p of ["namespaces", "servers"]) {
    document.getElementById("page-" + p).hidden = p !== page;
    document.getElementById("tab-" + p).classList.toggle("on", p === page);
  }
  if (page === "servers") {
    pollServers(true);
  }
}

async function start() {
  try {
    state.settings = await api("api/config");
  } catch (e) {
    document.getElementById("status").textContent = "cannot read the console's settings: " + e.message;
    return;
  }
  keep = Math.max(2, Math.round(state.settings.window / state.settings.every));
  if (state.settings.token && !state.token) {
    document.getElementById("login").hidden = false;
    return;
  }
  route();
  every(1000, pollNamespaces);
  every(1000, () => (showing("servers") ? pollServers(false) : null));
  every(state.settings.every * 1000, pollFigures);
}

document.getElementById("login").addEventListener("submit", event => {
  event.preventDefault();
  state.token = document.getElementById("token").value;
  sessionStorage.setItem("slacker-lua-console-token", state.token);
  document.getElementById("login").hidden = true;
  location.reload();
});
document.getElementById("search").addEventListener("input", () => { drawNamespaces(); drawServers(); });
document.getElementById("call-form").addEventListener("submit", call);
window.addEventListener("hashchange", route);
start();

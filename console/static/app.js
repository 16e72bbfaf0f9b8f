// The console's page: it reads /api/namespaces every second and shows
// what it finds, filtered by the search box; a function's "call" button
// opens the call form, which sends its call to /api/call.
"use strict";

const every = 1000;
let namespaces = [];
let shown = ""; // the JSON of what the table shows, to redraw it only when it changes

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

function matches(ns, q) {
  if (!q) {
    return true;
  }
  const text = [ns.name, ...ns.functions.flatMap(f => [f.name, f.doc || ""])].join("\n").toLowerCase();
  return text.includes(q);
}

function row(ns) {
  const name = el("td", {}, el("span", { class: "name" }, ns.name));
  if (ns.stateful) {
    name.append(el("span", { class: "tag" }, "stateful"));
  }
  if (ns.idempotent) {
    name.append(el("span", { class: "tag" }, "idempotent"));
  }
  const servers = el("td", {});
  for (const s of ns.servers) {
    servers.append(el("div", { class: "server" }, s.addr, " ", el("span", { class: "version" }, (s.version || "").slice(0, 12))));
  }
  const fns = el("td", {});
  for (const f of ns.functions) {
    const tryIt = el("button", { type: "button", class: "try", "data-function": `${ns.name}/${f.name}` }, "call");
    tryIt.addEventListener("click", () => openCall(ns, f));
    fns.append(el("div", { class: "fn" }, `${f.name}(${(f.params || []).join(", ")})`, tryIt));
    if (f.doc) {
      fns.append(el("p", { class: "doc" }, f.doc));
    }
  }
  const tr = el("tr", { "data-namespace": ns.name }, name, servers, el("td", { class: "server" }, ns.leader || ""), fns);
  return tr;
}

function openCall(ns, f) {
  document.getElementById("call").hidden = false;
  document.getElementById("call-fn").textContent = `${ns.name}/${f.name}`;
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
    const r = await fetch("api/call", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(req) });
    const a = await r.json();
    if (!r.ok) {
      throw new Error(a.error || r.statusText);
    }
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

function render() {
  const q = document.getElementById("search").value.trim().toLowerCase();
  const body = document.querySelector("#namespaces tbody");
  body.replaceChildren(...namespaces.filter(ns => matches(ns, q)).map(row));
  document.getElementById("empty").hidden = namespaces.length > 0;
}

async function poll() {
  const status = document.getElementById("status");
  try {
    const r = await fetch("api/namespaces", { cache: "no-store" });
    const body = await r.json();
    if (!r.ok) {
      throw new Error(body.error || r.statusText);
    }
    status.textContent = "";
    const json = JSON.stringify(body);
    if (json !== shown) {
      shown = json;
      namespaces = body;
      render();
    }
  } catch (e) {
    status.textContent = "cannot read the cluster: " + e.message;
  }
  setTimeout(poll, every);
}

document.getElementById("search").addEventListener("input", render);
document.getElementById("call-form").addEventListener("submit", call);
poll();

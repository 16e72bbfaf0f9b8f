// The console's page: it reads /api/namespaces every second and shows
// what it finds, filtered by the search box.
"use strict";

const every = 1000;
let namespaces = [];

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
    fns.append(el("div", { class: "fn" }, `${f.name}(${(f.params || []).join(", ")})`));
    if (f.doc) {
      fns.append(el("p", { class: "doc" }, f.doc));
    }
  }
  const tr = el("tr", { "data-namespace": ns.name }, name, servers, el("td", { class: "server" }, ns.leader || ""), fns);
  return tr;
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
    namespaces = body;
    status.textContent = "";
    render();
  } catch (e) {
    status.textContent = "cannot read the cluster: " + e.message;
  }
  setTimeout(poll, every);
}

document.getElementById("search").addEventListener("input", render);
poll();

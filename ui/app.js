// Fulcrum's web UI: a client of the REST API it is served beside, with no
// framework and no build step. The API token stays in this tab's
// sessionStorage and goes in the Authorization header of every call; the
// event stream (/api/v1/events, read with fetch so that it carries the
// header too) refreshes the page on every committed change. Every value
// from the API is put in the page as text, never as markup.
"use strict";

const VERBS = ["manage", "inspect", "provide", "deploy", "rebuild", "undeploy", "rescue", "unrescue", "adopt", "abort"];
const ui = { token: sessionStorage.getItem("fulcrum.token"), stream: null, timer: null, events: [], view: null };

// ---- small helpers ----
const $ = (sel) => document.querySelector(sel);

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, "");
    else if (v !== false && v !== null && v !== undefined) el.setAttribute(k, v);
  }
  for (const kid of kids.flat()) {
    if (kid !== null && kid !== undefined && kid !== false) el.append(kid instanceof Node ? kid : String(kid));
  }
  return el;
}

function svg(tag, attrs, ...kids) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined) el.append(kid instanceof Node ? kid : String(kid));
  return el;
}

function table(headers, rows) {
  return h("table", {}, h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c))))));
}

const state = (s) => h("span", { class: `state s-${s}` }, s);
const yes = (b) => (b ? "yes" : "no");
const when = (secs) => (secs ? new Date(secs * 1000).toISOString().replace(".000Z", "Z") : "");
const whenMs = (ms) => (ms ? new Date(ms).toISOString() : "");
const link = (href, text) => h("a", { href }, text);

function say(message) {
  const el = $("#error");
  el.textContent = message;
  el.hidden = !message;
}

// ---- the API ----
async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${ui.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (resp.status === 401) {
    logout("That token is not valid (any more): log in again.");
    throw new Error("not logged in");
  }
  const text = await resp.text();
  const data = text ? JSON.parse(text) : null;
  if (!resp.ok) {
    const field = data && data.detail && data.detail.field ? ` (${data.detail.field})` : "";
    throw new Error(`${method} ${path}: ${resp.status} ${(data && data.error) || ""}${field}`);
  }
  return data;
}

/// Runs an action; its failure is shown, not thrown.
async function act(what) {
  try {
    say("");
    await what();
    await render();
  } catch (e) {
    if (e.message !== "not logged in") say(e.message);
  }
}

// ---- the event stream ----
async function stream() {
  const live = $("#live");
  while (ui.token) {
    try {
      const resp = await fetch("/api/v1/events", { headers: { Authorization: `Bearer ${ui.token}` } });
      if (!resp.ok || !resp.body) throw new Error(`events: ${resp.status}`);
      live.textContent = "live";
      live.className = "live on";
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let cut;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
          heard(buf.slice(0, cut));
          buf = buf.slice(cut + 2);
        }
      }
    } catch (e) {
      // The server restarted or the network dropped: try again shortly.
    }
    live.textContent = "offline";
    live.className = "live off";
    await new Promise((r) => setTimeout(r, 2000));
  }
}

function heard(block) {
  let name = "message";
  let data = "";
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data += line.slice(5).trim();
  }
  if (!data) return;
  ui.events.unshift({ at: new Date().toISOString(), name, data });
  ui.events.length = Math.min(ui.events.length, 200);
  soon();
}

// Re-renders shortly; while someone is typing in a text field, later
// (picks and ticks survive a re-render: see restoreForm).
function soon() {
  clearTimeout(ui.timer);
  ui.timer = setTimeout(() => {
    const a = document.activeElement;
    const typing = a && (a.tagName === "TEXTAREA" || (a.tagName === "INPUT" && !["checkbox", "radio", "button", "submit"].includes(a.type)));
    if (typing) soon();
    else render();
  }, 300);
}

// ---- the views ----
async function nodesView() {
  const nodes = await api("GET", "/api/v1/nodes");
  return [
    h("h1", {}, `Nodes (${nodes.length})`),
    table(["Name", "Lifecycle", "Bootenv", "IPv4", "IPv6", "Alive", "Available", "Power", "Last boot", "Inventory"],
      nodes.map((n) => [
        link(`#/node/${encodeURIComponent(n.name)}`, n.name),
        state(n.provision_state),
        n.bootenv,
        n.ipv4 || "",
        n.ipv6 || "",
        h("span", { "data-alive": n.name }, yes(n.alive)),
        h("span", { "data-available": n.name }, yes(n.available)),
        n.power_state || "",
        n.last_traced ? h("span", { title: `${n.last_traced.request} → ${n.last_traced.answer}` }, `${whenMs(n.last_traced.at_ms)} ${n.last_traced.service}`) : "",
        n.inventory_at ? when(n.inventory_at) : "",
      ])),
  ];
}

async function nodeView(name) {
  const path = `/api/v1/nodes/${encodeURIComponent(name)}`;
  const [n, envs, trace, explained] = await Promise.all([
    api("GET", path),
    api("GET", "/api/v1/bootenvs"),
    api("GET", `${path}/trace`),
    api("GET", `/api/v1/explain/${encodeURIComponent(name)}`).catch((e) => ({ failed: e.message })),
  ]);
  // Asked only when there is one: a 404 would be a console error.
  const facts = n.inventory_at ? await api("GET", `${path}/inventory`) : null;
  const envPick = h("select", { id: "bootenv-pick" }, envs.map((e) => h("option", { value: e.name, selected: e.name === n.bootenv }, e.name)));
  const verbPick = h("select", { id: "verb-pick" }, VERBS.map((v) => h("option", { value: v }, v)));
  const deployEnv = h("select", { id: "verb-bootenv" }, h("option", { value: "" }, "(its bootenv)"), envs.map((e) => h("option", { value: e.name }, e.name)));
  const last = trace.events.length ? trace.events[trace.events.length - 1] : null;
  return [
    h("h1", {}, n.name),
    table(["", ""], [
      ["Lifecycle", [state(n.provision_state), n.last_error ? h("span", { class: "muted" }, ` ${n.last_error}`) : ""]],
      ["Bootenv", h("span", { id: "node-bootenv" }, n.bootenv)],
      ["Addresses", (n.addresses || []).join("  ")],
      ["Network", n.network || ""],
      ["Alive", yes(n.alive) + (n.in_agent ? " (in the discovery agent)" : "")],
      ["Available", h("span", { id: "node-available" }, yes(n.available))],
      ["Protected", yes(n.protected)],
      ["Power", n.power_state || ""],
      ["Last boot", last ? `${whenMs(last.at_ms)}: ${last.service} ${last.request}` : "nothing traced yet"],
      ["MACs", (n.macs || []).join(" ")],
    ]),
    h("div", { class: "actions" },
      envPick,
      h("button", { id: "set-bootenv", type: "button", onclick: () => act(() => api("PUT", `${path}/bootenv`, { bootenv: envPick.value })) }, "Set bootenv"),
      verbPick, deployEnv,
      h("button", {
        id: "apply-verb", type: "button",
        onclick: () => act(() => api("PUT", `${path}/states/provision`, deployEnv.value ? { target: verbPick.value, bootenv: deployEnv.value } : { target: verbPick.value })),
      }, "Apply verb"),
      h("button", { id: "toggle-available", type: "button", onclick: () => act(() => api("PATCH", path, { available: !n.available })) },
        n.available ? "Make unavailable" : "Make available")),
    h("h2", {}, "Boot trace"),
    trace.events.length
      ? h("ol", { class: "timeline", reversed: true }, trace.events.slice().reverse().map((e) =>
        h("li", {}, h("span", { class: "muted" }, whenMs(e.at_ms)), " ", h("span", { class: "svc" }, e.service), " ", e.request, " → ", e.answer)))
      : h("p", { class: "muted" }, "Nothing traced yet."),
    h("h2", {}, "What it would be answered now"),
    explained.failed ? h("p", { class: "muted" }, explained.failed) : table(["Firmware", "DHCP", "Fetch", "Because"],
      explained.answers.map((a) => [a.firmware, a.dhcp, a.fetch || "", h("ul", {}, a.because.map((b) => h("li", {}, b)))])),
    explained.failed || !explained.answers_v6.length ? "" : table(["Firmware (DHCPv6)", "DHCPv6", "Boot URL"],
      explained.answers_v6.map((a) => [a.firmware, a.dhcp, a.boot_url || ""])),
    explained.failed || !explained.v6_note ? "" : h("p", { class: "muted" }, `DHCPv6: ${explained.v6_note}`),
    explained.failed ? "" : h("p", {}, `iPXE script: bootenv ${explained.script.bootenv} (${explained.script.because})`),
    explained.failed || !explained.grub ? "" : h("p", {}, `GRUB config: ${explained.grub.error || `bootenv ${explained.grub.bootenv}`}`),
    explained.failed || !explained.grub || !explained.grub.script ? "" : h("pre", {}, explained.grub.script),
    explained.failed || !explained.pxelinux ? "" : h("p", {}, `PXELINUX config: ${explained.pxelinux.error || `bootenv ${explained.pxelinux.bootenv}`}`),
    explained.failed || !explained.pxelinux || !explained.pxelinux.script ? "" : h("pre", {}, explained.pxelinux.script),
    explained.failed || !(explained.lacks || []).length ? "" : h("p", { class: "error" },
      `Bootenv ${explained.script.bootenv} lacks (its boot would fail): ${explained.lacks.join("; ")}`),
    h("h2", {}, "Inventory"),
    facts ? h("pre", {}, JSON.stringify(facts.facts, null, 2)) : h("p", { class: "muted" }, "No hardware report yet."),
  ];
}

async function networksView() {
  const [nets, leases] = await Promise.all([api("GET", "/api/v1/networks"), api("GET", "/api/v1/leases")]);
  return [
    h("h1", {}, "Networks"),
    table(["Name", "Subnet", "IPv6", "Static", "Dynamic", "Domain", "DHCP", "Strangers"], nets.map((n) => [
      n.name, n.subnet, n.v6_network || "", n.static ? `${n.static.start}-${n.static.end}` : "",
      n.dynamic ? `${n.dynamic.start}-${n.dynamic.end}` : "", n.domain, n.dhcp || "full", n.unknown_clients || "serve",
    ])),
    h("h2", {}, `Leases (${leases.length})`),
    table(["Address", "State", "Client", "Network", "Node", "Expires"], leases.map((l) => [
      l.ip, state(l.state), l.mac || l.duid || "", l.network, l.node ? link(`#/node/${encodeURIComponent(l.node)}`, l.node) : "", when(l.expires_at),
    ])),
  ];
}

async function bootenvsView() {
  const envs = await api("GET", "/api/v1/bootenvs");
  return [h("h1", {}, "Bootenvs"), table(["Name", "Kind", "OS", "Kernel", "Description"], envs.map((e) => [e.name, e.kind, e.os, e.kernel || "", e.description]))];
}

async function deploymentsView() {
  const ds = await api("GET", "/api/v1/deployments");
  return [h("h1", {}, "Deployments"), table(["Name", "Parent", "State", "Status", "Noderoles"], ds.map((d) => [
    link(`#/deployment/${encodeURIComponent(d.name)}`, d.name), d.parent || "", d.state, d.status,
    Object.entries(d.noderoles).filter(([, c]) => c > 0).map(([s, c]) => `${s} ${c}`).join(", "),
  ]))];
}

/// The noderoles of a deployment drawn as a graph, parents above
/// children, each box coloured by its state.
function graph(nrs) {
  const byId = new Map(nrs.map((n) => [n.id, n]));
  const depth = new Map();
  const deep = (n, seen) => {
    if (depth.has(n.id)) return depth.get(n.id);
    if (seen.has(n.id)) return 0;
    seen.add(n.id);
    const d = Math.max(0, ...n.parents.filter((p) => byId.has(p)).map((p) => deep(byId.get(p), seen) + 1));
    depth.set(n.id, d);
    return d;
  };
  nrs.forEach((n) => deep(n, new Set()));
  const rows = [];
  nrs.forEach((n) => { (rows[depth.get(n.id)] ||= []).push(n); });
  const W = 190, H = 34, GX = 20, GY = 40;
  const at = new Map();
  rows.forEach((row, y) => row.forEach((n, x) => at.set(n.id, { x: GX + x * (W + GX), y: GY / 2 + y * (H + GY) })));
  const width = Math.max(1, ...rows.map((r) => r.length)) * (W + GX) + GX;
  const height = rows.length * (H + GY) + GY / 2;
  const edges = nrs.flatMap((n) => n.parents.filter((p) => at.has(p)).map((p) => {
    const a = at.get(p), b = at.get(n.id);
    return svg("path", { class: "edge", d: `M${a.x + W / 2},${a.y + H} C${a.x + W / 2},${a.y + H + GY / 2} ${b.x + W / 2},${b.y - GY / 2} ${b.x + W / 2},${b.y}` });
  }));
  const boxes = nrs.map((n) => {
    const p = at.get(n.id);
    return svg("g", { class: `nr ${n.state}`, "data-noderole": n.id, "data-state": n.state, transform: `translate(${p.x},${p.y})` },
      svg("title", {}, `${n.role} on ${n.node}: ${n.state}${n.error ? ` (${n.error})` : ""}`),
      svg("rect", { width: W, height: H }),
      svg("text", { x: 8, y: 14 }, n.role),
      svg("text", { x: 8, y: 28, class: "muted" }, `${n.node.split(".")[0]} · ${n.state}`));
  });
  return svg("svg", { id: "graph", width, height, viewBox: `0 0 ${width} ${height}` }, edges, boxes);
}

async function deploymentView(name) {
  const q = encodeURIComponent(name);
  const [d, nrs, roles, nodes] = await Promise.all([
    api("GET", `/api/v1/deployments/${q}`),
    api("GET", `/api/v1/noderoles?deployment=${q}`),
    api("GET", "/api/v1/roles"),
    api("GET", "/api/v1/nodes"),
  ]);
  const rolePick = h("select", { id: "role-pick" }, roles.map((r) => h("option", { value: r.name }, r.name)));
  const picks = nodes.map((n) => h("label", {}, h("input", { type: "checkbox", value: n.name, class: "node-pick" }), ` ${n.name} `));
  const bind = () => act(async () => {
    for (const box of document.querySelectorAll(".node-pick:checked")) {
      await api("POST", "/api/v1/noderoles", { deployment: name, role: rolePick.value, node: box.value });
    }
  });
  return [
    h("h1", {}, `Deployment ${d.name}`),
    h("p", {}, `${d.state}, ${d.status}`),
    h("div", { class: "card" }, h("div", { class: "actions" }, "Bind role ", rolePick, " to ", picks,
      h("button", { id: "bind", type: "button", onclick: bind }, "Bind"),
      h("button", { id: "commit", type: "button", onclick: () => act(() => api("POST", `/api/v1/deployments/${q}/commit`)) }, "Commit"))),
    nrs.length ? graph(nrs) : h("p", { class: "muted" }, "No noderoles yet."),
    h("h2", {}, "Noderoles"),
    table(["Id", "Role", "Node", "State", "Runs", "Error", ""], nrs.map((n) => [
      n.id, n.role, n.node, state(n.state), n.run_count, n.error || "",
      n.state === "error" ? h("button", { type: "button", class: "retry", onclick: () => act(() => api("POST", `/api/v1/noderoles/${n.id}/retry`)) }, "Retry") : "",
    ])),
  ];
}

async function runsView(id) {
  const runs = await api("GET", "/api/v1/runs");
  const shown = id ? await api("GET", `/api/v1/runs/${encodeURIComponent(id)}`) : null;
  return [
    h("h1", {}, "Runs"),
    shown ? h("div", { class: "card" }, h("h2", {}, `Run ${shown.id}: ${shown.role} on ${shown.node}, ${shown.outcome}`), h("pre", { id: "run-log" }, shown.log || "(no output)")) : "",
    table(["Id", "Role", "Node", "Deployment", "Outcome", "Started", "Took"], runs.slice().reverse().map((r) => [
      link(`#/runs/${r.id}`, r.id), r.role, r.node, r.deployment, state(r.outcome), whenMs(r.started_ms),
      r.ended_ms ? `${((r.ended_ms - r.started_ms) / 1000).toFixed(1)} s` : "",
    ])),
  ];
}

function eventsView() {
  return [h("h1", {}, "Events"), h("p", { class: "muted" }, "Every committed change, newest first, as it happens."),
    table(["Heard", "Event", "Record"], ui.events.map((e) => [e.at, e.name, h("code", {}, e.data.slice(0, 300))]))];
}

const VIEWS = {
  nodes: () => nodesView(),
  node: (arg) => nodeView(arg),
  networks: () => networksView(),
  bootenvs: () => bootenvsView(),
  deployments: () => deploymentsView(),
  deployment: (arg) => deploymentView(arg),
  runs: (arg) => runsView(arg),
  events: () => eventsView(),
};

// What the operator has picked or typed on the page, so that a live
// re-render (a change event) does not undo it.
function formState(root) {
  const s = new Map();
  root.querySelectorAll("select[id], input[id]:not([type=checkbox])").forEach((e) => s.set(`#${e.id}`, e.value));
  root.querySelectorAll("input[type=checkbox][value]").forEach((e) => s.set(`${e.className}=${e.value}`, e.checked));
  return s;
}

function restoreForm(root, s) {
  root.querySelectorAll("select[id], input[id]:not([type=checkbox])").forEach((e) => {
    const v = s.get(`#${e.id}`);
    if (v !== undefined && (e.tagName !== "SELECT" || [...e.options].some((o) => o.value === v))) e.value = v;
  });
  root.querySelectorAll("input[type=checkbox][value]").forEach((e) => {
    const v = s.get(`${e.className}=${e.value}`);
    if (v !== undefined) e.checked = v;
  });
}

async function render() {
  if (!ui.token) return;
  const [, name = "nodes", ...rest] = location.hash.split("/");
  const arg = rest.length ? decodeURIComponent(rest.join("/")) : undefined;
  const view = VIEWS[name] || VIEWS.nodes;
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("here", a.getAttribute("href") === `#/${name}`));
  try {
    const content = await view(arg);
    const main = $("#main");
    const kept = main.dataset.hash === location.hash ? formState(main) : null;
    main.replaceChildren(...content);
    if (kept) restoreForm(main, kept);
    main.dataset.hash = location.hash;
    document.body.dataset.view = name;
    document.body.dataset.renders = String(Number(document.body.dataset.renders || 0) + 1);
  } catch (e) {
    if (e.message !== "not logged in") say(e.message);
  }
}

function logout(why) {
  ui.token = null;
  sessionStorage.removeItem("fulcrum.token");
  if (why) sessionStorage.setItem("fulcrum.why", why);
  location.reload();
}

function start() {
  const why = sessionStorage.getItem("fulcrum.why");
  if (why) {
    say(why);
    sessionStorage.removeItem("fulcrum.why");
  }
  $("#login").addEventListener("submit", (e) => {
    e.preventDefault();
    ui.token = $("#token").value.trim();
    sessionStorage.setItem("fulcrum.token", ui.token);
    begin();
  });
  $("#logout").addEventListener("click", () => logout());
  if (ui.token) begin();
}

function begin() {
  $("#logout").hidden = false;
  window.addEventListener("hashchange", () => render());
  render();
  stream();
}

start();

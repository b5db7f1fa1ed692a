// The Rafka console: a few pages drawn from the JSON API (/api/v1), refreshed every 2 s.
// Routes live in the URL hash: #/, #/topics, #/topics/NAME, #/groups, #/groups/ID.
// Every value from the broker is inserted as text (never as HTML): message keys and values
// are whatever producers sent.
"use strict";

const REFRESH_MS = 2000;
const page = document.getElementById("page");
const status = document.getElementById("status");
let timer = null;
let overviewState = null; // keeps the throughput chart across refreshes of the overview page

// ------------------------------------------------------------------ helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = String(value);
    else if (name === "onclick" || name === "onsubmit" || name === "onchange") {
      node.addEventListener(name.slice(2), value);
    } else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(path, options = {}) {
  const response = await fetch("/api/v1" + path, options);
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) {
    throw new Error((body && body.error) || `${response.status} ${response.statusText}`);
  }
  return body;
}

function number(value) {
  return value === null || value === undefined ? "–" : Number(value).toLocaleString("en-US");
}

function bytes(value) {
  if (value === null || value === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = value, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? String(v) : v.toFixed(1)) + " " + units[i];
}

function time(ms) {
  return ms === null || ms === undefined ? "–" : new Date(ms).toISOString().replace("T", " ").slice(0, 23);
}

function age(ms) {
  if (ms === null || ms === undefined) return "–";
  let s = Math.max(0, (Date.now() - ms) / 1000);
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

function preview(p) {
  if (!p || p.text === null) return el("span", { class: "muted", text: "null" });
  const text = p.encoding === "base64" ? `base64:${p.text}` : p.text;
  return p.truncated ? `${text}… (${bytes(p.size)})` : text;
}

function table(columns, rows, attrs = {}) {
  // columns: [{title, num?}]; rows: [{attrs, cells: [{value, field?, cls?}]}]
  const head = el("tr", {}, columns.map((c) => el("th", { class: c.num ? "num" : null, text: c.title })));
  const body = rows.map((row) =>
    el("tr", row.attrs || {}, row.cells.map((cell, i) =>
      el("td", {
        class: [columns[i].num ? "num" : "", cell.cls || ""].join(" ").trim() || null,
        "data-field": cell.field || null,
      }, cell.value))));
  if (rows.length === 0) {
    body.push(el("tr", {}, el("td", { class: "empty", colspan: columns.length, text: "none" })));
  }
  return el("table", attrs, el("thead", {}, head), el("tbody", {}, body));
}

function card(label, value, field) {
  return el("div", { class: "card" },
    el("div", { class: "label", text: label }),
    el("div", { class: "value", "data-field": field, text: value }));
}

function setStatus(ok, text) {
  status.textContent = text;
  status.className = "status " + (ok ? "ok" : "bad");
}

function showError(error) {
  setStatus(false, "error");
  page.replaceChildren(el("p", { class: "error", text: String(error.message || error) }));
}

// ------------------------------------------------------------------ overview

async function overviewPage() {
  const data = await api("/overview");
  const topics = (await api("/topics")).topics;
  if (!overviewState) {
    overviewState = {
      previous: null,
      chart: new LineChart(document.createElement("canvas"), [
        { label: "messages/s in", color: "#2f6fde" },
        { label: "messages/s out", color: "#e07b24" },
      ]),
    };
    overviewState.chart.canvas.className = "chart";
    overviewState.chart.canvas.id = "throughput-chart";
  }
  const state = overviewState;
  let rateIn = 0, rateOut = 0;
  if (state.previous && data.now_ms > state.previous.now_ms) {
    const seconds = (data.now_ms - state.previous.now_ms) / 1000;
    rateIn = Math.max(0, (data.messages_in_total - state.previous.messages_in_total) / seconds);
    rateOut = Math.max(0, (data.messages_out_total - state.previous.messages_out_total) / seconds);
  }
  state.previous = data;
  setStatus(data.ready, data.ready ? "ready" : "not ready");
  page.replaceChildren(
    el("h1", { text: "Overview" }),
    el("div", { class: "cards" },
      card("Broker", `#${data.broker_id}`, "broker_id"),
      card("Version", data.version, "version"),
      card("Topics", number(data.topics), "topics"),
      card("Partitions", number(data.partitions), "partitions"),
      card("Messages stored", number(data.messages), "messages"),
      card("Stored size", bytes(data.size_bytes), "size_bytes"),
      card("Consumer groups", number(data.groups), "groups"),
      card("Connections", number(data.connections_open), "connections_open"),
      card("Messages/s in", formatShort(rateIn), "rate_in"),
      card("Messages/s out", formatShort(rateOut), "rate_out")),
    el("h2", { text: "Throughput" }),
    el("div", { class: "panel" }, state.chart.canvas, state.chart.legend()),
    el("h2", { text: "Brokers" }),
    table([{ title: "id" }, { title: "host" }, { title: "port", num: true }, { title: "cluster" }],
      data.brokers.map((b) => ({ cells: [
        { value: b.broker_id }, { value: b.host || "–" }, { value: b.port || "–" },
        { value: data.cluster_id, cls: "mono" }] })), { id: "brokers" }),
    el("h2", { text: "Topics" }),
    topicsTable(topics));
  state.chart.push([rateIn, rateOut]);
}

function topicsTable(topics) {
  return table(
    [{ title: "topic" }, { title: "partitions", num: true }, { title: "messages", num: true },
     { title: "size", num: true }, { title: "in (msgs)", num: true }, { title: "out (msgs)", num: true },
     { title: "oldest message" }],
    topics.map((t) => ({
      attrs: { "data-topic": t.name },
      cells: [
        { value: el("a", { href: `#/topics/${encodeURIComponent(t.name)}`, text: t.name }), field: "name" },
        { value: number(t.partition_count), field: "partition_count" },
        { value: number(t.messages), field: "messages" },
        { value: bytes(t.size_bytes), field: "size_bytes" },
        { value: number(t.messages_in_total), field: "messages_in_total" },
        { value: number(t.messages_out_total), field: "messages_out_total" },
        { value: age(t.oldest_timestamp_ms), field: "oldest" },
      ],
    })),
    { id: "topics" });
}

// ------------------------------------------------------------------ topics

async function topicsPage() {
  const [overview, topics] = [await api("/overview"), (await api("/topics")).topics];
  setStatus(overview.ready, overview.ready ? "ready" : "not ready");
  const parts = [el("h1", { text: "Topics" })];
  if (overview.allow_writes) parts.push(createTopicForm());
  parts.push(topicsTable(topics));
  page.replaceChildren(...parts);
}

function createTopicForm() {
  const name = el("input", { name: "name", placeholder: "topic name", required: true });
  const partitions = el("input", { name: "partitions", type: "number", min: 1, value: 1 });
  const message = el("span", { class: "muted" });
  return el("form", {
    class: "inline", id: "create-topic",
    onsubmit: async (event) => {
      event.preventDefault();
      try {
        await api("/topics", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ name: name.value, partitions: Number(partitions.value) }),
        });
        location.hash = `#/topics/${encodeURIComponent(name.value)}`;
      } catch (error) { message.textContent = error.message; message.className = "error"; }
    },
  }, "New topic", name, "partitions", partitions, el("button", { type: "submit", text: "Create" }), message);
}

async function topicPage(name, params) {
  const topic = await api(`/topics/${encodeURIComponent(name)}`);
  const overview = await api("/overview");
  setStatus(overview.ready, overview.ready ? "ready" : "not ready");
  const query = new URLSearchParams();
  if (params.get("partition")) query.set("partition", params.get("partition"));
  query.set("limit", params.get("limit") || "20");
  const messages = await api(`/topics/${encodeURIComponent(name)}/messages?${query}`);

  const partitionRows = topic.partitions.map((p) => ({
    attrs: { "data-partition": p.partition },
    cells: [
      { value: p.partition, field: "partition" },
      { value: number(p.log_start_offset), field: "log_start_offset" },
      { value: number(p.log_end_offset), field: "log_end_offset" },
      { value: number(p.high_watermark), field: "high_watermark" },
      { value: number(p.messages), field: "messages" },
      { value: bytes(p.size_bytes), field: "size_bytes" },
      { value: number(p.segments), field: "segments" },
      { value: time(p.oldest_timestamp_ms), field: "oldest_timestamp" },
    ],
  }));
  const configRows = Object.entries(topic.configs).map(([key, c]) => ({
    attrs: { class: c.overridden ? "overridden" : null, "data-config": key },
    cells: [{ value: key }, { value: c.value, cls: "mono" }, { value: c.overridden ? "topic" : "broker default" }],
  }));
  const messageRows = messages.messages.items.map((m) => ({
    attrs: { "data-offset": m.offset, "data-message-partition": m.partition },
    cells: [
      { value: m.partition, field: "partition" },
      { value: number(m.offset), field: "offset" },
      { value: time(m.timestamp_ms), field: "timestamp" },
      { value: preview(m.key), field: "key", cls: "mono" },
      { value: preview(m.value), field: "value", cls: "mono" },
      { value: m.headers.map((h) => `${h.key}=${h.value.text === null ? "null" : h.value.text}`).join(", ") || "–",
        field: "headers", cls: "mono" },
    ],
  }));

  const select = el("select", {
    id: "partition-filter",
    onchange: () => {
      const q = new URLSearchParams();
      if (select.value !== "") q.set("partition", select.value);
      location.hash = `#/topics/${encodeURIComponent(name)}?${q}`;
    },
  }, el("option", { value: "", text: "all partitions" }),
  topic.partitions.map((p) => el("option", {
    value: p.partition, text: `partition ${p.partition}`,
    selected: params.get("partition") === String(p.partition),
  })));

  const parts = [
    el("h1", {}, "Topic ", el("span", { id: "topic-name", text: topic.name })),
    el("div", { class: "cards" },
      card("Partitions", number(topic.partition_count), "partition_count"),
      card("Messages stored", number(topic.messages), "messages"),
      card("Size", bytes(topic.size_bytes), "size_bytes"),
      card("Messages in", number(topic.messages_in_total), "messages_in_total"),
      card("Messages out", number(topic.messages_out_total), "messages_out_total"),
      card("Oldest message", age(topic.oldest_timestamp_ms), "oldest")),
    el("h2", { text: "Partitions" }),
    table([{ title: "partition", num: true }, { title: "start offset", num: true },
      { title: "end offset", num: true }, { title: "high watermark", num: true },
      { title: "messages", num: true }, { title: "size", num: true }, { title: "segments", num: true },
      { title: "oldest message" }], partitionRows, { id: "partitions" }),
    el("h2", { text: "Retention and other settings" }),
    table([{ title: "config" }, { title: "value" }, { title: "source" }], configRows, { id: "configs" }),
    el("h2", { text: "Last messages" }),
    el("form", { class: "inline" }, select),
    table([{ title: "partition", num: true }, { title: "offset", num: true }, { title: "timestamp" },
      { title: "key" }, { title: "value" }, { title: "headers" }], messageRows, { id: "messages" }),
  ];
  if (messages.messages.undecodable_batches) {
    parts.push(el("p", { class: "muted", text: `${messages.messages.undecodable_batches} batch(es) could not be decoded` }));
  }
  if (overview.allow_writes && !topic.internal) {
    parts.push(el("h2", { text: "Danger zone" }), el("button", {
      class: "danger", id: "delete-topic",
      onclick: async () => {
        if (!confirm(`Delete topic ${topic.name} and all its messages?`)) return;
        try { await api(`/topics/${encodeURIComponent(topic.name)}`, { method: "DELETE" }); location.hash = "#/topics"; }
        catch (error) { showError(error); }
      },
    }, "Delete topic"));
  }
  page.replaceChildren(...parts);
}

// ------------------------------------------------------------------ groups

async function groupsPage() {
  const groups = (await api("/groups")).groups;
  setStatus(true, "ready");
  page.replaceChildren(
    el("h1", { text: "Consumer groups" }),
    table([{ title: "group" }, { title: "state" }, { title: "protocol" }, { title: "members", num: true },
      { title: "total lag", num: true }],
    groups.map((g) => ({
      attrs: { "data-group": g.group_id },
      cells: [
        { value: el("a", { href: `#/groups/${encodeURIComponent(g.group_id)}`, text: g.group_id }), field: "group_id" },
        { value: g.state, field: "state" },
        { value: g.protocol_type || "–", field: "protocol_type" },
        { value: number(g.members), field: "members" },
        { value: number(g.total_lag), field: "total_lag" },
      ],
    })), { id: "groups" }));
}

let groupState = null; // {id, chart}

async function groupPage(id) {
  const group = await api(`/groups/${encodeURIComponent(id)}`);
  setStatus(true, "ready");
  if (!groupState || groupState.id !== id) {
    const chart = new LineChart(document.createElement("canvas"), [{ label: "total lag (messages)", color: "#c2410c" }]);
    chart.canvas.className = "chart";
    chart.canvas.id = "lag-chart";
    groupState = { id, chart };
  }
  const memberRows = group.members.map((m) => ({
    attrs: { "data-member": m.member_id },
    cells: [
      { value: m.member_id, cls: "mono" }, { value: m.client_id }, { value: m.client_host },
      { value: m.assignment.map((a) => `${a.topic}-${a.partition}`).join(", ") || "–", cls: "mono" },
    ],
  }));
  const lagRows = group.partitions.map((p) => ({
    attrs: { "data-topic": p.topic, "data-partition": p.partition },
    cells: [
      { value: p.topic, field: "topic" }, { value: p.partition, field: "partition" },
      { value: number(p.committed_offset), field: "committed_offset" },
      { value: number(p.high_watermark), field: "high_watermark" },
      { value: number(p.lag), field: "lag" },
      { value: p.member_id || "–", field: "member_id", cls: "mono" },
    ],
  }));
  page.replaceChildren(
    el("h1", {}, "Consumer group ", el("span", { id: "group-id", text: group.group_id })),
    el("div", { class: "cards" },
      card("State", group.state, "state"),
      card("Members", number(group.members.length), "members"),
      card("Generation", number(group.generation_id), "generation_id"),
      card("Protocol", group.protocol || "–", "protocol"),
      card("Total lag", number(group.total_lag), "total_lag")),
    el("h2", { text: "Total lag" }),
    el("div", { class: "panel" }, groupState.chart.canvas, groupState.chart.legend()),
    el("h2", { text: "Lag per partition" }),
    table([{ title: "topic" }, { title: "partition", num: true }, { title: "committed offset", num: true },
      { title: "end offset", num: true }, { title: "lag", num: true }, { title: "member" }], lagRows, { id: "lag" }),
    el("h2", { text: "Members" }),
    table([{ title: "member" }, { title: "client id" }, { title: "host" }, { title: "assigned partitions" }],
      memberRows, { id: "members" }));
  groupState.chart.push([group.total_lag]);
}

// ------------------------------------------------------------------ routing

function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  const segments = path.split("/").filter(Boolean).map(decodeURIComponent);
  document.querySelectorAll("header nav a").forEach((a) => {
    a.classList.toggle("active", a.dataset.nav === (segments[0] || "overview"));
  });
  if (segments.length === 0) return () => overviewPage();
  if (segments[0] === "topics" && segments.length === 1) return () => topicsPage();
  if (segments[0] === "topics" && segments.length === 2) return () => topicPage(segments[1], params);
  if (segments[0] === "groups" && segments.length === 1) return () => groupsPage();
  if (segments[0] === "groups" && segments.length === 2) return () => groupPage(segments[1]);
  return async () => { page.replaceChildren(el("h1", { text: "Not found" }), el("p", { text: `No page at ${hash}` })); };
}

function show() {
  if (timer) clearInterval(timer);
  const render = route();
  const refresh = async () => {
    // Typing into a form must not be wiped by a refresh.
    if (page.contains(document.activeElement) && document.activeElement.tagName === "INPUT") return;
    try {
      await render();
      document.body.dataset.loaded = String(Date.now());
    } catch (error) { showError(error); }
  };
  refresh();
  timer = setInterval(refresh, REFRESH_MS);
}

window.addEventListener("hashchange", show);
show();

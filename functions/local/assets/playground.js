// The playground's behaviour: fetch calls to /local/playground/* and rendering of their answers.
"use strict";
const $ = (id) => document.getElementById(id);

async function api(method, url, body) {
  const response = await fetch(url, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await response.json(); } catch (_) { data = { error: await response.text() }; }
  return { status: response.status, data };
}

function text(tag, content, className) {
  const node = document.createElement(tag);
  node.textContent = content;
  if (className) node.className = className;
  return node;
}

function show(value) {
  if (value === null || value === undefined) return "nothing";
  return typeof value === "string" ? JSON.stringify(value) : JSON.stringify(value);
}

function renderTrace(trace) {
  const list = $("trace");
  list.replaceChildren();
  if (!trace.steps.length) list.append(text("li", "No rule was evaluated."));
  for (const step of trace.steps) {
    const item = document.createElement("li");
    item.className = "step" + (step.fallback ? " fallback" : "");
    item.append(text("strong", step.rule, "rule"));
    const reads = document.createElement("ul");
    reads.className = "reads";
    for (const read of step.reads || []) {
      if (read.kind === "callout") reads.append(text("li", `read callout ${read.field} = ${show(read.value)}`));
      else if (read.kind === "other") reads.append(text("li", `read ${read.what} = ${show(read.value)}`));
      else if (read.kind === "graph") {
        const line = text("li", `read Graph ${read.source}` + (read.cache_hit ? " (cache hit)" : read.calls.length ? "" : " (no request)"));
        const calls = document.createElement("ul");
        calls.className = "calls";
        for (const call of read.calls) {
          calls.append(text("li", `${call.method} ${call.url} -> ${call.status === null ? "no answer" : call.status} in ${call.elapsed_ms.toFixed(1)} ms (attempt ${call.attempt})` + (call.error ? `: ${call.error}` : "")));
        }
        line.append(calls);
        reads.append(line);
      }
    }
    item.append(reads);
    item.append(text("div", `gave ${show(step.produced)}`, "produced"));
    if (step.fallback) item.append(text("div", `fallback: ${step.fallback.taken} because ${step.fallback.why}`, "fallback-taken"));
    if (step.note) item.append(text("div", step.note, "note"));
    list.append(item);
  }
}

async function send() {
  $("summary").textContent = "Sending…";
  const { status, data } = await api("POST", "/local/playground/send", { function: $("function").value, callout: $("callout").value });
  if (status !== 200) { $("summary").textContent = data.error || `error ${status}`; return; }
  const r = data.response;
  $("summary").textContent = `HTTP ${r.status} in ${data.latency_ms} ms` + (data.fallback ? " (a fallback answered)" : "") + (data.fault !== "none" ? `, Graph fault: ${data.fault}` : "");
  $("summary").dataset.status = r.status;
  const verdict = $("conformance");
  verdict.textContent = (data.conformance.ok ? "Conformance: " : "Conformance problem: ") + data.conformance.text;
  verdict.className = data.conformance.ok ? "ok" : "bad";
  $("response").textContent = typeof r.body === "string" ? r.body : JSON.stringify(r.body, null, 2);
  $("token").textContent = JSON.stringify(data.token, null, 2);
  $("request").textContent = `${data.request.method} ${data.request.url}\n` +
    Object.entries(data.request.headers).map(([k, v]) => `${k}: ${v}`).join("\n") + "\n\n" + data.request.body;
  renderTrace(data.trace);
}

async function loadSample() {
  const params = new URLSearchParams({ function: $("function").value, user: $("user").value, app: $("app").value });
  const { status, data } = await api("GET", `/local/playground/sample?${params}`);
  $("callout").value = status === 200 ? JSON.stringify(data, null, 2) : (data.error || "");
}

async function loadRules() {
  const { status, data } = await api("GET", `/local/playground/rules?function=${encodeURIComponent($("function").value)}`);
  if (status === 200) { $("rules").value = data.text; $("rules-path").textContent = data.path; }
}

async function saveRules() {
  const out = $("rules-status");
  out.replaceChildren(text("p", "Checking…"));
  const { status, data } = await api("POST", "/local/playground/rules", { function: $("function").value, text: $("rules").value });
  if (status === 200) { out.replaceChildren(text("p", data.message, "ok")); return; }
  const list = document.createElement("ul");
  list.className = "error-list bad";
  for (const error of data.errors || [data.error]) list.append(text("li", error));
  out.replaceChildren(text("p", "Not saved: the rules have errors.", "bad"), list);
}

async function setFault() {
  const { status, data } = await api("POST", "/local/playground/fault", { fault: $("fault").value });
  $("fault-status").textContent = status === 200 ? `now: ${data.label}` : (data.error || "");
}

async function saveCase() {
  const { status, data } = await api("POST", "/local/playground/cases", { function: $("function").value, callout: $("callout").value, name: $("case-name").value });
  const out = $("case-status");
  out.textContent = status === 200 ? data.message : data.error;
  out.className = status === 200 ? "ok" : "bad";
}

$("send").addEventListener("click", send);
$("load-sample").addEventListener("click", loadSample);
$("function").addEventListener("change", () => { loadSample(); loadRules(); });
$("user").addEventListener("change", loadSample);
$("app").addEventListener("change", loadSample);
$("save-rules").addEventListener("click", saveRules);
$("fault").addEventListener("change", setFault);
$("save-case").addEventListener("click", saveCase);

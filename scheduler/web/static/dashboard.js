// The dashboard's only script: refresh the panels, act with the operator token, show a run's counters.
// No framework, no build step; served by the web process itself (CSP: 'self' only).
"use strict";

const TOKEN_KEY = "scheduler.dashboardToken";

function sizeRuns(root) {
  // bar heights come from data-h (inline style attributes are not allowed by the page's CSP)
  for (const bar of root.querySelectorAll(".run[data-h]")) bar.style.height = bar.dataset.h + "px";
}

async function refresh() {
  try {
    const answer = await fetch("/?partial=1", { headers: { accept: "text/html" }, cache: "no-store" });
    if (!answer.ok) throw new Error("HTTP " + answer.status);
    const panels = document.getElementById("panels");
    panels.innerHTML = await answer.text();
    sizeRuns(panels);
    document.getElementById("refreshed").textContent = "refreshed " + new Date().toLocaleTimeString();
  } catch (error) {
    document.getElementById("refreshed").textContent = "refresh failed (" + error.message + "); retrying";
  }
}

function say(text, refused) {
  const out = document.getElementById("action-result");
  out.textContent = text;
  out.className = refused ? "refused" : "";
}

async function act(task, action) {
  const input = document.getElementById("token");
  const token = input ? input.value || sessionStorage.getItem(TOKEN_KEY) || "" : "";
  const headers = { "content-type": "application/json" };
  if (token) headers["x-dashboard-token"] = token;
  const answer = await fetch(`/actions/${encodeURIComponent(task)}/${encodeURIComponent(action)}`,
                             { method: "POST", headers, body: "{}", cache: "no-store" });
  const body = await answer.json();
  if (answer.ok) {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    say(body.done, false);
    await refresh();
  } else {
    say(body.refused, true);
  }
}

function showRun(bar) {
  const run = JSON.parse(bar.dataset.run);
  document.getElementById("run-detail-title").textContent =
    `${run.task} · slot ${run.slot} · ${run.outcome} · ${run.duration_s.toFixed(2)}s`;
  const lines = [`reason: ${run.reason}, attempt ${run.attempt}`, `started: ${run.started_at}`, `worker: ${run.worker || "-"}`];
  if (run.error) lines.push(`error: ${run.error}`);
  if (run.will_retry) lines.push("will be retried");
  const counters = Object.entries(run.counters || {}).sort();
  lines.push("", counters.length ? "counters:" : "no counters");
  for (const [name, value] of counters) lines.push(`  ${name} = ${value}`);
  document.getElementById("run-detail-body").textContent = lines.join("\n");
  document.getElementById("run-detail").hidden = false;
}

document.addEventListener("DOMContentLoaded", () => {
  sizeRuns(document);
  const input = document.getElementById("token");
  if (input) input.value = sessionStorage.getItem(TOKEN_KEY) || "";
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (button) { act(button.dataset.task, button.dataset.action).catch((e) => say("failed: " + e.message, true)); return; }
    const bar = event.target.closest(".run[data-run]");
    if (bar) showRun(bar);
  });
  document.getElementById("run-detail-close").addEventListener("click", () => {
    document.getElementById("run-detail").hidden = true;
  });
  const every = Number(document.body.dataset.refreshS || "5") * 1000;
  setInterval(refresh, every);
});

/* gw console: a static client of gwd's admin API (docs/console.md).
 * Plain JavaScript, no build step. Text goes into the page with textContent only, never
 * as HTML, so a key alias or metadata holding markup renders inert. The session is an
 * HttpOnly cookie the script cannot read; the script holds only the CSRF token. */
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const state = { csrf: "", paths: new Set(), keys: [], ledger: [], chart: null };
  const PALETTE = ["#1f4e8c", "#d1495b", "#2e8540", "#edae49", "#6a4c93", "#00798c",
                   "#8d6a9f", "#7a7a7a"];

  /* ---------------------------------------------------------------- helpers */
  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }
  function usd(value) {
    if (value === null || value === undefined) return "–";
    const n = Number(value);
    if (n === 0) return "$0";
    const fixed = Math.abs(n) >= 1 ? n.toFixed(2) : n.toFixed(6).replace(/0+$/, "");
    return "$" + fixed;
  }
  function when(iso) { return iso ? iso.replace("T", " ").replace(/(\.\d+)?\+00:00$/, "") : "never"; }
  function status(text, bad) {
    const node = $("status");
    node.textContent = text || "";
    node.classList.toggle("bad", !!bad);
  }
  function fill(tbody, rows, columns, empty) {
    tbody.replaceChildren();
    if (!rows.length) {
      const tr = el("tr");
      const td = el("td", empty, "empty");
      td.colSpan = columns;
      tr.append(td);
      tbody.append(tr);
      return;
    }
    for (const cells of rows) {
      const tr = el("tr");
      for (const cell of cells) tr.append(cell instanceof Node ? cell : el("td", cell));
      tbody.append(tr);
    }
  }
  function td(text, cls) { return el("td", text, cls); }

  class ApiError extends Error {}
  async function api(method, path, body) {
    const init = { method, credentials: "same-origin", headers: { "X-CSRF-Token": state.csrf } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (response.status === 401 && path !== "/ui/login") {
      showLogin("Your session has ended; log in again.");
      throw new ApiError("not logged in");
    }
    if (!response.ok) {
      const message = data && data.error && data.error.message;
      throw new ApiError(message || ("HTTP " + response.status));
    }
    return data;
  }
  async function guarded(work) {
    try { await work(); } catch (e) { if (e.message !== "not logged in") status(e.message, true); }
  }

  /* ---------------------------------------------------------------- session */
  function showLogin(message) {
    state.csrf = "";
    $("app").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("master-key").focus();
  }
  async function enter(session) {
    state.csrf = session.csrf_token || "";
    $("login").hidden = true;
    $("app").hidden = false;
    try {
      const doc = await api("GET", "/openapi.json");
      state.paths = new Set(Object.keys(doc.paths || {}));
    } catch (e) { state.paths = new Set(); }
    if (!location.hash) location.hash = "#keys";
    route();
  }
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("master-key");
    $("login-error").textContent = "";
    try {
      const session = await api("POST", "/ui/login", { master_key: input.value });
      input.value = "";
      await enter(session);
    } catch (e) {
      input.value = "";
      $("login-error").textContent = e.message;
    }
  });
  $("logout").addEventListener("click", async () => {
    await fetch("/ui/logout", { method: "POST", credentials: "same-origin" });
    showLogin("Logged out.");
  });

  /* ---------------------------------------------------------------- pages */
  const PAGES = { keys: loadKeys, spend: loadSpend, models: loadModels, ledger: loadLedger,
                  teams: null, users: null };
  function route() {
    const name = location.hash.slice(1) in PAGES ? location.hash.slice(1) : "keys";
    for (const section of document.querySelectorAll("[data-page]")) {
      section.hidden = section.dataset.page !== name;
    }
    for (const link of document.querySelectorAll("[data-nav]")) {
      if (link.dataset.nav === name) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    status("");
    if (PAGES[name]) guarded(PAGES[name]);
  }
  window.addEventListener("hashchange", () => { if (!$("app").hidden) route(); });

  /* ---------------------------------------------------------------- keys */
  async function loadKeys() {
    const [list, health] = await Promise.all([api("GET", "/key/list?size=1000"),
                                              api("GET", "/health")]);
    state.keys = list.keys || [];
    const groups = new Set((health.deployments || []).map((d) => d.model_group));
    $("served-models").replaceChildren(...[...groups].sort().map((name) => {
      const option = el("option");
      option.value = name;
      return option;
    }));
    renderKeys();
  }
  function renderKeys() {
    const needle = $("keys-filter").value.trim().toLowerCase();
    const shown = state.keys.filter((k) => !needle || [k.key_id, k.key_alias, k.key_name,
      ...(k.models || [])].some((v) => v && String(v).toLowerCase().includes(needle)));
    fill($("keys-table").tBodies[0], shown.map((k) => [
      td(k.key_id, "mono"), td(k.key_alias || "–"), td(k.key_name, "mono"),
      td(k.models && k.models.length ? k.models.join(", ") : "all"),
      td(usd(k.spend), "num"), td(usd(k.max_budget), "num"), td(when(k.expires)),
      td(k.metadata && Object.keys(k.metadata).length ? JSON.stringify(k.metadata) : "–",
         "meta"),
      keyState(k), keyActions(k)]), 10, needle ? "No key matches the filter." : "No keys yet.");
  }
  function keyState(k) {
    const expired = k.expires && Date.parse(k.expires) <= Date.now();
    if (k.blocked) return td("blocked", "state-bad");
    if (expired) return td("expired", "state-warn");
    if (k.max_budget !== null && k.max_budget !== undefined && Number(k.spend) >= Number(k.max_budget)) {
      return td("over budget", "state-warn");
    }
    return td("active", "state-ok");
  }
  function keyActions(k) {
    const cell = td(undefined, "actions");
    const label = k.key_alias || k.key_id;
    const add = (text, cls, action) => {
      const button = el("button", text, cls);
      button.type = "button";
      button.setAttribute("aria-label", text + " " + label);
      button.addEventListener("click", () => guarded(action));
      cell.append(button);
    };
    if (state.paths.has("/key/block") && !k.blocked) {
      add("Block", "quiet", async () => { await api("POST", "/key/block", { key: k.key_id }); await loadKeys(); });
    }
    if (state.paths.has("/key/unblock") && k.blocked) {
      add("Unblock", "quiet", async () => { await api("POST", "/key/unblock", { key: k.key_id }); await loadKeys(); });
    }
    if (state.paths.has("/key/regenerate")) {
      add("Regenerate", "quiet", async () => {
        if (!window.confirm("Regenerate " + label + "? The old key stops working.")) return;
        const made = await api("POST", "/key/regenerate", { key: k.key_id });
        showNewKey(made.key);
        await loadKeys();
      });
    }
    add("Delete", "danger", async () => {
      if (!window.confirm("Delete " + label + "? Calls with it will be refused.")) return;
      await api("POST", "/key/delete", { keys: [k.key_id] });
      status("Deleted " + label + ".");
      await loadKeys();
    });
    return cell;
  }
  function showNewKey(key) {
    $("new-key-value").textContent = key;
    $("new-key").hidden = false;
    $("new-key-copy").focus();
  }
  $("new-key-copy").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText($("new-key-value").textContent);
      status("Copied.");
    } catch (e) { status("Select the key and copy it by hand.", true); }
  });
  $("new-key-done").addEventListener("click", () => {
    $("new-key-value").textContent = "";
    $("new-key").hidden = true;
  });
  $("keys-filter").addEventListener("input", renderKeys);
  $("keys-refresh").addEventListener("click", () => guarded(loadKeys));
  function createBody() {
    const body = {};
    const alias = $("key-alias").value.trim();
    if (alias) body.key_alias = alias;
    const models = $("key-models").value.split(",").map((m) => m.trim()).filter(Boolean);
    if (models.length) body.models = models;
    const duration = $("key-duration").value.trim();
    if (duration) body.duration = duration;
    const budget = $("key-budget").value.trim();
    if (budget) body.max_budget = Number(budget);
    const aliases = {};
    for (const line of $("key-aliases").value.split("\n")) {
      if (!line.trim()) continue;
      const [from, to] = line.split("=").map((s) => s.trim());
      if (!from || !to) throw new ApiError("Write each model alias as from=to.");
      aliases[from] = to;
    }
    if (Object.keys(aliases).length) body.aliases = aliases;
    const metadata = $("key-metadata").value.trim();
    if (metadata) {
      try { body.metadata = JSON.parse(metadata); }
      catch (e) { throw new ApiError("Metadata must be a JSON object."); }
    }
    return body;
  }
  $("create-form").addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(async () => {
      const made = await api("POST", "/key/generate", createBody());
      $("create-form").reset();
      $("create-details").open = false;
      status("Created " + (made.key_alias || made.key_id) + ".");
      showNewKey(made.key);
      await loadKeys();
    });
  });

  /* ---------------------------------------------------------------- spend */
  function lastDays(n) {
    const days = [];
    const today = new Date();
    for (let i = n - 1; i >= 0; i--) {
      const d = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - i));
      days.push(d.toISOString().slice(0, 10));
    }
    return days;
  }
  async function loadSpend() {
    const n = Number($("spend-range").value);
    const since = (n - 1) + "d";
    const days = lastDays(n);
    const sinceDay = days[0];
    const [keys, total, models] = await Promise.all([
      api("GET", "/spend/keys?since=" + sinceDay), api("GET", "/spend/days?since=" + sinceDay),
      api("GET", "/spend/models?since=" + sinceDay)]);
    $("spend-total").textContent = usd(total.total_spend);
    $("spend-requests").textContent = String(total.total_requests);
    const spenders = (keys.keys || []).filter((k) => Number(k.spend) > 0 || k.requests > 0)
      .sort((a, b) => Number(b.spend) - Number(a.spend));
    fill($("top-table").tBodies[0], spenders.slice(0, 20).map((k) => [
      td(k.key_alias || k.key_name || k.key_id), td(k.key_id, "mono"), td(usd(k.spend), "num"),
      td(k.requests, "num"), td(usd(k.max_budget), "num")]), 5, "No spend in this period.");
    fill($("model-spend-table").tBodies[0], (models.models || []).map((m) => [
      td(m.model_group), td(m.deployment, "mono"), td(usd(m.spend), "num"), td(m.requests, "num"),
      td(m.prompt_tokens, "num"), td(m.completion_tokens, "num")]), 6, "No spend in this period.");
    const top = spenders.slice(0, PALETTE.length - 1);
    const perKey = await Promise.all(top.map((k) =>
      api("GET", "/spend/days?since=" + sinceDay + "&key=" + encodeURIComponent(k.key_id))));
    const series = (rows) => {
      const byDay = new Map((rows || []).map((r) => [r.day, Number(r.spend)]));
      return days.map((d) => byDay.get(d) || 0);
    };
    const datasets = top.map((k, i) => ({ label: k.key_alias || k.key_name || k.key_id,
      data: series(perKey[i].days), backgroundColor: PALETTE[i] }));
    const all = series(total.days);
    const rest = all.map((v, i) => Math.max(0, v - datasets.reduce((s, d) => s + d.data[i], 0)));
    if (rest.some((v) => v > 1e-12)) {
      datasets.push({ label: "other keys and the master key", data: rest,
                      backgroundColor: PALETTE[PALETTE.length - 1] });
    }
    drawChart(days, datasets, since);
  }
  function drawChart(days, datasets) {
    const canvas = $("spend-chart");
    if (typeof window.Chart !== "function") {
      status("The chart library did not load.", true);
      return;
    }
    if (state.chart) {
      state.chart.data.labels = days;
      state.chart.data.datasets = datasets;
      state.chart.update();
      return;
    }
    state.chart = new window.Chart(canvas, {
      type: "bar", data: { labels: days, datasets },
      options: { animation: false, responsive: true, maintainAspectRatio: false,
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true,
          ticks: { callback: (v) => usd(v) } } },
        plugins: { tooltip: { callbacks: {
          label: (ctx) => ctx.dataset.label + ": " + usd(ctx.parsed.y) } } } } });
  }
  $("spend-range").addEventListener("change", () => guarded(loadSpend));
  $("spend-refresh").addEventListener("click", () => guarded(loadSpend));

  /* ---------------------------------------------------------------- models */
  async function loadModels() {
    const health = await api("GET", "/health");
    fill($("health-table").tBodies[0], (health.deployments || []).map((d) => {
      const cooling = d.cooling_down;
      const stateCell = cooling
        ? td("cooling down" + (d.cooldown_seconds ? " (" + Math.ceil(d.cooldown_seconds) + " s)" : ""), "state-bad")
        : td(d.errors && !d.successes ? "failing" : "healthy", d.errors && !d.successes ? "state-warn" : "state-ok");
      return [td(d.model_group), td(d.deployment, "mono"), td(d.provider), stateCell,
        td(d.latency_ms === null || d.latency_ms === undefined ? "–" : d.latency_ms + " ms", "num"),
        td(d.in_flight, "num"), td(d.successes, "num"), td(d.errors, "num")];
    }), 8, "No deployments configured.");
    status("Database: " + health.db + (health.store ? " (" + health.store + ")" : "") +
           ". Version " + health.version + ".");
  }
  $("models-refresh").addEventListener("click", () => guarded(loadModels));

  /* ---------------------------------------------------------------- ledger */
  function ledgerQuery() {
    const query = new URLSearchParams({ limit: $("ledger-limit").value });
    for (const [name, id] of [["key", "ledger-key"], ["since", "ledger-since"], ["until", "ledger-until"]]) {
      const value = $(id).value.trim();
      if (value) query.set(name, value);
    }
    return query.toString();
  }
  async function loadLedger() {
    const data = await api("GET", "/spend/logs?" + ledgerQuery());
    state.ledger = data.logs || [];
    fill($("ledger-table").tBodies[0], state.ledger.map((r) => [
      td(when(r.time)), td(r.master_key ? "master key" : (r.key_alias || "–")),
      td(r.requested_model || r.model_group), td(r.deployment, "mono"),
      td(r.total_tokens, "num"), td(usd(r.cost), "num"), td(r.latency_ms + " ms", "num"),
      td(r.status, r.status === "success" ? "" : "state-bad")]), 8, "No calls match.");
  }
  const CSV_COLUMNS = ["request_id", "time", "key_alias", "master_key", "endpoint",
    "requested_model", "model_group", "deployment", "provider", "prompt_tokens",
    "completion_tokens", "total_tokens", "cost", "latency_ms", "status", "stream"];
  function csvCell(value) {
    let text = value === null || value === undefined ? "" : String(value);
    if (/^[=+\-@\t\r]/.test(text)) text = "'" + text;  // no formulas when opened in a sheet
    return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }
  $("ledger-form").addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(loadLedger);
  });
  $("ledger-csv").addEventListener("click", () => {
    const lines = [CSV_COLUMNS.join(",")].concat(
      state.ledger.map((r) => CSV_COLUMNS.map((c) => csvCell(r[c])).join(",")));
    const blob = new Blob([lines.join("\r\n") + "\r\n"], { type: "text/csv" });
    const link = el("a");
    link.href = URL.createObjectURL(blob);
    link.download = "gw-ledger.csv";
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  });

  /* ---------------------------------------------------------------- start */
  fetch("/ui/session", { credentials: "same-origin" })
    .then((r) => (r.ok ? r.json() : Promise.reject(new Error("login"))))
    .then((session) => (session.logged_in ? enter(session) : showLogin("")),
          () => showLogin(""));
})();

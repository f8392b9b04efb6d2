// pgjobs dashboard: keeps server-rendered pages live and sends actions to the public API.
//
// Live: an EventSource on the page's stream (body[data-stream]); a progress report moves
// the matching progress bars in place, any other event re-fetches the page and swaps its
// [data-live] regions (at most once a second, less when the server is slow to answer). EventSource reconnects by itself and
// resumes with Last-Event-ID, so nothing is missed across network blips.
// Actions: buttons with data-post (and data-body) POST to the API, exactly what any
// client would send; the page refreshes with the outcome. Every POST is JSON and carries
// the session's CSRF token (meta[name=csrf-token]): the API refuses a state change
// without them, so no other site can make a visitor's browser send one.
"use strict";

(() => {
  const body = document.body;
  const csrfMeta = document.querySelector("meta[name=csrf-token]");
  const csrfToken = csrfMeta ? csrfMeta.content : null;
  const status = document.getElementById("live-status");
  const toastBox = document.getElementById("toast");
  const MIN_GAP_MS = 1000;
  let timer = null;
  let lastRefresh = 0;
  let gap = MIN_GAP_MS;
  let inFlight = false;
  let again = false;
  let toastTimer = null;

  function setLive(on) {
    status.textContent = on ? "live" : "reconnecting…";
    status.className = "live " + (on ? "on" : "off");
  }

  function toast(message, isError) {
    toastBox.textContent = message;
    toastBox.className = isError ? "error" : "";
    toastBox.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { toastBox.hidden = true; }, 4000);
  }

  function scheduleRefresh() {
    if (timer !== null) return;
    const wait = Math.max(100, lastRefresh + gap - Date.now());
    timer = setTimeout(() => { timer = null; refresh(); }, wait);
  }

  async function refresh() {
    if (inFlight) { again = true; return; }
    inFlight = true;
    lastRefresh = Date.now();
    const started = performance.now();
    try {
      const response = await fetch(location.href, { headers: { Accept: "text/html" } });
      if (!response.ok) return;
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      const checked = new Set(
        [...document.querySelectorAll("input[name=dead-letter]:checked")].map((box) => box.value));
      const shown = new Set(
        [...document.querySelectorAll("tr[data-job-id]")].map((row) => row.dataset.jobId));
      for (const region of document.querySelectorAll("[data-live]")) {
        const replacement = fresh.getElementById(region.id);
        if (replacement) region.replaceWith(document.importNode(replacement, true));
      }
      for (const box of document.querySelectorAll("input[name=dead-letter]")) {
        box.checked = checked.has(box.value);
      }
      if (shown.size) {
        for (const row of document.querySelectorAll("tr[data-job-id]")) {
          if (!shown.has(row.dataset.jobId)) row.classList.add("flash");
        }
      }
    } catch (error) {
      // A network blip: the next event or tick refreshes again.
    } finally {
      inFlight = false;
      // A busy server answers slower: refresh less often then (a page costs it at most ~10%).
      gap = Math.max(MIN_GAP_MS, 10 * (performance.now() - started));
      if (again) { again = false; scheduleRefresh(); }
    }
  }

  function showProgress(event) {
    const bars = document.querySelectorAll(`[data-progress-job="${event.job_id}"]`);
    for (const bar of bars) {
      bar.querySelector(".bar").value = event.percent;
      const label = `${Math.round(event.percent)}%` + (event.message ? ` · ${event.message}` : "");
      bar.querySelector(".text").textContent = label;
    }
    return bars.length > 0;
  }

  const stream = body.dataset.stream;
  if (stream) {
    const source = new EventSource(stream);
    source.onopen = () => setLive(true);
    source.onerror = () => setLive(false);
    source.onmessage = (message) => {
      const event = JSON.parse(message.data);
      if (event.type === "progress" && showProgress(event)) return;
      scheduleRefresh();
    };
    source.addEventListener("reset", scheduleRefresh);
    window.addEventListener("pagehide", () => source.close());
  } else {
    status.hidden = true;
  }

  const every = Number(body.dataset.refresh || 0);
  if (every > 0) {
    setInterval(() => { if (!document.hidden) scheduleRefresh(); }, every * 1000);
  }

  function describe(answer) {
    if (typeof answer.retried === "number") {
      const skipped = answer.skipped ? `, ${answer.skipped} skipped` : "";
      return `${answer.retried} of ${answer.matched} dead letters queued again${skipped}`;
    }
    return null;
  }

  document.addEventListener("click", async (click) => {
    const button = click.target.closest("button[data-post], button[data-bulk-retry]");
    if (!button) return;
    click.preventDefault();
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
    let url = button.dataset.post;
    let payload = button.dataset.body;
    if (button.hasAttribute("data-bulk-retry")) {
      const ids = [...document.querySelectorAll("input[name=dead-letter]:checked")]
        .map((box) => Number(box.value));
      if (!ids.length) { toast("Select dead letters first.", true); return; }
      url = "/dead-letters/retry";
      payload = JSON.stringify({ scope: "matching", ids });
    }
    button.disabled = true;
    try {
      const headers = { "Content-Type": "application/json" };
      if (csrfToken) headers["X-CSRF-Token"] = csrfToken;
      const response = await fetch(url, {
        method: "POST",
        headers,
        body: payload,
        credentials: "same-origin",
      });
      const answer = await response.json().catch(() => ({}));
      if (response.ok) toast(describe(answer) || button.dataset.done || "Done.");
      else toast(answer.message || `The API answered ${response.status}.`, true);
    } catch (error) {
      toast("The API could not be reached.", true);
    } finally {
      button.disabled = false;
      refresh();
    }
  });

  document.addEventListener("change", (change) => {
    if (!change.target.matches("[data-select-all]")) return;
    for (const box of document.querySelectorAll("input[name=dead-letter]")) {
      box.checked = change.target.checked;
    }
  });
})();

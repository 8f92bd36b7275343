// Waiting page: poll the batch's status and update the page in place. Polling slows
// down while nothing changes, and a single one-second clock moves the elapsed time,
// the estimate and the download countdown between polls. Without JavaScript the page
// refreshes itself instead (see the template's <noscript>).
(function () {
  "use strict";
  const root = document.getElementById("batch");
  if (!root) return;
  // Strings come from Django's catalog (jsi18n); the fallbacks keep the page working without it.
  const gettext = window.gettext || ((text) => text);
  const interpolate = window.interpolate || ((text) => text);
  const ngettext = window.ngettext || ((one, many, count) => (count === 1 ? one : many));
  const url = root.dataset.statusUrl;
  const siteName = document.title.split(" · ").pop();
  const ended = new Set(["ready", "failed", "expired", "cancelled"]);
  const byId = (id) => document.getElementById(id);
  let delay = 1000;
  let last = "";
  let pollTimer = null;
  let state = null;
  let syncedAt = Date.now();  // when `state` was read, so the clock counts from the server's figures

  function clock(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    const hours = Math.floor(seconds / 3600);
    const minutes = Math.floor((seconds % 3600) / 60);
    const secs = String(seconds % 60).padStart(2, "0");
    return hours ? hours + ":" + String(minutes).padStart(2, "0") + ":" + secs : minutes + ":" + secs;
  }

  function size(bytes) {
    return bytes < 1048576 ? Math.max(1, Math.round(bytes / 1024)) + " KB" : (bytes / 1048576).toFixed(1) + " MB";
  }

  function signedPercent(change) {
    return (change > 0 ? "+" : change < 0 ? "−" : "") + Math.abs(change) + "%";
  }

  function row(file) {
    const tr = document.querySelector('tr[data-file="' + file.id + '"]');
    if (!tr) return;
    tr.className = "state-" + file.status;
    const name = tr.querySelector("td.name");
    const shown = name.querySelector("img.preview");  // kept across polls: no reload, no flicker
    name.textContent = "";
    if (file.preview_url) {
      let image = shown;
      if (!image || image.getAttribute("src") !== file.preview_url) {
        image = document.createElement("img");
        image.className = "preview";
        image.alt = "";
        image.width = image.height = 64;
        image.src = file.preview_url;
      }
      name.append(image);
    }
    const label = document.createElement("span");
    label.className = "file-name";
    label.textContent = file.name;
    const sizes = document.createElement("span");
    sizes.className = "sizes hint";
    const made = file.results.reduce((sum, result) => sum + result.size, 0);
    sizes.textContent = size(file.size) + (file.results.length ? " → " + size(made) +
      (file.size_change !== null ? " (" + signedPercent(file.size_change) + ")" : "") : "");
    name.append(label, " ", sizes);
    if (file.results.length) {
      const links = document.createElement("span");
      links.className = "results";
      file.results.forEach((result) => {
        const link = document.createElement("a");
        link.href = result.url;
        link.download = "";
        link.textContent = interpolate(gettext("Download %s"), [result.name]);
        links.append(link);
      });
      name.append(" ", links);
    }
    if (file.error) {
      const p = document.createElement("p");
      p.className = "error";
      p.textContent = file.error;
      name.append(p);
    }
    tr.querySelector("td.state .icon").textContent = file.status_icon;
    tr.querySelector("td.state .label").textContent = file.status_label;
    tr.querySelector("progress").value = file.progress;
  }

  function show(next) {
    state = next;
    syncedAt = Date.now();
    byId("headline").textContent = state.headline;
    document.title = state.headline + " · " + siteName;
    byId("batch-icon").textContent = state.status_icon;
    byId("batch-status").textContent = state.status_label;
    byId("batch-count").textContent = interpolate(gettext("%(done)s done, %(failed)s failed, %(total)s in all"),
      { done: state.done_count, failed: state.failed_count, total: state.file_count }, true);
    byId("batch-progress").value = state.progress;
    state.files.forEach(row);
    byId("download").hidden = state.status !== "ready";
    if (state.download_url) {
      byId("download-link").href = state.download_url;
      const expires = byId("expires-at");
      expires.dateTime = state.expires_at;
      expires.textContent = new Date(state.expires_at).toLocaleString();
      if (state.archive_size) {
        const size = state.archive_size;
        byId("archive-size").textContent = size < 1048576 ? Math.ceil(size / 1024) + " KB" : (size / 1048576).toFixed(1) + " MB";
      }
    }
    byId("failed-all").hidden = state.status !== "failed";
    if (state.errors_url) byId("errors-link").href = state.errors_url;
    const gone = state.status === "expired" || state.status === "cancelled";
    byId("failed-some").hidden = !state.failed_count || state.status === "failed" || gone;
    byId("failed-some-text").textContent = interpolate(ngettext(
      "%s file could not be processed: the reason is in its row below, and in errors.txt in the ZIP.",
      "%s files could not be processed: the reasons are in their rows below, and in errors.txt in the ZIP.",
      state.failed_count), [state.failed_count]);
    byId("share").hidden = gone;
    byId("expired").hidden = state.status !== "expired";
    if (state.status === "expired" && state.expires_at) {  // when it happened, in the reader's own time
      byId("expired-at").dateTime = state.expires_at;
      byId("expired-at").textContent = new Date(state.expires_at).toLocaleString();
      byId("expired-when").hidden = false;
    }
    byId("cancelled").hidden = state.status !== "cancelled";
    byId("cancel-form").hidden = !state.cancel_url;
    root.dataset.status = state.status;
    tick();
  }

  // Once a second: figures the server gave, moved on by the time since they were read.
  function tick() {
    if (!state) return;
    const since = (Date.now() - syncedAt) / 1000;
    const active = !ended.has(state.status);
    byId("elapsed").textContent = clock(state.elapsed_seconds + (active ? since : 0));
    byId("eta-box").hidden = !(active && state.eta_seconds);
    if (active && state.eta_seconds) byId("eta").textContent = clock(Math.max(1, state.eta_seconds - since));
    if (state.status === "ready" && state.expires_in_seconds !== null) {
      const left = state.expires_in_seconds - since;
      byId("countdown").textContent = clock(left);
      if (left <= 0) {  // the server refuses the link from now on; say so without waiting for a poll
        show(Object.assign({}, state, { status: "expired", status_label: gettext("Expired"), status_icon: "⊗",
          headline: gettext("Expired: the files were deleted"), download_url: null, expires_in_seconds: null,
          files: state.files.map((file) => Object.assign({}, file, { results: [] })) }));
        schedule(1000);
      }
    }
  }

  function schedule(wait) {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(poll, wait);
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" })
      .then((response) => {
        if (!response.ok) throw new Error(response.status);
        return response.json();
      })
      .then((next) => {
        const fingerprint = JSON.stringify([next.status, next.files, next.done_count]);
        delay = fingerprint === last ? Math.min(delay * 1.5, 10000) : 1000;
        last = fingerprint;
        show(next);
        if (!ended.has(next.status)) schedule(delay);
        else if (next.status === "ready" && next.expires_in_seconds !== null) {
          schedule(Math.min(next.expires_in_seconds * 1000 + 1000, 600000));  // an early expiry shows within 10 min
        } else clearInterval(clockTimer);
      })
      .catch(() => { delay = Math.min(delay * 2, 15000); schedule(delay); });
  }

  const clockTimer = setInterval(tick, 1000);
  // A tab brought back to the front catches up at once instead of after the backed-off delay.
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && state && !ended.has(state.status)) { delay = 1000; schedule(0); }
  });

  byId("cancel-form").addEventListener("submit", (event) => {
    if (!window.confirm(gettext("Cancel this batch? Work stops and every file of it is deleted."))) event.preventDefault();
  });

  const copy = byId("copy-link");
  const link = byId("page-link");
  copy.hidden = false;
  copy.addEventListener("click", () => {
    const done = () => { byId("copied").textContent = gettext("Link copied."); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(link.value).then(done, () => { link.select(); });
    } else {
      link.select();
      if (document.execCommand("copy")) done();
    }
  });
  link.addEventListener("focus", () => link.select());

  if (root.dataset.status !== "expired" && root.dataset.status !== "cancelled" && root.dataset.status !== "failed") {
    poll();
  } else clearInterval(clockTimer);
})();

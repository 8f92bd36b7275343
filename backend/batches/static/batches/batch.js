// Waiting page: poll the batch's status and update the page in place. Polling
// slows down while nothing changes and stops once the batch has ended.
(function () {
  "use strict";
  const root = document.getElementById("batch");
  if (!root) return;
  const url = root.dataset.statusUrl;
  const ended = new Set(["ready", "failed", "expired", "cancelled"]);
  let delay = 1000;
  let last = "";

  function row(file) {
    let tr = document.querySelector('tr[data-file="' + file.id + '"]');
    if (!tr) return;
    tr.className = "state-" + file.status;
    const name = tr.querySelector("td.name");
    name.textContent = file.name;
    if (file.error) {
      const p = document.createElement("p");
      p.className = "error";
      p.textContent = file.error;
      name.append(p);
    }
    tr.querySelector("td.state").textContent = file.status_label;
    tr.querySelector("progress").value = file.progress;
  }

  function show(state) {
    document.getElementById("batch-status").textContent = state.status_label;
    document.getElementById("batch-count").textContent =
      state.done_count + " done, " + state.failed_count + " failed, " + state.file_count + " in all";
    document.getElementById("batch-progress").value = state.progress;
    state.files.forEach(row);
    const download = document.getElementById("download");
    download.hidden = state.status !== "ready";
    if (state.download_url) {
      document.getElementById("download-link").href = state.download_url;
      const expires = document.getElementById("expires-at");
      expires.dateTime = state.expires_at;
      expires.textContent = new Date(state.expires_at).toLocaleString();
    }
    document.getElementById("failed-all").hidden = state.status !== "failed";
    document.getElementById("expired").hidden = state.status !== "expired";
    document.getElementById("cancelled").hidden = state.status !== "cancelled";
    document.getElementById("cancel-form").hidden = !state.cancel_url;
    root.dataset.status = state.status;
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" })
      .then((response) => response.json())
      .then((state) => {
        const fingerprint = JSON.stringify([state.status, state.files]);
        delay = fingerprint === last ? Math.min(delay * 1.5, 10000) : 1000;
        last = fingerprint;
        show(state);
        if (!ended.has(state.status)) setTimeout(poll, delay);
        else if (state.status === "ready" && state.expires_at) {
          setTimeout(poll, Math.max(1000, new Date(state.expires_at) - Date.now() + 1000));
        }
      })
      .catch(() => { delay = Math.min(delay * 2, 15000); setTimeout(poll, delay); });
  }
  const cancelForm = document.getElementById("cancel-form");
  cancelForm.addEventListener("submit", (event) => {
    if (!window.confirm("Cancel this batch? Work stops and every file of it is deleted.")) event.preventDefault();
  });
  if (!ended.has(root.dataset.status) || root.dataset.status === "ready") poll();
})();

// Uploads in parts, straight to storage (S3 multipart, or the site's own part endpoint on local
// storage), through /api/v1/uploads: several parts in flight, each retried on failure, and an
// upload cut off (a dropped connection, a closed or reloaded page) resumed from the parts storage
// already holds, never from zero. Unfinished uploads are remembered in localStorage by the file's
// name, size and date, so choosing the same file again resumes it.
(function () {
  "use strict";
  const STORE = "mediaconv.uploads";
  const PARALLEL = 4;
  const URL_BATCH = 50;
  const MAX_FAILURES = 8;  // tries of one part before the upload stops (it stays resumable)

  function remembered() {
    try { return JSON.parse(window.localStorage.getItem(STORE)) || {}; } catch (error) { return {}; }
  }
  function remember(key, value) {
    const all = remembered();
    if (value === null) delete all[key]; else all[key] = value;
    try { window.localStorage.setItem(STORE, JSON.stringify(all)); } catch (error) { /* private mode: no resume */ }
  }
  function fingerprint(file) { return [file.name, file.size, file.lastModified].join(":"); }

  function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }
  function online() {
    return navigator.onLine ? Promise.resolve()
      : new Promise((resolve) => window.addEventListener("online", resolve, { once: true }));
  }

  class Refused extends Error {}  // the server said no: retrying cannot help

  async function api(method, url, csrf, body) {
    const response = await fetch(url, {
      method, credentials: "same-origin", cache: "no-store",
      headers: Object.assign({ Accept: "application/json", "X-CSRFToken": csrf },
        body ? { "Content-Type": "application/json" } : {}),
      body: body ? JSON.stringify(body) : undefined,
    });
    let data = {};
    try { data = await response.json(); } catch (error) { /* an empty or HTML answer */ }
    return { status: response.status, data };
  }

  // One PUT with upload progress (fetch has none); resolves with the HTTP status, 0 for a network error.
  function put(url, blob, onBytes) {
    return new Promise((resolve) => {
      const request = new XMLHttpRequest();
      request.open("PUT", url);
      let reported = 0;
      request.upload.addEventListener("progress", (event) => { onBytes(event.loaded - reported); reported = event.loaded; });
      request.addEventListener("load", () => {
        if (request.status !== 200) onBytes(-reported);
        resolve(request.status);
      });
      request.addEventListener("error", () => { onBytes(-reported); resolve(0); });
      request.addEventListener("abort", () => { onBytes(-reported); resolve(0); });
      request.send(blob);
    });
  }

  // Send `file`; resolves with the completed upload's id. `onBytes(delta)` reports bytes as they are sent
  // (negative when a failed part is taken back); `onResume(bytes)` the bytes already stored at the start.
  async function send(file, { uploadsUrl, csrf, onBytes, onResume }) {
    const key = fingerprint(file);
    let upload = null;
    const known = remembered()[key];
    if (known) {
      const answer = await api("GET", uploadsUrl + "/" + known.id, csrf);
      if (answer.status === 200 && answer.data.size === file.size) upload = answer.data;
      else if (answer.status === 404) remember(key, null);
      else if (answer.status !== 200) throw new Error(answer.data.error || "HTTP " + answer.status);
    }
    if (!upload) {
      const answer = await api("POST", uploadsUrl, csrf, { name: file.name, size: file.size });
      if (answer.status !== 201) throw new Refused(answer.data.error || "HTTP " + answer.status);
      upload = answer.data;
      remember(key, { id: upload.id, name: file.name, size: file.size, started: Date.now() });
    }
    if (upload.status === "complete") { onResume(file.size); return upload.id; }

    const partSize = upload.part_size;
    const length = (number) => Math.min(partSize, file.size - (number - 1) * partSize);
    const stored = new Set(upload.parts.filter((p) => p.size === length(p.number)).map((p) => p.number));
    onResume(Array.from(stored).reduce((sum, number) => sum + length(number), 0));
    const waiting = [];
    for (let number = 1; number <= upload.part_count; number += 1) if (!stored.has(number)) waiting.push(number);

    const urls = new Map();
    async function urlFor(number, fresh) {
      if (fresh || !urls.has(number)) {
        const wanted = [number, ...waiting.filter((n) => !urls.has(n))].slice(0, URL_BATCH);
        const answer = await api("POST", upload.parts_url, csrf, { parts: wanted });
        if (answer.status !== 200) throw new Refused(answer.data.error || "HTTP " + answer.status);
        Object.entries(answer.data.urls).forEach(([n, url]) => urls.set(Number(n), url));
      }
      return urls.get(number);
    }

    async function sendPart(number) {
      let failures = 0;
      let fresh = false;
      for (;;) {
        await online();
        const status = await put(await urlFor(number, fresh), file.slice((number - 1) * partSize, number * partSize), onBytes);
        if (status === 200) return;
        if (status === 400) throw new Refused("part " + number);
        fresh = status === 403;  // the signed URL expired: sign another
        failures += 1;
        if (failures >= MAX_FAILURES) throw new Error("part " + number + " failed " + failures + " times");
        await sleep(Math.min(30000, 500 * 2 ** failures));
      }
    }

    async function worker() {
      while (waiting.length) await sendPart(waiting.shift());
    }
    await Promise.all(Array.from({ length: Math.min(PARALLEL, waiting.length) }, worker));

    for (let attempt = 0; ; attempt += 1) {
      await online();
      const answer = await api("POST", upload.complete_url, csrf);
      if (answer.status === 200) return upload.id;
      if (answer.status === 409 && attempt < 2) {  // storage lost a part: send what it names again
        const missing = (answer.data.fields && answer.data.fields.parts || []).map(Number);
        missing.forEach((number) => onBytes(-length(number)));
        waiting.push(...missing);
        await Promise.all(Array.from({ length: Math.min(PARALLEL, waiting.length) }, worker));
        continue;
      }
      if (answer.status === 400 || answer.status === 404) {
        remember(key, null);
        throw new Refused(answer.data.error || "HTTP " + answer.status);
      }
      if (attempt >= MAX_FAILURES) throw new Error(answer.data.error || "HTTP " + answer.status);
      await sleep(Math.min(30000, 500 * 2 ** attempt));
    }
  }

  window.PartUploads = {
    send,
    Refused,
    // Unfinished uploads this browser remembers: [{name, size, started}], for the page to offer resuming.
    unfinished() { return Object.values(remembered()); },
    isRemembered(file) { return Boolean(remembered()[fingerprint(file)]); },
    forget(file) { remember(fingerprint(file), null); },
  };
})();

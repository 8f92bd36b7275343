// Upload page: drop files anywhere, list them with thumbnails and a remove button,
// flag the ones that break a limit before anything is sent, show only the chosen
// processor's options, and upload with a progress bar. Without JavaScript the form
// still posts as a plain form.
(function () {
  "use strict";
  // Strings come from Django's catalog (jsi18n); the fallbacks keep the page working without it.
  const gettext = window.gettext || ((text) => text);
  const ngettext = window.ngettext || ((one, many, count) => (count === 1 ? one : many));
  const interpolate = window.interpolate || ((text) => text);
  let chosen = [];  // survives a re-rendered form, so a refused upload keeps its files
  let refusedByServer = new Map();  // file → the server's sentence about it, from the last refusal

  function megabytes(bytes) {
    return bytes < 1048576 ? Math.ceil(bytes / 1024) + " KB" : (bytes / 1048576).toFixed(1) + " MB";
  }

  function matches(type, pattern) {
    return pattern.endsWith("/*") ? type.startsWith(pattern.slice(0, -1)) : type === pattern;
  }

  function setup(form) {
    const input = form.querySelector('input[type="file"]');
    const list = document.getElementById("file-list");
    const summary = document.getElementById("file-summary");
    const uploadError = document.getElementById("upload-error");
    const maxFiles = Number(form.dataset.maxFiles);
    const maxFileBytes = Number(form.dataset.maxFileBytes);
    const maxMediaFileBytes = Number(form.dataset.maxMediaFileBytes);
    const maxBatchBytes = Number(form.dataset.maxBatchBytes);
    // Files at least one part large go up in parts, straight to storage, when the page may use the API.
    const uploadsUrl = form.dataset.uploadsUrl;
    const partsFrom = Number(form.dataset.partsFrom || Infinity);
    const inParts = (file) => Boolean(uploadsUrl && window.PartUploads && window.fetch) && file.size >= partsFrom;
    const thumbnails = new Map();
    form.querySelectorAll(".js-only").forEach((element) => { element.hidden = false; });

    const isMedia = (file) => /^(video|audio)\//.test(file.type);
    const limitFor = (file) => (isMedia(file) ? maxMediaFileBytes : maxFileBytes);

    // What the first step accepts (a preset is checked by the server).
    function firstStepOptions() {
      const preset = form.querySelector('select[name="preset"]');
      if (preset && preset.value) return null;
      const first = steps().find((step) => !step.hidden);
      const select = first && chooser(first);
      return select ? first.querySelector('.options[data-processor="' + select.value + '"]') : null;
    }

    function problemOf(file) {
      if (file.size === 0) return gettext("the file is empty");
      if (file.type && !/^(image|video|audio)\//.test(file.type)) return gettext("not an image, video or audio file");
      if (file.size > limitFor(file)) {
        return interpolate(gettext("larger than %s, the limit for one file"), [megabytes(limitFor(file))]);
      }
      const options = firstStepOptions();
      if (options && file.type && options.dataset.accepts &&
          !options.dataset.accepts.split(",").some((pattern) => matches(file.type, pattern))) {
        return interpolate(gettext("%s does not accept this type"), [options.dataset.label]);
      }
      return "";
    }

    // Images show themselves; other files their extension, e.g. MP4.
    function extension(file) {
      const dot = file.name.lastIndexOf(".");
      return dot > 0 ? file.name.slice(dot + 1, dot + 5).toUpperCase() : "?";
    }

    function thumbnail(file) {
      const box = document.createElement("span");
      box.className = "thumb";
      box.setAttribute("aria-hidden", "true");
      if (file.type.startsWith("image/")) {
        if (!thumbnails.has(file)) thumbnails.set(file, URL.createObjectURL(file));
        const image = document.createElement("img");
        image.src = thumbnails.get(file);
        image.alt = "";
        image.addEventListener("error", () => { image.remove(); box.textContent = extension(file); });
        box.append(image);
      } else {
        box.textContent = extension(file);
      }
      return box;
    }

    function sync() {
      const transfer = new DataTransfer();
      chosen.forEach((file) => transfer.items.add(file));
      input.files = transfer.files;
      thumbnails.forEach((url, file) => {
        if (!chosen.includes(file)) { URL.revokeObjectURL(url); thumbnails.delete(file); }
      });
      render();
    }

    // Files that would be refused; empty when the batch can be sent.
    function problems() {
      const found = chosen.map(problemOf).filter(Boolean);
      const total = chosen.reduce((sum, file) => sum + file.size, 0);
      if (chosen.length > maxFiles) found.push(interpolate(gettext("Too many files: at most %s per batch."), [maxFiles]));
      if (total > maxBatchBytes) found.push(interpolate(gettext("Too large in all: at most %s per batch."), [megabytes(maxBatchBytes)]));
      return found;
    }

    function render() {
      list.textContent = "";
      const total = chosen.reduce((sum, file) => sum + file.size, 0);
      chosen.forEach((file, index) => {
        const item = document.createElement("li");
        const problem = problemOf(file) || refusedByServer.get(file) || "";
        item.append(thumbnail(file));
        const text = document.createElement("span");
        text.className = "file-name";
        text.textContent = file.name;
        const size = document.createElement("span");
        size.className = "file-size";
        size.textContent = megabytes(file.size);
        item.append(text, size);
        if (inParts(file) && window.PartUploads.isRemembered(file)) {
          const resumes = document.createElement("span");
          resumes.className = "resumes hint";
          resumes.textContent = gettext("resumes where it stopped");
          item.append(resumes);
        }
        const remove = document.createElement("button");
        remove.type = "button";
        remove.textContent = gettext("Remove");
        remove.setAttribute("aria-label", interpolate(gettext("Remove %s"), [file.name]));
        remove.addEventListener("click", () => { chosen.splice(index, 1); sync(); input.focus(); });
        item.append(remove);
        if (problem) {
          item.className = "refused";
          const reason = document.createElement("span");
          reason.className = "reason";
          reason.textContent = "⚠ " + problem;
          item.append(reason);
        }
        list.append(item);
      });
      const issues = problems();
      const chosenText = document.getElementById("drop-chosen");
      if (chosenText) {
        chosenText.textContent = chosen.length ? interpolate(ngettext("%s file chosen.", "%s files chosen.", chosen.length),
          [chosen.length]) : gettext("No file chosen yet.");
      }
      summary.hidden = chosen.length === 0;
      summary.textContent = interpolate(
        ngettext("%s file, %s in all.", "%s files, %s in all.", chosen.length),
        [chosen.length, megabytes(total)],
      ) + (issues.length ? " " + gettext("Remove the flagged files before uploading.") : "");
      summary.classList.toggle("error", issues.length > 0);
      if (chosen.length > maxFiles || total > maxBatchBytes) {
        const item = document.createElement("li");
        item.className = "refused";
        item.textContent = "⚠ " + issues[issues.length - 1];
        list.append(item);
      }
    }

    function add(files) {
      const seen = new Set(chosen.map((f) => f.name + ":" + f.size));
      Array.from(files).forEach((file) => { if (!seen.has(file.name + ":" + file.size)) chosen.push(file); });
      sync();
    }

    input.addEventListener("change", () => { chosen = []; refusedByServer = new Map(); add(input.files); });

    // Steps: show the chosen processor's options in each step; add, remove and reorder steps.
    const stepsBox = document.getElementById("steps");
    const preset = form.querySelector('select[name="preset"]');
    const addButton = document.getElementById("add-step");
    const more = document.getElementById("more-steps");
    if (more) {  // with JavaScript the steps are managed with buttons instead of a disclosure
      Array.from(more.querySelectorAll("fieldset.step")).forEach((step) => stepsBox.insertBefore(step, addButton));
      more.remove();
    }
    function steps() { return Array.from(stepsBox.querySelectorAll("fieldset.step")); }
    function chooser(step) { return step.querySelector('select[name$="processor"]'); }

    // Fields that apply only to some values of another (a resize's percentage, only in "percent" mode).
    function applyConditions() {
      form.querySelectorAll("[data-when]").forEach((field) => {
        const [name, values] = field.dataset.when.split("=");
        const control = field.closest(".options").querySelector('[name$="-' + name + '"]');
        const container = field.closest(".field");
        if (control && container) container.hidden = !values.split(",").includes(control.value);
      });
    }

    function refreshSteps() {
      applyConditions();
      const usingPreset = preset && preset.value !== "";
      steps().forEach((step, position) => {
        const select = chooser(step);
        step.hidden = usingPreset || (position > 0 && select.value === "");
        step.querySelectorAll(".options").forEach((box) => { box.hidden = box.dataset.processor !== select.value; });
      });
      const visible = steps().filter((s) => !s.hidden);
      visible.forEach((step, position) => {
        step.querySelector("legend").textContent = interpolate(gettext("Step %s"), [position + 1]);
        step.querySelector(".step-tools").hidden = visible.length < 2;
      });
      // With a preset, "+ Add a step" turns it into its own steps and adds one after them.
      addButton.hidden = steps().every((step) => !step.hidden) && !usingPreset;
      render();  // what the first step accepts may have changed
    }

    stepsBox.addEventListener("change", (event) => { if (event.target.matches("select")) refreshSteps(); });
    if (preset) preset.addEventListener("change", refreshSteps);
    // A preset's steps written into the step fields, so the chain can grow from it.
    function unfoldPreset() {
      const presetSteps = JSON.parse(document.getElementById("preset-steps").textContent)[preset.value] || [];
      steps().forEach((step, position) => {
        const wanted = presetSteps[position];
        const select = chooser(step);
        select.value = wanted ? wanted.processor : (position === 0 ? select.value : "");
        if (!wanted) return;
        Object.entries(wanted.options || {}).forEach(([key, value]) => {
          const field = step.querySelector('[name="' + step.dataset.prefix + wanted.processor + "-" + key + '"]');
          if (!field) return;
          if (field.type === "checkbox") field.checked = Boolean(value);
          else field.value = value === null ? "" : value;
        });
      });
      preset.value = "";
      refreshSteps();
    }

    addButton.addEventListener("click", () => {
      if (preset && preset.value) unfoldPreset();
      const next = steps().find((step) => step.hidden);
      if (!next) return;
      const select = chooser(next);
      select.value = select.options[1].value;
      const visible = steps().filter((s) => !s.hidden);
      stepsBox.insertBefore(next, visible[visible.length - 1].nextSibling);  // a new step goes last
      refreshSteps();
      select.focus();
    });
    stepsBox.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-action]");
      if (!button) return;
      const step = button.closest("fieldset.step");
      const visible = steps().filter((s) => !s.hidden);
      const index = visible.indexOf(step);
      if (button.dataset.action === "remove") {
        if (visible.length < 2) return;
        chooser(step).value = "";
        stepsBox.insertBefore(step, addButton);
      } else if (button.dataset.action === "up" && index > 0) {
        stepsBox.insertBefore(step, visible[index - 1]);
      } else if (button.dataset.action === "down" && index < visible.length - 1) {
        stepsBox.insertBefore(visible[index + 1], step);
      }
      refreshSteps();
    });

    // The server reads steps by their field prefix: give them prefixes in the order shown.
    function numberSteps() {
      const ordered = steps().filter((s) => !s.hidden).concat(steps().filter((s) => s.hidden));
      ordered.forEach((step, position) => {
        const from = step.dataset.prefix;
        const to = position === 0 ? "" : "step" + (position + 1) + "-";
        step.querySelectorAll("[name]").forEach((field) => { field.name = to + field.name.slice(from.length); });
        step.dataset.prefix = to;
      });
    }

    function showUploadError(message) {
      uploadError.textContent = message;
      uploadError.hidden = false;
      uploadError.focus();
    }

    // Large files go first, in parts straight to storage (parts.js), when the page may use the API;
    // the rest, with the form and the ids of the files sent in parts, go in one XMLHttpRequest (for its
    // upload progress). The server's answer is the waiting page (after its redirect) or this page with
    // the errors.

    function clock(seconds) {
      seconds = Math.max(0, Math.round(seconds));
      const minutes = Math.floor(seconds / 60);
      return (minutes >= 60 ? Math.floor(minutes / 60) + ":" + String(minutes % 60).padStart(2, "0") : minutes) +
        ":" + String(seconds % 60).padStart(2, "0");
    }

    // Bytes sent (of one file, or of all), the speed over the last seconds, and the time left.
    function tracker(total, bar, label) {
      const samples = [];
      let sent = 0;
      function show() {
        const now = Date.now();
        samples.push([now, sent]);
        while (samples.length > 2 && now - samples[0][0] > 5000) samples.shift();
        const [then, before] = samples[0];
        const speed = now > then ? ((sent - before) * 1000) / (now - then) : 0;
        bar.value = total ? sent / total : 0;
        let text = Math.floor((100 * sent) / (total || 1)) + "% · " + megabytes(sent) + " / " + megabytes(total);
        if (speed > 0 && now - then > 1000 && sent < total) {
          text += " · " + megabytes(speed) + "/s · " + interpolate(gettext("about %s left"), [clock((total - sent) / speed)]);
        }
        label.textContent = text;
      }
      return {
        add(bytes) { sent = Math.max(0, Math.min(total, sent + bytes)); show(); },
        set(bytes) { sent = bytes; show(); },
        get sent() { return sent; },
      };
    }

    // A file's own bar and figures, in its row of the list.
    function fileTracker(file) {
      const item = list.children[chosen.indexOf(file)];
      const bar = document.createElement("progress");
      const label = document.createElement("span");
      label.className = "file-progress hint";
      bar.max = 1;
      bar.setAttribute("aria-label", interpolate(gettext("Upload of %s"), [file.name]));
      if (item) item.append(bar, label);
      return tracker(file.size, bar, label);
    }

    async function sendLarge(files, progress) {
      const csrf = form.querySelector('input[name="csrfmiddlewaretoken"]').value;
      const ids = [];
      for (const file of files) {
        const own = fileTracker(file);
        ids.push(await window.PartUploads.send(file, {
          uploadsUrl, csrf,
          onBytes: (bytes) => { own.add(bytes); progress.add(bytes); },
          onResume: (bytes) => { own.add(bytes); progress.add(bytes); },
        }));
      }
      return ids;
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      uploadError.hidden = true;
      const issues = problems();
      if (issues.length) {
        showUploadError(gettext("Some files would be refused:") + " " + issues.join(" "));
        return;
      }
      numberSteps();
      const button = document.getElementById("submit-button");
      const box = document.getElementById("upload-progress");
      function reset() { button.disabled = false; box.hidden = true; }
      button.disabled = true;
      box.hidden = false;
      const large = chosen.filter(inParts);
      const small = chosen.filter((file) => !inParts(file));
      const progress = tracker(chosen.reduce((sum, file) => sum + file.size, 0),
        document.getElementById("upload-bar"), document.getElementById("upload-percent"));
      progress.set(0);
      let ids;
      try {
        ids = await sendLarge(large, progress);
      } catch (error) {
        showUploadError(error instanceof window.PartUploads.Refused ? error.message
          : gettext("The connection broke off during the upload. What was sent is kept: press the button again, " +
                    "or choose the same files again after a reload, to go on from where it stopped."));
        reset();
        return;
      }
      const data = new FormData(form);
      data.delete("files");
      small.forEach((file) => data.append("files", file));
      ids.forEach((id) => data.append("uploads", id));
      const before = progress.sent;
      const request = new XMLHttpRequest();
      request.open("POST", form.getAttribute("action") || window.location.href);
      request.upload.addEventListener("progress", (step) => {
        if (step.lengthComputable) progress.set(before + Math.min(step.loaded, step.total));
      });
      request.addEventListener("load", () => {
        if (request.status < 400 && /\/b\/[0-9a-f-]{36}\/$/.test(new URL(request.responseURL).pathname)) {
          large.forEach((file) => window.PartUploads.forget(file));  // the batch has them now
          window.location.assign(request.responseURL);
          return;
        }
        const page = new DOMParser().parseFromString(request.responseText, "text/html");
        const main = page.querySelector("main");
        if (!main) {
          showUploadError(interpolate(gettext("The upload was refused (HTTP %s). Nothing was stored."), [request.status]));
          reset();
          return;
        }
        // Each sentence that names a chosen file marks that file in the list, not only in the box.
        const sentences = Array.from(main.querySelectorAll("#files-errors p")).map((p) => p.textContent);
        refusedByServer = new Map();
        chosen.forEach((file) => {
          const sentence = sentences.find((text) => text.includes("“" + file.name + "”"));
          if (sentence) refusedByServer.set(file, sentence);
        });
        document.querySelector("main").replaceWith(main);
        const again = document.getElementById("upload-form");
        if (again) setup(again);
      });
      request.addEventListener("error", () => {
        showUploadError(gettext("The connection broke off during the upload, so nothing was stored. Please try again."));
        reset();
      });
      request.send(data);
    });

    // Uploads a closed or reloaded page left unfinished: choosing the same files again resumes them.
    const resumeNotice = document.getElementById("resume-notice");
    const unfinished = uploadsUrl && window.PartUploads ? window.PartUploads.unfinished() : [];
    if (resumeNotice && unfinished.length) {
      resumeNotice.textContent = interpolate(gettext("Unfinished uploads: %s. Choose the same files again to go on " +
        "from where they stopped."), [unfinished.map((u) => u.name + " (" + megabytes(u.size) + ")").join(", ")]);
      resumeNotice.hidden = false;
    }

    document.ondragover = (event) => { event.preventDefault(); document.body.classList.add("dragging"); };
    document.ondragleave = (event) => { if (!event.relatedTarget) document.body.classList.remove("dragging"); };
    document.ondrop = (event) => {
      event.preventDefault();
      document.body.classList.remove("dragging");
      if (event.dataTransfer && event.dataTransfer.files.length) add(event.dataTransfer.files);
    };

    refreshSteps();
    if (chosen.length) sync();
    else if (input.files.length) add(input.files);
  }

  const form = document.getElementById("upload-form");
  if (form) setup(form);
})();

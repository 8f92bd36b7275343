// Upload page: drop files anywhere, list them with a remove button, flag the
// ones that break a limit, and show only the chosen processor's options.
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  const input = form.querySelector('input[type="file"]');
  const list = document.getElementById("file-list");
  const maxFiles = Number(form.dataset.maxFiles);
  const maxFileBytes = Number(form.dataset.maxFileBytes);
  const maxMediaFileBytes = Number(form.dataset.maxMediaFileBytes);
  const limitFor = (file) => (/^(video|audio)\//.test(file.type) ? maxMediaFileBytes : maxFileBytes);
  const maxBatchBytes = Number(form.dataset.maxBatchBytes);
  let chosen = [];

  function megabytes(bytes) { return (bytes / 1048576).toFixed(1) + " MB"; }

  function sync() {
    const transfer = new DataTransfer();
    chosen.forEach((file) => transfer.items.add(file));
    input.files = transfer.files;
    render();
  }

  function render() {
    list.textContent = "";
    const total = chosen.reduce((sum, file) => sum + file.size, 0);
    chosen.forEach((file, index) => {
      const item = document.createElement("li");
      const problem = file.size > limitFor(file) ? "larger than " + megabytes(limitFor(file)) : "";
      if (problem) item.className = "refused";
      item.append(file.name + " · " + megabytes(file.size) + (problem ? " — " + problem : ""));
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "Remove";
      remove.setAttribute("aria-label", "Remove " + file.name);
      remove.addEventListener("click", () => { chosen.splice(index, 1); sync(); });
      item.append(remove);
      list.append(item);
    });
    if (chosen.length > maxFiles || total > maxBatchBytes) {
      const item = document.createElement("li");
      item.className = "refused";
      item.textContent = chosen.length > maxFiles
        ? "Too many files: at most " + maxFiles + " per batch."
        : "Too large in all: at most " + megabytes(maxBatchBytes) + " per batch.";
      list.append(item);
    }
  }

  function add(files) {
    const seen = new Set(chosen.map((f) => f.name + ":" + f.size));
    Array.from(files).forEach((file) => { if (!seen.has(file.name + ":" + file.size)) chosen.push(file); });
    sync();
  }

  input.addEventListener("change", () => { chosen = []; add(input.files); });
  document.addEventListener("dragover", (event) => { event.preventDefault(); document.body.classList.add("dragging"); });
  document.addEventListener("dragleave", (event) => { if (!event.relatedTarget) document.body.classList.remove("dragging"); });
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    document.body.classList.remove("dragging");
    if (event.dataTransfer && event.dataTransfer.files.length) add(event.dataTransfer.files);
  });

  // Steps: show the chosen processor's options in each step; add, remove and reorder steps.
  const stepsBox = document.getElementById("steps");
  const preset = form.querySelector('select[name="preset"]');
  const addButton = document.getElementById("add-step");
  const more = document.getElementById("more-steps");
  if (more) {  // with JavaScript the steps are managed with buttons instead of a disclosure
    Array.from(more.querySelectorAll("fieldset.step")).forEach((step) => stepsBox.insertBefore(step, addButton));
    more.remove();
  }
  const steps = () => Array.from(stepsBox.querySelectorAll("fieldset.step"));
  const chooser = (step) => step.querySelector('select[name$="processor"]');

  function refreshSteps() {
    const usingPreset = preset && preset.value !== "";
    steps().forEach((step, position) => {
      const select = chooser(step);
      step.hidden = usingPreset || (position > 0 && select.value === "");
      step.querySelectorAll(".options").forEach((box) => { box.hidden = box.dataset.processor !== select.value; });
    });
    const visible = steps().filter((s) => !s.hidden);
    visible.forEach((step, position) => {
      step.querySelector("legend").textContent = "Step " + (position + 1);
      step.querySelector(".step-tools").hidden = visible.length < 2;
    });
    addButton.hidden = usingPreset || steps().every((step) => !step.hidden);
  }

  stepsBox.addEventListener("change", (event) => { if (event.target.matches("select")) refreshSteps(); });
  if (preset) preset.addEventListener("change", refreshSteps);
  addButton.addEventListener("click", () => {
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
  form.addEventListener("submit", () => {
    const ordered = steps().filter((s) => !s.hidden).concat(steps().filter((s) => s.hidden));
    ordered.forEach((step, position) => {
      const from = step.dataset.prefix;
      const to = position === 0 ? "" : "step" + (position + 1) + "-";
      step.querySelectorAll("[name]").forEach((field) => { field.name = to + field.name.slice(from.length); });
      step.dataset.prefix = to;
    });
  });
  refreshSteps();

  if (input.files.length) add(input.files);
})();

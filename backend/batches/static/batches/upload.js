// Upload page: drop files anywhere, list them with a remove button, flag the
// ones that break a limit, and show only the chosen processor's options.
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  const input = form.querySelector('input[type="file"]');
  const list = document.getElementById("file-list");
  const select = form.querySelector('select[name="processor"]');
  const maxFiles = Number(form.dataset.maxFiles);
  const maxFileBytes = Number(form.dataset.maxFileBytes);
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
      const problem = file.size > maxFileBytes ? "larger than " + megabytes(maxFileBytes) : "";
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

  function showOptions() {
    form.querySelectorAll("fieldset.options").forEach((fieldset) => {
      fieldset.hidden = fieldset.dataset.processor !== select.value;
    });
  }
  select.addEventListener("change", showOptions);
  showOptions();
  if (input.files.length) add(input.files);
})();

// Hookyard dashboard: the little JavaScript it uses. Every form works without it.
// Copy buttons: <button data-copy="element-id"> copies that input's value.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  field.select();
  const done = () => { const label = button.textContent; button.textContent = "Copied"; setTimeout(() => { button.textContent = label; }, 1500); };
  if (navigator.clipboard) navigator.clipboard.writeText(field.value).then(done, () => document.execCommand("copy") && done());
  else if (document.execCommand("copy")) done();
});

// Live regions: <section data-live="url" data-every="seconds"> reloads its contents from url (an HTML fragment).
function refresh(region) {
  fetch(region.dataset.live, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
    .then((response) => (response.ok ? response.text() : null))
    .then((html) => { if (html !== null) region.innerHTML = html; })
    .catch(() => {});
}
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-live]").forEach((region) => {
    setInterval(() => refresh(region), 1000 * Number(region.dataset.every || 3));
  });
});

// Live preview: a form with data-preview="url" posts itself there as it changes; the answer replaces #preview.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form[data-preview]");
  if (!form) return;
  let timer = null;
  const preview = () => {
    fetch(form.dataset.preview, { method: "POST", body: new FormData(form), credentials: "same-origin",
                                  headers: { "X-Requested-With": "fetch" } })
      .then((response) => (response.ok ? response.text() : null))
      .then((html) => { if (html !== null) document.getElementById("preview").innerHTML = html; })
      .catch(() => {});
  };
  form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(preview, 300); });
  form.addEventListener("change", () => { clearTimeout(timer); timer = setTimeout(preview, 100); });
});

// A condition's value input fits its operator at once: a list for `in`, a number for comparisons, none for
// exists / not_exists. (The server reads the value the same way; this only helps typing it.)
const VALUE_HINTS = { in: ["text", "a, b, c"], gt: ["decimal", "a number"], gte: ["decimal", "a number"],
                      lt: ["decimal", "a number"], lte: ["decimal", "a number"] };
document.addEventListener("change", (event) => {
  const select = event.target.closest("select[data-condition-op]");
  if (!select) return;
  const value = select.closest(".row").querySelector("input[name$=_value]");
  const [mode, hint] = VALUE_HINTS[select.value] || ["text", ""];
  value.inputMode = mode;
  value.placeholder = hint;
  value.disabled = select.value === "exists" || select.value === "not_exists"; // no value to type, none sent
});

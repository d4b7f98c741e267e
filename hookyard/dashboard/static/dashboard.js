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

// The data-quality queue works without JavaScript (tick each flag); this only shows a
// "select every flag on this page" box that ticks or clears them all at once.
(function () {
  "use strict";
  const box = document.querySelector("[data-select-all]");
  const list = document.querySelector("[data-quality-queue]");
  if (!box || !list) return;
  const all = box.querySelector("input");
  const each = () => Array.from(list.querySelectorAll('input[name="flag"]'));
  box.hidden = false;
  all.addEventListener("change", () => each().forEach((input) => { input.checked = all.checked; }));
  list.addEventListener("change", () => {
    const boxes = each();
    all.checked = boxes.length > 0 && boxes.every((input) => input.checked);
  });
})();

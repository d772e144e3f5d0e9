// rb-mcp review page: small conveniences only. Every page works without this script.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Filters apply as soon as a choice changes.
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.requestSubmit());
  }

  // "Select all" in the review inbox.
  for (const box of document.querySelectorAll("input[data-select-all]")) {
    const name = box.getAttribute("data-select-all");
    box.addEventListener("change", () => {
      for (const other of box.form.querySelectorAll(`input[type=checkbox][name="${name}"]`)) {
        other.checked = box.checked;
      }
    });
  }

  // Ask before a change that is hard to undo (the text is the page's own, never memory text).
  for (const button of document.querySelectorAll("button[data-confirm]")) {
    button.addEventListener("click", (event) => {
      if (!window.confirm(button.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    });
  }

  // "/" jumps to the search box.
  const search = document.querySelector("input[data-focus-key]");
  if (search) {
    document.addEventListener("keydown", (event) => {
      const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName);
      if (event.key === search.getAttribute("data-focus-key") && !typing) {
        event.preventDefault();
        search.focus();
      }
    });
  }

  // The judge form shows one empty lesson at a time.
  const lessons = [...document.querySelectorAll("fieldset.lesson")];
  if (lessons.length > 1) {
    const filled = (f) => [...f.querySelectorAll("input[type=text], textarea")].some((e) => e.value.trim());
    let shown = 1;
    lessons.forEach((f, i) => { if (filled(f)) shown = i + 2; });
    shown = Math.min(shown, lessons.length);
    lessons.forEach((f, i) => { f.hidden = i >= shown; });
    if (shown < lessons.length) {
      const more = document.createElement("button");
      more.type = "button";
      more.textContent = "Add another lesson";
      more.addEventListener("click", () => {
        const next = lessons.find((f) => f.hidden);
        if (next) next.hidden = false;
        if (!lessons.some((f) => f.hidden)) more.remove();
      });
      lessons[lessons.length - 1].after(more);
    }
  }
});

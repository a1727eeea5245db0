// Haven's own script. Progressive enhancement only: every page works without it.
"use strict";

document.documentElement.classList.add("js");

document.addEventListener("DOMContentLoaded", () => {
  // The navigation: a drawer behind a Menu button on a phone, a sidebar on a desktop.
  const toggle = document.querySelector(".nav-toggle");
  const nav = document.getElementById("app-nav");
  if (toggle && nav) {
    toggle.hidden = false;
    const close = () => {
      toggle.setAttribute("aria-expanded", "false");
      nav.classList.remove("open");
    };
    toggle.addEventListener("click", () => {
      const open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      nav.classList.toggle("open", open);
      if (open) {
        const first = nav.querySelector("a");
        if (first) first.focus();
      }
    });
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && nav.classList.contains("open")) {
        close();
        toggle.focus();
      }
    });
  }

  // Dialogs: a button with data-dialog="id" opens <dialog id="id"> modally. The page
  // renders the dialog open, in place, so that without script its form is still there.
  for (const opener of document.querySelectorAll("[data-dialog]")) {
    const dialog = document.getElementById(opener.getAttribute("data-dialog"));
    if (!(dialog instanceof HTMLDialogElement)) continue;
    opener.hidden = false;
    dialog.close();
    dialog.classList.add("enhanced");
    opener.addEventListener("click", () => dialog.showModal());
    for (const closer of dialog.querySelectorAll("[data-close]")) {
      closer.addEventListener("click", () => dialog.close());
    }
  }

  // The note editor: a recent score is added to the field where scores belong.
  for (const button of document.querySelectorAll("[data-insert]")) {
    const target = document.getElementById(button.getAttribute("data-target"));
    if (!(target instanceof HTMLTextAreaElement)) continue;
    button.hidden = false;
    button.addEventListener("click", () => {
      const text = button.getAttribute("data-insert");
      target.value = target.value.trim() === "" ? text : `${target.value.trimEnd()}\n${text}`;
      target.focus();
    });
  }

  // Toasts fade after a while; they are also announced (role=status).
  for (const toast of document.querySelectorAll(".toast")) {
    setTimeout(() => toast.classList.add("leaving"), 6000);
  }

  // A form shown again with mistakes: move focus to the summary.
  const summary = document.getElementById("error-summary");
  if (summary) summary.focus();
});

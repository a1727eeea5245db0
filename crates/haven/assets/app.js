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

  // The help editor's live preview: the server renders and sanitises the Markdown
  // exactly as it will be published; the button that asks for it by hand goes away.
  for (const source of document.querySelectorAll("textarea[data-preview]")) {
    const pane = document.getElementById(source.getAttribute("data-preview"));
    const token = source.form && source.form.querySelector("input[name=_csrf]");
    if (!pane || !token) continue;
    for (const button of source.form.querySelectorAll("[data-no-js-only]")) button.hidden = true;
    let timer;
    let asked = 0;
    source.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const mine = ++asked;
        try {
          const response = await fetch("/help-editor/preview", {
            method: "POST",
            headers: { "content-type": "application/json", "x-csrf-token": token.value },
            body: JSON.stringify({ markdown: source.value }),
          });
          if (!response.ok || mine !== asked) return;
          const { html } = await response.json();
          pane.innerHTML = html;
        } catch {
          // The preview catches up with the next keystroke.
        }
      }, 300);
    });
  }

  // The help panel asks the help centre for the articles about this kind of page, and
  // nothing else: no cookies, no referrer, no record's id.
  for (const panel of document.querySelectorAll("[data-help-page]")) {
    const key = panel.getAttribute("data-help-page");
    const details = panel.querySelector("details");
    const body = panel.querySelector(".help-panel-body");
    if (!details || !body) continue;
    panel.hidden = false;
    let loaded = false;
    details.addEventListener("toggle", async () => {
      if (!details.open || loaded) return;
      loaded = true;
      body.textContent = "Loading…";
      try {
        const response = await fetch(`/api/help/v1/articles?page=${encodeURIComponent(key)}`, {
          credentials: "omit",
          referrerPolicy: "no-referrer",
          headers: { accept: "application/json" },
        });
        if (!response.ok) throw new Error(String(response.status));
        const articles = await response.json();
        body.textContent = "";
        if (articles.length === 0) {
          const none = document.createElement("p");
          none.className = "meta";
          none.textContent = "No article about this page yet.";
          body.append(none);
          return;
        }
        const list = document.createElement("ul");
        list.className = "list";
        for (const article of articles) {
          const item = document.createElement("li");
          const link = document.createElement("a");
          link.href = `/help/articles/${encodeURIComponent(article.slug)}`;
          link.rel = "noreferrer";
          link.textContent = article.title;
          item.append(link);
          if (article.summary) {
            const summary = document.createElement("span");
            summary.className = "meta";
            summary.textContent = article.summary;
            item.append(document.createElement("br"), summary);
          }
          list.append(item);
        }
        body.append(list);
      } catch {
        loaded = false;
        body.textContent = "The help centre cannot be reached just now.";
      }
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

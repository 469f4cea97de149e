// The portal, better with JavaScript: the page starts the phone's session by itself and
// follows it without reloads. The server renders every state (the same HTML the page has
// without JavaScript); this script only fetches the live part and swaps it in.
"use strict";
(function () {
  const live = document.getElementById("live");
  if (!live) return;
  const PARTIAL = { "pdm-partial": "1" };
  let timer = null;
  let last = null; // the last live part received, to swap only on change

  function isFinal() {
    const part = document.getElementById("live-part");
    return part && part.dataset.final === "true";
  }

  function swap(html, focus) {
    last = html;
    live.innerHTML = html;
    if (focus) {
      const h = live.querySelector("h2");
      if (h) { h.tabIndex = -1; h.focus(); }
    }
    schedule();
  }

  function schedule() {
    clearTimeout(timer);
    if (!isFinal()) timer = setTimeout(refresh, 1000);
  }

  async function refresh() {
    try {
      const r = await fetch("/portal/status", { headers: PARTIAL, cache: "no-store", credentials: "same-origin" });
      const html = await r.text();
      if (html !== last) swap(html, false); else schedule();
    } catch (e) {
      schedule(); // a dropped connection: try again
    }
  }

  // Forms (choose, confirm) go through fetch; the answer is the next live part.
  document.addEventListener("submit", async (ev) => {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement) || !live.contains(form)) return;
    ev.preventDefault();
    const button = form.querySelector("button");
    if (button) button.disabled = true;
    try {
      const r = await fetch(form.action, {
        method: "POST", headers: PARTIAL, credentials: "same-origin",
        body: new URLSearchParams(new FormData(form)),
      });
      swap(await r.text(), true);
    } catch (e) {
      if (button) button.disabled = false;
    }
  });

  // "Back" from the confirmation: show the offers again without a reload.
  live.addEventListener("click", (ev) => {
    const a = ev.target instanceof Element ? ev.target.closest("a[href='/portal/status']") : null;
    if (!a) return;
    ev.preventDefault();
    refresh().then(() => { const h = live.querySelector("h2"); if (h) { h.tabIndex = -1; h.focus(); } });
  });

  if (live.dataset.start === "true") {
    // Hand the trigger to the phone: the browser passes its MIME type to the DM client.
    const f = document.createElement("iframe");
    f.hidden = true;
    f.title = "device management";
    f.src = "/portal/trigger";
    document.body.append(f);
    timer = setTimeout(refresh, 700);
  } else {
    schedule();
  }
})();

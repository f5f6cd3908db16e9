/* kb annotated article: selecting a marked claim shows its sources in the side panel.
   Progressive enhancement only: without this script, the numbered notes below the article hold
   the same content. The panel shows a copy of the claim's note (id "note-<claim id>"); nothing here
   builds markup from strings, so no text from the knowledge base can become script. */
(function () {
  "use strict";
  var panel = document.getElementById("claim-panel");
  if (!panel) { return; }
  var body = panel.querySelector(".panel-body");
  var title = panel.querySelector(".panel-title");
  var closeButton = panel.querySelector(".panel-close");
  var emptyMessage = body.querySelector(".panel-empty");
  var current = null;
  var lastMark = null;
  var givingFocusBack = false;  // close() focuses the mark again: that focus must not select it
  var overviewTitle = title.textContent;
  var narrow = window.matchMedia("(max-width: 62rem)");  // the panel is a bottom sheet (site.css)

  document.documentElement.classList.add("js");
  panel.hidden = false;
  panel.classList.add("is-empty");
  // The marks become controls only now: without this script they are plain highlighted text.
  var hint = panel.getAttribute("data-select-hint") || "";
  Array.prototype.forEach.call(document.querySelectorAll("mark.claim[data-claim]"), function (m) {
    m.tabIndex = 0;
    m.setAttribute("role", "button");
    m.setAttribute("aria-controls", "claim-panel");
    m.setAttribute("aria-expanded", "false");
    if (hint) { m.title = (m.title ? m.title + ": " : "") + hint; }
  });

  function marksOf(id) {
    return Array.prototype.filter.call(document.querySelectorAll("mark.claim[data-claim]"), function (m) {
      return m.getAttribute("data-claim") === id;
    });
  }

  function setSelected(id, on) {
    marksOf(id).forEach(function (m) {
      m.classList.toggle("selected", on);
      m.setAttribute("aria-expanded", on ? "true" : "false");
    });
  }

  function select(id, mark) {
    var note = document.getElementById("note-" + id);
    if (!note) { return; }
    var source = note.querySelector(".note-body");
    if (!source) { return; }
    if (current) { setSelected(current, false); }
    current = id;
    lastMark = mark || marksOf(id)[0] || null;
    setSelected(id, true);
    while (body.firstChild) { body.removeChild(body.firstChild); }
    var copy = source.cloneNode(true);
    copy.removeAttribute("id");
    Array.prototype.forEach.call(copy.querySelectorAll("[id]"), function (el) { el.removeAttribute("id"); });
    body.appendChild(copy);
    title.textContent = (panel.getAttribute("data-label-claim") || "") + " " + (note.getAttribute("value") || "");
    panel.classList.remove("is-empty");
    panel.setAttribute("data-claim", id);
    panel.scrollTop = 0;
    document.documentElement.classList.add("panel-open");
    keepAboveSheet(lastMark);
  }

  // On a narrow screen the panel is a sheet over the bottom of the page: scroll the selected claim
  // into the room above it (its start, if the claim is taller than that room).
  function keepAboveSheet(mark) {
    if (!mark || !narrow.matches) { return; }
    var gap = 12;
    var room = panel.getBoundingClientRect().top - gap;
    var box = mark.getBoundingClientRect();
    var by = Math.min(Math.max(box.bottom - room, 0), box.top - gap);
    if (by) { window.scrollBy(0, by); }
  }

  function close() {
    if (current) { setSelected(current, false); }
    current = null;
    while (body.firstChild) { body.removeChild(body.firstChild); }
    if (emptyMessage) { body.appendChild(emptyMessage); }
    title.textContent = overviewTitle;
    panel.classList.add("is-empty");
    panel.removeAttribute("data-claim");
    document.documentElement.classList.remove("panel-open");
    if (lastMark) {
      givingFocusBack = true;  // focusin runs during focus(), before it returns
      try { lastMark.focus(); } finally { givingFocusBack = false; }
    }
  }

  function markFrom(target) {
    if (!target || !target.closest) { return null; }
    if (target.closest("a")) { return null; }  // links inside a mark keep working
    return target.closest("mark.claim[data-claim]");
  }

  document.addEventListener("click", function (event) {
    var mark = markFrom(event.target);
    if (mark) { select(mark.getAttribute("data-claim"), mark); }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && current) { close(); return; }
    var mark = markFrom(event.target);
    if (mark && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      select(mark.getAttribute("data-claim"), mark);
    }
  });
  document.addEventListener("focusin", function (event) {
    if (givingFocusBack) { return; }
    var mark = markFrom(event.target);
    if (mark && !narrow.matches) {
      select(mark.getAttribute("data-claim"), mark);
    }
  });
  closeButton.addEventListener("click", close);

  function fromHash() {
    var hash = decodeURIComponent(window.location.hash || "");
    if (hash.indexOf("#claim-") === 0) { select(hash.slice(7)); }
  }
  window.addEventListener("hashchange", fromHash);
  fromHash();
}());

/* rader-queue run report: tree expansion (with #expand=ID links) and the paged, filterable
   problem index. Only DOM APIs; text is never inserted as HTML. */
(function () {
  "use strict";

  // ------------------------------------------------------------------ problem pages: the tree
  function nodeEl(id) { return document.getElementById("node-" + id); }

  function openWithAncestors(el) {
    for (let d = el; d; d = d.parentElement && d.parentElement.closest("details.node")) {
      d.open = true;
    }
  }

  function isShown(el) {
    if (el.checkVisibility) return el.checkVisibility();
    return el.getClientRects().length > 0;
  }

  // Marks every node whose summary line is actually rendered (data-shown) and counts them.
  function markShown() {
    const nodes = document.querySelectorAll("details.node");
    let shown = 0;
    nodes.forEach(function (d) {
      const summary = d.querySelector(":scope > summary");
      if (summary && isShown(summary)) { d.setAttribute("data-shown", "1"); shown++; }
      else d.removeAttribute("data-shown");
    });
    const counter = document.getElementById("shown-count");
    if (counter) counter.textContent = shown + " of " + nodes.length + " nodes shown";
  }

  function setAll(open) {
    document.querySelectorAll("details.node").forEach(function (d) { d.open = open; });
    markShown();
  }

  function openGold() {
    document.querySelectorAll("details.node").forEach(function (d) {
      d.open = d.classList.contains("gold") || d.parentElement.classList.contains("tree");
    });
    markShown();
  }

  // #expand=ID[,ID...] opens those nodes (and their ancestors), so their children show;
  // #expand=all / #collapse=all; #node-ID opens the path down to that node.
  // Opening the page with ?noscroll keeps it at the top (screenshots, printing).
  function applyHash(event) {
    const hash = decodeURIComponent(location.hash.slice(1));
    document.querySelectorAll("details.node.focus").forEach(function (d) { d.classList.remove("focus"); });
    let focus = null;
    if (hash === "expand=all") setAll(true);
    else if (hash === "collapse=all") setAll(false);
    else if (hash.indexOf("expand=") === 0) {
      hash.slice(7).split(",").forEach(function (part) {
        if (!/^\d+$/.test(part)) return;
        const el = nodeEl(part);
        if (el) { openWithAncestors(el); focus = focus || el; }
      });
    } else if (/^node-\d+$/.test(hash)) {
      const el = document.getElementById(hash);
      if (el) { openWithAncestors(el); focus = el; }
    }
    if (focus) {
      focus.classList.add("focus");
      if (event || !/[?&]noscroll\b/.test(location.search)) focus.scrollIntoView({block: "center"});
    }
    markShown();
  }

  function initTree() {
    if (!document.querySelector("details.node")) return;
    const bind = function (id, fn) { const b = document.getElementById(id); if (b) b.addEventListener("click", fn); };
    bind("expand-all", function () { setAll(true); });
    bind("collapse-all", function () { setAll(false); });
    bind("open-gold", openGold);
    let pending = false;
    document.addEventListener("toggle", function () {
      if (pending) return;
      pending = true;
      setTimeout(function () { pending = false; markShown(); }, 0);
    }, true);
    window.addEventListener("hashchange", applyHash);
    applyHash();
  }

  // ------------------------------------------------------------------ index: filter and pages
  function initIndex() {
    const table = document.getElementById("problems");
    if (!table) return;
    const rows = Array.prototype.slice.call(table.tBodies[0].rows);
    const text = document.getElementById("filter-text");
    const outcome = document.getElementById("filter-outcome");
    const sizeSel = document.getElementById("page-size");
    const info = document.getElementById("page-info");
    let page = 0;
    function matching() {
      const q = text.value.trim().toLowerCase();
      const o = outcome.value;
      return rows.filter(function (r) {
        if (o === "failed" ? r.dataset.failed !== "1" : (o && r.dataset.outcome !== o)) return false;
        return !q || r.dataset.search.indexOf(q) >= 0;
      });
    }
    function render() {
      const size = parseInt(sizeSel.value, 10);
      const hits = matching();
      const pages = Math.max(1, Math.ceil(hits.length / size));
      page = Math.min(Math.max(page, 0), pages - 1);
      rows.forEach(function (r) { r.hidden = true; });
      hits.slice(page * size, (page + 1) * size).forEach(function (r) { r.hidden = false; });
      info.textContent = "page " + (page + 1) + " of " + pages + " · " + hits.length + " of " + rows.length + " problems";
    }
    text.addEventListener("input", function () { page = 0; render(); });
    outcome.addEventListener("change", function () { page = 0; render(); });
    sizeSel.addEventListener("change", function () { page = 0; render(); });
    document.getElementById("page-prev").addEventListener("click", function () { page--; render(); });
    document.getElementById("page-next").addEventListener("click", function () { page++; render(); });
    render();
  }

  function init() {
    document.querySelectorAll(".controls").forEach(function (c) { c.hidden = false; });
    initTree();
    initIndex();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();

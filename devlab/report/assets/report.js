// report.html: click a table header with class "sortable" to sort that table by the column.
// Numbers sort by the value in data-v (the raw number), text by its content; empty values sort last.
"use strict";
(function () {
  function key(cell) {
    if (!cell) { return null; }
    var raw = cell.getAttribute("data-v");
    if (raw !== null && raw !== "") { return parseFloat(raw); }
    var text = cell.textContent.trim();
    return text === "" ? null : text.toLowerCase();
  }
  function compare(a, b, dir) {
    if (a === null && b === null) { return 0; }
    if (a === null) { return 1; }
    if (b === null) { return -1; }
    if (typeof a === "number" && typeof b === "number") { return dir * (a - b); }
    return dir * String(a).localeCompare(String(b));
  }
  document.querySelectorAll("table th.sortable").forEach(function (th) {
    th.addEventListener("click", function () {
      var table = th.closest("table");
      var body = table.tBodies[0];
      var index = Array.prototype.indexOf.call(th.parentNode.children, th);
      var dir = th.getAttribute("data-dir") === "desc" ? 1 : -1;
      th.setAttribute("data-dir", dir === 1 ? "asc" : "desc");
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (r1, r2) { return compare(key(r1.cells[index]), key(r2.cells[index]), dir); });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
  document.documentElement.setAttribute("data-report-ready", "1");
})();

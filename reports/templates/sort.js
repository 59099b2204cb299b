// Click a column heading of a table.sortable to sort its rows (numbers numerically, blanks last).
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("thead th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("thead th").forEach(function (other) { other.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var key = function (row) {
        var text = row.cells[column] ? row.cells[column].textContent.trim() : "";
        var value = parseFloat(text);
        return { text: text, number: isNaN(value) || !/^-?[\d.]/.test(text) ? null : value };
      };
      rows.sort(function (a, b) {
        var x = key(a), y = key(b), order;
        if (x.text === "" || x.text === "–") return 1;
        if (y.text === "" || y.text === "–") return -1;
        order = x.number !== null && y.number !== null ? x.number - y.number : x.text.localeCompare(y.text);
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});

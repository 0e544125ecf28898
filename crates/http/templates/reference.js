(function () {
  var q = document.getElementById("q");
  var none = document.getElementById("none");
  var all = function (s) { return Array.prototype.slice.call(document.querySelectorAll(s)); };
  var ops = all(".op"), groups = all(".tag-s, .toc > li");
  var links = all(".ops a, .endpoints a");
  // What the filter searches: method, path and summary.
  ops.forEach(function (op) {
    op.search = (op.querySelector(".sig").textContent + " " + op.querySelector("h3").textContent).toLowerCase();
  });
  if (/^https?:/.test(location.origin)) {
    all("pre.rq").forEach(function (e) {
      e.textContent = e.textContent.replace("http://127.0.0.1:8080", location.origin);
    });
  }
  q.hidden = false;
  function filter() {
    var words = q.value.toLowerCase().split(/\s+/).filter(Boolean), shown = {}, any = false;
    ops.forEach(function (op) {
      var hit = words.every(function (w) { return op.search.indexOf(w) >= 0; });
      op.classList.toggle("x", !hit);
      if (hit) { shown["#" + op.id] = true; any = true; }
    });
    links.forEach(function (a) { a.parentNode.classList.toggle("x", !shown[a.getAttribute("href")]); });
    groups.forEach(function (g) {
      if (g.querySelector(".op, .ops")) {
        g.classList.toggle("x", !g.querySelector(".op:not(.x), .ops > li:not(.x)"));
      }
    });
    none.hidden = any;
  }
  q.addEventListener("input", filter);
  document.addEventListener("keydown", function (e) {
    if (e.key === "/" && document.activeElement !== q) { e.preventDefault(); q.focus(); }
    if (e.key === "Escape" && document.activeElement === q) { q.value = ""; filter(); }
  });
})();

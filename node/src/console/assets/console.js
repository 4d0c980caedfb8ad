// The desk console's only script: keeps the banner current without a reload, and prints.
(function () {
  "use strict";
  function refresh() {
    var banner = document.getElementById("banner");
    if (!banner || !window.fetch) { return; }
    fetch("/console/banner.json", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (b) {
        if (!b) { return; }
        banner.textContent = b.text;
        banner.className = "banner " + b.state;
        banner.setAttribute("data-state", b.state);
      })
      .catch(function () {
        banner.className = "banner unreachable";
        banner.setAttribute("data-state", "unreachable");
      });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var button = document.querySelector("[data-print]");
    if (button) { button.addEventListener("click", function () { window.print(); }); }
    if (document.querySelector("form[action='/console/logout']")) {
      window.setInterval(refresh, 2000);
    }
  });
})();

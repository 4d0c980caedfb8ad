// The desk console's only script: keeps the banner current without a reload, prints, and
// fills the doctor's drug lists from the drug search as a name, code or pinyin initials are
// typed (without it, the server still takes a code, a name or initials naming one drug).
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
  function drugSearch(input) {
    var list = document.getElementById(input.getAttribute("list"));
    var timer = null;
    if (!list || !window.fetch) { return; }
    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () {
        var q = input.value.trim();
        if (!q) { return; }
        fetch("/console/doctor/drugs?q=" + encodeURIComponent(q),
              { credentials: "same-origin", cache: "no-store" })
          .then(function (r) { return r.ok ? r.json() : []; })
          .then(function (found) {
            if (input.value.trim() !== q) { return; }
            list.textContent = "";
            found.forEach(function (d) {
              var option = document.createElement("option");
              option.value = d.code;
              option.label = d.label;
              list.appendChild(option);
            });
          })
          .catch(function () { /* the server still resolves what was typed */ });
      }, 150);
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("input[data-drug-search]"), drugSearch);
    var button = document.querySelector("[data-print]");
    if (button) { button.addEventListener("click", function () { window.print(); }); }
    if (document.querySelector("form[action='/console/logout']")) {
      window.setInterval(refresh, 2000);
    }
  });
})();

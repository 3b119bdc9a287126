// Siyakha staff dashboard: small enhancements only; every page works without this file.
(function () {
  "use strict";
  // "Select all" for the queue's bulk actions.
  var all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll("input[name=refs]").forEach(function (box) { box.checked = all.checked; });
    });
  }
  // Canned responses: show the chosen response's text before sending.
  var canned = document.getElementById("canned");
  var preview = document.getElementById("canned-preview");
  if (canned && preview) {
    canned.addEventListener("change", function () {
      var option = canned.options[canned.selectedIndex];
      preview.textContent = option ? (option.getAttribute("data-text") || "") : "";
    });
  }
  // Ask before destructive actions (erase, cancel).
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
})();

/* 智理 configuration pages: keep a unit chosen in the picker's search results when the results are replaced by
   the next search (the choice moves to the "chosen" row). Everything else works without JavaScript. */
(function () {
  "use strict";
  document.addEventListener("change", function (e) {
    var input = e.target;
    if (!input || !input.closest || !input.checked) return;
    var results = input.closest("[data-unit-results]");
    if (!results) return;
    var picker = results.closest("[data-unit-picker]");
    var chosen = picker && picker.querySelector("[data-unit-chosen]");
    if (!chosen) return;
    if (input.type === "radio") {
      chosen.querySelectorAll("label[data-unit]").forEach(function (l) {
        var i = l.querySelector("input");
        if (i && !i.checked) l.remove();
      });
    }
    chosen.appendChild(input.closest("label"));
    input.focus();
  });
})();

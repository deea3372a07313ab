/* 智理 resident participation: the "nearby" form searches as soon as the browser reports a location (app.js fills
   lon/lat through its [data-geolocate] button); choosing a community instead clears the point. */
(function () {
  "use strict";
  document.addEventListener("change", function (e) {
    var t = e.target, form = t && t.form;
    if (!form || !form.hasAttribute("data-nearby-form")) return;
    if (t.name === "lon" && t.value) {
      var community = form.querySelector("select[name=community]");
      if (community) community.value = "";
      form.requestSubmit ? form.requestSubmit() : form.submit();
    }
  });
  document.addEventListener("click", function (e) {
    var btn = e.target.closest && e.target.closest("[data-clear-point]");
    if (!btn || !btn.form) return;
    var community = btn.form.querySelector("select[name=community]");
    if (community && community.value) {
      btn.form.querySelector("input[name=lon]").value = "";
      btn.form.querySelector("input[name=lat]").value = "";
    }
  });
})();

/* 智理 case list: a phone number typed into the text or number box is never sent in a URL. The command centre's
   typed phone is searched as the reporter's through the posted form; anyone else is told (nothing is sent). */
(function () {
  "use strict";
  var form = document.getElementById("case-filter");
  if (!form) return;
  var PHONE = /^(\+?86)?1\d{10}$/, ID = /^\d{17}[\dXx]$/;

  function personal(value) {
    var v = (value || "").replace(/[\s-]/g, "");
    return PHONE.test(v) ? "phone" : (ID.test(v) ? "id" : null);
  }

  form.addEventListener("submit", function (event) {
    var boxes = [form.elements.namedItem("q"), form.elements.namedItem("number")];
    for (var i = 0; i < boxes.length; i++) {
      var box = boxes[i];
      if (!box) continue;
      var kind = personal(box.value);
      if (!kind) continue;
      event.preventDefault();
      var phoneForm = form.dataset.phoneForm && document.getElementById(form.dataset.phoneForm);
      if (kind === "phone" && phoneForm) {
        phoneForm.elements.namedItem("reporter_phone").value = box.value.trim();
        phoneForm.requestSubmit ? phoneForm.requestSubmit() : phoneForm.submit();
      } else {
        var note = document.getElementById("case-number-in-url");
        if (note) { note.hidden = false; note.setAttribute("tabindex", "-1"); note.focus(); }
      }
      return;
    }
  });
})();

/* 智理: forms that cannot lose or duplicate work — every <form data-checked-form> (the report form, the visit form).

   - Before anything is sent, each missing or invalid field gets its message beside it (the elements made by
     partials/form_kit.html carry the texts). The form is noValidate: the browser's own warning cannot show on a
     control inside a closed group (the category picker), so this script opens the group and says it instead.
   - Long texts have a live counter (剩余 N 字 / 已超出 N 字); their maxlength is lifted, so that a longer paste is
     counted and refused, never cut.
   - The category picker: "已选择" always shows the radio that is checked — on every change, after a search replaced
     the list (the chosen one is kept in the form), and whenever the browser brings the page back (pageshow).
   - One record per submission: the form's token (input[name=idem]) is kept for the tab (sessionStorage, by the
     form's data-draft). A form the browser brings back filled (Back, reload) gets the token it was sent with, and
     the category it was sent with, so sending it again answers with the record already made instead of a second.
     The submit button disables itself while the form is on its way (a double click sends once).
   Without JavaScript the server checks all of it (422 with the message beside the field; an exact resend of a
   token goes to its record). No inline script: the Content-Security-Policy allows only scripts from this server. */
(function () {
  "use strict";

  var STORE = "zhili.draft:";
  var SEND_TIMEOUT_MS = 15000; // the button comes back if no answer arrives (sending again is safe: same token)
  var NUMBER = /^-?[0-9]+(\.[0-9]+)?$/;

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $$(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }
  function fmt(text, params) {
    return String(text || "").replace(/\{(\w+)\}/g, function (m, k) { return k in params ? params[k] : m; });
  }
  function forms() { return $$("form[data-checked-form]"); }
  // Characters as the server counts them: code points of the trimmed text (a textarea's value has LF line breaks).
  function length(value) { return Array.from(String(value).trim()).length; }

  // -- the draft kept for the tab --------------------------------------------------------------------------------
  function load(form) {
    try { return JSON.parse(sessionStorage.getItem(STORE + form.dataset.draft) || "null"); } catch (e) { return null; }
  }
  function save(form, draft) {
    try { sessionStorage.setItem(STORE + form.dataset.draft, JSON.stringify(draft)); } catch (e) { /* storage off */ }
  }
  function chosen(form) { return $("input[name=category_code]:checked", form); }
  // The answers to the chosen category's questions (the browser does not bring back those it had to switch on).
  function answers(form) {
    var out = {};
    $$("[data-attributes-for]:not([disabled]) [name]", form).forEach(function (el) {
      if ((el.type === "radio" || el.type === "checkbox") && !el.checked) return;
      (out[el.name] = out[el.name] || []).push(el.value);
    });
    return out;
  }
  function answer(form, given) {
    Object.keys(given || {}).forEach(function (name) {
      $$("[data-attributes-for] [name]", form).filter(function (el) { return el.name === name; }).forEach(function (el) {
        if (el.type === "radio" || el.type === "checkbox") el.checked = given[name].indexOf(el.value) >= 0;
        else el.value = given[name][0] || "";
      });
    });
  }
  function remember(form, sent) {
    var idem = form.elements.idem, r = chosen(form), old = load(form) || {};
    if (!form.dataset.draft || !idem) return;
    save(form, {token: idem.value, category: r ? r.value : "", name: r ? r.dataset.name : "", answers: answers(form),
                sent: sent || (old.token === idem.value && !!old.sent)});
  }
  function navigationType(e) {
    if (e && e.persisted) return "back_forward"; // restored from the back-forward cache
    var nav = window.performance && performance.getEntriesByType ? performance.getEntriesByType("navigation")[0] : null;
    return nav ? nav.type : "navigate";
  }
  // True when nothing in the form differs from what the server drew (the browser restored nothing).
  function pristine(form) {
    return $$("input, textarea, select", form).every(function (el) {
      if (/^(hidden|file|search|submit|button)$/.test(el.type)) return true;
      if (el.type === "radio" || el.type === "checkbox") return el.checked === el.defaultChecked;
      if (el.tagName === "SELECT") return $$("option", el).every(function (o) { return o.selected === o.defaultSelected; });
      return el.value === el.defaultValue;
    });
  }
  function restore(form, e) {
    if (!form.dataset.draft) return;
    var draft = load(form), nav = navigationType(e), idem = form.elements.idem;
    if (draft && idem && (nav === "back_forward" || nav === "reload") && !pristine(form)) {
      idem.value = draft.token; // the page brought back is the form that was (maybe) sent: the same submission
      if (draft.category) choose(form, draft.category, draft.name);
      answer(form, draft.answers);
      var note = $("[data-sent-before]", form);
      if (note) note.hidden = !draft.sent;
    } else {
      remember(form, false); // a new form: a new draft with the token the server drew
    }
  }

  // -- the category picker --------------------------------------------------------------------------------------
  function openGroup(radio) {
    var group = radio && radio.closest("details");
    if (group) group.open = true;
  }
  // Check the radio of ``code`` — adding it to the list when a search left it out — and show it as chosen.
  function choose(form, code, name) {
    var list = $("[data-category-picker]", form);
    if (!list) return;
    var radio = $$("input[name=category_code]", form).filter(function (r) { return r.value === code; })[0];
    if (!radio && name) {
      var label = document.createElement("label"), span = document.createElement("span"), box = document.createElement("div");
      radio = document.createElement("input");
      radio.type = "radio"; radio.name = "category_code"; radio.value = code; radio.dataset.name = name;
      label.className = "chip"; span.textContent = name; box.className = "chips cat-kept";
      label.appendChild(radio); label.appendChild(span); box.appendChild(label);
      list.insertBefore(box, list.firstChild);
    }
    if (radio) { radio.checked = true; openGroup(radio); }
    showChosen(form);
  }
  function showChosen(form) {
    var out = $("[data-category-chosen]", form), r = chosen(form), select = $("select[name=category_code]", form);
    if (r) {
      form._chosen = {code: r.value, name: r.dataset.name};
      openGroup(r);
    }
    if (out) out.textContent = r ? out.dataset.prefix + r.dataset.name : "";
    showAttributes(form, r ? r.value : select ? select.value : "");
  }
  // The chosen category's own questions: its block shown and enabled, every other one hidden and disabled (not sent).
  function showAttributes(form, code) {
    $$("[data-attributes-for]", form).forEach(function (block) {
      var on = block.dataset.attributesFor === code;
      block.hidden = !on;
      block.disabled = !on;
    });
  }
  // A search replaced the list: keep the chosen category in the form (and checked) whether or not it was found.
  document.addEventListener("htmx:afterSwap", function (e) {
    var list = (e.detail && e.detail.target) || e.target;
    if (!list.matches || !list.matches("[data-category-picker]")) return;
    var form = list.closest("form[data-checked-form]");
    if (form && form._chosen) choose(form, form._chosen.code, form._chosen.name);
  });

  // -- messages beside the fields --------------------------------------------------------------------------------
  function controls(form, name) {
    if (name === "location") return [form.elements.lon, form.elements.lat].filter(Boolean);
    var c = form.elements[name];
    if (!c) return [];
    return c.tagName ? [c] : Array.prototype.slice.call(c); // an element, or a RadioNodeList
  }
  function visible(el) { return !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length); }

  function problem(form, box) {
    var name = box.dataset.errorFor, els = controls(form, name);
    if (name === "location") {
      var lon = form.elements.lon.value.trim(), lat = form.elements.lat.value.trim(), addr = form.elements.address;
      if ((lon || lat) && !(NUMBER.test(lon) && NUMBER.test(lat))) return box.dataset.msgFormat;
      return !lon && !lat && !(addr && addr.value.trim()) ? box.dataset.msgRequired : "";
    }
    if (!els.length) return "";
    var el = els[0], when = box.dataset.requiredIf && form.elements[box.dataset.requiredIf];
    var required = box.dataset.msgRequired && (!box.dataset.requiredIf || (when && when.checked));
    if (el.type === "file") {
      var most = parseInt(el.dataset.maxFiles || "0", 10);
      return most && el.files && el.files.length > most ? el.dataset.msgTooMany : "";
    }
    if (el.type === "radio" || el.type === "checkbox") {
      return required && !els.some(function (r) { return r.checked; }) ? box.dataset.msgRequired : "";
    }
    var n = length(el.value), max = parseInt(el.dataset.max || (el.maxLength > 0 ? el.maxLength : 0), 10);
    if (required && !n) return box.dataset.msgRequired;
    if (max && n > max && box.dataset.msgTooLong) return fmt(box.dataset.msgTooLong, {n: n, over: n - max});
    return "";
  }
  function say(form, box, message) {
    box.textContent = message || "";
    box.hidden = !message;
    controls(form, box.dataset.errorFor).forEach(function (el) {
      if (message) el.setAttribute("aria-invalid", "true"); else el.removeAttribute("aria-invalid");
    });
  }
  function openAround(el) {
    for (var node = el.parentElement; node; node = node.parentElement) {
      if (node.tagName === "DETAILS" && !node.open) node.open = true;
    }
  }
  // Bring the first refused field into view: its closed groups opened, its message read out and scrolled to.
  function reveal(form, box) {
    var name = box.dataset.errorFor, els = controls(form, name);
    openAround(box);
    if (name === "category_code") {
      var groups = $$("[data-category-picker] details", form);
      if (groups.length && !groups.some(function (g) { return g.open; })) groups[0].open = true;
    } else {
      els.forEach(openAround);
    }
    box.scrollIntoView({block: "center"});
    var target = name === "category_code" || name === "location" ? null : els.filter(visible)[0];
    (target || box).focus({preventScroll: true});
  }
  function check(form) {
    var first = null;
    $$("[data-error-for]", form).forEach(function (box) {
      var message = box.closest("fieldset[disabled]") ? "" : problem(form, box); // another category's question
      say(form, box, message);
      if (message && !first) first = box;
    });
    return first;
  }

  // -- counters --------------------------------------------------------------------------------------------------
  function count(el) {
    var out = document.getElementById(el.id + "-counter");
    if (!out || !el.dataset.max) return;
    var left = parseInt(el.dataset.max, 10) - length(el.value);
    out.textContent = left >= 0 ? fmt(out.dataset.left, {n: left}) : fmt(out.dataset.over, {n: -left});
    out.classList.toggle("over", left < 0);
  }

  // -- sending ---------------------------------------------------------------------------------------------------
  function sending(form, on) {
    $$("button[type=submit], button:not([type])", form).forEach(function (btn) {
      if (on) {
        if (!btn.dataset.label) btn.dataset.label = btn.textContent;
        btn.textContent = form.dataset.msgSending || btn.textContent;
      } else if (btn.dataset.label) {
        btn.textContent = btn.dataset.label;
      }
      btn.disabled = on;
    });
    clearTimeout(form._sendTimer);
    if (on) {
      form.dataset.sending = "1";
      form.setAttribute("aria-busy", "true");
      form._sendTimer = setTimeout(function () { sending(form, false); }, SEND_TIMEOUT_MS);
    } else {
      delete form.dataset.sending;
      form.removeAttribute("aria-busy");
    }
  }

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.matches || !form.matches("form[data-checked-form]")) return;
    if (form.dataset.sending) { e.preventDefault(); return; } // already on its way: once is enough
    var refused = check(form);
    if (refused) {
      e.preventDefault();
      reveal(form, refused);
      return;
    }
    remember(form, true);
    sending(form, true);
  });

  document.addEventListener("input", function (e) {
    var el = e.target, form = el.form;
    if (!form || !form.matches("form[data-checked-form]")) return;
    if (el.dataset && el.dataset.max) count(el);
    recheck(form, el.name);
  });

  // A message already shown goes as soon as its field is fixed (the place: by coordinates or by an address).
  function recheck(form, name) {
    var boxes = name === "lon" || name === "lat" ? ["location"] : name === "address" ? ["address", "location"] : [name];
    boxes = boxes.map(function (n) { return document.getElementById(n + "-error"); })
      .concat($$("[data-required-if='" + name + "']", form)); // the fields required only with this one ticked
    boxes.forEach(function (box) {
      if (box && !box.hidden) say(form, box, problem(form, box));
    });
  }

  document.addEventListener("change", function (e) {
    var el = e.target, form = el.form;
    if (!form || !form.matches("form[data-checked-form]")) return;
    if (el.name === "category_code") { showChosen(form); recheck(form, "attributes"); }
    if (el.name === "category_code" || el.name.indexOf("attr.") === 0) remember(form, false);
    var files = el.type === "file" && document.getElementById(el.name + "-error");
    if (files) say(form, files, problem(form, files)); // too many photos: said at once
    recheck(form, el.name);
  });

  function init(form) {
    form.noValidate = true;
    $$("[data-max]", form).forEach(function (el) { el.removeAttribute("maxlength"); count(el); });
  }

  document.addEventListener("DOMContentLoaded", function () { forms().forEach(init); });
  window.addEventListener("pageshow", function (e) {
    forms().forEach(function (form) {
      sending(form, false); // a page restored from the cache comes back with its button as it was left
      restore(form, e);
      showChosen(form);
      $$("[data-max]", form).forEach(count);
    });
  });
})();

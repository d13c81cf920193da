// kapflow's page script: the idle sign-out warning, and keeping what was typed in a form when
// the session ends, so that a clinician signed out mid-note loses nothing.
(function () {
  "use strict";
  var DRAFT_PREFIX = "kapflow.draft:";
  var KEEP_TYPES = ["text", "email", "tel", "search", "date", "number", "textarea", "select-one", "checkbox", "radio"];

  function keptForms() {
    return Array.prototype.filter.call(document.forms, function (form) {
      return (form.method || "").toLowerCase() === "post" && !form.hasAttribute("data-no-draft");
    });
  }
  function draftKey(form, index) { return DRAFT_PREFIX + location.pathname + "#" + (form.id || index); }
  function fieldsOf(form) {
    return Array.prototype.filter.call(form.elements, function (el) {
      return el.name && el.name !== "csrfmiddlewaretoken" && el.name !== "website" && KEEP_TYPES.indexOf(el.type) !== -1;
    });
  }
  function saveDrafts() {
    keptForms().forEach(function (form, index) {
      var values = {};
      var changed = false;
      fieldsOf(form).forEach(function (el) {
        if (el.type === "checkbox" || el.type === "radio") {
          if (el.checked !== el.defaultChecked) changed = true;
          if (el.checked) values[el.name + "=" + el.value] = true;
        } else {
          var initial = el.type === "select-one" ? (Array.prototype.find.call(el.options, function (o) { return o.defaultSelected; }) || {}).value : el.defaultValue;
          if (el.value !== (initial || "")) changed = true;
          values[el.name] = el.value;
        }
      });
      if (changed) sessionStorage.setItem(draftKey(form, index), JSON.stringify(values));
    });
  }
  function restoreDrafts() {
    var restored = false;
    keptForms().forEach(function (form, index) {
      var key = draftKey(form, index);
      var raw = sessionStorage.getItem(key);
      if (!raw) return;
      sessionStorage.removeItem(key);
      var values = JSON.parse(raw);
      fieldsOf(form).forEach(function (el) {
        if (el.type === "checkbox" || el.type === "radio") el.checked = !!values[el.name + "=" + el.value];
        else if (Object.prototype.hasOwnProperty.call(values, el.name)) el.value = values[el.name];
      });
      restored = true;
    });
    if (restored) {
      var note = document.createElement("p");
      note.className = "notice notice--warning";
      note.setAttribute("role", "status");
      note.textContent = "You were signed out before this form was saved. What you had typed is back in the form: check it, then save.";
      var main = document.getElementById("main");
      main.insertBefore(note, main.firstChild);
    }
  }

  // A destructive button asks first: <form data-confirm="Remove …?">.
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  });

  var body = document.body;
  restoreDrafts();
  var idleMinutes = Number(body.dataset.idleMinutes || 0);
  if (!idleMinutes) return;

  var idleMs = idleMinutes * 60 * 1000;
  var warnMs = Math.min(2 * 60 * 1000, idleMs / 2);
  var renewEveryMs = 5 * 60 * 1000;
  var lastContact = Date.now();
  var lastActivity = Date.now();
  var dialog = document.getElementById("idle-warning");
  var countdown = dialog && dialog.querySelector("[data-idle-countdown]");
  var csrf = (document.cookie.match(/(?:^|; )csrftoken=([^;]+)/) || [])[1] || "";

  function renew() {
    lastContact = Date.now();
    return fetch(body.dataset.keepaliveUrl, {method: "POST", headers: {"X-CSRFToken": decodeURIComponent(csrf)}, credentials: "same-origin"})
      .then(function (response) { if (response.status === 401) signOut(); });
  }
  function signOut() {
    saveDrafts();
    location.href = body.dataset.loginUrl + "?next=" + encodeURIComponent(location.pathname + location.search);
  }
  function expired() { return Date.now() - lastContact >= idleMs; }

  ["keydown", "pointerdown", "input"].forEach(function (type) {
    document.addEventListener(type, function () {
      lastActivity = Date.now();
      if (dialog && dialog.open) return;
      if (!expired() && Date.now() - lastContact > renewEveryMs) renew();
    }, {passive: true});
  });
  document.body.addEventListener("htmx:afterRequest", function () { lastContact = Date.now(); });
  document.addEventListener("submit", function (event) {
    if (expired()) { event.preventDefault(); signOut(); }
  }, true);
  if (dialog) {
    dialog.querySelector("[data-idle-stay]").addEventListener("click", function () {
      renew(); dialog.close();
    });
  }
  setInterval(function () {
    var left = idleMs - (Date.now() - lastContact);
    if (left <= 0) { signOut(); return; }
    if (left <= warnMs && dialog && !dialog.open) dialog.showModal();
    if (dialog && dialog.open && countdown) {
      var seconds = Math.ceil(left / 1000);
      countdown.textContent = seconds > 60 ? Math.ceil(seconds / 60) + " minutes" : seconds + " seconds";
    }
  }, 1000);
})();

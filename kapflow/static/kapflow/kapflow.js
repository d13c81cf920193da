// kapflow's page script: the idle sign-out warning, and keeping what was typed in a form when
// the session ends, so that a clinician signed out mid-note loses nothing.
(function () {
  "use strict";
  var DRAFT_PREFIX = "kapflow.draft:";
  var KEEP_TYPES = ["text", "email", "tel", "search", "date", "number", "textarea", "select-one", "checkbox", "radio"];

  function keptForms() {
    return Array.prototype.filter.call(document.forms, function (form) {
      // getAttribute, not form.method: a field named "method" (or "id") shadows the property.
      return (form.getAttribute("method") || "").toLowerCase() === "post" && !form.hasAttribute("data-no-draft");
    });
  }
  function draftKey(form, index) { return DRAFT_PREFIX + location.pathname + "#" + (form.getAttribute("id") || index); }
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
  // On a phone the staff menu folds behind its "Menu" button (kapflow.css, .js-nav).
  var header = document.querySelector(".site-header");
  var toggle = header && header.querySelector(".nav-toggle");
  if (toggle) {
    toggle.hidden = false;
    header.classList.add("js-nav");
    toggle.addEventListener("click", function () {
      var open = header.classList.toggle("nav-open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }
  // A request an element makes on a timer (hx-trigger="every 30s": the runbook's live panel) is
  // not the person doing anything: it says so, so that the server does not count it as activity
  // for the idle sign-out, and this page's idle clock below does not either.
  function isPoll(elt) {
    var trigger = elt && elt.getAttribute && elt.getAttribute("hx-trigger");
    return !!trigger && /(^|,)\s*every\s/.test(trigger);
  }
  // A poll also sends back the ETag of the last answer it swapped in (If-None-Match: the pages
  // are never cached, so the browser does not), and the server answers 304 with no body when
  // nothing changed: the element is then kept as it is, where htmx would swap in the empty body.
  var pollTags = {};
  document.addEventListener("htmx:configRequest", function (event) {
    if (!isPoll(event.detail.elt)) return;
    event.detail.headers["X-Kapflow-Poll"] = "1";
    var tag = pollTags[event.detail.path];
    if (tag) event.detail.headers["If-None-Match"] = tag;
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    if (detail.xhr.status === 304) {
      detail.shouldSwap = false;
      return;
    }
    if (detail.requestConfig && detail.requestConfig.headers["X-Kapflow-Poll"] && !detail.isError) {
      pollTags[detail.requestConfig.path] = detail.xhr.getResponseHeader("ETag") || "";
    }
  });
  // A form sent by htmx after the session ended on the server answers 401: keep what was typed,
  // as for the idle sign-out, and go to the sign-in page, which brings the person back here.
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail && event.detail.xhr;
    if (!xhr || xhr.status !== 401) return;
    saveDrafts();
    location.href = body.dataset.loginUrl + "?next=" + encodeURIComponent(location.pathname + location.search);
  });
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
  document.body.addEventListener("htmx:afterRequest", function (event) {
    if (!isPoll(event.detail.elt)) lastContact = Date.now();
  });
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

// --- Medication-session runbook (kapflow.dosing) --------------------------------------------
// Its forms post with htmx and the server answers with the refreshed runbook body (#runbook).
// What is typed in the OTHER forms survives that swap; a form whose post never reached the
// server (or got an error page back) keeps its contents and says so; focus goes to the news.
(function () {
  "use strict";
  var NOT_SAVED = "Not saved — no connection. Try again.";
  var NOT_SAVED_SERVER = "Not saved — the server could not take it. Try again; reload the page if it happens again.";
  function runbook() { return document.getElementById("runbook"); }
  function typed(root, except) {
    var kept = {};
    Array.prototype.forEach.call(root.querySelectorAll("form[id]"), function (form) {
      if (form === except) return;
      // A form that came back from the server with what was typed (refused, or with errors)
      // holds it as its defaults: all of it is typed, not only what changed since.
      var bound = !!form.querySelector("[data-form-bound]");
      Array.prototype.forEach.call(form.elements, function (el) {
        if (!el.name || el.type === "hidden" || el.type === "submit" || el.name === "csrfmiddlewaretoken") return;
        var key = form.getAttribute("id") + "|" + el.name + "|" + (el.type === "checkbox" || el.type === "radio" ? el.value : "");
        var dirty = bound ? ((el.type === "checkbox" || el.type === "radio") ? el.checked : el.value !== "")
          : (el.type === "checkbox" || el.type === "radio") ? el.checked !== el.defaultChecked
          : el.tagName === "SELECT" ? Array.prototype.some.call(el.options, function (o) { return o.selected !== o.defaultSelected; })
          : el.value !== el.defaultValue;
        if (dirty) kept[key] = (el.type === "checkbox" || el.type === "radio") ? el.checked : el.value;
      });
    });
    return kept;
  }
  function restore(root, kept) {
    Object.keys(kept).forEach(function (key) {
      var parts = key.split("|");
      var form = document.getElementById(parts[0]);
      if (!form || !root.contains(form)) return;
      Array.prototype.forEach.call(form.elements, function (el) {
        if (el.name !== parts[1]) return;
        if (el.type === "checkbox" || el.type === "radio") { if (el.value === parts[2]) el.checked = kept[key]; }
        else el.value = kept[key];
      });
    });
  }
  function sourceForm(event) {
    var elt = event.detail && event.detail.elt;
    return elt && (elt.tagName === "FORM" ? elt : elt.closest && elt.closest("form"));
  }
  var pending = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var root = runbook();
    if (!root || event.detail.target !== root) return;
    // Here detail.elt is the swap's target; the form that posted is the request's element.
    var config = event.detail.requestConfig;
    pending = typed(root, sourceForm({detail: {elt: config && config.elt}}));
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var root = runbook();
    if (!root || event.detail.target !== root) return;
    if (pending) restore(root, pending);
    pending = null;
    // Focus goes to what the person just did: the errors of the form that came back, else the
    // message saying what was saved or refused; never a standing alert elsewhere on the page.
    var news = root.querySelector("form #form-errors, form .field--error input, form .field--error select, form .field--error textarea")
      || root.querySelector("[data-runbook-focus]");
    if (news) { if (!news.hasAttribute("tabindex") && !news.form) news.setAttribute("tabindex", "-1"); news.focus(); }
  });
  // The clock's part refreshes every 30 s: an alert already on the screen is not announced
  // again (role=alert announces on every insertion), only a new or changed one.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var live = document.getElementById("runbook-live");
    if (!live || event.detail.target !== live || !event.detail.serverResponse) return;
    var now = live.querySelector("#runbook-alerts");
    var incoming = new DOMParser().parseFromString(event.detail.serverResponse, "text/html");
    var next = incoming.getElementById("runbook-alerts");
    if (!now || !next || now.textContent.trim() !== next.textContent.trim()) return;
    Array.prototype.forEach.call(next.querySelectorAll("[role=alert]"), function (el) { el.removeAttribute("role"); });
    next.removeAttribute("aria-live");
    event.detail.serverResponse = incoming.body.innerHTML;
  });
  // A fold-out opened in the refreshed part (the readiness reasons) stays open across the
  // 30-second refresh, and keeps the keyboard focus it held.
  var reopen = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var live = document.getElementById("runbook-live");
    if (!live || event.detail.target !== live) return;
    reopen = {open: [], focus: null};
    Array.prototype.forEach.call(live.querySelectorAll("details[id]"), function (d) { if (d.open) reopen.open.push(d.id); });
    var active = document.activeElement;
    var holder = active && active.closest ? active.closest("details[id]") : null;
    if (holder && live.contains(holder)) reopen.focus = holder.id;
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (!reopen) return;
    var kept = reopen;
    reopen = null;
    kept.open.forEach(function (id) { var d = document.getElementById(id); if (d) d.open = true; });
    var summary = kept.focus && document.querySelector("#" + kept.focus + " > summary");
    if (summary && document.activeElement !== summary) summary.focus();
  });
  function notSaved(event) {
    var xhr = event.detail && event.detail.xhr;
    if (xhr && xhr.status === 401) return;  // signed out: the drafts are kept, see above
    var form = sourceForm(event);
    if (!form || !runbook() || !runbook().contains(form)) return;
    var note = form.querySelector(".runbook-offline");
    if (!note) {
      note = document.createElement("p");
      note.className = "notice notice--error runbook-offline";
      note.setAttribute("role", "alert");
      form.appendChild(note);
    }
    note.textContent = event.type === "htmx:sendError" ? NOT_SAVED : NOT_SAVED_SERVER;
  }
  document.addEventListener("htmx:sendError", notSaved);
  document.addEventListener("htmx:responseError", notSaved);
  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = sourceForm(event);
    var note = form && form.querySelector(".runbook-offline");
    if (note) note.remove();
  });

  // A read-only address to copy (the calendar feed's) is selected whole when it takes focus.
  // Here rather than in an onfocus attribute, which the Content-Security-Policy does not run.
  document.addEventListener("focusin", function (event) {
    var el = event.target;
    if (el && el.matches && el.matches("input[data-select-on-focus]")) el.select();
  });
})();

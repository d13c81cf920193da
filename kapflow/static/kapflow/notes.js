// The progress note's editor (kapflow.notes): the draft is saved as it is typed. A pause in the
// typing sends the whole form to the draft endpoint (the same fields the Save draft button
// sends), and the line under the form says "Saved at 14:02" or why not. A save that fails is
// tried again; hiding the page (another tab, closing it, the phone locking) saves at once what
// is not saved yet; and leaving the page with unsaved typing asks first. Once the form itself
// is sent (Save draft, Sign) nothing more is sent behind it. Without script the Save draft
// button does the same.
(function () {
  "use strict";
  var PAUSE_MS = 1500;
  var RETRY_MS = 15000;
  var form = document.getElementById("note-form");
  if (!form || !form.dataset.autosaveUrl) return;
  var status = document.getElementById("note-saved");
  var timer = null;
  var retry = null;
  var inFlight = false;
  // dirty: typed since the last save the server confirmed (set below, once the form is read).
  var again = false;  // typed while a save was on its way
  var lastSent = null;  // what the latest save sent
  var leaving = false;  // the form itself is being sent
  function serialise() { return new URLSearchParams(new FormData(form)).toString(); }
  // What the server holds: the page came with the saved draft, unless it came back with what
  // was typed after a refusal.
  // Typing that began before this script ran (a slow page) differs from what the page came with.
  function typedBeforeScript() {
    return Array.prototype.some.call(form.elements, function (field) {
      if (field.type === "checkbox" || field.type === "radio") return field.checked !== field.defaultChecked;
      if (field.tagName === "SELECT") {
        return Array.prototype.some.call(field.options, function (o) { return o.selected !== o.defaultSelected; });
      }
      return "defaultValue" in field && field.value !== field.defaultValue;
    });
  }
  var early = !form.hasAttribute("data-unsaved") && typedBeforeScript();
  var lastSaved = form.hasAttribute("data-unsaved") || early ? "" : serialise();
  // A page that came back with words the server did not take: leaving it asks first.
  var dirty = form.hasAttribute("data-unsaved") || early;

  function say(text, failed) {
    if (!status) return;
    status.textContent = text;
    status.classList.toggle("field-error", !!failed);
  }
  function csrf() {
    var field = form.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }
  function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(save, ms);
  }
  function failed(text) {
    say(text, true);
    clearTimeout(retry);
    retry = setTimeout(function () { if (dirty) save(); }, RETRY_MS);
  }
  function save(hiding) {
    clearTimeout(timer);
    // The form itself is on its way (Save draft, Sign): an autosave behind it could only repeat
    // it, or come too late.
    if (leaving) return;
    if (inFlight) {
      // Sent when this one is answered; a page being hidden sends at once as well, since it may
      // not be there to send it later.
      again = true;
      if (!hiding) return;
    } else {
      again = false;
    }
    inFlight = true;
    dirty = false;
    var sent = serialise();
    lastSent = sent;
    say("Saving…", false);
    fetch(form.dataset.autosaveUrl, {
      method: "POST",
      body: new FormData(form),
      headers: {"X-CSRFToken": csrf(), "Accept": "application/json"},
      credentials: "same-origin",
      // Sent through even if the page is closing (the browser keeps the request alive).
      keepalive: !!hiding
    }).then(function (response) {
      if (response.status === 401 || response.redirected) {
        dirty = true;
        failed("Not saved — you were signed out. Use Save draft to sign in again; what you typed is kept.");
        return null;
      }
      if ((response.headers.get("Content-Type") || "").indexOf("application/json") === -1) {
        dirty = true;
        failed("Not saved — the server could not take it. Try Save draft; what you typed stays here.");
        return null;
      }
      return response.json().then(function (answer) {
        if (answer.saved) {
          lastSaved = sent;
          say(answer.saved_at ? "Saved at " + answer.saved_at : "Saved", false);
        } else {
          dirty = true;
          say("Not saved — " + (answer.problems || []).join(" "), true);
        }
      });
    }).catch(function () {
      dirty = true;
      failed("Not saved — check your connection. It will be tried again; what you typed stays here.");
    }).then(function () {
      inFlight = false;
      if (again) save();
    });
  }
  function typed() {
    // A change event on leaving a field whose typing was saved already is not new typing.
    if (serialise() === lastSaved) { dirty = false; return; }
    dirty = true;
    say("Not saved yet — saving when you pause…", false);
    schedule(PAUSE_MS);
  }
  if (early) {
    say("Not saved yet — saving when you pause…", false);
    schedule(PAUSE_MS);
  }
  form.addEventListener("input", typed);
  form.addEventListener("change", typed);
  form.addEventListener("submit", function (event) {
    var button = event.submitter;
    var question = button && button.getAttribute("data-confirm-sign");
    if (question && !window.confirm(question)) { event.preventDefault(); return; }
    // The form itself is being sent: nothing is left for the autosave to do.
    clearTimeout(timer);
    clearTimeout(retry);
    leaving = true;
  });
  // The page hidden (another tab, the window closed, the phone locked): what is not saved yet
  // is sent now, without waiting for the pause.
  function hidden() {
    var now = serialise();
    // Nothing new, or what is new is on its way already (visibilitychange, then pagehide).
    if (leaving || now === lastSaved || (inFlight && now === lastSent)) return;
    save(true);
  }
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") hidden();
  });
  window.addEventListener("pagehide", hidden);
  // Back on the page from the browser's history after sending the form: saving again as typed.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) leaving = false;
  });
  window.addEventListener("beforeunload", function (event) {
    if (leaving || (!dirty && !inFlight)) return;
    event.preventDefault();
    event.returnValue = "";
  });
})();

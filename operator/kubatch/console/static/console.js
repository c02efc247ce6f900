// Kubatch console: keeps the page's live part current from the server's event stream
// (/events), without reloading the page. No framework and no build step.
(function () {
  "use strict";
  var kinds = document.body.dataset.kinds;
  var live = document.getElementById("live");
  var state = document.getElementById("live-state");
  if (!kinds || !live || !window.EventSource) { return; }
  var busy = false, again = false, timer = null;

  function say(text, on) {
    state.textContent = text;
    state.classList.toggle("on", !!on);
  }

  function changed(field) {
    if (field.tagName === "SELECT") {
      var given = -1;
      for (var i = 0; i < field.options.length; i++) {
        if (field.options[i].defaultSelected) { given = i; }
      }
      if (given < 0 && field.options.length && !field.multiple) { given = 0; }
      return !field.multiple && field.selectedIndex !== given;
    }
    if (field.type === "checkbox" || field.type === "radio") {
      return field.checked !== field.defaultChecked;
    }
    return field.type !== "hidden" && field.value !== field.defaultValue;
  }

  function filling() {
    // Never replace a form the reader is filling in (focused in it, or a field changed from
    // what the page gave): what they typed would be lost. Updates wait until they are done.
    var active = document.activeElement;
    if (active && live.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName)) {
      return true;
    }
    return Array.prototype.some.call(live.querySelectorAll("input, textarea, select"), changed);
  }

  function later(ms) {
    if (timer === null) {
      timer = window.setTimeout(function () { timer = null; refresh(); }, ms);
    }
  }

  function paused() {
    say("updates paused while you fill in the form", true);
    later(1000);
  }

  function refresh() {
    if (busy) { again = true; return; }
    if (filling()) { paused(); return; }
    busy = true;
    fetch(window.location.href, { headers: { "X-Kubatch-Fragment": "live" }, cache: "no-store" })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        if (filling()) { paused(); return; }  // begun while the page was being read
        if (html !== live.innerHTML) {
          live.innerHTML = html;
          document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
        }
        say("live", true);
      })
      .catch(function () { say("updates paused (the page could not be read)", false); })
      .finally(function () {
        busy = false;
        if (again) { again = false; later(0); }
      });
  }

  var source = new EventSource("/events?kinds=" + encodeURIComponent(kinds));
  source.addEventListener("ready", function () { say("live", true); refresh(); });
  source.addEventListener("change", refresh);
  source.onerror = function () { say("reconnecting…", false); };
})();

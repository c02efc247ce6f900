// Kubatch console: keeps the page's live part current from the server's event stream
// (/events), without reloading the page. No framework and no build step.
(function () {
  "use strict";
  var kinds = document.body.dataset.kinds;
  var live = document.getElementById("live");
  var state = document.getElementById("live-state");
  if (!kinds || !live || !window.EventSource) { return; }
  var busy = false, again = false;

  function say(text, on) {
    state.textContent = text;
    state.classList.toggle("on", !!on);
  }

  function typing() {
    // Never replace a form the reader is filling in: wait until they leave it.
    var active = document.activeElement;
    return active && live.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName);
  }

  function refresh() {
    if (busy || typing()) { again = true; return; }
    busy = true;
    fetch(window.location.href, { headers: { "X-Kubatch-Fragment": "live" }, cache: "no-store" })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        if (html !== live.innerHTML) {
          live.innerHTML = html;
          document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
        }
        say("live", true);
      })
      .catch(function () { say("updates paused (the page could not be read)", false); })
      .finally(function () {
        busy = false;
        if (again) { again = false; window.setTimeout(refresh, typing() ? 1000 : 0); }
      });
  }

  var source = new EventSource("/events?kinds=" + encodeURIComponent(kinds));
  source.addEventListener("ready", function () { say("live", true); refresh(); });
  source.addEventListener("change", refresh);
  source.onerror = function () { say("reconnecting…", false); };
  live.addEventListener("focusout", function () { if (again && !busy) { again = false; refresh(); } });
})();

// reprolab review: KaTeX rendering, keyboard shortcuts, draft autosave and time per item.
// No inline scripts: the Content-Security-Policy allows scripts from this server only.
(function () {
  "use strict";

  function renderMath() {
    if (typeof window.renderMathInElement !== "function") return;
    document.querySelectorAll(".math").forEach(function (element) {
      window.renderMathInElement(element, {
        delimiters: [
          { left: "$$", right: "$$", display: true },
          { left: "\\[", right: "\\]", display: true },
          { left: "\\(", right: "\\)", display: false },
          { left: "$", right: "$", display: false },
        ],
        throwOnError: false,
        trust: false,
        strict: "ignore",
        maxExpand: 1000,
      });
    });
  }

  function isTyping(target) {
    return target && target.matches && target.matches("textarea, select, input[type=text], input[type=password]");
  }

  function queuePage() {
    var start = document.getElementById("start");
    var help = document.getElementById("help");
    document.addEventListener("keydown", function (event) {
      if (isTyping(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === "Enter" && event.target.closest("a, button")) return; // let Enter press the focused control
      if ((event.key === "n" || event.key === "Enter") && start) {
        event.preventDefault();
        window.location.assign(start.getAttribute("href"));
      } else if (event.key === "?" && help) {
        help.hidden = !help.hidden;
      }
    });
  }

  function itemPage(form) {
    var csrf = document.querySelector('meta[name="csrf-token"]').content;
    var tripletId = form.dataset.tripletId;
    var steps = Array.prototype.slice.call(document.querySelectorAll("li.step"));
    var select = document.getElementById("error-type");
    var comment = document.getElementById("comment");
    var status = document.getElementById("save-status");
    var timer = document.getElementById("timer");
    var help = document.getElementById("help");
    var seconds = parseFloat(form.dataset.seconds || "0") || 0;
    var lastTick = Date.now();
    var cursor = -1;
    var saveTimer = null;
    var saving = false;
    var pending = false;
    var submitting = false;

    function tick() {
      var now = Date.now();
      if (document.visibilityState === "visible") seconds += (now - lastTick) / 1000;
      lastTick = now;
      var whole = Math.floor(seconds);
      timer.textContent = Math.floor(whole / 60) + ":" + String(whole % 60).padStart(2, "0");
    }

    function verdict() {
      var checked = form.querySelector("input[name=verdict]:checked");
      return checked ? checked.value : "";
    }

    function state() {
      return {
        verdict: verdict(),
        error_steps: steps
          .filter(function (li) { return li.querySelector("input[type=checkbox]").checked; })
          .map(function (li) { return parseInt(li.dataset.step, 10); }),
        error_type: select.value,
        comment: comment.value,
      };
    }

    function setStatus(text) { status.textContent = text; }

    function saveDraft(keepalive) {
      if (submitting) return Promise.resolve();
      tick();
      if (saving && !keepalive) { pending = true; return Promise.resolve(); }
      saving = true;
      var body = JSON.stringify({ draft: state(), seconds: Math.round(seconds * 10) / 10 });
      return fetch("/api/drafts/" + encodeURIComponent(tripletId), {
        method: "PUT",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        credentials: "same-origin",
        keepalive: !!keepalive,
        body: body,
      }).then(function (response) {
        setStatus(response.ok ? "draft saved " + new Date().toLocaleTimeString() : "draft not saved (" + response.status + ")");
        if (response.ok) form.dataset.saved = "1";
      }).catch(function () {
        setStatus("draft not saved (offline?)");
      }).then(function () {
        saving = false;
        if (pending) { pending = false; saveDraft(false); }
      });
    }

    function scheduleSave() {
      form.dataset.saved = "0";
      setStatus("unsaved changes");
      clearTimeout(saveTimer);
      saveTimer = setTimeout(function () { saveDraft(false); }, 400);
    }

    function syncSteps() {
      steps.forEach(function (li) {
        li.classList.toggle("marked", li.querySelector("input[type=checkbox]").checked);
      });
    }

    function updateEnabled() {
      var correct = verdict() === "correct";
      select.disabled = correct;
      steps.forEach(function (li) { li.querySelector("input[type=checkbox]").disabled = correct; });
    }

    function setVerdict(value) {
      var radio = document.getElementById("verdict-" + value);
      radio.checked = true;
      if (value === "correct") {
        steps.forEach(function (li) { li.querySelector("input[type=checkbox]").checked = false; });
        select.value = "";
        syncSteps();
      }
      updateEnabled();
      scheduleSave();
    }

    function toggleStep(index) {
      if (index < 0 || index >= steps.length) return;
      if (verdict() === "correct" || verdict() === "") setVerdict("incorrect");
      var box = steps[index].querySelector("input[type=checkbox]");
      box.checked = !box.checked;
      syncSteps();
      scheduleSave();
    }

    function moveCursor(delta) {
      if (!steps.length) return;
      cursor = Math.max(0, Math.min(steps.length - 1, cursor + delta));
      steps.forEach(function (li, i) { li.classList.toggle("cursor", i === cursor); });
      steps[cursor].scrollIntoView({ block: "nearest" });
    }

    function cycleType(delta) {
      if (select.disabled) return;
      var count = select.options.length;
      select.selectedIndex = (select.selectedIndex + delta + count) % count;
      scheduleSave();
    }

    function submit() {
      if (!verdict()) {
        setStatus("choose a verdict first: c, i or u");
        return;
      }
      tick();
      clearTimeout(saveTimer);
      form.elements.seconds.value = (Math.round(seconds * 10) / 10).toString();
      submitting = true;
      // Disabled fields are not sent: a correct verdict goes without steps or error type.
      form.requestSubmit();
    }

    steps.forEach(function (li, index) {
      li.addEventListener("click", function (event) {
        if (event.target.matches("input[type=checkbox]")) {
          if (verdict() === "correct" || verdict() === "") setVerdict("incorrect");
          syncSteps();
          scheduleSave();
          return;
        }
        var box = li.querySelector("input[type=checkbox]");
        // The label forwards a click to its box, unless the box is disabled (verdict correct).
        if (event.target.closest("label.mark") && !box.disabled) return;
        event.preventDefault();
        toggleStep(index);
      });
    });
    form.addEventListener("input", scheduleSave);
    form.addEventListener("change", function (event) {
      if (event.target.name === "verdict") updateEnabled();
      scheduleSave();
    });
    form.addEventListener("submit", function () {
      tick();
      form.elements.seconds.value = (Math.round(seconds * 10) / 10).toString();
      submitting = true;
    });
    document.addEventListener("visibilitychange", function () {
      tick();
      if (document.visibilityState === "hidden") saveDraft(true);
    });
    window.addEventListener("pagehide", function () { saveDraft(true); });
    setInterval(tick, 1000);
    setInterval(function () { if (document.visibilityState === "visible") saveDraft(false); }, 15000);

    document.addEventListener("keydown", function (event) {
      if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
        event.preventDefault();
        submit();
        return;
      }
      if (event.key === "Escape") {
        if (isTyping(event.target)) event.target.blur();
        return;
      }
      if (isTyping(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
      var key = event.key;
      // Enter on a focused link or button outside the form (sign out, navigation) keeps its own meaning.
      if (key === "Enter" && event.target.closest("a, button") && !form.contains(event.target)) return;
      var handled = true;
      if (key === "c") setVerdict("correct");
      else if (key === "i") setVerdict("incorrect");
      else if (key === "u") setVerdict("unsure");
      else if (/^[1-9]$/.test(key)) toggleStep(parseInt(key, 10) - 1);
      else if (key === "j" || key === "ArrowDown") moveCursor(1);
      else if (key === "k" || key === "ArrowUp") moveCursor(-1);
      else if (key === "x" || key === " ") { if (cursor >= 0) toggleStep(cursor); }
      else if (key === "e") select.focus();
      else if (key === "]") cycleType(1);
      else if (key === "[") cycleType(-1);
      else if (key === "m") comment.focus();
      else if (key === "s") saveDraft(false);
      else if (key === "Enter") submit();
      else if (key === "q") window.location.assign("/queue");
      else if (key === "?") help.hidden = !help.hidden;
      else handled = false;
      if (handled) event.preventDefault();
    });

    syncSteps();
    updateEnabled();
    tick();
  }

  document.addEventListener("DOMContentLoaded", function () {
    renderMath();
    var form = document.getElementById("label-form");
    if (form) itemPage(form);
    else if (document.getElementById("queue-open")) queuePage();
    document.body.dataset.ready = "1";
  });
})();

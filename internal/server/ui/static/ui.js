// chartroom web UI: progressive enhancement only. Every page works without this file; with
// it, the copy buttons next to install commands put the command on the clipboard.
(function () {
  "use strict";
  function feedback(button, text) {
    var old = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", old);
    button.textContent = text;
    button.classList.add("done");
    window.setTimeout(function () {
      button.textContent = old;
      button.classList.remove("done");
    }, 2000);
  }
  function copy(button) {
    var target = document.getElementById(button.getAttribute("data-copy"));
    if (!target) { return; }
    var text = target.textContent;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { feedback(button, "Copied"); },
        function () { fallback(button, target); });
    } else {
      fallback(button, target);
    }
  }
  // Without the asynchronous clipboard (plain http), select the text and copy it.
  function fallback(button, target) {
    var range = document.createRange();
    range.selectNodeContents(target);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    feedback(button, ok ? "Copied" : "Selected: press Ctrl+C");
  }
  document.addEventListener("DOMContentLoaded", function () {
    var buttons = document.querySelectorAll("button.copy[data-copy]");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].hidden = false;
      buttons[i].addEventListener("click", function (ev) { copy(ev.currentTarget); });
    }
  });
})();

// Copy buttons: a button with data-copy="ID" copies the text of element ID.
// The buttons are hidden until this script runs, so a page without
// JavaScript shows no button that does nothing.
(function () {
  document.querySelectorAll("button[data-copy]").forEach(function (b) {
    var el = document.getElementById(b.getAttribute("data-copy"));
    if (!el || !navigator.clipboard) return;
    var label = b.textContent;
    b.hidden = false;
    b.addEventListener("click", function () {
      navigator.clipboard.writeText(el.textContent.trim()).then(function () {
        b.textContent = "Copied";
        setTimeout(function () { b.textContent = label; }, 2000);
      }, function () {
        var r = document.createRange();
        r.selectNodeContents(el);
        var s = window.getSelection();
        s.removeAllRanges();
        s.addRange(r);
        b.textContent = "Press Ctrl+C to copy";
      });
    });
  });
})();

// A box that scrolls sideways (a wide table's box, a card, a printed sheet on a phone) can be
// scrolled from the keyboard: when nothing inside it takes the focus, the box itself does,
// and only while it scrolls (no needless stops for the Tab key). Run again on resizing.
(function () {
  var FOCUSABLE = "a[href], button, input, select, textarea, [tabindex]";
  function mark() {
    document.querySelectorAll(".scroll, .card, article.document").forEach(function (box) {
      var added = box.hasAttribute("data-scroll-focus");
      if (added) { box.removeAttribute("tabindex"); box.removeAttribute("data-scroll-focus"); }
      if (box.scrollWidth > box.clientWidth && !box.querySelector(FOCUSABLE)) {
        box.setAttribute("tabindex", "0");
        box.setAttribute("data-scroll-focus", "");
      }
    });
  }
  mark();
  window.addEventListener("resize", mark);
})();

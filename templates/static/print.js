// The public notice's print button (no inline handlers: the pages' CSP allows none).
document.querySelectorAll("[data-print]").forEach(function (button) {
  button.addEventListener("click", function () { window.print(); });
});

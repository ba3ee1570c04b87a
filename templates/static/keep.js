// What a person typed into a form is kept when the server refuses it: a refused survey, a
// village meeting's review or a new user came back with every field empty, or as an error
// page whose only way on was the dashboard (a browser walk on a phone). Each post form's
// fields are saved in this tab's session storage as it is sent, and put back when the page
// that comes back says it was not done, or when the person goes back to the form from the
// error page; otherwise they are dropped. Passwords, files and hidden fields are never kept.
(function () {
  var PREFIX = "fangpin-form:";
  var SKIP = { password: 1, file: 1, hidden: 1, submit: 1, button: 1, reset: 1 };

  function key(form) {
    return PREFIX + new URL(form.getAttribute("action") || location.href, location.href).pathname;
  }

  function fields(form) {
    return Array.prototype.filter.call(form.elements, function (field) {
      return field.name && !SKIP[field.type];
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || form.method.toLowerCase() !== "post") return;
    if (key(form) === PREFIX + "/logout") {  // a shared office computer: nothing stays
      Object.keys(sessionStorage).forEach(function (name) {
        if (name.indexOf(PREFIX) === 0) sessionStorage.removeItem(name);
      });
      return;
    }
    var saved = fields(form).map(function (field) {
      return field.type === "checkbox" || field.type === "radio"
        ? [field.name, field.value, field.checked] : [field.name, field.value];
    });
    try { sessionStorage.setItem(key(form), JSON.stringify(saved)); } catch (e) { /* full */ }
  }, true);

  var navigation = (performance.getEntriesByType && performance.getEntriesByType("navigation")[0]) || {};
  var refused = document.querySelector(".error[role=alert]") !== null ||
    navigation.type === "back_forward";
  document.querySelectorAll("form").forEach(function (form) {
    if (form.method.toLowerCase() !== "post") return;
    var raw = sessionStorage.getItem(key(form));
    if (raw === null) return;
    sessionStorage.removeItem(key(form));
    if (!refused) return;
    var saved = JSON.parse(raw), values = {};
    saved.forEach(function (entry) {
      if (entry.length === 2) (values[entry[0]] = values[entry[0]] || []).push(entry[1]);
    });
    fields(form).forEach(function (field) {
      if (field.type === "checkbox" || field.type === "radio") {
        saved.forEach(function (entry) {
          if (entry.length === 3 && entry[0] === field.name && entry[1] === field.value) {
            field.checked = entry[2];
          }
        });
      } else if (values[field.name] && values[field.name].length) {
        field.value = values[field.name].shift();
      }
    });
  });

  document.querySelectorAll("[data-back]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      history.back();
    });
  });
})();

// What a person typed into a form is kept when the server refuses it: a refused survey, a
// village meeting's review or a new user came back with every field empty, or as an error
// page whose only way on was the dashboard (a browser walk on a phone). Each post form's
// fields are saved in this tab's session storage as it is sent, under the form's address and
// what its hidden fields say it is about (a village, a claim), and put back when the page that
// comes back says it was not done, or when the person goes back to the form from the error
// page. Any other page drops them all, and so does signing out. Passwords, files and hidden
// fields are never kept, except hidden fields marked data-keep (a survey's location).
(function () {
  var PREFIX = "fangpin-form:";
  var SKIP = { password: 1, file: 1, submit: 1, button: 1, reset: 1 };

  function key(form) {
    var about = Array.prototype.filter.call(form.elements, function (field) {
      return field.type === "hidden" && field.name && field.name !== "csrf_token" &&
        !field.hasAttribute("data-keep");
    }).map(function (field) { return field.name + "=" + field.value; }).sort().join("&");
    return PREFIX + new URL(form.getAttribute("action") || location.href, location.href).pathname +
      "?" + about;
  }

  function fields(form) {
    return Array.prototype.filter.call(form.elements, function (field) {
      return field.name && !SKIP[field.type] &&
        (field.type !== "hidden" || field.hasAttribute("data-keep"));
    });
  }

  function forget() {
    Object.keys(sessionStorage).forEach(function (name) {
      if (name.indexOf(PREFIX) === 0) sessionStorage.removeItem(name);
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || form.method.toLowerCase() !== "post") return;
    if (new URL(form.action, location.href).pathname === "/logout") {  // a shared computer
      forget();
      return;
    }
    var saved = fields(form).map(function (field) {
      if (field.type === "checkbox" || field.type === "radio") {
        return [field.name, field.value, field.checked];
      }
      if (field.type === "select-multiple") {
        return [field.name, Array.prototype.filter.call(field.options, function (option) {
          return option.selected;
        }).map(function (option) { return option.value; }), "multiple"];
      }
      return [field.name, field.value];
    });
    try { sessionStorage.setItem(key(form), JSON.stringify(saved)); } catch (e) { /* full */ }
  }, true);

  // A page that answers a sent step with what was done (a bulk step's results) stands in the
  // tab's history as the page the step came from: reloading it had sent the step again
  // (each claim then refused it by its state, a page of refusals).
  var answered = document.querySelector("[data-answered]");
  if (answered) history.replaceState(null, "", answered.getAttribute("data-answered"));

  var navigation = (performance.getEntriesByType && performance.getEntriesByType("navigation")[0]) || {};
  var refused = document.querySelector(".error[role=alert]") !== null;
  var back = navigation.type === "back_forward";
  if (!refused && !back && !document.querySelector("[data-back]")) {
    forget();  // done, or gone elsewhere: nothing typed waits to be put back
    return;
  }
  document.querySelectorAll("form").forEach(function (form) {
    if (form.method.toLowerCase() !== "post") return;
    var raw = sessionStorage.getItem(key(form));
    if (raw === null) return;
    sessionStorage.removeItem(key(form));
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
      } else if (field.type === "select-multiple") {
        saved.forEach(function (entry) {
          if (entry[2] === "multiple" && entry[0] === field.name) {
            Array.prototype.forEach.call(field.options, function (option) {
              option.selected = entry[1].indexOf(option.value) >= 0;
            });
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

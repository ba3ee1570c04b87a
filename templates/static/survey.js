// The survey form's "record my location" button: the browser's position (navigator.geolocation,
// asked only when pressed) fills the form's hidden latitude, longitude and accuracy fields and
// is shown beside the button; without it the survey is submitted as before.
document.querySelectorAll("[data-locate]").forEach(function (button) {
  var form = button.form;
  var status = form.querySelector("[data-location-status]");
  function fill(latitude, longitude, accuracy) {
    form.elements.latitude.value = latitude;
    form.elements.longitude.value = longitude;
    form.elements.accuracy.value = accuracy;
  }
  function shown(latitude, longitude, accuracy) {
    return button.dataset.found.replace("{latitude}", latitude)
      .replace("{longitude}", longitude).replace("{accuracy}", accuracy);
  }
  // a location recorded before the server refused the form, put back by keep.js
  window.addEventListener("load", function () {
    if (form.elements.latitude.value) {
      status.textContent = shown(form.elements.latitude.value, form.elements.longitude.value,
                                 form.elements.accuracy.value);
    }
  });
  button.addEventListener("click", function () {
    if (!navigator.geolocation) { status.textContent = button.dataset.failed; return; }
    status.textContent = button.dataset.waiting;
    button.disabled = true;
    navigator.geolocation.getCurrentPosition(function (position) {
      var c = position.coords;
      fill(c.latitude.toFixed(6), c.longitude.toFixed(6), Math.round(c.accuracy));
      status.textContent = shown(c.latitude.toFixed(6), c.longitude.toFixed(6),
                                 Math.round(c.accuracy));
      button.disabled = false;
    }, function (error) {
      fill("", "", "");
      status.textContent = error.code === error.PERMISSION_DENIED
        ? button.dataset.denied : button.dataset.failed;
      button.disabled = false;
    }, {enableHighAccuracy: true, timeout: 20000, maximumAge: 60000});
  });
});

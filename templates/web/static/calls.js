// Caller look-up while the receptionist types: shows the caller's open requests so a repeat
// call joins the right one. Without this script the "Look up caller" button does the same.
(function () {
  "use strict";
  var form = document.getElementById("call-form");
  if (!form || !window.fetch) { return; }
  var phone = document.getElementById("phone");
  var email = document.getElementById("email");
  var site = document.getElementById("site");
  var box = document.getElementById("known");
  var list = document.getElementById("known-list");
  var timer = null;
  var last = "";
  function lookup() {
    var query = "phone=" + encodeURIComponent(phone.value) + "&email=" + encodeURIComponent(email.value) + "&site=" + encodeURIComponent(site.value);
    if (query === last || (phone.value.trim().length < 5 && email.value.indexOf("@") < 0)) { return; }
    last = query;
    fetch("/calls/lookup?" + query, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        while (list.firstChild) { list.removeChild(list.firstChild); }
        data.tickets.forEach(function (t) {
          var label = document.createElement("label");
          label.className = "choice";
          var input = document.createElement("input");
          input.type = "radio";
          input.name = "ticket";
          input.value = String(t.number);
          label.appendChild(input);
          label.appendChild(document.createTextNode(" " + t.label));
          list.appendChild(label);
        });
        if (data.tickets.length === 0) {
          var p = document.createElement("p");
          p.className = "hint";
          p.id = "none-known";
          p.textContent = data.none;
          list.appendChild(p);
        }
        box.hidden = false;
      })
      .catch(function () { /* the button still works */ });
  }
  function soon() { clearTimeout(timer); timer = setTimeout(lookup, 300); }
  phone.addEventListener("input", soon);
  email.addEventListener("input", soon);
  phone.addEventListener("change", lookup);
  email.addEventListener("change", lookup);
}());

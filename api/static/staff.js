// Siyakha staff dashboard: small enhancements only; every page works without this file.
(function () {
  "use strict";
  // "Select all" for the queue's bulk actions.
  var all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll("input[name=refs]").forEach(function (box) { box.checked = all.checked; });
    });
  }
  // Canned responses: show the chosen response's text before sending.
  var canned = document.getElementById("canned");
  var preview = document.getElementById("canned-preview");
  if (canned && preview) {
    canned.addEventListener("change", function () {
      var option = canned.options[canned.selectedIndex];
      preview.textContent = option ? (option.getAttribute("data-text") || "") : "";
    });
  }
  // SMS size as staff write: the server measures the words as they would be sent (with the
  // report number or STOP hint, in the resident's language, plain punctuation), and says
  // when they would be refused; the form then will not submit until they are shortened.
  function post(url, form, extra) {
    var data = new URLSearchParams(new FormData(form));
    Object.keys(extra).forEach(function (key) { data.set(key, extra[key]); });
    return fetch(url, { method: "POST", body: data, credentials: "same-origin" })
      .then(function (answer) { return answer.ok ? answer.json() : null; });
  }
  function sized(size) {
    return size.segments + " SMS segment" + (size.segments === 1 ? "" : "s") + " of at most " +
      size.max + " (" + size.encoding + ", " + size.characters + " characters)";
  }
  // `notice`: taken, but worth saying (what letters outside GSM-7 cost).
  function show(area, out, text, refusal, notice) {
    out.textContent = refusal ? "Too long for SMS: " + refusal : text;
    out.className = refusal ? "error" : (notice ? "notice" : "muted");
    area.setCustomValidity(refusal || "");
  }
  function watch(areas, measure) {
    var timer = null;
    var asked = 0;
    function run() {
      var ask = ++asked;
      measure(function (answer) { return ask === asked ? answer : null; });
    }
    areas.forEach(function (area) {
      area.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(run, 250); });
    });
    return run;
  }
  // A reply or public note on the ticket page.
  document.querySelectorAll("textarea[data-sms]").forEach(function (area) {
    var out = document.getElementById(area.getAttribute("aria-describedby"));
    watch([area], function (latest) {
      if (!area.value.trim()) { show(area, out, out.getAttribute("data-hint"), ""); return; }
      post(area.getAttribute("data-sms"), area.form, { body: area.value, field: area.name })
        .then(function (size) {
          if (!latest(size)) { return; }
          if (!size.by_sms) { show(area, out, "Goes by WhatsApp: no SMS segments to count.", ""); return; }
          show(area, out, "By SMS: " + sized({ segments: size.segments, max: size.max_segments,
            encoding: size.encoding, characters: size.characters }) + ".", size.fits ? "" : size.detail);
        }).catch(function () {});
    });
  });
  // Each language's text of a broadcast being composed, for the audience chosen.
  var compose = document.querySelector("form[data-sms]");
  if (compose) {
    var texts = Array.prototype.slice.call(compose.querySelectorAll("textarea[data-sms-language]"));
    var run = watch(texts, function (latest) {
      var own = compose.querySelector("input[name=mode][value=texts]");
      post(compose.getAttribute("data-sms"), compose, {}).then(function (answer) {
        if (!latest(answer)) { return; }
        var sizes = {};
        answer.languages.forEach(function (size) { sizes[size.language] = size; });
        texts.forEach(function (area) {
          var out = document.getElementById(area.getAttribute("aria-describedby"));
          var size = sizes[area.getAttribute("data-sms-language")];
          if (!size) { show(area, out, "", ""); return; }
          var text = "SMS copy, with its STOP hint: " + sized({ segments: size.segments,
            max: answer.max_segments, encoding: size.encoding, characters: size.characters }) +
            (answer.by_sms ? "." : "; sent by WhatsApp alone, it may be longer.");
          show(area, out, text, own && own.checked && !size.fits ? size.detail : "");
        });
      }).catch(function () {});
    });
    compose.addEventListener("change", function (event) {
      if (event.target.matches("input[name=channels], input[name=sms_fallback], input[name=mode]")) { run(); }
    });
    if (texts.some(function (area) { return area.value.trim(); })) { run(); }
  }
  // A meeting's SMS reminders (every language, both rounds, either ending), with the date:
  // the title and venue are counted as GSM-7 would count them, as saving it measures them.
  document.querySelectorAll("form[data-sms-reminders]").forEach(function (form) {
    var words = [form.elements["title"], form.elements["venue"]];
    var start = form.elements["starts_at"];
    var out = document.getElementById(words[0].getAttribute("aria-describedby"));
    var meeting = form.getAttribute("data-sms-meeting");
    function say(field, text, refusal, notice) {  // a refusal holds back the field it names
      words.forEach(function (input) { if (input !== field) { input.setCustomValidity(""); } });
      show(field, out, text, refusal, notice);
    }
    var run = watch(words.concat([start]), function (latest) {
      if (!start.value) { say(words[0], out.getAttribute("data-hint"), ""); return; }
      post(form.getAttribute("data-sms-reminders"), form, meeting ? { meeting_id: meeting } : {})
        .then(function (size) {
          if (!latest(size)) { return; }
          var text = "Longest SMS reminder (" + size.language_name + ", with the date): " +
            sized({ segments: size.segments, max: size.max_segments, encoding: size.encoding,
              characters: size.characters }) + "." + (size.beyond_budget ? " " + size.beyond_budget : "");
          say(form.elements[size.field] || words[0], text, size.detail, size.beyond_budget);
        }).catch(function () {});
    });
    if (start.value) { run(); }
  });
  // Ask before closing a ticket (it tells its residents), not before any other status.
  document.querySelectorAll("form[data-confirm-close]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var status = form.elements["status"], was = form.elements["was_status"];
      if (status && was && status.value === "closed" && was.value !== "closed" &&
          !window.confirm(form.getAttribute("data-confirm-close"))) { event.preventDefault(); }
    });
  });
  // Ask before destructive actions (delete, erase, cancel), and say so to the server with
  // `confirm`: a post without it is answered with a page that asks (no script ran here).
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); return; }
      var field = form.querySelector("input[name=confirm]");
      if (!field) {
        field = document.createElement("input");
        field.type = "hidden";
        field.name = "confirm";
        form.append(field);
      }
      field.value = "yes";
    });
  });
  // Post the dashboard's forms with fetch, so that a refusal keeps what was typed: its
  // reason is shown at the form (the browser would leave for the error page), and success
  // goes where the server sends it, as before. The confirmations above run first (on the
  // form; this listens on the document). Forms whose answer is a page of its own (the
  // broadcast compose form's preview, the import, logging in and out) are data-plain: the
  // browser posts those.
  var loggedOut = false;  // after a 401, the next post first takes the new login's CSRF token
  function freshToken() {
    if (!loggedOut) { return Promise.resolve(); }
    return fetch(window.location.href, { credentials: "same-origin" }).then(function (answer) {
      return answer.redirected ? "" : answer.text();  // still logged out: sent to the login page
    }).then(function (html) {
      var token = html && new DOMParser().parseFromString(html, "text/html")
        .querySelector("input[name=csrf_token]");
      if (!token) { return; }
      document.querySelectorAll("input[name=csrf_token]").forEach(function (field) {
        field.value = token.value;
      });
      loggedOut = false;
    });
  }
  function busy(form, on) {
    form.setAttribute("aria-busy", on ? "true" : "false");
    form.querySelectorAll("[type=submit]").forEach(function (button) { button.disabled = on; });
  }
  function refuse(form, text) {
    var old = form.querySelector("[data-refusal]");
    if (old) { old.remove(); }
    var box = document.createElement("p");
    box.setAttribute("data-refusal", "");
    box.setAttribute("role", "alert");
    box.className = "error";
    box.tabIndex = -1;
    box.textContent = text;
    if (loggedOut) {
      var login = document.createElement("a");
      login.href = "/staff/login?next=" +
        encodeURIComponent(window.location.pathname + window.location.search);
      login.target = "_blank";
      login.rel = "noopener";
      login.textContent = "log in again in a new tab";
      box.append(": ", login, ", then send this form again (what you typed stays here).");
    }
    // Above the submit button (or the group of fields holding it).
    var place = form.querySelector("[type=submit]");
    while (place && place.parentNode !== form) { place = place.parentNode; }
    form.insertBefore(box, place || form.firstChild);
    box.focus();
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || form.method !== "post" || form.hasAttribute("data-plain")) {
      return;
    }
    event.preventDefault();
    if (form.getAttribute("aria-busy") === "true") { return; }  // sent already: not twice
    var data = new FormData(form, event.submitter);
    busy(form, true);
    freshToken().then(function () {
      var token = form.querySelector("input[name=csrf_token]");
      if (token) { data.set("csrf_token", token.value); }
      return fetch(form.action, {
        method: "POST",
        body: form.enctype === "multipart/form-data" ? data : new URLSearchParams(data),
        credentials: "same-origin",
        headers: { "X-Staff-Form": "1" }  // a redirect comes back as a 204 with its Location
      });
    }).then(function (answer) {
      var next = answer.headers.get("Location");
      if (answer.status === 204 && next) { window.location.assign(next); return; }
      return answer.text().then(function (html) {
        var said = new DOMParser().parseFromString(html, "text/html").querySelector("main .error");
        loggedOut = answer.status === 401;
        refuse(form, said ? said.textContent.trim() : answer.status + " " + answer.statusText);
        busy(form, false);
      });
    }).catch(function () {
      refuse(form, "No answer came from the dashboard: check the connection, then send again.");
      busy(form, false);
    });
  });
  // A page the browser keeps and shows again on Back is not left with a form still busy.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      document.querySelectorAll("form[aria-busy=true]").forEach(function (form) {
        busy(form, false);
      });
    }
  });
})();

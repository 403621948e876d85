// Licentia's only script. Adds the CSRF token to htmx requests (the token is in a meta tag, so no
// inline script is needed and the CSP can forbid it), wires confirm prompts, uploads datasets as
// text/csv, previews what a run will reserve, and follows a run's progress (server-sent events).
(function () {
  "use strict";
  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : "";
  }
  // The narrow-screen menu: the stylesheet folds the navigation only once this class is set.
  document.documentElement.classList.add("js");
  var toggle = document.querySelector(".nav-toggle");
  if (toggle) {
    toggle.addEventListener("click", function () {
      var header = toggle.closest("header");
      var open = header.classList.toggle("open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }
  document.addEventListener("htmx:configRequest", function (e) {
    e.detail.headers["X-CSRF-Token"] = csrf();
  });
  // A confirmation on the button that submitted (or on the form). The submit event's target is
  // the form, so a data-confirm on a button needs the event's submitter.
  // A form bigger than the server accepts is not sent (it would come back as a bare 413 and the
  // typing would be lost): it stays as it is, with a message. Capture phase, so that nothing else
  // (the confirm prompt, the unsaved-changes guard) treats it as sent.
  var limitMeta = document.querySelector('meta[name="form-limit"]');
  var formLimit = limitMeta ? parseInt(limitMeta.getAttribute("content"), 10) || 0 : 0;
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!formLimit || (form.getAttribute("method") || "").toLowerCase() !== "post" || form.enctype === "multipart/form-data") { return; }
    var size = new URLSearchParams(new FormData(form, e.submitter || undefined)).toString().length;
    var old = form.querySelector(".form-too-large");
    if (size <= formLimit) { if (old) { old.remove(); } return; }
    e.preventDefault();
    e.stopPropagation();
    var note = old || document.createElement("div");
    note.className = "flash bad form-too-large";
    note.setAttribute("role", "alert");
    note.textContent = "Not sent: this form is " + Math.ceil(size / 1024) + " KiB and the server accepts at most " +
      Math.floor(formLimit / 1024) + " KiB. Everything you typed is still here: shorten the longest text, then save again.";
    form.insertBefore(note, form.firstChild);
    note.scrollIntoView({ block: "center" });
  }, true);
  document.addEventListener("submit", function (e) {
    var msg = (e.submitter && e.submitter.getAttribute("data-confirm")) || e.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) { e.preventDefault(); }
  });

  // Editors that warn before leaving with unsaved changes (the agreement's version editor).
  document.querySelectorAll("form[data-warn-unsaved]").forEach(function (form) {
    var dirty = false;
    form.addEventListener("input", function () { dirty = true; });
    form.addEventListener("submit", function () { dirty = false; });
    window.addEventListener("beforeunload", function (e) {
      if (dirty) { e.preventDefault(); e.returnValue = ""; }
    });
  });

  // The asset form shows the fieldsets of the chosen kind (all of them without JavaScript; the
  // server ignores empty fields of other kinds).
  var kindSelect = document.querySelector("[data-kind-select]");
  var form = document.getElementById("asset-form");
  if (form) {
    var kind = kindSelect ? kindSelect.value : form.querySelector('input[name="kind"]').value;
    var showKind = function (k) {
      form.querySelectorAll("fieldset[data-kinds]").forEach(function (fs) {
        fs.hidden = fs.getAttribute("data-kinds").split(" ").indexOf(k) < 0;
      });
    };
    showKind(kind);
    if (kindSelect) { kindSelect.addEventListener("change", function () { showKind(kindSelect.value); }); }
  }

  // Asset import: the file is checked (a dry run listing every bad row), then imported at once.
  var importForm = document.getElementById("asset-import");
  if (importForm) {
    importForm.addEventListener("submit", function (e) {
      e.preventDefault();
      var file = importForm.querySelector('input[type="file"]').files[0];
      var out = document.getElementById("import-result");
      if (!file) { out.textContent = "Choose a CSV file first."; return; }
      var dry = !(e.submitter && e.submitter.value === "import");
      out.textContent = dry ? "Checking…" : "Importing…";
      fetch("/api/v1/assets/import" + (dry ? "?dry_run=true" : ""), {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "text/csv", "X-CSRF-Token": csrf() }, body: file
      }).then(function (r) {
        return r.json().then(function (j) {
          out.textContent = "";
          var report = j.report || j;
          var p = document.createElement("p");
          if (r.status === 201) {
            p.className = "flash ok";
            p.textContent = "Imported " + j.imported + " asset(s).";
            out.appendChild(p);
            return;
          }
          var errors = report.errors || [];
          p.className = errors.length ? "flash bad" : "flash ok";
          p.textContent = errors.length
            ? errors.length + " bad row(s) of " + report.rows + "; nothing was imported."
            : (report.valid !== undefined ? report.valid + " row(s) are valid and can be imported." : ((j.error && j.error.message) || "failed (" + r.status + ")"));
          out.appendChild(p);
          if (errors.length) {
            var t = document.createElement("table");
            t.id = "import-errors";
            t.innerHTML = "<thead><tr><th>Line</th><th>Field</th><th>Problem</th></tr></thead>";
            var body = document.createElement("tbody");
            errors.forEach(function (er) {
              var tr = document.createElement("tr");
              [er.line, er.field, er.message].forEach(function (v) {
                var td = document.createElement("td"); td.textContent = String(v); tr.appendChild(td);
              });
              body.appendChild(tr);
            });
            t.appendChild(body);
            out.appendChild(t);
          }
        });
      }).catch(function () { out.textContent = "the request failed"; });
    });
  }

  // Dataset upload: the file goes as the raw text/csv body the API expects.
  var upload = document.getElementById("dataset-upload");
  if (upload) {
    upload.addEventListener("submit", function (e) {
      e.preventDefault();
      var file = upload.querySelector('input[type="file"]').files[0];
      var out = document.getElementById("upload-result");
      if (!file) { return; }
      out.textContent = "Uploading…";
      var q = "?name=" + encodeURIComponent(file.name);
      ["lawful_basis", "region", "retain_until"].forEach(function (n) {
        var v = upload.querySelector('[name="' + n + '"]').value;
        if (v) { q += "&" + n + "=" + encodeURIComponent(v); }
      });
      if (upload.querySelector('[name="personal_data"]').checked) { q += "&personal_data=true"; }
      fetch("/api/v1/datasets" + q, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "text/csv", "X-CSRF-Token": csrf() }, body: file
      }).then(function (r) {
        return r.json().then(function (j) {
          if (r.ok) { window.location.reload(); return; }
          out.className = "flash bad";
          out.textContent = (j.error && j.error.message) || ("upload failed (" + r.status + ")");
        });
      }).catch(function () { out.textContent = "upload failed"; });
    });
  }

  // Launch form: what the run will reserve, before it is sent, as the server estimates it (the
  // same estimate the launch makes: rows, epochs and the model's size).
  var launch = document.getElementById("launch-form");
  if (launch) {
    var field = function (name) { var el = launch.querySelector('[name="' + name + '"]'); return el ? el.value : ""; };
    var pending = null;
    var preview = function () {
      var out = document.getElementById("quota-preview");
      var lic = launch.querySelector('select[name="licence_id"]');
      var lopt = lic && lic.selectedOptions[0];
      var left = lopt ? lopt.getAttribute("data-remaining") : "";
      var hyper = { template: field("template"), target: field("target"), epochs: parseInt(field("epochs"), 10) || 0,
                    batch_size: parseInt(field("batch_size"), 10) || 0, learning_rate: parseFloat(field("learning_rate")) || 0 };
      if (!field("dataset_id") || !hyper.target) { out.textContent = "Pick a dataset and a target to see what the run will reserve."; return; }
      fetch("/api/v1/runs/estimate", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
        // A fine-tuning run is estimated on the base version's inputs, under its licence.
        body: JSON.stringify(field("base_version")
          ? { dataset_id: field("dataset_id"), hyper: hyper, licence_id: field("licence_id"), base_version: field("base_version") }
          : { dataset_id: field("dataset_id"), hyper: hyper })
      }).then(function (r) {
        return r.json().then(function (j) {
          if (!r.ok) { out.textContent = (j.error && j.error.message) || "No estimate."; return; }
          var units = j.estimate.compute_units;
          var text = "This run reserves 1 run and " + units.toLocaleString() + " compute units (" + j.formula + ")";
          if (left !== null && left !== "") {
            text += "; " + parseInt(left, 10).toLocaleString() + " remain on this licence";
            if (units > parseInt(left, 10)) { text += " — not enough, the launch will be refused"; }
          }
          out.textContent = text + ".";
        });
      }).catch(function () { out.textContent = "No estimate."; });
    };
    // The licence decides which templates may be chosen, the dataset which columns may be the
    // target (not dropped or masked); both lists follow the choice, and the columns are previewed.
    var parsed = function (el, attr) { try { return JSON.parse(el.getAttribute(attr) || "[]"); } catch (e) { return []; } };
    var fill = function (select, values, keep) {
      select.textContent = "";
      values.forEach(function (v) {
        var o = document.createElement("option"); o.textContent = v; o.value = v;
        if (v === keep) { o.selected = true; }
        select.appendChild(o);
      });
    };
    var licSelect = launch.querySelector('select[name="licence_id"]');
    var dsSelect = launch.querySelector('select[name="dataset_id"]');
    var onLicence = function () {
      var opt = licSelect.selectedOptions[0]; if (!opt) { return; }
      var t = document.getElementById("template-select");
      fill(t, parsed(opt, "data-templates"), t.value);
    };
    var onDataset = function () {
      var opt = dsSelect.selectedOptions[0]; if (!opt) { return; }
      var cols = parsed(opt, "data-columns");
      var targets = cols.filter(function (c) { return c.action === "keep"; }).map(function (c) { return c.name; });
      var t = document.getElementById("target-select");
      var keep = targets.indexOf(t.value) >= 0 ? t.value : (targets.indexOf("target") >= 0 ? "target" : targets[targets.length - 1]);
      fill(t, targets, keep);
      var body = document.querySelector("#dataset-columns tbody");
      body.textContent = "";
      cols.forEach(function (c) {
        var tr = document.createElement("tr");
        [c.name, c.kind, String(c.missing), c.action].forEach(function (v) { var td = document.createElement("td"); td.textContent = v; tr.appendChild(td); });
        body.appendChild(tr);
      });
    };
    if (licSelect) { licSelect.addEventListener("change", onLicence); }
    if (dsSelect) { dsSelect.addEventListener("change", onDataset); }
    var later = function () { clearTimeout(pending); pending = setTimeout(preview, 250); };
    launch.addEventListener("input", later);
    launch.addEventListener("change", later);
    preview();
  }

  // A run's live view.
  var live = document.getElementById("run-live");
  if (live && live.getAttribute("data-terminal") !== "true" && window.EventSource) {
    var id = live.getAttribute("data-run-id");
    var epochs = parseInt(live.getAttribute("data-epochs"), 10) || 1;
    var draw = function (metrics) {
      var train = [], valid = [], max = 0;
      metrics.forEach(function (m) { max = Math.max(max, m.train_loss || 0, m.valid_loss || 0); });
      if (max <= 0) { max = 1; }
      metrics.forEach(function (m, i) {
        var x = (metrics.length < 2 ? 0 : i * 390 / (metrics.length - 1)) + 5;
        train.push(x.toFixed(1) + "," + (155 - (m.train_loss || 0) / max * 150).toFixed(1));
        valid.push(x.toFixed(1) + "," + (155 - (m.valid_loss || 0) / max * 150).toFixed(1));
      });
      document.getElementById("train-line").setAttribute("points", train.join(" "));
      document.getElementById("valid-line").setAttribute("points", valid.join(" "));
      // The axes follow the curves: the top is the largest loss so far, the right the last epoch.
      var label = function (v) { return v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : v.toFixed(3); };
      document.getElementById("axis-y-max").textContent = label(max);
      document.getElementById("axis-y-mid").textContent = label(max / 2);
      document.getElementById("axis-x-max").textContent = String(Math.max(metrics.length, 1));
    };
    var shown = [];
    var es = new EventSource("/api/v1/runs/" + id + "/events");
    var update = function (ev) {
      var d = JSON.parse(ev.data);
      var bar = document.getElementById("run-progress");
      var p = d.progress || {};
      var pct = p.epoch ? ((p.epoch - 1) + (p.batch || 0) / (p.batches || 1)) / epochs * 100 : 0;
      if (d.status === "succeeded") { pct = 100; }
      bar.value = Math.round(pct);
      document.getElementById("run-status").textContent = d.status;
      document.getElementById("run-detail").textContent = p.epoch ? ("epoch " + p.epoch + " of " + epochs + ", batch " + p.batch + " of " + p.batches + ", loss " + (p.loss || 0).toFixed(4)) : (d.epochs_done + " epochs done");
      // Each event carries only the epochs not sent before, from index metrics_from.
      if (Array.isArray(d.metrics) && d.metrics.length) {
        shown = shown.slice(0, d.metrics_from || 0).concat(d.metrics);
        draw(shown);
      }
    };
    es.addEventListener("progress", update);
    es.addEventListener("done", function (ev) { update(ev); es.close(); window.setTimeout(function () { window.location.reload(); }, 400); });
    es.onerror = function () { es.close(); };
  }

  // Passkeys (WebAuthn). The server's options carry binary fields as base64url; the browser's
  // API takes and returns ArrayBuffers, so both directions are converted here.
  function b64uToBuf(s) {
    var b = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4));
    var a = new Uint8Array(b.length);
    for (var i = 0; i < b.length; i++) { a[i] = b.charCodeAt(i); }
    return a.buffer;
  }
  function bufToB64u(buf) {
    var a = new Uint8Array(buf), s = "";
    for (var i = 0; i < a.length; i++) { s += String.fromCharCode(a[i]); }
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function postJson(url, body, token) {
    var headers = { "Content-Type": "application/json" };
    if (token) { headers["X-CSRF-Token"] = token; }
    return fetch(url, { method: "POST", headers: headers, body: JSON.stringify(body || {}), credentials: "same-origin" }).then(function (r) {
      return r.json().then(function (j) { if (!r.ok) { throw new Error((j.error && j.error.message) || r.statusText); } return j; });
    });
  }
  function say(form, text) { var s = form.querySelector("[data-passkey-status]"); if (s) { s.textContent = text; } }
  var loginForm = document.querySelector("[data-passkey-login]");
  if (loginForm && window.PublicKeyCredential) {
    loginForm.addEventListener("submit", function (e) {
      if (loginForm.elements.passkey.value) { return; }
      e.preventDefault();
      say(loginForm, "Waiting for your passkey…");
      postJson("/api/v1/auth/second-factor/passkey-options", { challenge: loginForm.getAttribute("data-passkey-login") }).then(function (o) {
        var pk = o.publicKey;
        pk.challenge = b64uToBuf(pk.challenge);
        (pk.allowCredentials || []).forEach(function (c) { c.id = b64uToBuf(c.id); });
        return navigator.credentials.get({ publicKey: pk });
      }).then(function (c) {
        loginForm.elements.passkey.value = JSON.stringify({
          id: c.id, rawId: bufToB64u(c.rawId), type: c.type, extensions: {},
          response: {
            authenticatorData: bufToB64u(c.response.authenticatorData),
            clientDataJSON: bufToB64u(c.response.clientDataJSON),
            signature: bufToB64u(c.response.signature),
            userHandle: c.response.userHandle ? bufToB64u(c.response.userHandle) : null
          }
        });
        loginForm.submit();
      }).catch(function (err) { say(loginForm, "The passkey did not answer: " + err.message); });
    });
  }
  var regForm = document.querySelector("[data-passkey-register]");
  if (regForm && window.PublicKeyCredential) {
    regForm.addEventListener("submit", function (e) {
      e.preventDefault();
      var token = regForm.getAttribute("data-csrf");
      say(regForm, "Waiting for your authenticator…");
      postJson("/api/v1/me/passkeys/options", {}, token).then(function (o) {
        var pk = o.publicKey;
        pk.challenge = b64uToBuf(pk.challenge);
        pk.user.id = b64uToBuf(pk.user.id);
        (pk.excludeCredentials || []).forEach(function (c) { c.id = b64uToBuf(c.id); });
        return navigator.credentials.create({ publicKey: pk });
      }).then(function (c) {
        return postJson("/api/v1/me/passkeys", {
          name: regForm.elements.name.value,
          credential: {
            id: c.id, rawId: bufToB64u(c.rawId), type: c.type, extensions: {},
            response: { attestationObject: bufToB64u(c.response.attestationObject), clientDataJSON: bufToB64u(c.response.clientDataJSON) }
          }
        }, token);
      }).then(function (r) {
        if (!r.recovery_codes) { window.location.assign("/account/security?ok=" + encodeURIComponent("Passkey added.")); return; }
        // The account's first factor: its recovery codes are shown here, once (never in a URL).
        var card = document.createElement("div");
        card.className = "card";
        card.id = "new-recovery-codes";
        var h = document.createElement("h2");
        h.textContent = "Passkey added. Your recovery codes (store them now: they are not shown again)";
        var ol = document.createElement("ol");
        ol.className = "codes";
        r.recovery_codes.forEach(function (code) { var li = document.createElement("li"), c = document.createElement("code"); c.textContent = code; li.appendChild(c); ol.appendChild(li); });
        var done = document.createElement("a");
        done.href = "/account/security";
        done.textContent = "I have stored them";
        card.appendChild(h); card.appendChild(ol); card.appendChild(done);
        regForm.closest(".card").before(card);
        say(regForm, "");
      }).catch(function (err) { say(regForm, "Not added: " + err.message); });
    });
  }
})();

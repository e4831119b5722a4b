// Baocun's pages post to the JSON API themselves: a form with data-api is sent as
// JSON (or, with data-multipart, as settings JSON beside a file) with the session's
// CSRF token, and the API's refusal is shown beside the form: its message, each
// field it names, each row of a rejected file.
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var en = document.documentElement.lang === "en";
  function say(zh, english) { return en ? english + " " + zh : zh + " " + english; }

  // path splits "a[b][c]" into ["a", "b", "c"].
  function path(name) {
    var parts = [name.split("[")[0]];
    name.replace(/\[([^\]]*)\]/g, function (_, k) { parts.push(k); });
    return parts;
  }
  function put(obj, keys, value) {
    for (var i = 0; i < keys.length - 1; i++) {
      obj = obj[keys[i]] = obj[keys[i]] || {};
    }
    obj[keys[keys.length - 1]] = value;
  }
  // arrays turns objects keyed 0, 1, … into arrays, leaving out dropped rows.
  function arrays(v) {
    if (!v || typeof v !== "object" || Array.isArray(v)) return v;
    var keys = Object.keys(v);
    for (var k in v) v[k] = arrays(v[k]);
    if (keys.length && keys.every(function (k) { return /^\d+$/.test(k); })) {
      return keys.sort(function (a, b) { return a - b; }).map(function (k) { return v[k]; })
        .filter(function (row) { return !(row && row.__drop); });
    }
    return v;
  }

  // body reads a form into the object the API expects. data-type: int, number,
  // decimal (sent as a string), bool, list (one item a line), set (the checked
  // boxes of one name), row (a checkbox that keeps its row only when checked).
  function body(form) {
    var out = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.type === "file" || el.type === "submit" || el.disabled) return;
      var type = el.dataset.type || "";
      var keys = path(el.name);
      if (type === "set") {
        if (keys.length > 1 && !el.checked) return; // a nested set sends only what is picked
        var at = out;
        for (var i = 0; at && i < keys.length - 1; i++) at = at[keys[i]];
        var list = (at && at[keys[keys.length - 1]]) || [];
        if (el.checked) list.push(el.value);
        put(out, keys, list);
        return;
      }
      if (type === "row") {
        if (el.checked) put(out, keys, el.value);
        else put(out, keys.slice(0, -1).concat("__drop"), true);
        return;
      }
      if ((el.type === "radio" || el.type === "checkbox") && !el.checked) return;
      var v = el.value;
      if (v === "" && !el.required) return; // left blank: the API's default
      if (type === "int") v = parseInt(v, 10);
      else if (type === "number") v = Number(v);
      else if (type === "bool") v = v === "true";
      else if (type === "list") v = v.split("\n").map(function (s) { return s.trim(); }).filter(Boolean);
      put(out, keys, v);
    });
    return arrays(out);
  }

  function clearErrors(form) {
    form.querySelectorAll(".field-error").forEach(function (e) { e.remove(); });
    form.querySelectorAll("[aria-invalid]").forEach(function (e) { e.removeAttribute("aria-invalid"); });
    var box = form.querySelector(".form-error");
    if (box) { box.hidden = true; box.textContent = ""; }
  }

  // fieldFor finds the input an API field name means: "projects.road" is the
  // input named "projects[road]", "dates[0]" the one named "dates".
  function fieldFor(form, name) {
    var candidates = [name, name.replace(/\.([^.\[]+)/g, "[$1]"), name.replace(/\[\d+\]$/, ""), name.split(".")[0]];
    for (var i = 0; i < candidates.length; i++) {
      var el = form.querySelector('[name="' + candidates[i].replace(/"/g, '\\"') + '"]');
      if (el) return el;
    }
    return null;
  }

  function showError(form, status, err) {
    var box = form.querySelector(".form-error");
    box.hidden = false;
    var p = document.createElement("p");
    p.textContent = (err && err.message) || say("请求失败", "The request failed") + " (" + status + ")";
    box.appendChild(p);
    Object.keys((err && err.fields) || {}).forEach(function (name) {
      var el = fieldFor(form, name);
      var msg = document.createElement("small");
      msg.className = "field-error";
      msg.id = "err-" + Math.random().toString(36).slice(2);
      msg.textContent = name + ": " + err.fields[name];
      if (el) {
        el.setAttribute("aria-invalid", "true");
        el.setAttribute("aria-describedby", ((el.getAttribute("aria-describedby") || "") + " " + msg.id).trim());
        (el.closest("label, div, fieldset") || el).appendChild(msg);
      } else {
        box.appendChild(msg);
      }
    });
    if (err && err.rows && err.rows.length) {
      var t = document.createElement("table");
      t.className = "row-errors";
      t.innerHTML = "<thead><tr><th scope='col'></th><th scope='col'></th><th scope='col'></th></tr></thead><tbody></tbody>";
      var th = t.querySelectorAll("th");
      th[0].textContent = say("行", "Line"); th[1].textContent = say("列", "Column"); th[2].textContent = say("问题", "Problem");
      err.rows.forEach(function (r) {
        var tr = document.createElement("tr");
        [r.line, r.column, r.message].forEach(function (v) {
          var td = document.createElement("td"); td.textContent = v == null ? "" : v; tr.appendChild(td);
        });
        t.tBodies[0].appendChild(tr);
      });
      box.appendChild(t);
    }
    box.focus && box.setAttribute("tabindex", "-1");
    box.focus();
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.dataset || !form.dataset.api) return;
    ev.preventDefault();
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    var button = ev.submitter || form.querySelector("button[type=submit]");
    // A check-in carries the phone's position when it gives one (hidden lat, lng,
    // accuracy_m); without it, the check-in goes anyway, unlocated.
    if (form.dataset.geolocate !== undefined && navigator.geolocation) {
      if (button) button.disabled = true;
      form.setAttribute("aria-busy", "true");
      // Once only, whichever comes first: the position, its refusal, or a browser
      // that never answers a dismissed prompt.
      var sent = false;
      var once = function () { if (!sent) { sent = true; send(form, button); } };
      var fallback = setTimeout(once, 12000);
      navigator.geolocation.getCurrentPosition(function (pos) {
        clearTimeout(fallback);
        if (sent) return;
        form.elements.lat.value = pos.coords.latitude;
        form.elements.lng.value = pos.coords.longitude;
        form.elements.accuracy_m.value = Math.round(pos.coords.accuracy);
        once();
      }, function () { clearTimeout(fallback); once(); }, { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 });
      return;
    }
    send(form, button);
  });

  function send(form, button) {
    var method = (button && button.dataset.method) || form.dataset.method || "POST";
    clearErrors(form);
    var flash = document.getElementById("flash");
    if (flash) flash.hidden = true; // the last form's outcome is old news
    var init = { method: method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf, "Accept": "application/json" } };
    if (form.dataset.multipart) {
      var fd = new FormData();
      if (form.dataset.settings !== "none") fd.append("settings", JSON.stringify(body(form)));
      var file = form.querySelector('input[type="file"]');
      if (file && file.files[0]) fd.append(form.dataset.multipart, file.files[0]);
      init.body = fd;
    } else {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body(form));
    }
    form.setAttribute("aria-busy", "true");
    if (button) button.disabled = true;
    // "{name}" in the address is the value of the form's field of that name.
    var api = form.dataset.api.replace(/\{(\w+)\}/g, function (_, k) { return encodeURIComponent(form.elements[k].value); });
    fetch(api, init).then(function (resp) {
      return resp.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!resp.ok) {
          showError(form, resp.status, data && data.error);
          return;
        }
        if (form.dataset.flash !== "none") {
          var msg = say("已提交", "Done");
          // What the service let through and the user should know (a launch's warnings).
          var warnings = data && data.warnings || [];
          if (warnings.length) {
            msg += " · " + say("提示", "Warnings") + " (" + warnings.length + "): " + warnings.slice(0, 5).map(function (w) {
              return say("第 " + w.line + " 行", "line " + w.line) + " " + w.message;
            }).join("; ") + (warnings.length > 5 ? " …" : "");
          }
          sessionStorage.setItem("baocun.flash", msg);
        }
        var next = form.dataset.next;
        if (next) {
          location.assign(next.replace("{id}", data && data.id != null ? data.id : ""));
        } else {
          location.reload();
        }
      });
    }).catch(function (e) {
      showError(form, 0, { message: say("无法连接服务", "Cannot reach the service") + ": " + e });
    }).finally(function () {
      form.removeAttribute("aria-busy");
      if (button) button.disabled = false;
    });
  }

  // An upload (form[data-upload]) goes by XMLHttpRequest, the one browser API that
  // reports an upload's progress, into the form's <progress>.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.dataset || !form.dataset.upload) return;
    ev.preventDefault();
    clearErrors(form);
    var input = form.querySelector('input[type="file"]');
    if (!input || !input.files[0]) return;
    var fd = new FormData();
    fd.append("file", input.files[0]);
    var bar = form.querySelector("progress");
    var button = form.querySelector("button[type=submit]");
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.dataset.upload);
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = function (e) {
      if (bar && e.lengthComputable) { bar.hidden = false; bar.value = Math.round(100 * e.loaded / e.total); }
    };
    xhr.onload = function () {
      if (button) button.disabled = false;
      form.removeAttribute("aria-busy");
      if (xhr.status >= 200 && xhr.status < 300) {
        sessionStorage.setItem("baocun.flash", say("已上传", "Uploaded"));
        location.reload();
        return;
      }
      var data = null;
      try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
      showError(form, xhr.status, data && data.error);
    };
    xhr.onerror = function () {
      if (button) button.disabled = false;
      form.removeAttribute("aria-busy");
      showError(form, 0, { message: say("无法连接服务", "Cannot reach the service") });
    };
    form.setAttribute("aria-busy", "true");
    if (button) button.disabled = true;
    xhr.send(fd);
  });

  // The outcome of the last form, after the page reloaded.
  var flash = sessionStorage.getItem("baocun.flash");
  if (flash) {
    sessionStorage.removeItem("baocun.flash");
    var f = document.getElementById("flash");
    if (f) { f.textContent = flash; f.hidden = false; }
  }

  // Charts: each [data-chart] draws the ECharts option in #chart-<name>.
  function charts() {
    if (!window.echarts) return;
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var src = document.getElementById("chart-" + el.dataset.chart);
      if (!src) return;
      var chart = echarts.init(el, null, { locale: en ? "EN" : "ZH", renderer: "svg" });
      chart.setOption(JSON.parse(src.textContent));
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", charts);
  else charts();

  // A [data-print] button prints the page (a bulletin, on A4: ui.css @media print).
  document.addEventListener("click", function (e) {
    if (e.target.closest && e.target.closest("[data-print]")) window.print();
  });
})();

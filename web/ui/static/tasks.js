// The inbox's bulk decisions (issue 19): the tasks ticked in #tasks are sent to
// POST /api/v1/bulk/decisions with one outcome and one comment, under an
// Idempotency-Key (the same one if the very same request is sent again after no
// answer came), and the API's answer is shown item by item — each task is its own
// step, taken or refused on its own. While tasks are ticked, a form in the list is
// being filled, or a row's tools are open, the list's 30-second refresh waits, so
// nothing the user has chosen or typed is swapped away.
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var en = document.documentElement.lang === "en";
  function say(zh, english) { return en ? english + " " + zh : zh + " " + english; }

  function boxes() {
    return Array.prototype.slice.call(document.querySelectorAll('#tasks input[name="bulk-task"]'));
  }
  function picked() {
    return boxes().filter(function (b) { return b.checked && !b.disabled; });
  }
  function count() {
    var el = document.getElementById("bulk-count");
    if (el) {
      var n = picked().length;
      el.textContent = say("已选 " + n + " 项", n + " selected");
    }
    var all = document.getElementById("bulk-all");
    if (all) {
      var open = boxes().filter(function (b) { return !b.disabled; });
      all.checked = open.length > 0 && open.every(function (b) { return b.checked; });
    }
  }

  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t.id === "bulk-all") {
      boxes().forEach(function (b) { if (!b.disabled) b.checked = t.checked; });
      count();
    } else if (t.name === "bulk-task") {
      count();
    }
  });

  // The list's refresh (htmx, every 30 s) waits while the user is choosing or typing.
  document.addEventListener("htmx:beforeRequest", function (e) {
    var inbox = document.getElementById("inbox");
    if (!inbox || !e.detail || e.detail.elt !== inbox) return;
    var busy = picked().length > 0 || inbox.contains(document.activeElement) && document.activeElement !== inbox ||
      inbox.querySelector("details[open]") !== null || document.getElementById("bulk-all") && document.getElementById("bulk-all").checked;
    if (busy) e.preventDefault();
  });
  document.addEventListener("htmx:afterSwap", count);

  function newKey() {
    var b = new Uint8Array(16);
    (window.crypto || window.msCrypto).getRandomValues(b);
    return "ui-bulk-" + Array.prototype.map.call(b, function (x) { return (x < 16 ? "0" : "") + x.toString(16); }).join("");
  }

  function fail(form, message) {
    var box = form.querySelector(".form-error");
    box.textContent = "";
    var p = document.createElement("p");
    p.textContent = message;
    box.appendChild(p);
    box.hidden = false;
    box.setAttribute("tabindex", "-1");
    box.focus();
  }

  var last = { body: "", key: "" }; // the request last sent without an answer, and its key

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.dataset || !form.dataset.bulk) return;
    ev.preventDefault();
    var button = ev.submitter || form.querySelector("button[type=submit]");
    var outcome = (button && button.value) || "approve";
    var comment = form.elements.comment;
    var box = form.querySelector(".form-error");
    box.hidden = true;
    comment.removeAttribute("aria-invalid");
    var chosen = picked();
    if (!chosen.length) {
      fail(form, say("请先在下表勾选待办。", "Tick the tasks to decide in the table first."));
      return;
    }
    if (outcome === "return" && !comment.value.trim()) {
      comment.setAttribute("aria-invalid", "true");
      fail(form, say("退回须填写意见。", "A return needs a comment."));
      comment.focus();
      return;
    }
    var items = chosen.map(function (b) {
      return { pairing_id: parseInt(b.dataset.pairing, 10), task_id: b.value, outcome: outcome };
    });
    var body = JSON.stringify({ items: items, comment: comment.value });
    // One key until the service has answered for every item: the service keys each
    // item by it (with the task, outcome and comment), so a resend, even of another
    // selection, takes nothing twice and answers each item taken before as taken.
    var key = last.key || newKey();
    last = { body: body, key: key };
    var buttons = form.querySelectorAll("button[type=submit]");
    Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
    form.setAttribute("aria-busy", "true");
    fetch(form.dataset.bulk, {
      method: "POST", credentials: "same-origin", body: body,
      headers: { "X-CSRF-Token": csrf, "Accept": "application/json", "Content-Type": "application/json", "Idempotency-Key": key }
    }).then(function (resp) {
      return resp.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        var answered = resp.ok ? !((data && data.items) || []).some(function (it) { return it.status === 503; })
          : resp.status < 500 && data && data.error; // the service's own refusal, not a proxy's
        if (answered) last = { body: "", key: "" }; // a new request is a new key
        if (!resp.ok) {
          var err = data && data.error;
          var msg = (err && err.message) || say("请求失败", "The request failed") + " (" + resp.status + ")";
          Object.keys((err && err.fields) || {}).forEach(function (f) { msg += " · " + f + ": " + err.fields[f]; });
          fail(form, msg);
          return;
        }
        show(outcome, (data && data.items) || [], chosen);
      });
    }).catch(function (e) {
      fail(form, say("无法连接服务，可原样再次提交（不会重复办理）", "Cannot reach the service; submit again as it is (nothing is taken twice)") + ": " + e);
    }).finally(function () {
      form.removeAttribute("aria-busy");
      Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
    });
  });

  // show lists each item's outcome, and marks the rows of the tasks now decided.
  function show(outcome, items, chosen) {
    var section = document.getElementById("bulk-results");
    var tbody = document.querySelector("#bulk-table tbody");
    tbody.textContent = "";
    var pairing = {};
    chosen.forEach(function (b) { pairing[b.value] = b.dataset.pairing; });
    var ok = 0;
    items.forEach(function (it) {
      var done = it.status >= 200 && it.status < 300;
      if (done) ok++;
      var tr = document.createElement("tr");
      tr.dataset.task = it.task_id;
      tr.dataset.status = it.status;
      tr.className = done ? "ok" : "failed";
      var a = document.createElement("a");
      a.href = "/pairings/" + encodeURIComponent(pairing[it.task_id] || "") + "#task-" + encodeURIComponent(it.task_id);
      a.textContent = it.task_id;
      var cells = [a, pairing[it.task_id] || "",
        done ? (outcome === "return" ? say("已退回", "returned") : say("已通过", "approved"))
          : (it.status === 503 ? say("待重新提交", "pending: submit again") : say("未办理", "not taken")) +
            " (" + it.status + (it.code ? " " + it.code : "") + "): " + (it.error || "")];
      cells.forEach(function (c) {
        var td = document.createElement("td");
        if (typeof c === "string") td.textContent = c; else td.appendChild(c);
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
      if (done) {
        var box = document.querySelector('#tasks input[name="bulk-task"][value="' + it.task_id.replace(/"/g, '\\"') + '"]');
        if (box) {
          box.checked = false;
          box.disabled = true;
          var row = box.closest("tr");
          row.dataset.decided = outcome;
          var status = row.querySelector(".task-status");
          if (status) status.textContent = outcome === "return" ? say("已退回", "returned") : say("已通过", "approved");
        }
      }
    });
    var failed = items.length - ok;
    document.getElementById("bulk-summary").textContent =
      say("共 " + items.length + " 项：" + ok + " 项已办理，" + failed + " 项未办理。", items.length + " tasks: " + ok + " taken, " + failed + " not taken.");
    section.dataset.ok = ok;
    section.dataset.failed = failed;
    section.hidden = false;
    section.focus();
    count();
  }
})();

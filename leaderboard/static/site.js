/* Leaderboard site script: language switch, sortable and filterable ranking, sample browser.
   Everything a view shows is kept in the URL fragment (#lang=en&sort=total&...), so every view is a permalink.
   Text from results files is only ever put into the page with textContent, never parsed as HTML. */
(function () {
  "use strict";

  var root = (function () {
    var src = document.currentScript ? document.currentScript.getAttribute("src") : "assets/site.js";
    return src.replace(/assets\/site\.js$/, "");
  })();

  function readState() {
    var out = {};
    new URLSearchParams(location.hash.replace(/^#/, "")).forEach(function (v, k) { out[k] = v; });
    return out;
  }
  var state = readState();

  function writeState() {
    var p = new URLSearchParams();
    Object.keys(state).sort().forEach(function (k) {
      if (state[k] !== "" && state[k] != null) p.set(k, state[k]);
    });
    var h = p.toString();
    history.replaceState(null, "", location.pathname + location.search + (h ? "#" + h : ""));
  }

  /* ---------- language ---------- */
  function applyLang() {
    var lang = state.lang === "en" ? "en" : "zh";
    var html = document.documentElement;
    html.setAttribute("data-lang", lang);
    html.setAttribute("lang", lang === "en" ? "en" : "zh-CN");
    var cap = lang === "en" ? "En" : "Zh";
    ["title", "placeholder"].forEach(function (attr) {
      document.querySelectorAll("[data-" + attr + "-" + lang + "]").forEach(function (el) {
        el.setAttribute(attr, el.dataset[attr + cap]);
      });
    });
    document.querySelectorAll("option[data-zh]").forEach(function (o) { o.textContent = o.dataset[lang]; });
    document.querySelectorAll("a[data-internal], svg a[href]").forEach(function (a) {  /* chart links are internal too */
      if (a.dataset.base === undefined) a.dataset.base = a.getAttribute("href");
      a.setAttribute("href", a.dataset.base + (lang === "en" ? "#lang=en" : ""));
    });
  }
  var langButton = document.getElementById("lang-switch");
  if (langButton) {
    langButton.hidden = false;
    langButton.addEventListener("click", function () {
      state.lang = state.lang === "en" ? "" : "en";
      applyLang();
      writeState();
    });
  }
  applyLang();

  /* a link or the address bar changing only the fragment re-applies the whole view */
  var onHash = [];
  window.addEventListener("hashchange", function () {
    state = readState();
    applyLang();
    onHash.forEach(function (f) { f(); });
  });

  /* ---------- ranking: sort and filter ---------- */
  /* a board shows one ranking table, or one per section (reasoning entries apart): one sort and one filter for all */
  var tables = Array.prototype.slice.call(document.querySelectorAll("table.ranking"));
  if (tables.length) initRanking(tables);

  function initRanking(tables) {
    var groups = tables.map(function (table) {
      var rows = Array.prototype.slice.call(table.tBodies[0].rows);
      rows.forEach(function (r, i) { r.dataset.order = i; });
      return { tbody: table.tBodies[0], rows: rows, heads: Array.prototype.slice.call(table.tHead.rows[0].cells) };
    });
    var rows = [].concat.apply([], groups.map(function (g) { return g.rows; }));

    function sort() { groups.forEach(sortGroup); }
    function sortGroup(g) {
      var heads = g.heads, rows = g.rows, tbody = g.tbody;
      var key = state.sort || "rank";
      var col = heads.findIndex(function (th) { return th.dataset.sort === key; });
      if (col < 0) { key = "rank"; col = 0; }
      var th = heads[col];
      var dir = state.dir === "asc" || state.dir === "desc" ? state.dir : th.dataset.dir;
      var numeric = th.dataset.type === "num";
      var sign = dir === "asc" ? 1 : -1;
      rows.sort(function (a, b) {
        var va = a.cells[col].dataset.v, vb = b.cells[col].dataset.v;
        if (va === "" && vb === "") return a.dataset.order - b.dataset.order;
        if (va === "") return 1;  /* missing values last, whatever the direction */
        if (vb === "") return -1;
        var c = numeric ? parseFloat(va) - parseFloat(vb) : va.localeCompare(vb);
        return c !== 0 ? sign * c : a.dataset.order - b.dataset.order;
      });
      rows.forEach(function (r) { tbody.appendChild(r); });
      heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", dir === "asc" ? "ascending" : "descending");
    }

    groups.forEach(function (g) { g.heads.forEach(function (th) {
      th.tabIndex = 0;
      th.classList.add("sortable");
      function activate() {
        if ((state.sort || "rank") === th.dataset.sort) {
          var current = state.dir || th.dataset.dir;
          state.dir = current === "asc" ? "desc" : "asc";
        } else {
          state.sort = th.dataset.sort;
          state.dir = "";
        }
        if (state.sort === "rank" && (state.dir === "" || state.dir === "asc")) { state.sort = ""; state.dir = ""; }
        sort();
        writeState();
      }
      th.addEventListener("click", activate);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); activate(); } });
    }); });

    var form = document.getElementById("filters");
    var fields = { q: "f-q", family: "f-family", size: "f-size", type: "f-type", acc: "f-acc", thinking: "f-thinking" };
    Object.keys(fields).forEach(function (k) { if (!document.getElementById(fields[k])) delete fields[k]; });  /* no thinking entries: no such filter */
    form.hidden = false;
    function syncFields() {  /* state -> form; an unknown select value (stale link) is dropped */
      Object.keys(fields).forEach(function (k) {
        var el = document.getElementById(fields[k]);
        var known = el.tagName !== "SELECT" || Array.prototype.some.call(el.options, function (o) { return o.value === state[k]; });
        if (!known) delete state[k];
        el.value = state[k] || "";
      });
    }
    Object.keys(fields).forEach(function (k) {
      var el = document.getElementById(fields[k]);
      el.addEventListener(el.tagName === "SELECT" ? "change" : "input", function () {
        state[k] = el.value;
        filter();
        writeState();
      });
    });
    form.addEventListener("submit", function (e) { e.preventDefault(); });
    document.getElementById("f-reset").addEventListener("click", function () {
      Object.keys(fields).forEach(function (k) { document.getElementById(fields[k]).value = ""; state[k] = ""; });
      filter();
      writeState();
    });

    function filter() {
      var q = (state.q || "").trim().toLowerCase();
      var shown = 0;
      rows.forEach(function (r) {
        var words = r.dataset.model + " " + r.dataset.family + (r.dataset.thinking === "on" ? " thinking 思考" : "");
        var ok = (!q || words.toLowerCase().indexOf(q) >= 0) &&
          (!state.family || r.dataset.family === state.family) &&
          (!state.size || r.dataset.size === state.size) &&
          (!state.type || r.dataset.type === state.type) &&
          (!state.acc || r.dataset.acc.split("\n").indexOf(state.acc) >= 0) &&
          (!fields.thinking || !state.thinking || r.dataset.thinking === state.thinking);
        r.hidden = !ok;
        if (ok) shown++;
      });
      groups.forEach(function (g) {
        g.heads.forEach(function (th, i) {  /* with an accelerator chosen, show only its throughput column */
          if (th.dataset.acc === undefined) return;
          var hide = !!state.acc && th.dataset.acc !== state.acc;
          th.hidden = hide;
          g.rows.forEach(function (r) { r.cells[i].hidden = hide; });
        });
      });
      document.getElementById("f-count").value = shown + " / " + rows.length;
    }
    function sync() { syncFields(); sort(); filter(); }
    onHash.push(sync);
    sync();
  }

  /* ---------- sample browser ---------- */
  var samples = document.getElementById("samples");
  if (samples && document.getElementById("s-model")) initSamples();

  function initSamples() {
    var strings = JSON.parse(document.getElementById("script-strings").textContent);
    var PER_PAGE = 10;
    var select = document.getElementById("s-model");
    var list = document.getElementById("s-list");
    var pageOut = document.getElementById("s-page");
    var registry = window.HarnessSamples = { manifests: {}, chunks: {} };
    registry.manifest = function (key, m) { registry.manifests[key] = m; };
    registry.add = function (key, i, items) { registry.chunks[key + "#" + i] = items; };
    document.querySelector(".sample-controls").hidden = false;

    function tt(key) {
      var frag = document.createDocumentFragment();
      ["zh", "en"].forEach(function (lang, i) {
        var s = document.createElement("span");
        s.className = "t";
        s.lang = lang;
        s.textContent = strings[key][i];
        frag.appendChild(s);
      });
      return frag;
    }
    function el(tag, cls, text) {
      var e = document.createElement(tag);
      if (cls) e.className = cls;
      if (text !== undefined && text !== null) e.textContent = String(text);
      return e;
    }
    function load(src) {
      return new Promise(function (resolve, reject) {
        var s = document.createElement("script");
        s.src = src;
        s.onload = function () { s.remove(); resolve(); };
        s.onerror = function () { s.remove(); reject(new Error("cannot load " + src)); };
        document.head.appendChild(s);
      });
    }
    function current() { return select.options[select.selectedIndex]; }

    var radios = document.querySelectorAll("input[name=s-filter]");
    function sync() {  /* state -> controls */
      if (state.model) {
        Array.prototype.forEach.call(select.options, function (o, i) {
          if (o.dataset.slug === state.model && (!state.v || o.dataset.version === state.v)) select.selectedIndex = i;
        });
      }
      radios.forEach(function (r) { r.checked = r.value === (state.filter || "all"); });
    }
    onHash.push(function () { sync(); show(); });
    sync();
    radios.forEach(function (r) {
      r.addEventListener("change", function () { state.filter = r.value === "all" ? "" : r.value; state.page = ""; show(); });
    });
    select.addEventListener("change", function () { state.page = ""; show(); });
    document.getElementById("s-prev").addEventListener("click", function () { state.page = String(page() - 1); show(); });
    document.getElementById("s-next").addEventListener("click", function () { state.page = String(page() + 1); show(); });
    function page() { return Math.max(1, parseInt(state.page || "1", 10) || 1); }

    var token = 0;
    function show() {
      var o = current();
      var key = o.dataset.key, dir = o.value, mine = ++token;
      state.model = o.dataset.slug;
      state.v = o.dataset.version;
      writeState();
      list.replaceChildren(el("li", "loading"));
      list.firstChild.appendChild(tt("loading"));
      var ready = registry.manifests[key] ? Promise.resolve() : load(root + dir + "/manifest.js");
      ready.then(function () {
        var m = registry.manifests[key];
        var want = state.filter || "all";
        var idx = [];
        for (var i = 0; i < m.n; i++) {
          var ok = m.ok.charAt(i) === "1";
          if (want === "all" || (want === "right") === ok) idx.push(i);
        }
        var pages = Math.max(1, Math.ceil(idx.length / PER_PAGE));
        var p = Math.min(page(), pages);
        state.page = p > 1 ? String(p) : "";
        writeState();
        var slice = idx.slice((p - 1) * PER_PAGE, p * PER_PAGE);
        var need = slice.map(function (i) { return Math.floor(i / m.chunk); }).filter(function (c, j, a) { return a.indexOf(c) === j; });
        return Promise.all(need.map(function (c) {
          return registry.chunks[key + "#" + c] ? null : load(root + dir + "/chunk-" + c + ".js");
        })).then(function () {
          if (mine !== token) return;
          pageOut.value = p + " / " + pages + " (" + idx.length + ")";
          document.getElementById("s-prev").disabled = p <= 1;
          document.getElementById("s-next").disabled = p >= pages;
          list.replaceChildren();
          list.dataset.shown = key + "|" + (state.filter || "all") + "|" + p;
          if (!slice.length) { var li = el("li", "empty"); li.appendChild(tt("no_samples")); list.appendChild(li); }
          slice.forEach(function (i) {
            list.appendChild(render(registry.chunks[key + "#" + Math.floor(i / m.chunk)][i % m.chunk], i));
          });
        });
      }).catch(function (err) {
        list.replaceChildren(el("li", "error", err.message));
      });
    }

    function field(labelKey, value, cls) {
      var box = el("div", "field " + (cls || ""));
      var h = el("h4");
      h.appendChild(tt(labelKey));
      box.appendChild(h);
      box.appendChild(el("pre", null, value === null || value === undefined ? "–" : value));
      return box;
    }

    function reasoning(s) {  /* the reasoning apart from the answer, collapsed until asked for */
      var box = el("details", "field reasoning" + (s.unfinished ? " unfinished" : ""));
      var sum = el("summary");
      sum.appendChild(tt("reasoning"));
      var n = s.reasoning_chars || s.reasoning.length;
      sum.appendChild(document.createTextNode(" (" + n + " "));
      sum.appendChild(tt("chars"));
      sum.appendChild(document.createTextNode(")"));
      if (s.unfinished) { sum.appendChild(document.createTextNode(" · ")); sum.appendChild(tt("unfinished")); }
      box.appendChild(sum);
      box.appendChild(el("pre", null, s.reasoning === "" ? "–" : s.reasoning));
      if (s.reasoning_chars) {
        var cut = el("p", "cut");
        cut.appendChild(document.createTextNode("… "));
        cut.appendChild(tt("reasoning_cut"));
        box.appendChild(cut);
      }
      return box;
    }

    function render(s, i) {
      var li = el("li", "sample " + (s.ok ? "ok" : "bad"));
      li.value = i + 1;
      var head = el("div", "sample-head");
      head.appendChild(el("code", "sample-id", s.id));
      var badge = el("span", "badge " + (s.judge ? "judged" : s.ok ? "ok" : "bad"));
      if (s.judge) {  /* a judged item has a score, not right or wrong */
        badge.appendChild(tt("score"));
        badge.appendChild(document.createTextNode(": " + (s.pred === null || s.pred === undefined ? "–" : s.pred)));
      } else {
        badge.appendChild(tt(s.ok ? "right" : "wrong"));
      }
      head.appendChild(badge);
      if (s.finish) { var f = el("small", "finish"); f.appendChild(tt("finish")); f.appendChild(document.createTextNode(": " + s.finish)); head.appendChild(f); }
      if (s.unfinished || s.unfinished_each) {  /* thinking never closed: the budget ran out, no answer */
        var u = el("span", "badge unfinished");
        u.appendChild(tt("unfinished"));
        if (s.unfinished_each) u.appendChild(document.createTextNode(" " + s.unfinished_each[0] + "/" + s.unfinished_each[1]));
        head.appendChild(u);
      }
      li.appendChild(head);
      li.appendChild(field("prompt", s.prompt, "prompt"));
      if (typeof s.reasoning === "string") li.appendChild(reasoning(s));
      if (s.dialogue) {  /* multi-turn: every user turn with the model's answer */
        var dl = el("div", "field dialogue");
        var dh = el("h4");
        dh.appendChild(tt("dialogue"));
        dl.appendChild(dh);
        s.dialogue.forEach(function (pair, k) {
          dl.appendChild(el("pre", "turn user", (k + 1) + ". " + pair[0]));
          dl.appendChild(el("pre", "turn assistant", pair[1]));
        });
        li.appendChild(dl);
      } else if (s.output !== undefined) {
        li.appendChild(field("output", s.output, "output"));
      }
      if (s.logprobs) {
        var box = el("div", "field logprobs");
        var h = el("h4");
        h.appendChild(tt("option_logprobs"));
        box.appendChild(h);
        var tbl = el("table", "data");
        Object.keys(s.logprobs).forEach(function (k) {
          var tr = el("tr", (k === s.pred ? "pred " : "") + (k === s.target ? "gold" : ""));
          tr.appendChild(el("td", null, k));
          tr.appendChild(el("td", "num", Number(s.logprobs[k]).toFixed(4)));
          tbl.appendChild(tr);
        });
        box.appendChild(tbl);
        li.appendChild(box);
      }
      var row = el("div", "answers");
      row.appendChild(field("prediction", s.pred, "pred"));
      row.appendChild(field("target", Array.isArray(s.target) ? s.target.join(" | ") : s.target, "target"));
      li.appendChild(row);
      if (s.execution) {
        s.execution.forEach(function (e) {
          li.appendChild(field("execution", e.status + " (" + e.seconds + " s)" + (e.stderr ? "\n" + e.stderr : "") + (e.stdout ? "\n" + e.stdout : ""), "execution " + e.status));
        });
      }
      if (s.verdicts) li.appendChild(field("verdicts", JSON.stringify(s.verdicts), "verdicts"));
      (s.judge_outputs || []).forEach(function (text) { li.appendChild(field("judge_output", text, "judge-output")); });
      if (s.metrics) li.appendChild(el("div", "metrics", JSON.stringify(s.metrics)));
      if (s.cut) li.appendChild(cutNote(s.cut));
      return li;
    }

    function cutNote(cut) {  /* fields too long to show: what was cut, and the download that has all of it */
      var p = el("p", "cut field-cut");
      p.appendChild(tt("field_cut"));
      p.appendChild(document.createTextNode(" (" + Object.keys(cut).map(function (k) {
        return k + ": " + Number(cut[k]).toLocaleString("en");
      }).join(", ") + ") "));
      var a = el("a");
      a.href = root + current().value + "/samples.jsonl";
      a.setAttribute("download", "");
      a.appendChild(tt("download_full"));
      p.appendChild(a);
      return p;
    }

    show();
  }
})();

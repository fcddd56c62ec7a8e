/* Reelsmith Mini App: plain JavaScript, no build step. The API is /app/api/* (see the contract in
   core/web/miniapp); every sentence comes from GET /app/api/texts, so nothing here is user-facing text. */
"use strict";

(function () {
  var tg = (window.Telegram && window.Telegram.WebApp) || null;
  var POLL_MS = 3000; // an unfinished video's status, while the Videos screen shows it
  var BALANCE_POLL_MS = 1000; // after a paid invoice, until the balance changes
  var BALANCE_POLL_TRIES = 60;
  var IDEA_MAX = 1000; // the chat's IDEA_MAX_LENGTH default; the server has the last word

  var state = {
    texts: {},
    lang: "en",
    me: null,
    catalogue: null,
    videos: [],
    next: null,
    loadedVideos: false,
    tab: "videos",
    stack: [], // sub-views above the tab, for Telegram's BackButton
    draft: { idea: "", model: null, seconds: null, preset: "", photo: null, photoUrl: null },
    submitting: false,
    pollTimer: null,
  };

  // --- texts ---------------------------------------------------------------------------------------

  // t("key", {name: value}): the text of app_<key> in the user's language, {name} filled in.
  function t(key, params) {
    var template = state.texts[key];
    if (template === undefined) return key;
    return template.replace(/\{(\w+)\}/g, function (whole, name) {
      return params && params[name] !== undefined ? String(params[name]) : whole;
    });
  }

  // "5 credits" in the language's plural form (Intl.PluralRules: one, few, many, other).
  function credits(n) {
    var form = "other";
    try { form = new Intl.PluralRules(state.lang).select(n); } catch (e) { /* old engines: other */ }
    var key = "credits_" + form;
    if (state.texts[key] === undefined) key = "credits_other";
    return t(key, { n: number(n) });
  }

  function number(n) {
    try { return new Intl.NumberFormat(state.lang).format(n); } catch (e) { return String(n); }
  }

  function date(iso, withTime) {
    var d = new Date(iso);
    if (isNaN(d)) return "";
    var options = withTime ? { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" }
      : { day: "numeric", month: "short", year: "numeric" };
    try { return new Intl.DateTimeFormat(state.lang, options).format(d); } catch (e) { return d.toISOString(); }
  }

  function duration(seconds) {
    if (seconds < 60) return t("seconds_short", { n: Math.max(1, Math.round(seconds)) });
    return t("minutes_short", { n: Math.round(seconds / 60) });
  }

  // --- DOM -----------------------------------------------------------------------------------------

  // h("div.card", {onclick: f}, child, "text", [children]): a small element builder.
  function h(spec, attrs) {
    var parts = spec.split(".");
    var el = document.createElement(parts[0] || "div");
    if (parts.length > 1) el.className = parts.slice(1).join(" ");
    var children = Array.prototype.slice.call(arguments, 2);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        var value = attrs[name];
        if (value === undefined || value === null || value === false) return;
        if (name.slice(0, 2) === "on") el.addEventListener(name.slice(2), value);
        else if (name === "text") el.textContent = value;
        else if (name === "html") el.innerHTML = value; // only our own SVG markup
        else if (value === true) el.setAttribute(name, "");
        else el.setAttribute(name, value);
      });
    }
    append(el, children);
    return el;
  }

  function append(el, children) {
    children.forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      if (Array.isArray(child)) append(el, child);
      else el.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
  }

  var ICONS = {
    videos: '<rect x="6" y="3" width="12" height="18" rx="3"/><path d="M10.5 9.5v5l4-2.5z"/>',
    create: '<path d="M12 5v14M5 12h14"/>',
    buy: '<path d="M12 3l2.6 5.5 6 .8-4.4 4.1 1.1 5.9L12 16.5 6.7 19.3l1.1-5.9L3.4 9.3l6-.8z"/>',
    account: '<circle cx="12" cy="8" r="4"/><path d="M4 21c1.5-4 4.5-6 8-6s6.5 2 8 6"/>',
    stats: '<path d="M4 20V10M10 20V4M16 20v-7M22 20H2"/>',
  };
  var PLAY = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M6 4l14 8-14 8z"/></svg>';
  var FILM = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M7 2h10a3 3 0 013 3v14a3 3 0 01-3 3H7a3 3 0 01-3-3V5a3 3 0 013-3zm3 6v8l6-4z"/></svg>';

  var toastTimer = null;
  function toast(message) {
    var el = document.getElementById("toast");
    el.textContent = message;
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { el.hidden = true; }, 3500);
  }

  function haptic(kind) {
    try { if (tg && tg.HapticFeedback) tg.HapticFeedback.notificationOccurred(kind); } catch (e) { /* optional */ }
  }

  // --- API -----------------------------------------------------------------------------------------

  function initData() { return (tg && tg.initData) || ""; }

  // api("GET", "/me") → the JSON body; a 4xx throws {status, code, message} with the server's sentence.
  function api(method, path, body) {
    var options = { method: method, headers: { Authorization: "tma " + initData() } };
    if (body instanceof FormData) options.body = body;
    else if (body !== undefined) {
      options.body = JSON.stringify(body);
      options.headers["Content-Type"] = "application/json";
    }
    return fetch("/app/api" + path, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (response.ok) return data;
        var error = new Error(data.message || t("error_generic"));
        error.status = response.status;
        error.code = data.error || "error";
        error.data = data;
        throw error;
      });
    }, function () {
      var error = new Error(t("error_network"));
      error.status = 0;
      error.code = "network";
      throw error;
    });
  }

  function fail(error) {
    haptic("error");
    toast(error && error.message ? error.message : t("error_generic"));
  }

  // --- theme ---------------------------------------------------------------------------------------

  // themeParams → --tg-theme-* on <html> (Telegram's own script does this too; the stub and older
  // clients may not), and the colour scheme → [data-theme] for our fallbacks.
  function applyTheme() {
    var root = document.documentElement;
    var params = (tg && tg.themeParams) || {};
    Object.keys(params).forEach(function (key) {
      if (typeof params[key] === "string") root.style.setProperty("--tg-theme-" + key.replace(/_/g, "-"), params[key]);
    });
    var dark = tg && tg.colorScheme ? tg.colorScheme === "dark"
      : window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
    root.setAttribute("data-theme", dark ? "dark" : "light");
    try {
      if (tg && tg.setHeaderColor) tg.setHeaderColor("secondary_bg_color");
      if (tg && tg.setBackgroundColor) tg.setBackgroundColor("secondary_bg_color");
    } catch (e) { /* older clients */ }
  }

  // --- Telegram's buttons --------------------------------------------------------------------------

  var mainAction = null;
  function onMainButton() { if (mainAction) mainAction(); }

  // The MainButton carries the screen's one main action (Create's submit); hidden elsewhere.
  function setMainButton(label, action, enabled) {
    mainAction = action;
    if (!tg || !tg.MainButton) return;
    if (!label) { tg.MainButton.hide(); return; }
    tg.MainButton.setParams({ text: label, is_active: enabled !== false, is_visible: true });
    if (enabled === false) tg.MainButton.disable(); else tg.MainButton.enable();
    tg.MainButton.show();
  }

  function onBackButton() { back(); }

  function syncBackButton() {
    if (!tg || !tg.BackButton) return;
    if (state.stack.length) tg.BackButton.show(); else tg.BackButton.hide();
  }

  // --- navigation ----------------------------------------------------------------------------------

  var TABS = ["videos", "create", "buy", "account", "stats"];

  function showTab(tab) {
    state.tab = tab;
    state.stack = [];
    render();
    window.scrollTo(0, 0);
  }

  function push(view) {
    state.stack.push(view);
    render();
    window.scrollTo(0, 0);
  }

  function back() {
    if (state.stack.length) { state.stack.pop(); render(); }
  }

  function renderTabs() {
    var nav = document.getElementById("tabs");
    nav.hidden = false;
    nav.setAttribute("aria-label", t("tabs_label"));
    nav.textContent = "";
    var names = { videos: t("tab_videos"), create: t("tab_create"), buy: t("tab_buy"), account: t("tab_account"),
      stats: t("tab_stats") };
    TABS.forEach(function (tab) {
      if (tab === "stats" && !(state.me && state.me.is_admin)) return;
      var button = h("button.tab", { type: "button", "data-tab": tab, onclick: function () { showTab(tab); },
        "aria-current": state.tab === tab && !state.stack.length ? "page" : null },
        svg(ICONS[tab]), h("span", { text: names[tab] }));
      nav.appendChild(button);
    });
  }

  function svg(inner) {
    var el = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    el.setAttribute("viewBox", "0 0 24 24");
    el.setAttribute("aria-hidden", "true");
    el.innerHTML = inner;
    return el;
  }

  function render() {
    var root = document.getElementById("app");
    var view = state.stack.length ? state.stack[state.stack.length - 1] : null;
    root.textContent = "";
    root.setAttribute("data-screen", view ? view.name : state.tab);
    mainAction = null;
    if (tg && tg.MainButton) tg.MainButton.hide();
    if (view) view.render(root);
    else SCREENS[state.tab](root);
    renderTabs();
    syncBackButton();
    schedulePolling();
  }

  // --- Videos --------------------------------------------------------------------------------------

  function loadVideos(more) {
    var path = "/videos" + (more && state.next ? "?before=" + encodeURIComponent(state.next) : "");
    return api("GET", path).then(function (data) {
      // An answer whose body was cut reads as {} (api): no list, rather than a list holding undefined.
      var videos = (data.videos || []).filter(Boolean);
      state.videos = more ? state.videos.concat(videos) : videos;
      state.next = data.next || null;
      state.loadedVideos = true;
    });
  }

  function renderVideos(root) {
    root.appendChild(h("h1", { text: t("videos_title") }));
    if (!state.loadedVideos) {
      root.appendChild(h("div.boot", null, h("div.spinner")));
      loadVideos(false).then(rerenderIf("videos"), function (error) {
        fail(error);
        var boot = root.querySelector(".boot");
        if (boot) boot.replaceChildren(h("button.btn", { type: "button", onclick: render }, t("retry")));
      });
      return;
    }
    if (!state.videos.length) {
      root.appendChild(h("div.card.empty", null, h("div", { html: FILM }),
        h("p", { text: t("videos_empty") }),
        h("button.btn.primary", { type: "button", onclick: function () { showTab("create"); } }, t("videos_make_first"))));
      return;
    }
    var list = h("div", { id: "video-list" });
    state.videos.forEach(function (video) { list.appendChild(videoCard(video)); });
    root.appendChild(list);
    if (state.next) {
      root.appendChild(h("button.btn.fallback-submit", { type: "button", onclick: function (event) {
        event.currentTarget.disabled = true;
        loadVideos(true).then(rerenderIf("videos"), fail);
      } }, t("videos_more")));
    }
  }

  function rerenderIf(tab) {
    return function () { if (state.tab === tab && !state.stack.length) render(); };
  }

  function thumbnailUrl(video) {
    var sep = video.thumbnail.indexOf("?") < 0 ? "?" : "&";
    return video.thumbnail + sep + "auth=" + encodeURIComponent(initData());
  }

  function videoCard(video) {
    var media = h("div.media");
    if (!video.thumbnail) media.appendChild(h("div.placeholder", { html: FILM }));
    if (video.thumbnail) {
      media.appendChild(h("img", { src: thumbnailUrl(video), alt: "", loading: "lazy", decoding: "async",
        onerror: function (event) { event.target.remove(); } }));
    }
    if (video.video_url) {
      var play = h("button.play", { type: "button", "aria-label": t("video_play"), onclick: function () {
        media.classList.add("playing");
        media.textContent = "";
        // playsinline + muted: iOS plays it in place instead of going full screen.
        var player = h("video", { src: video.video_url, playsinline: true, "webkit-playsinline": true, muted: true,
          controls: true, autoplay: true, preload: "metadata" });
        player.muted = true;
        media.appendChild(player);
      } }, h("span", { html: PLAY }));
      media.appendChild(play);
    }

    var body = h("div.video-body", null,
      h("p.idea", { text: video.idea || t("video_no_idea") }),
      h("div.meta", { text: [video.model_title || video.model, video.seconds ? t("seconds_short", { n: video.seconds }) : null,
        video.preset, date(video.created_at, true)].filter(Boolean).join(" · ") }),
      h("span.chip." + video.state, { text: video.status_text || t("state_" + video.state) }));

    if (video.state === "rendering") body.appendChild(progressBar(video.progress));
    if (video.state === "failed" && video.error) body.appendChild(h("p.hint.danger", { text: video.error }));

    var actions = h("div.actions");
    if (video.state === "done") {
      actions.appendChild(h("button.btn.small", { type: "button", onclick: function (event) { sendToChat(video, event.currentTarget); } },
        t("video_send")));
    }
    actions.appendChild(h("button.btn.small", { type: "button", onclick: function () { again(video); } }, t("video_again")));
    if (video.state === "done" && tg && tg.switchInlineQuery) {
      actions.appendChild(h("button.btn.small", { type: "button", onclick: function () { share(video); } }, t("video_share")));
    }
    body.appendChild(actions);
    return h("article.video", { "data-id": video.id, "data-state": video.state, "aria-label": video.idea || "" }, media, body);
  }

  function progressBar(progress) {
    var wrap = h("div");
    var fraction = progress && typeof progress.fraction === "number" ? Math.max(0, Math.min(1, progress.fraction)) : null;
    var bar = h("div.progress" + (fraction === null ? ".indeterminate" : "") + (progress && progress.late ? ".late" : ""),
      { role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100",
        "aria-valuenow": fraction === null ? null : String(Math.round(fraction * 100)) },
      // At least a sliver: a bar at 0 % looks like no bar at all.
      h("div", { style: fraction === null ? null : "width:" + Math.max(fraction * 100, 3).toFixed(1) + "%" }));
    wrap.appendChild(bar);
    var note = null;
    if (progress && progress.late) note = t("progress_late");
    else if (progress && typeof progress.eta_seconds === "number") note = t("progress_eta", { time: duration(progress.eta_seconds) });
    if (note) wrap.appendChild(h("div.hint.eta", { text: note }));
    return wrap;
  }

  function sendToChat(video, button) {
    button.disabled = true;
    api("POST", "/videos/" + video.id + "/send").then(function () {
      haptic("success");
      toast(t("video_sent"));
    }, fail).then(function () { button.disabled = false; });
  }

  function again(video) {
    var d = state.draft;
    d.idea = video.idea || "";
    d.model = video.model;
    d.seconds = video.seconds || null;
    d.preset = presetIdByName(video.preset);
    clearPhoto();
    showTab("create");
  }

  function presetIdByName(name) {
    var presets = (state.catalogue && state.catalogue.presets) || [];
    for (var i = 0; i < presets.length; i++) if (presets[i].name === name || presets[i].id === name) return presets[i].id;
    return "";
  }

  // The bot's inline mode shares the video itself; Telegram's script throws when inline mode is off
  // for the bot (WebAppInlineModeDisabled): then the invitation link is shared instead.
  function share(video) {
    try {
      tg.switchInlineQuery(video.idea || "", ["users", "groups", "channels"]);
    } catch (e) {
      var invite = state.me && state.me.invite;
      if (invite && invite.share_url) openTelegramLink(invite.share_url); else fail(null);
    }
  }

  // Unfinished videos are asked for again every few seconds while the Videos screen is open.
  function schedulePolling() {
    clearTimeout(state.pollTimer);
    state.pollTimer = null;
    if (state.tab !== "videos" || state.stack.length) return;
    var open = state.videos.filter(function (v) { return v.state === "rendering"; });
    if (!open.length) return;
    state.pollTimer = setTimeout(function () {
      Promise.all(open.map(function (video) {
        return api("GET", "/videos/" + video.id).then(replaceVideo, function () { /* next round */ });
      })).then(function () {
        if (state.tab === "videos" && !state.stack.length) schedulePolling();
      });
    }, document.hidden ? POLL_MS * 3 : POLL_MS);
  }

  function replaceVideo(video) {
    if (!video || !video.id) return; // a cut answer: the next round asks again
    var index = -1;
    for (var i = 0; i < state.videos.length; i++) if (state.videos[i].id === video.id) index = i;
    if (index < 0) return;
    var before = state.videos[index];
    state.videos[index] = video;
    var card = document.querySelector('article.video[data-id="' + video.id + '"]');
    if (card) card.replaceWith(videoCard(video));
    if (before.state === "rendering" && video.state === "done") { haptic("success"); refreshMe(); }
    if (before.state === "rendering" && video.state === "failed") refreshMe(); // a failure refunds
  }

  // --- Create --------------------------------------------------------------------------------------

  function loadCatalogue() {
    return api("GET", "/catalogue").then(function (data) {
      state.catalogue = data;
      if (state.me) state.me.balance = data.balance;
    });
  }

  function selectedModel() {
    var models = (state.catalogue && state.catalogue.models) || [];
    var d = state.draft;
    var usable = models.filter(function (m) { return !d.photo || m.image_input; });
    var model = null;
    for (var i = 0; i < usable.length; i++) if (usable[i].id === d.model) model = usable[i];
    return model || usable[0] || null;
  }

  function priceOf(model) {
    if (!model) return null;
    var durations = model.durations || [];
    for (var i = 0; i < durations.length; i++) if (durations[i].seconds === state.draft.seconds) return durations[i].price;
    return durations.length ? durations[0].price : model.price;
  }

  function renderCreate(root) {
    root.appendChild(h("h1", { text: t("create_title") }));
    if (!state.catalogue) {
      root.appendChild(h("div.boot", null, h("div.spinner")));
      loadCatalogue().then(rerenderIf("create"), fail);
      return;
    }
    var d = state.draft;
    var form = h("form.card", { id: "create-form", novalidate: true, onsubmit: function (event) { event.preventDefault(); submit(); } });

    var idea = h("textarea", { id: "idea", name: "idea", maxlength: String(IDEA_MAX), placeholder: t("create_idea_placeholder"),
      rows: "4", oninput: function () { d.idea = idea.value; counter.textContent = idea.value.length + " / " + IDEA_MAX; updateSummary(); } });
    idea.value = d.idea;
    var counter = h("div.counter", { "aria-hidden": "true", text: d.idea.length + " / " + IDEA_MAX });
    form.appendChild(h("label.field", { for: "idea" }, h("span", { text: t("create_idea") }), idea, counter));

    // photo
    var fileInput = h("input.sr-only", { type: "file", id: "photo", accept: "image/jpeg,image/png,image/webp", onchange: function () {
      var file = fileInput.files && fileInput.files[0];
      if (!file) return;
      clearPhoto();
      d.photo = file;
      d.photoUrl = URL.createObjectURL(file);
      render();
    } });
    var pick = h("div.photo-pick", null, fileInput,
      d.photoUrl ? h("img", { src: d.photoUrl, alt: t("create_photo_preview") }) : null,
      h("label.btn.small", { for: "photo", role: "button", tabindex: "0",
        onkeydown: function (event) { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); fileInput.click(); } } },
        d.photo ? t("create_photo_change") : t("create_photo_add")),
      d.photo ? h("button.btn.small", { type: "button", onclick: function () { clearPhoto(); render(); } }, t("create_photo_remove")) : null);
    form.appendChild(h("div.field-label", { text: t("create_photo") }));
    form.appendChild(pick);
    form.appendChild(h("p.hint", { text: t("create_photo_hint") }));

    // model
    var model = selectedModel();
    if (model) { d.model = model.id; }
    form.appendChild(h("div.field-label", { id: "model-label", text: t("create_model") }));
    var models = h("div.choices", { role: "radiogroup", "aria-labelledby": "model-label" });
    state.catalogue.models.forEach(function (m) {
      var disabled = Boolean(d.photo && !m.image_input);
      models.appendChild(h("label.choice", null,
        h("input", { type: "radio", name: "model", value: m.id, checked: model && m.id === model.id, disabled: disabled,
          onchange: function () { d.model = m.id; d.seconds = null; render(); } }),
        h("span.grow", null, h("div", { text: m.title }),
          h("div.hint", { text: disabled ? t("create_model_text_only") : m.image_input ? t("create_model_photo_ok") : "" })),
        // The shortest length's price: the summary below shows the chosen one's.
        h("span.price", { text: credits(m.durations && m.durations.length ? m.durations[0].price : m.price) })));
    });
    if (!state.catalogue.models.length) models.appendChild(h("p.hint", { text: t("create_no_models") }));
    form.appendChild(models);

    // duration
    var durations = (model && model.durations) || [];
    if (durations.length) {
      var known = durations.some(function (x) { return x.seconds === d.seconds; });
      if (!known) d.seconds = durations[0].seconds;
      form.appendChild(h("div.field-label", { id: "duration-label", text: t("create_duration") }));
      var group = h("div.choices.inline", { role: "radiogroup", "aria-labelledby": "duration-label" });
      durations.forEach(function (x) {
        group.appendChild(h("label.choice", null,
          h("input", { type: "radio", name: "seconds", value: String(x.seconds), checked: x.seconds === d.seconds,
            onchange: function () { d.seconds = x.seconds; updateSummary(); } }),
          h("span", { text: t("seconds_short", { n: x.seconds }) })));
      });
      form.appendChild(group);
    } else {
      d.seconds = null;
    }

    // preset
    var presets = state.catalogue.presets || [];
    if (presets.length) {
      var select = h("select", { id: "preset", name: "preset", onchange: function () { d.preset = select.value; } },
        h("option", { value: "", text: t("create_preset_none") }),
        presets.map(function (p) { return h("option", { value: p.id, text: p.name }); }));
      select.value = d.preset || "";
      form.appendChild(h("label.field", { for: "preset" }, h("span", { text: t("create_preset") }), select));
    }

    form.appendChild(h("div.summary", { id: "summary" }));
    // Outside Telegram (or an old client) there is no MainButton: the form keeps a button of its own.
    if (!tg || !tg.MainButton) form.appendChild(h("button.btn.primary.fallback-submit", { type: "submit", id: "submit" }));
    root.appendChild(form);
    updateSummary();
  }

  function clearPhoto() {
    var d = state.draft;
    if (d.photoUrl) URL.revokeObjectURL(d.photoUrl);
    d.photo = null;
    d.photoUrl = null;
  }

  function balance() { return state.me ? state.me.balance : 0; }

  // The price, the balance and the MainButton's label follow every change of the form.
  function updateSummary() {
    var summary = document.getElementById("summary");
    if (!summary) return;
    var model = selectedModel();
    var price = priceOf(model);
    var short = price !== null && price > balance();
    summary.textContent = "";
    append(summary, [
      h("span", { text: price === null ? "" : t("create_price", { price: credits(price) }) }),
      h("span" + (short ? ".danger" : ".hint"), { id: "create-balance", text: t("create_balance", { balance: credits(balance()) }) }),
    ]);
    if (short) {
      summary.appendChild(h("p.hint", { style: "flex-basis:100%" }, t("create_short") + " ",
        h("a", { href: "#", onclick: function (event) { event.preventDefault(); showTab("buy"); } }, t("create_buy_link"))));
    }
    var ready = Boolean(model && state.draft.idea.trim() && !state.submitting);
    var label = price === null ? t("create_submit_plain") : t("create_submit", { price: credits(price) });
    if (short) setMainButton(t("create_buy_more"), function () { showTab("buy"); }, true);
    else setMainButton(label, submit, ready);
    var fallback = document.getElementById("submit");
    if (fallback) { fallback.textContent = short ? t("create_buy_more") : label; fallback.disabled = !ready && !short; }
  }

  function submit() {
    var d = state.draft;
    var model = selectedModel();
    if (state.submitting || !model) return;
    if (!d.idea.trim()) { toast(t("create_need_idea")); return; }
    var price = priceOf(model);
    if (price !== null && price > balance()) { showTab("buy"); return; }
    var form = new FormData();
    form.append("idea", d.idea.trim());
    form.append("model", model.id);
    if (d.seconds) form.append("seconds", String(d.seconds));
    if (d.preset) form.append("preset", d.preset);
    if (d.photo) form.append("photo", d.photo, d.photo.name || "photo.jpg");
    state.submitting = true;
    if (tg && tg.MainButton) tg.MainButton.showProgress(false);
    api("POST", "/generations", form).then(function (data) {
      haptic("success");
      if (state.me) state.me.balance = data.balance;
      if (state.catalogue) state.catalogue.balance = data.balance;
      // Not loaded yet (or dropped by a language switch): the Videos screen asks for all of them.
      if (state.loadedVideos && data.video) {
        state.videos = [data.video].concat(state.videos.filter(function (v) { return v.id !== data.video.id; }));
      } else {
        state.loadedVideos = false; // no video in the answer (its body was cut): the list is asked for again
      }
      d.idea = "";
      clearPhoto();
      toast(t("create_started"));
      showTab("videos");
    }, function (error) {
      if (error.code === "balance") {
        if (state.me && typeof error.data.balance === "number") state.me.balance = error.data.balance;
        fail(error);
        showTab("buy");
        return;
      }
      if (error.code === "unavailable") state.catalogue = null; // a model was withdrawn: ask again
      fail(error);
    }).then(function () {
      state.submitting = false;
      if (tg && tg.MainButton) tg.MainButton.hideProgress();
      if (state.tab === "create" && !state.stack.length) { if (state.catalogue) updateSummary(); else render(); }
    });
  }

  // --- Buy -----------------------------------------------------------------------------------------

  function renderBuy(root) {
    root.appendChild(h("h1", { text: t("buy_title") }));
    root.appendChild(h("div.card", null, h("div.hint", { text: t("buy_balance") }),
      h("div.balance-big", { id: "buy-balance", text: credits(balance()) })));
    if (!state.catalogue) {
      root.appendChild(h("div.boot", null, h("div.spinner")));
      loadCatalogue().then(rerenderIf("buy"), fail);
      return;
    }
    var c = state.catalogue;
    root.appendChild(h("h2", { text: t("buy_packages") }));
    var grid = h("div.grid");
    c.packages.forEach(function (p) {
      grid.appendChild(h("button.offer", { type: "button", "data-package": p.id, onclick: function (event) { buy("package", p.id, event.currentTarget); } },
        h("strong", { text: credits(p.credits) }), h("span.stars", { text: t("buy_stars", { stars: number(p.stars) }) })));
    });
    root.appendChild(grid);

    if (c.plans && c.plans.length) {
      root.appendChild(h("h2", { text: t("buy_plan") }));
      var sub = c.subscription;
      if (sub) {
        root.appendChild(h("div.card", { id: "subscription" }, h("p", { text: sub.canceled
          ? t("buy_plan_canceled", { date: date(sub.renews_at) }) : t("buy_plan_active", { date: date(sub.renews_at) }) })));
      }
      var plans = h("div.grid.plans");
      c.plans.forEach(function (p) {
        var current = sub && sub.plan_id === p.id && !sub.canceled;
        plans.appendChild(h("button.offer", { type: "button", "data-plan": p.id, disabled: current,
          onclick: function (event) { buy("plan", p.id, event.currentTarget); } },
          h("strong", { text: t("buy_plan_credits", { credits: credits(p.credits) }) }),
          h("span.stars", { text: t("buy_plan_stars", { stars: number(p.stars) }) }),
          current ? h("span.hint", { text: t("buy_plan_current") }) : null));
      });
      root.appendChild(plans);
    }
    root.appendChild(h("p.hint", { text: t("buy_note") }));
  }

  function buy(kind, id, button) {
    if (!tg || !tg.openInvoice) { toast(t("error_outside_telegram")); return; }
    button.disabled = true;
    api("POST", "/invoices", { kind: kind, id: id }).then(function (data) {
      var before = balance();
      tg.openInvoice(data.link, function (status) {
        button.disabled = false;
        if (status === "paid") {
          haptic("success");
          toast(t("buy_waiting"));
          waitForCredit(before);
        } else if (status === "failed") {
          fail(new Error(t("buy_failed")));
        }
      });
    }, function (error) { button.disabled = false; fail(error); });
  }

  // Credits come only from successful_payment, which reaches the bot separately: ask /me until the
  // balance moves (every second, for up to a minute).
  function waitForCredit(before) {
    var tries = 0;
    function poll() {
      api("GET", "/me").then(function (me) {
        if (me.balance === before) { retry(); return; }
        state.me = me;
        state.catalogue = null; // a plan changes the subscription line
        toast(t("buy_credited", { balance: credits(me.balance) }));
        render();
      }, retry);
    }
    function retry() {
      tries += 1;
      if (tries >= BALANCE_POLL_TRIES) toast(t("buy_slow"));
      else setTimeout(poll, BALANCE_POLL_MS);
    }
    poll();
  }

  function refreshMe() {
    return api("GET", "/me").then(function (me) {
      state.me = me;
      var el = document.getElementById("buy-balance") || document.getElementById("account-balance");
      if (el) el.textContent = credits(me.balance);
    }, function () { /* shown next time */ });
  }

  // --- Account -------------------------------------------------------------------------------------

  function renderAccount(root) {
    var me = state.me;
    root.appendChild(h("h1", { text: t("account_title") }));
    root.appendChild(h("div.card", null,
      h("div.hint", { text: t("account_hello", { name: me.first_name || "" }) }),
      h("div.balance-big", { id: "account-balance", text: credits(me.balance) }),
      h("div.actions", null, h("button.btn.primary.small", { type: "button", onclick: function () { showTab("buy"); } }, t("account_buy")))));

    root.appendChild(h("h2", { text: t("account_language") }));
    var seg = h("div.segmented", { role: "group", "aria-label": t("account_language") });
    [["en", "English"], ["ru", "Русский"]].forEach(function (pair) {
      seg.appendChild(h("button", { type: "button", lang: pair[0], "data-lang": pair[0], "aria-pressed": String(state.lang === pair[0]),
        onclick: function () { setLanguage(pair[0]); } }, pair[1]));
    });
    root.appendChild(h("div.card", null, seg));

    var invite = me.invite || {};
    if (invite.link) {
      root.appendChild(h("h2", { text: t("account_invite") }));
      root.appendChild(h("div.card", null,
        h("p", { text: t("account_invite_about") }),
        h("div.invite-link", { id: "invite-link", text: invite.link }),
        h("div.numbers", null,
          h("div", null, h("strong", { text: number(invite.joined || 0) }), h("span.hint", { text: t("account_invite_joined") })),
          h("div", null, h("strong", { text: credits(invite.earned || 0) }), h("span.hint", { text: t("account_invite_earned") }))),
        h("div.actions", null,
          h("button.btn.small", { type: "button", onclick: function () { copy(invite.link); } }, t("account_copy")),
          invite.share_url ? h("button.btn.small.primary", { type: "button", onclick: function () { openTelegramLink(invite.share_url); } },
            t("account_share")) : null)));
    }

    root.appendChild(h("h2", { text: t("account_more") }));
    root.appendChild(h("div.list", null,
      h("button.row", { type: "button", id: "open-receipts", onclick: function () { push(receiptsView()); } },
        h("span.grow", { text: t("account_receipts") })),
      h("button.row", { type: "button", id: "open-privacy", onclick: function () { push(privacyView()); } },
        h("span.grow", { text: t("account_privacy") })),
      h("button.row.danger", { type: "button", id: "open-delete", onclick: function () { push(deleteView()); } },
        h("span.grow", { text: t("account_delete") }))));
  }

  function copy(value) {
    var done = function () { haptic("success"); toast(t("account_copied")); };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(value).then(done, function () { legacyCopy(value); done(); });
    } else { legacyCopy(value); done(); }
  }

  function legacyCopy(value) {
    var area = h("textarea", { readonly: true, style: "position:fixed;opacity:0" });
    area.value = value;
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing more to try */ }
    area.remove();
  }

  function openTelegramLink(url) {
    if (tg && tg.openTelegramLink) tg.openTelegramLink(url); else window.open(url, "_blank", "noopener");
  }

  function setLanguage(lang) {
    if (lang === state.lang) return;
    api("POST", "/language", { language: lang }).then(function () {
      return Promise.all([loadTexts(), api("GET", "/me").then(function (me) { state.me = me; })]);
    }).then(function () {
      // Sentences from the server (statuses, model titles) are in the new language on the next load.
      state.catalogue = null;
      state.loadedVideos = false;
      render();
    }, fail);
  }

  function receiptsView() {
    var entries = null;
    return { name: "receipts", render: function (root) {
      root.appendChild(h("h1", { text: t("receipts_title") }));
      if (entries === null) {
        root.appendChild(h("div.boot", null, h("div.spinner")));
        api("GET", "/ledger").then(function (data) { entries = data.entries; render(); }, fail);
        return;
      }
      if (!entries.length) { root.appendChild(h("div.card.empty", null, h("p", { text: t("receipts_empty") }))); return; }
      var list = h("div.list", { id: "receipts" });
      entries.forEach(function (e) {
        list.appendChild(h("div.row", null,
          h("div.grow", null, h("div", { text: e.reason_text || e.reason }), h("div.hint", { text: date(e.at, true) })),
          h("span.value." + (e.delta >= 0 ? "plus" : "minus"), { text: (e.delta > 0 ? "+" : e.delta < 0 ? "−" : "") + number(Math.abs(e.delta)) })));
      });
      root.appendChild(list);
    } };
  }

  function privacyView() {
    return { name: "privacy", render: function (root) {
      root.appendChild(h("h1", { text: t("privacy_title") }));
      root.appendChild(h("div.card", null, h("p.prose", { text: t("privacy_body") })));
    } };
  }

  function deleteView() {
    var deleted = false;
    return { name: "delete", render: function (root) {
      root.appendChild(h("h1", { text: t("delete_title") }));
      if (deleted) { root.appendChild(h("div.card", null, h("p", { id: "deleted", text: t("delete_done") }))); return; }
      root.appendChild(h("div.card", null, h("p.prose", { text: t("delete_body") }),
        h("div.actions", null, h("button.btn.destructive", { type: "button", id: "delete-confirm", onclick: function (event) {
          var button = event.currentTarget;
          confirmThen(t("delete_confirm"), function () {
            button.disabled = true;
            api("DELETE", "/me", { confirm: true }).then(function () { deleted = true; haptic("success"); render(); },
              function (error) { button.disabled = false; fail(error); });
          });
        } }, t("delete_button")))));
    } };
  }

  // Telegram's native confirmation where there is one, the browser's otherwise.
  function confirmThen(message, action) {
    if (tg && tg.showConfirm) {
      try { tg.showConfirm(message, function (ok) { if (ok) action(); }); return; } catch (e) { /* unsupported */ }
    }
    if (window.confirm(message)) action();
  }

  // --- Stats (admins) ------------------------------------------------------------------------------

  var statsData = null;

  function renderStats(root) {
    root.appendChild(h("h1", { text: t("stats_title") }));
    if (!statsData) {
      root.appendChild(h("div.boot", null, h("div.spinner")));
      api("GET", "/stats").then(function (data) { statsData = data; rerenderIf("stats")(); }, fail);
      return;
    }
    root.appendChild(h("div.card", { id: "stats-summary" }, keyValues(statsData.summary || {})));
    var days = statsData.days || [];
    var charts = window.ReelsmithCharts;
    var labels = days.map(function (d) { return shortDay(d.date); });
    root.appendChild(h("h2", { text: t("stats_revenue") }));
    root.appendChild(h("div.card.chart", { id: "chart-revenue" }, charts.bars(labels, days.map(function (d) { return d.revenue_stars || 0; }),
      t("stats_revenue"))));
    root.appendChild(h("h2", { text: t("stats_generations") }));
    var byModel = days.map(function (d) { return d.generations || {}; });
    var stacked = charts.stacked(labels, byModel, t("stats_generations"));
    root.appendChild(h("div.card.chart", { id: "chart-generations" }, stacked.svg, stacked.legend));
    root.appendChild(h("h2", { text: t("stats_failures") }));
    root.appendChild(h("div.card.chart", { id: "chart-failures" }, charts.line(labels, days.map(function (d) { return d.failure_rate || 0; }),
      t("stats_failures"))));

    root.appendChild(h("h2", { text: t("stats_lookup") }));
    var input = h("input", { type: "search", id: "lookup", placeholder: t("stats_lookup_placeholder"), "aria-label": t("stats_lookup"),
      autocomplete: "off", enterkeyhint: "search" });
    var result = h("div", { id: "lookup-result" });
    var form = h("form.lookup", { onsubmit: function (event) {
      event.preventDefault();
      var q = input.value.trim();
      if (!q) return;
      result.textContent = "";
      api("GET", "/users/" + encodeURIComponent(q)).then(function (facts) {
        result.appendChild(h("div.card", null, keyValues(facts)));
      }, function (error) { result.appendChild(h("div.card", null, h("p.hint", { text: error.message }))); });
    } }, input, h("button.btn.primary", { type: "submit" }, t("stats_lookup_go")));
    root.appendChild(h("div.card", null, form));
    root.appendChild(result);
  }

  function shortDay(iso) {
    var d = new Date(iso + (iso.length === 10 ? "T00:00:00Z" : ""));
    if (isNaN(d)) return iso;
    try { return new Intl.DateTimeFormat(state.lang, { day: "numeric", month: "numeric", timeZone: "UTC" }).format(d); }
    catch (e) { return iso.slice(5); }
  }

  // The server's facts, whatever their shape: a definition list, nested objects as "a · b", lists of
  // records (a user's ledger, generations) one line per record. Known keys have a label in app_stat_*.
  var ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d/;

  function label(key) {
    return state.texts["stat_" + key] !== undefined ? t("stat_" + key) : key.replace(/_/g, " ");
  }

  function shownValue(key, value) {
    if (value === null || value === undefined || value === "") return "—";
    if (typeof value === "number" && /(^|_)rate$/.test(key)) return number(Math.round(value * 1000) / 10) + "%";
    if (typeof value === "number" && /_s$/.test(key)) return t("seconds_short", { n: number(Math.round(value)) });
    if (typeof value === "number") return number(value);
    if (typeof value === "boolean") return value ? "✓" : "—";
    if (typeof value === "string" && ISO.test(value)) return date(value, true);
    if (Array.isArray(value)) {
      return value.map(function (item) {
        if (!item || typeof item !== "object") return shownValue(key, item);
        return Object.keys(item).map(function (k) { return shownValue(k, item[k]); }).join(" · ");
      }).join("\n") || "—";
    }
    return String(value);
  }

  function keyValues(facts) {
    var dl = h("dl.kv");
    (function walk(prefix, key, value) {
      if (value && typeof value === "object" && !Array.isArray(value)) {
        Object.keys(value).forEach(function (k) { walk(prefix ? prefix + " · " + label(k) : label(k), k, value[k]); });
        return;
      }
      dl.appendChild(h("dt", { text: prefix }));
      dl.appendChild(h("dd" + (Array.isArray(value) ? ".records" : ""), { text: shownValue(key, value) }));
    })("", "", facts);
    return dl;
  }

  var SCREENS = { videos: renderVideos, create: renderCreate, buy: renderBuy, account: renderAccount, stats: renderStats };

  // --- start ---------------------------------------------------------------------------------------

  function loadTexts() {
    return api("GET", "/texts").then(function (data) {
      state.texts = data.texts || {};
      state.lang = data.lang || "en";
      document.documentElement.lang = state.lang;
    });
  }

  function showFatal(error) {
    var root = document.getElementById("app");
    root.textContent = "";
    // Before the texts arrive the server's own sentence (it speaks the user's language), else a sign.
    var known = state.texts.error_unauthorized !== undefined;
    var message = known && error && error.status === 401 ? t("error_unauthorized") : (error && error.message) || t("error_generic");
    if (!known && !(error && error.data && error.data.message)) message = "⚠️";
    root.appendChild(h("div.card.empty", { id: "fatal" }, h("p", { text: message }),
      h("button.btn.primary", { type: "button", "aria-label": "↻", onclick: function () { location.reload(); } }, "↻")));
  }

  function start() {
    if (tg) {
      try { tg.ready(); tg.expand(); } catch (e) { /* a stub or an old client */ }
      // Scrolling a long list must not swipe the app closed (Bot API 7.7+).
      try { if (tg.isVersionAtLeast && tg.isVersionAtLeast("7.7")) tg.disableVerticalSwipes(); } catch (e) { /* older */ }
      applyTheme();
      tg.onEvent("themeChanged", applyTheme);
      if (tg.MainButton) tg.MainButton.onClick(onMainButton);
      if (tg.BackButton) tg.BackButton.onClick(onBackButton);
    } else {
      applyTheme();
    }
    loadTexts().then(function () {
      return api("GET", "/me");
    }).then(function (me) {
      state.me = me;
      document.title = t("title");
      render();
      loadCatalogue().then(function () { if (state.tab !== "videos") render(); }, function () { /* on its screen */ });
    }).catch(showFatal);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) schedulePolling(); });
  }

  // For the browser tests and the bench: what the page knows, never used by the page itself.
  window.Reelsmith = { state: state, render: render };
  start();
})();

/* A stand-in for https://telegram.org/js/telegram-web-app.js in the browser tests and the page bench:
   the browser is routed to this file instead (no network). `window.__tgStubConfig` (prepended by
   tests/browser.py) carries the signed init data, the theme and the colour scheme.

   The native parts Telegram draws outside the page (MainButton, BackButton, invoices, confirmations)
   keep their state here for the test to read and press: `Telegram.WebApp.MainButton.press()`.
   `openInvoice` calls `window.__tgPay(link)` (a Playwright binding: the test makes the fake Telegram
   deliver the payment to the bot) and then the page's callback with "paid". */
"use strict";

(function () {
  var config = window.__tgStubConfig || {};
  var handlers = {};
  var calls = [];

  function emit(name) {
    (handlers[name] || []).slice().forEach(function (fn) { fn.call(webApp); });
  }

  function button(extra) {
    var clicks = [];
    var b = {
      isVisible: false,
      show: function () { b.isVisible = true; return b; },
      hide: function () { b.isVisible = false; return b; },
      onClick: function (fn) { clicks.push(fn); return b; },
      offClick: function (fn) { clicks = clicks.filter(function (x) { return x !== fn; }); return b; },
      // Test-only: a tap on the native button.
      press: function () {
        if (!b.isVisible || b.isActive === false) throw new Error("the button is hidden or inactive");
        clicks.slice().forEach(function (fn) { fn(); });
      },
    };
    Object.keys(extra).forEach(function (k) { b[k] = extra[k]; });
    return b;
  }

  var main = button({
    text: "", color: "#2481cc", textColor: "#ffffff", isActive: true, isProgressVisible: false,
  });
  main.setText = function (text) { main.text = text; return main; };
  main.enable = function () { main.isActive = true; return main; };
  main.disable = function () { main.isActive = false; return main; };
  main.showProgress = function () { main.isProgressVisible = true; return main; };
  main.hideProgress = function () { main.isProgressVisible = false; return main; };
  main.setParams = function (params) {
    if ("text" in params) main.text = params.text;
    if ("is_active" in params) main.isActive = Boolean(params.is_active);
    if ("is_visible" in params) main.isVisible = Boolean(params.is_visible);
    return main;
  };

  var webApp = {
    initData: config.initData || "",
    initDataUnsafe: config.initDataUnsafe || {},
    version: "8.0",
    platform: "tdesktop",
    colorScheme: config.colorScheme || "light",
    themeParams: config.themeParams || {},
    isExpanded: false,
    viewportHeight: window.innerHeight,
    MainButton: main,
    BackButton: button({}),
    HapticFeedback: {
      impactOccurred: function () {}, notificationOccurred: function () {}, selectionChanged: function () {},
    },
    isVerticalSwipesEnabled: true,
    isVersionAtLeast: function (version) { return parseFloat(version) <= 8.0; },
    disableVerticalSwipes: function () { webApp.isVerticalSwipesEnabled = false; },
    ready: function () { calls.push(["ready"]); },
    expand: function () { webApp.isExpanded = true; },
    close: function () { calls.push(["close"]); },
    onEvent: function (name, fn) { (handlers[name] = handlers[name] || []).push(fn); },
    offEvent: function (name, fn) { handlers[name] = (handlers[name] || []).filter(function (x) { return x !== fn; }); },
    setHeaderColor: function (c) { calls.push(["setHeaderColor", c]); },
    setBackgroundColor: function (c) { calls.push(["setBackgroundColor", c]); },
    switchInlineQuery: function (query, types) { calls.push(["switchInlineQuery", query, types]); },
    openTelegramLink: function (url) { calls.push(["openTelegramLink", url]); },
    openLink: function (url) { calls.push(["openLink", url]); },
    showConfirm: function (message, callback) { calls.push(["showConfirm", message]); setTimeout(function () { callback(true); }, 0); },
    showAlert: function (message, callback) { calls.push(["showAlert", message]); if (callback) setTimeout(callback, 0); },
    openInvoice: function (link, callback) {
      calls.push(["openInvoice", link]);
      var pay = window.__tgPay ? window.__tgPay(link) : Promise.resolve("cancelled");
      pay.then(function (status) {
        var outcome = status || "paid";
        emit("invoiceClosed");
        if (callback) callback(outcome);
      }, function (error) {
        setTimeout(function () { throw error; }, 0); // the test's payment failed: a page error fails it
      });
    },
    // Test-only: what the page asked Telegram for, and a theme change as Telegram sends it.
    __calls: calls,
    __setTheme: function (scheme, params) {
      webApp.colorScheme = scheme;
      webApp.themeParams = params;
      emit("themeChanged");
    },
  };

  window.Telegram = { WebApp: webApp };
})();

/*
 * The demo shop page's own wording (not the widget's): fills the elements that name a catalog key in
 * data-i18n (text), data-i18n-aria-label, from i18n/shop.<lang>.json (English beneath). Same language rule as
 * the widget: the customer's switch (localStorage "lang"), else ?lang=, else the browser's first language
 * (zh* -> zh). Text only (textContent / attributes), never markup.
 */
(function () {
  "use strict";
  var LANGS = ["en", "zh"];
  function pickLang() {
    var stored = null;
    try { stored = window.localStorage.getItem("lang"); } catch (e) { stored = null; }
    if (LANGS.indexOf(stored) >= 0) return stored;
    var asked = String(new URLSearchParams(location.search).get("lang") || "").toLowerCase().split("-")[0];
    if (LANGS.indexOf(asked) >= 0) return asked;
    var first = String((navigator.languages || [navigator.language])[0] || "en").toLowerCase();
    return first.indexOf("zh") === 0 ? "zh" : "en";
  }
  var lang = pickLang();
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  if (lang === "en") return; // the page is written in English
  var base = (document.currentScript && document.currentScript.src) || location.href;
  fetch(new URL("i18n/shop." + lang + ".json", base).toString(), { cache: "no-cache" })
    .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
    .then(function (words) {
      function apply() {
        document.querySelectorAll("[data-i18n]").forEach(function (node) {
          var w = words[node.getAttribute("data-i18n")];
          if (typeof w === "string") node.textContent = w;
        });
        document.querySelectorAll("[data-i18n-aria-label]").forEach(function (node) {
          var w = words[node.getAttribute("data-i18n-aria-label")];
          if (typeof w === "string") node.setAttribute("aria-label", w);
        });
        var title = document.querySelector("title[data-i18n]");
        if (title && typeof words[title.getAttribute("data-i18n")] === "string") document.title = words[title.getAttribute("data-i18n")];
      }
      if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", apply);
      else apply();
    })
    .catch(function (e) { if (window.console) console.error("the shop page's wording did not load", e); });
})();

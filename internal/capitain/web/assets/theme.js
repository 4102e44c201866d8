// The theme: the one chosen with the Theme button (kept in localStorage), else the system's.
// Loaded in <head> without defer so that the page never flashes the other theme.
(function () {
  var root = document.documentElement;
  var saved = null;
  try { saved = localStorage.getItem("capitain-theme"); } catch (e) {}
  var dark = saved ? saved === "dark" : window.matchMedia("(prefers-color-scheme: dark)").matches;
  root.dataset.theme = dark ? "dark" : "light";
  document.addEventListener("DOMContentLoaded", function () {
    var b = document.getElementById("theme");
    if (!b) return;
    var label = function () {
      b.textContent = root.dataset.theme === "dark" ? "Light theme" : "Dark theme";
      b.setAttribute("aria-pressed", root.dataset.theme === "dark" ? "true" : "false");
    };
    label();
    b.addEventListener("click", function () {
      root.dataset.theme = root.dataset.theme === "dark" ? "light" : "dark";
      try { localStorage.setItem("capitain-theme", root.dataset.theme); } catch (e) {}
      label();
    });
  });
})();

// Every few seconds, fetch this page again and put its new <main> in place of the old one: no flicker, and a link
// or button the reader uses meanwhile is never cancelled by a reload. Not while they type into a field, and not
// when they switched it off.
(() => {
  const seconds = Number(document.currentScript.dataset.seconds);
  const box = document.getElementById("auto-refresh");
  if (!seconds) return;  // an error page
  box.checked = localStorage.getItem("console-refresh") !== "off";
  box.addEventListener("change", () => localStorage.setItem("console-refresh", box.checked ? "on" : "off"));
  const typing = () => {
    const field = document.activeElement;
    return field && field !== box && ["INPUT", "SELECT", "TEXTAREA"].includes(field.tagName);
  };
  const refresh = () => {
    const next = () => setTimeout(refresh, seconds * 1000);
    if (!box.checked || typing()) return next();
    fetch(location.href)
      .then((answer) => answer.text())
      .then((text) => {
        const page = new DOMParser().parseFromString(text, "text/html");
        if (!typing()) document.querySelector("main").replaceWith(page.querySelector("main"));
      })
      .catch(() => {})  // the console itself did not answer: the next round tries again
      .finally(next);
  };
  setTimeout(refresh, seconds * 1000);
})();

// Every page: the language applies as soon as it is chosen (without JavaScript, the Switch button posts it).
(function () {
  "use strict";
  const form = document.getElementById("language-form");
  if (!form) return;
  const button = form.querySelector('button[type="submit"]');
  if (button) button.hidden = true;
  document.getElementById("language-select").addEventListener("change", () => form.submit());
})();

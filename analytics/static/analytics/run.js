// Run page: poll the run's status every second and reload when it has finished.
// A static file (not an inline script) so that it runs under the Content-Security-Policy.
(function () {
  var progress = document.getElementById("run-progress");
  var url = progress && progress.dataset.statusUrl;
  if (!url) { return; }
  function poll() {
    fetch(url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (s) {
      progress.value = s.progress;
      var parts = document.querySelector("[data-run-progress]");
      // The page's language: "{done} of {total} parts" as the server translated it.
      parts.textContent = parts.dataset.template
        .replace("__done__", s.parts_done).replace("__total__", s.parts_total);
      document.querySelector("[data-run-status]").textContent = s.status;
      if (s.finished) { window.location.reload(); } else { setTimeout(poll, 1000); }
    }).catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 1000);
})();

// Short polling for the queue: refresh the list without reloading the page.
(function () {
  var box = document.getElementById("queue");
  if (!box) return;
  var url = box.getAttribute("data-refresh");
  var every = (parseInt(box.getAttribute("data-every"), 10) || 10) * 1000;
  var stamp = document.getElementById("refreshed");
  function refresh() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.redirected || r.status === 401 || r.status === 403) { window.location.reload(); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) {
        if (html === null || html === undefined) return;
        box.innerHTML = html;
        if (stamp) {
          var now = new Date();
          stamp.textContent = "自动刷新 " + now.toLocaleTimeString("zh-CN", { hour12: false });
        }
      })
      .catch(function () { if (stamp) stamp.textContent = "连接中断，稍后重试"; });
  }
  setInterval(refresh, every);
})();

// HealthWatch field outbox: visits saved without a network wait on the phone and are sent once.
//
// Progressive enhancement of the server-rendered field pages; without JavaScript (or without
// IndexedDB) the forms post as plain HTML forms, as before. What this script does:
//  - registers the service worker (/field/sw.js, from surveys/static/surveys/sw.js) and, online,
//    puts the field pages in its cache, so the find, register and visit forms open offline;
//  - offline, a visit form or a registration is not posted: it is stored in IndexedDB (one
//    database per user, "healthwatch-outbox-<user id>") and the page says how many are waiting;
//  - each visit carries the form's submission key (a UUID made when the form was shown). The
//    server stores a key once and answers a repeat with the visit it stored, so a resend after a
//    lost answer, a double tap or two tabs sending at once never stores a visit twice;
//  - sending happens when the network returns (the `online` event), on each field page opened
//    online, and with "Send now" on /field/. A refusal (400) keeps the item with the server's
//    field messages; a lost answer or no network leaves it waiting for the next try;
//  - a resident registered offline is a provisional entry on the phone; its registration goes
//    with each of its visits (the server registers it or finds the one registered meanwhile)
//    and is replaced by the server's resident number after the first answer;
//  - logging out warns about unsent visits, then deletes this user's outbox and the page cache;
//  - the community monitor's sample and sensor reading forms (form[data-outbox=entry], under
//    /monitoring/my/ with a worker of their own) work the same way: online they post as plain
//    forms; offline the entry is kept (with the form's address and submission key) and posted
//    to that form later, which answers in JSON; a key sent again stores nothing more.
// Every text shown comes from the page (json_script "outbox-text"), translated on the server.
(function () {
  "use strict";
  const config = document.getElementById("outbox-config");
  const textBlock = document.getElementById("outbox-text");
  if (!config || !textBlock || !("indexedDB" in window)) return;
  const T = JSON.parse(textBlock.textContent);
  const C = config.dataset;
  const CACHE = "healthwatch-field";
  const fill = (text, values) => text.replace(/\{(\w+)\}/g, (m, k) => (k in values ? values[k] : m));
  // An ISO day (the date input's value) as the pages write it: T.date_pattern is the
  // language's SHORT_DATE_FORMAT ("{d}/{m}/{Y}"), filled in here.
  const shortDate = (iso) => {
    const day = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso || "");
    if (!day) return iso;
    const [, Y, m, d] = day;
    return fill(T.date_pattern || "{Y}-{m}-{d}", { Y, m, d, y: Y.slice(2), n: String(+m), j: String(+d) });
  };

  // --- IndexedDB: "items" (outbox visits, keyed by submission key), "residents" (provisional).
  function openDb() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open("healthwatch-outbox-" + C.user, 1);
      request.onupgradeneeded = () => {
        request.result.createObjectStore("items", { keyPath: "key" });
        request.result.createObjectStore("residents", { keyPath: "id" });
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }
  async function store(name, mode, action) {
    const db = await openDb();
    try {
      return await new Promise((resolve, reject) => {
        const tx = db.transaction(name, mode);
        const request = action(tx.objectStore(name));
        tx.oncomplete = () => resolve(request && request.result);
        tx.onerror = () => reject(tx.error);
      });
    } finally {
      db.close();
    }
  }
  const allItems = () => store("items", "readonly", (s) => s.getAll());
  const getItem = (key) => store("items", "readonly", (s) => s.get(key));
  const putItem = (item) => store("items", "readwrite", (s) => s.put(item));
  const deleteItem = (key) => store("items", "readwrite", (s) => s.delete(key));
  const getResident = (id) => store("residents", "readonly", (s) => s.get(id));
  const putResident = (r) => store("residents", "readwrite", (s) => s.put(r));

  const newKey = () =>
    crypto.randomUUID
      ? crypto.randomUUID()
      : "10000000-1000-4000-8000-100000000000".replace(/[018]/g, (c) =>
          (c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16));
  // Keys this phone has sent or put in the outbox: a page shown again from the worker's cache
  // carries the key it had when it was cached, which must not serve a second visit.
  const USED = "healthwatch-used-keys-" + C.user;
  const usedKeys = () => JSON.parse(localStorage.getItem(USED) || "[]");
  const markUsed = (key) =>
    localStorage.setItem(USED, JSON.stringify([key, ...usedKeys().filter((k) => k !== key)].slice(0, 500)));
  const fields = (form) =>
    Array.from(new FormData(form).entries()).filter(([name]) => name !== "csrfmiddlewaretoken");

  // --- Status line ("saved on this phone, not yet sent — 3 visits waiting").
  async function showStatus(prefix) {
    const status = document.getElementById("outbox-status");
    const waiting = (await allItems()).filter((i) => i.state !== "refused").length;
    const parts = prefix ? [prefix] : [];
    if (waiting === 1) parts.push(T.waiting_one);
    if (waiting > 1) parts.push(fill(T.waiting_many, { n: waiting }));
    status.textContent = parts.join(" — ");
    status.hidden = parts.length === 0;
    await renderList();
  }

  // --- The outbox list on /field/.
  async function residentLabel(item) {
    if (item.resident) return fill(T.known_resident, { pk: item.resident });
    const r = await getResident(item.provisional);
    if (r && r.pk) return fill(T.known_resident, { pk: r.pk });
    return r ? fill(T.new_resident, { year: r.birthYear, area: r.areaName }) : "?";
  }
  async function renderList() {
    const list = document.querySelector("[data-outbox-list]");
    if (!list) return;
    const items = (await allItems()).sort((a, b) => a.created - b.created);
    const shown = [];
    for (const item of items) {
      const li = document.createElement("li");
      li.dataset.outboxItem = item.key;
      li.dataset.state = item.state;
      const title = document.createElement("strong");
      title.textContent = item.url ? item.title : shortDate(item.visitedOn) + " — " + (await residentLabel(item));
      const state = document.createElement("span");
      state.className = "muted";
      state.textContent = " " + (T["state_" + item.state] || T.state_waiting);
      li.append(title, state);
      if (item.errors && item.errors.length) {
        const errors = document.createElement("ul");
        errors.className = "field-error";
        for (const e of item.errors) {
          const line = document.createElement("li");
          line.dataset.errorFor = e.field;
          line.textContent = (e.label ? e.label + ": " : "") + e.message;
          errors.append(line);
        }
        li.append(errors);
      }
      const edit = document.createElement("a");
      edit.href = (item.url || C.offlineVisitUrl) + "?item=" + encodeURIComponent(item.key);
      edit.textContent = T.edit;
      const discard = document.createElement("button");
      discard.type = "button";
      discard.className = "link";
      discard.textContent = T.discard;
      discard.addEventListener("click", async () => {
        if (!window.confirm(T.discard_confirm)) return;
        await deleteItem(item.key);
        await showStatus("");
      });
      const actions = document.createElement("p");
      actions.append(edit, " ", discard);
      li.append(actions);
      shown.push(li);
    }
    list.replaceChildren(...shown); // at once: two renderings never interleave their rows
    list.closest("section").hidden = items.length === 0;
    list.dataset.count = String(items.length);
  }

  // --- Sending. One sender at a time per phone (Web Locks where the browser has them).
  function csrfToken() {
    const cookie = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
    return cookie ? decodeURIComponent(cookie.slice("csrftoken=".length)) : C.csrf;
  }
  async function sendOne(item) {
    const body = new URLSearchParams(item.fields);
    body.set("submission_key", item.key);
    let provisional = null;
    if (item.url) {
      // an entry of a form that takes its own fields (the community monitor's forms)
    } else if (item.resident) {
      body.set("resident", item.resident);
    } else {
      provisional = await getResident(item.provisional);
      if (provisional && provisional.pk) body.set("resident", provisional.pk);
      else if (provisional) provisional.fields.forEach(([k, v]) => body.append(k, v));
    }
    item.state = "sending";
    await putItem(item);
    let response;
    try {
      response = await fetch(item.url || C.sendUrl, {
        method: "POST",
        body,
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
      });
    } catch (lost) {
      item.state = "waiting"; // no network, or the answer was lost: the same key goes again
      await putItem(item);
      return "offline";
    }
    const json = (response.headers.get("Content-Type") || "").includes("application/json");
    if (response.redirected || !json || response.status === 403) {
      item.state = "waiting";
      await putItem(item);
      return "login";
    }
    const answer = await response.json();
    if (response.ok) {
      if (provisional && !provisional.pk) {
        // The server's resident replaces the provisional entry; the study ID leaves the phone.
        await putResident({ id: provisional.id, pk: answer.resident, fields: [] });
      }
      await deleteItem(item.key);
      return "sent";
    }
    if (response.status === 400) {
      item.state = "refused";
      item.errors = answer.errors || [];
      await putItem(item);
      return "refused";
    }
    item.state = "waiting";
    await putItem(item);
    return "server";
  }
  async function sendAll() {
    const run = async () => {
      const counts = { sent: 0, refused: 0, offline: 0, login: 0, server: 0 };
      for (const item of await allItems()) {
        if (item.state === "refused") continue;
        const outcome = await sendOne(item);
        counts[outcome] += 1;
        if (outcome === "offline" || outcome === "login") break;
      }
      const said = [];
      if (counts.sent) said.push(fill(T.sent_some, { n: counts.sent }));
      if (counts.refused) said.push(fill(T.refused_some, { n: counts.refused }));
      if (counts.offline) said.push(T.no_network);
      if (counts.login) said.push(T.log_in_again);
      if (counts.server) said.push(T.server_error);
      await showStatus(said.join(" "));
      document.documentElement.dataset.outboxSent = String(Date.now());
    };
    return navigator.locks ? navigator.locks.request("healthwatch-outbox-send", run) : run();
  }

  // --- Forms. Online they post as before; offline they are kept on the phone.
  function enhanceFind(form) {
    form.addEventListener("submit", (event) => {
      if (navigator.onLine) return;
      event.preventDefault();
      const input = form.querySelector('[name="study_id"]');
      sessionStorage.setItem("healthwatch-study-id", input ? input.value : "");
      window.location.href = C.registerUrl;
    });
  }
  function enhanceRegister(form) {
    const typed = sessionStorage.getItem("healthwatch-study-id");
    if (typed) {
      form.querySelector('[name="study_id"]').value = typed;
      sessionStorage.removeItem("healthwatch-study-id");
    }
    form.addEventListener("submit", async (event) => {
      if (navigator.onLine) return;
      event.preventDefault();
      const area = form.querySelector('[name="area"]');
      const resident = {
        id: newKey(),
        fields: fields(form).map(([k, v]) => ["register-" + k, v]),
        birthYear: (form.querySelector('[name="birth_year"]') || {}).value || "",
        areaName: area && area.selectedOptions ? area.selectedOptions[0].textContent.trim() : "",
      };
      await putResident(resident);
      sessionStorage.setItem("healthwatch-register-notice", "1");
      window.location.href = C.offlineVisitUrl + "?provisional=" + resident.id;
    });
  }
  // An outbox item opened again for editing: its values (checkboxes are in its fields only when
  // ticked), the fields the server refused, and its own key so that it is still sent once.
  function restore(form, keyInput, editing) {
    form.querySelectorAll("input[type=checkbox]").forEach((box) => { box.checked = false; });
    for (const [name, value] of editing.fields) {
      const input = form.elements.namedItem(name);
      if (!input) continue;
      if (input.type === "checkbox") input.checked = true;
      else input.value = value;
    }
    for (const e of editing.errors || []) {
      const input = form.elements.namedItem(e.field);
      if (input && input.setAttribute) input.setAttribute("aria-invalid", "true");
    }
    keyInput.value = editing.key;
  }
  // After a form was kept on the phone: back to the outbox after an edit; otherwise a clean form
  // with a new key (the next one is another submission), then send if the network is there.
  async function afterKept(form, keyInput, editing) {
    if (editing) {
      window.location.href = C.workspaceUrl;
      return;
    }
    form.reset();
    keyInput.value = newKey();
    window.scrollTo(0, 0);
    await showStatus(T.saved);
    if (navigator.onLine) await sendAll();
  }
  async function enhanceVisit(form) {
    const params = new URLSearchParams(window.location.search);
    const keyInput = form.querySelector('[name="submission_key"]');
    const label = document.querySelector("[data-outbox-resident]");
    const pathResident = window.location.pathname.match(/\/residents\/(\d+)\/visits\/new\/$/);
    let target = form.dataset.resident
      ? { resident: form.dataset.resident }
      : pathResident
        ? { resident: pathResident[1] }
        : params.get("provisional")
          ? { provisional: params.get("provisional") }
          : null;
    const editing = params.get("item") ? await getItem(params.get("item")) : null;
    if (editing) {
      target = editing.resident ? { resident: editing.resident } : { provisional: editing.provisional };
      restore(form, keyInput, editing);
    } else if (!form.action.endsWith(C.sendUrl) && !usedKeys().includes(keyInput.value)) {
      // a known resident's form as the server made it: its key is new, keep it
    } else {
      keyInput.value = newKey(); // the outbox form, or a form shown again from the cache
    }
    if (label) {
      label.textContent = target
        ? await residentLabel({ resident: target.resident, provisional: target.provisional })
        : T.no_resident;
    }
    if (sessionStorage.getItem("healthwatch-register-notice")) {
      sessionStorage.removeItem("healthwatch-register-notice");
      await showStatus(T.register_offline);
    }
    const offlineOnly = !form.action.endsWith(C.sendUrl);
    form.addEventListener("submit", async (event) => {
      if (offlineOnly && navigator.onLine) {
        markUsed(keyInput.value); // a known resident's form posts as before
        return;
      }
      event.preventDefault();
      if (!target) return;
      const key = keyInput.value || newKey();
      markUsed(key);
      await putItem({
        key,
        ...target,
        fields: fields(form).filter(([name]) => name !== "submission_key"),
        visitedOn: (form.querySelector('[name="visited_on"]') || {}).value || "",
        state: "waiting",
        errors: [],
        created: editing ? editing.created : Date.now(),
      });
      await afterKept(form, keyInput, editing);
    });
  }
  // A community monitor's sample or sensor reading: a plain form online; offline kept on the
  // phone and posted to the same form later (it answers JSON when asked).
  async function enhanceEntry(form) {
    const params = new URLSearchParams(window.location.search);
    const keyInput = form.querySelector('[name="submission_key"]');
    const editing = params.get("item") ? await getItem(params.get("item")) : null;
    if (editing) {
      restore(form, keyInput, editing);
    } else if (usedKeys().includes(keyInput.value)) {
      keyInput.value = newKey(); // a form shown again from the phone's copy
    }
    form.addEventListener("submit", async (event) => {
      if (navigator.onLine && !editing) {
        markUsed(keyInput.value); // posts as a plain form; a double tap sends the same key
        return;
      }
      event.preventDefault();
      const key = keyInput.value || newKey();
      markUsed(key);
      const values = Object.fromEntries(fields(form));
      await putItem({
        key,
        url: window.location.pathname,
        title: fill(T[form.dataset.outboxTitle] || "{code}", values),
        fields: fields(form).filter(([name]) => name !== "submission_key"),
        state: "waiting",
        errors: [],
        created: editing ? editing.created : Date.now(),
      });
      await afterKept(form, keyInput, editing);
    });
  }
  function enhanceLogout() {
    document.querySelectorAll("form").forEach((form) => {
      if (!form.action.endsWith(C.logoutUrl)) return;
      form.addEventListener("submit", async (event) => {
        if (form.dataset.outboxCleared) return;
        event.preventDefault();
        const unsent = (await allItems()).length;
        if (unsent && !window.confirm(fill(T.logout_warning, { n: unsent }))) return;
        await new Promise((resolve) => {
          const request = indexedDB.deleteDatabase("healthwatch-outbox-" + C.user);
          request.onsuccess = request.onerror = request.onblocked = resolve;
        });
        if ("caches" in window) await caches.delete(CACHE);
        localStorage.removeItem("healthwatch-field-user");
        localStorage.removeItem(USED);
        form.dataset.outboxCleared = "1";
        form.submit();
      });
    });
  }

  // --- Offline copies of the field pages, for this user only.
  async function prepareOffline() {
    if (!("serviceWorker" in navigator) || !("caches" in window)) return;
    if (localStorage.getItem("healthwatch-field-user") !== C.user) {
      await caches.delete(CACHE); // pages cached for someone else never show to this user
      localStorage.setItem("healthwatch-field-user", C.user);
    }
    await navigator.serviceWorker.register(C.swUrl, { scope: C.workspaceUrl });
    if (navigator.onLine) {
      const cache = await caches.open(CACHE);
      await Promise.all(
        C.precache.split(" ").filter(Boolean).map((url) => cache.add(url).catch(() => null)),
      );
    }
    await navigator.serviceWorker.ready;
    document.documentElement.dataset.outboxReady = "1";
  }

  document.querySelectorAll("form[data-outbox=find]").forEach(enhanceFind);
  document.querySelectorAll("form[data-outbox=register]").forEach(enhanceRegister);
  document.querySelectorAll("form[data-outbox=visit]").forEach(enhanceVisit);
  document.querySelectorAll("form[data-outbox=entry]").forEach(enhanceEntry);
  enhanceLogout();
  const sendButton = document.querySelector("[data-outbox-send]");
  if (sendButton) sendButton.addEventListener("click", () => sendAll());
  window.addEventListener("online", () => sendAll());
  showStatus("").then(() => (navigator.onLine ? sendAll() : null));
  prepareOffline().catch(() => null);
  window.healthwatchOutbox = { sendAll, allItems }; // for tests and the curious
})();

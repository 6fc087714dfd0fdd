// HealthWatch field service worker: the field pages open without a network.
//
// Served at /field/sw.js (surveys.views.service_worker) so that its scope is /field/. It only
// answers GET requests of this site; posts (forms, the outbox) always go to the network.
//  - Field pages (navigations under /field/): network first, and a copy of each HTML page that
//    answered 200 is kept in the cache "healthwatch-field"; without a network the copy is shown.
//    A visit form of a resident never opened online falls back to /field/visits/offline/ (the
//    same form; outbox.js reads the resident from the address), anything else to /field/.
//  - Scripts, styles, images and fonts: the cached copy, refreshed in the background.
// outbox.js fills the cache after login (the pages a worker needs) and deletes it at logout and
// when another user logs in on the same phone, so no page outlives its user's session here.
"use strict";

const CACHE = "healthwatch-field";
const SCOPE = new URL(self.registration.scope).pathname; // "/field/"

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

async function page(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    const html = (response.headers.get("Content-Type") || "").startsWith("text/html");
    if (response.ok && response.type === "basic" && !response.redirected && html) {
      await cache.put(request.url.split("?")[0], response.clone());
    }
    return response;
  } catch (offline) {
    const url = new URL(request.url);
    const options = { ignoreSearch: true, ignoreVary: true };
    const copy =
      (await cache.match(url.pathname, options)) ||
      (/\/residents\/\d+\/visits\/new\/$/.test(url.pathname)
        ? await cache.match(SCOPE + "visits/offline/", options)
        : await cache.match(SCOPE, options));
    return copy || Response.error();
  }
}

async function asset(request) {
  const cache = await caches.open(CACHE);
  const copy = await cache.match(request, { ignoreVary: true });
  const fresh = fetch(request)
    .then((response) => {
      if (response.ok && response.type === "basic") cache.put(request, response.clone());
      return response;
    })
    .catch(() => null);
  return copy || (await fresh) || Response.error();
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && url.pathname.startsWith(SCOPE)) {
    event.respondWith(page(request));
  } else if (["script", "style", "image", "font"].includes(request.destination)) {
    event.respondWith(asset(request));
  }
});

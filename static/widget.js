/* The chat widget's loader: the one script a store adds to its pages,
 *
 *   <script src="https://chat.example.com/widget.js" defer
 *           data-title="Acme help" data-greeting="Hi! Ask us anything." data-accent="#0a7d5a"
 *           data-position="bottom-right"
 *           data-external-id="cust-42" data-name="Ann" data-email="ann@example.com"
 *           data-hash="<hex HMAC-SHA256(identity secret, external id)>"></script>
 *
 * It runs on the store's page, so it is a plain script (no module, no imports, no build step)
 * that touches nothing of the page but one element of its own: a launcher button in a corner,
 * inside a shadow root that holds every style (none leaks in or out). The chat itself is an
 * iframe of the chat server's /widget page (its origin taken from this script's src), loaded
 * when the visitor opens it, or at once, hidden, when this browser already has a conversation
 * (so the closed launcher can show its unread count and the start of a new reply).
 *
 * The page and the iframe talk by postMessage, each checking the other's origin: events are
 * taken only from the chat server's origin and the iframe's window, and the iframe takes
 * commands only from its parent with the origin it was given. The API: window.ChatWidget =
 * { open(), close(), identify({external_id, name, email, hash}), reset() }.
 */
(function () {
  'use strict';
  if (window.ChatWidget && window.ChatWidget.version) return; // added twice: the first one serves

  const script = document.currentScript || Array.prototype.slice.call(document.scripts).reverse()
    .find(function (s) { return /\/widget\.js(?:[?#].*)?$/.test(s.src); });
  if (!script || !script.src) return;
  const SERVER = new URL(script.src, location.href).origin;
  const data = script.dataset;
  const PHONE_MAX = 599;
  // This browser has a conversation: load the iframe at once (a flag only, never the token).
  const ACTIVE_KEY = 'chat-widget:active:' + SERVER;

  function clip(value, fallback, max) {
    const text = String(value == null ? '' : value).replace(/\s+/g, ' ').trim();
    return text ? text.slice(0, max) : fallback;
  }
  function colour(value) {
    const v = String(value || '').trim();
    return v && v.length <= 40 && window.CSS && CSS.supports('color', v) ? v : null;
  }

  const options = {
    title: clip(data.title, 'Chat with us', 60),
    greeting: clip(data.greeting, 'Hi! How can we help you today?', 300),
    accent: colour(data.accent) || '#4c59d6',
    position: data.position === 'bottom-left' ? 'bottom-left' : 'bottom-right',
  };
  let identity = data.externalId ? {
    external_id: data.externalId, name: data.name || '', email: data.email || undefined, hash: data.hash || '',
  } : null;

  // ---------------------------------------------------------------- storage (of the store)

  function flagged() {
    try { return localStorage.getItem(ACTIVE_KEY) === '1'; } catch (_) { return false; }
  }
  function flag(on) {
    try { if (on) localStorage.setItem(ACTIVE_KEY, '1'); else localStorage.removeItem(ACTIVE_KEY); } catch (_) { /* storage off */ }
  }

  // ---------------------------------------------------------------- the launcher

  const CSS_TEXT = [
    ':host { all: initial; }',
    '.root { --accent: ' + options.accent + '; position: fixed; bottom: 20px; z-index: 2147483000;',
    '  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2030; }',
    '.root.right { right: 20px; } .root.left { left: 20px; }',
    '.launcher { all: unset; box-sizing: border-box; position: relative; width: 60px; height: 60px;',
    '  border-radius: 50%; background: var(--accent); color: #fff; cursor: pointer; display: grid;',
    '  place-items: center; box-shadow: 0 6px 20px rgba(15, 20, 40, .28); transition: transform .15s ease; }',
    '.launcher:hover { transform: scale(1.05); }',
    '.launcher:focus-visible { outline: 3px solid #fff; box-shadow: 0 0 0 6px var(--accent), 0 6px 20px rgba(15,20,40,.28); }',
    '.launcher svg { width: 28px; height: 28px; fill: currentColor; }',
    '.launcher .when-open { display: none; } .root.open .launcher .when-open { display: block; }',
    '.root.open .launcher .when-closed { display: none; }',
    '.badge { position: absolute; top: -4px; right: -4px; min-width: 22px; height: 22px; padding: 0 6px;',
    '  box-sizing: border-box; border-radius: 11px; background: #e5384d; color: #fff; font-size: 12px;',
    '  font-weight: 700; line-height: 22px; text-align: center; border: 2px solid #fff; }',
    '.badge[hidden], .bubble[hidden] { display: none; }',
    '.panel { position: absolute; bottom: 76px; width: 380px; height: min(640px, calc(100vh - 120px));',
    '  border-radius: 16px; overflow: hidden; background: #fff; box-shadow: 0 12px 48px rgba(15, 20, 40, .3);',
    '  opacity: 0; visibility: hidden; transform: translateY(12px) scale(.98); transform-origin: bottom right;',
    '  transition: opacity .16s ease, transform .16s ease, visibility 0s linear .16s; }',
    '.root.right .panel { right: 0; } .root.left .panel { left: 0; transform-origin: bottom left; }',
    '.root.open .panel { opacity: 1; visibility: visible; transform: none; transition: opacity .16s ease, transform .16s ease; }',
    '.panel iframe { border: 0; width: 100%; height: 100%; display: block; color-scheme: normal; }',
    '.notice { box-sizing: border-box; height: 100%; padding: 28px 24px; display: flex; flex-direction: column; gap: 12px; }',
    '.notice-head { display: flex; justify-content: space-between; align-items: center; }',
    '.notice h2 { margin: 0; font-size: 17px; }',
    '.notice p { margin: 0; color: #4a4f63; }',
    '.notice code { font: 12px ui-monospace, monospace; background: #f1f2f6; padding: 2px 5px; border-radius: 4px; word-break: break-all; }',
    '.x { all: unset; cursor: pointer; width: 32px; height: 32px; border-radius: 8px; display: grid; place-items: center; color: #4a4f63; }',
    '.x:hover, .x:focus-visible { background: #f1f2f6; } .x svg { width: 18px; height: 18px; fill: currentColor; }',
    '.bubble { all: unset; box-sizing: border-box; position: absolute; bottom: 72px; width: 260px; padding: 12px 14px;',
    '  background: #fff; border-radius: 14px; box-shadow: 0 8px 28px rgba(15, 20, 40, .22); cursor: pointer; }',
    '.root.right .bubble { right: 0; } .root.left .bubble { left: 0; }',
    '.bubble:focus-visible { outline: 2px solid var(--accent); }',
    '.bubble-from { display: block; font-weight: 600; font-size: 13px; margin-bottom: 2px; }',
    '.bubble-text { display: block; color: #3a3f52; overflow: hidden; text-overflow: ellipsis;',
    '  display: -webkit-box; -webkit-line-clamp: 3; -webkit-box-orient: vertical; }',
    '@media (max-width: ' + PHONE_MAX + 'px) {',
    '  .root { bottom: 16px; } .root.right { right: 16px; } .root.left { left: 16px; }',
    '  .root.open .panel { position: fixed; inset: 0; width: 100%; height: 100%; border-radius: 0; }',
    '  .root.open .launcher { display: none; }',
    '}',
    '@media (prefers-reduced-motion: reduce) { .panel, .launcher { transition: none; } }',
  ].join('\n');

  const ICON_CHAT = 'M12 3C6.5 3 2 6.8 2 11.5c0 2.4 1.2 4.6 3.1 6.1L4 21.5l4.6-2.1c1.1.3 2.2.5 3.4.5 5.5 0 10-3.8 10-8.5S17.5 3 12 3Z';
  const ICON_CLOSE = 'M18.3 5.7 12 12l6.3 6.3-1.4 1.4L10.6 13.4 4.3 19.7 2.9 18.3 9.2 12 2.9 5.7l1.4-1.4 6.3 6.3 6.3-6.3 1.4 1.4Z';

  function el(tag, props, children) {
    const node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (k) {
      if (k === 'text') node.textContent = props[k];
      else if (k === 'class') node.className = props[k];
      else node.setAttribute(k, props[k]);
    });
    (children || []).forEach(function (c) { if (c) node.append(c); });
    return node;
  }
  function icon(d, cls) {
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    if (cls) svg.setAttribute('class', cls);
    const path = document.createElementNS(ns, 'path');
    path.setAttribute('d', d);
    svg.append(path);
    return svg;
  }

  const host = el('div', { id: 'chat-widget', 'data-chat-widget': '' });
  const shadow = host.attachShadow({ mode: 'open' });
  if (shadow.adoptedStyleSheets !== undefined && window.CSSStyleSheet) {
    // A constructed sheet: no <style> element, which a strict store CSP could refuse.
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS_TEXT);
    shadow.adoptedStyleSheets = [sheet];
  } else {
    shadow.append(el('style', { text: CSS_TEXT }));
  }
  const badge = el('span', { class: 'badge', 'aria-hidden': 'true', hidden: '' });
  const launcher = el('button', {
    class: 'launcher', type: 'button', 'aria-expanded': 'false', 'aria-controls': 'chat-widget-panel',
    'aria-haspopup': 'dialog',
  }, [icon(ICON_CHAT, 'when-closed'), icon(ICON_CLOSE, 'when-open'), badge]);
  const bubbleFrom = el('span', { class: 'bubble-from' });
  const bubbleText = el('span', { class: 'bubble-text' });
  const bubble = el('button', { class: 'bubble', type: 'button', hidden: '' }, [bubbleFrom, bubbleText]);
  const panel = el('div', { class: 'panel', id: 'chat-widget-panel', role: 'dialog', 'aria-label': options.title });
  const root = el('div', { class: 'root ' + (options.position === 'bottom-left' ? 'left' : 'right') }, [panel, bubble, launcher]);
  shadow.append(root);

  // ---------------------------------------------------------------- state

  const state = {
    open: false,
    configured: null, // the answer of /widget/config: true, false, or null before it
    frame: null,      // the iframe, once created
    frameReady: false,
    queue: [],        // commands waiting for the iframe's `ready`
    unread: 0,
    preview: null,    // {from, text} of the newest reply while closed
    nextId: 1,
    waiting: new Map(), // command id -> resolve
  };

  function label() {
    const n = state.unread;
    launcher.setAttribute('aria-label', (state.open ? 'Close chat: ' : 'Open chat: ') + options.title
      + (n > 0 && !state.open ? ', ' + (n > 999 ? '999+' : n) + ' unread' : ''));
  }

  function renderBadge() {
    const n = state.unread;
    badge.textContent = n > 999 ? '999+' : String(n);
    badge.hidden = n <= 0 || state.open;
    const showBubble = !state.open && n > 0 && !!state.preview;
    bubble.hidden = !showBubble;
    if (showBubble) {
      bubbleFrom.textContent = state.preview.from || options.title;
      const text = state.preview.text || '';
      bubbleText.textContent = text.length > 140 ? text.slice(0, 140) + '…' : text;
      bubble.setAttribute('aria-label', 'New message from ' + bubbleFrom.textContent + ': ' + bubbleText.textContent + '. Open chat');
    }
    label();
  }

  // ---------------------------------------------------------------- the iframe

  const configured = fetch(SERVER + '/widget/config?origin=' + encodeURIComponent(location.origin), {
    mode: 'cors', credentials: 'omit', cache: 'no-store',
  }).then(function (res) { return res.ok ? res.json() : null; })
    .then(function (body) { state.configured = !!(body && body.allowed); return state.configured; },
      function () { state.configured = true; return true; }); // unreachable now: the iframe will say so

  /** The store page the visitor is on, for the staff's customer panel (without its #fragment);
   *  empty when too long to be shown (the server takes up to 2000 characters). */
  function here() {
    const page = location.origin + location.pathname + location.search;
    return /^https?:\/\//.test(page) && page.length <= 2000 ? page : '';
  }

  function frameUrl() {
    const q = new URLSearchParams({ origin: location.origin, title: options.title, greeting: options.greeting, accent: options.accent, page: here() });
    return SERVER + '/widget?' + q.toString();
  }

  /** The iframe, created (hidden until opened) on first need; null when this site is not set up. */
  function ensureFrame() {
    return configured.then(function (ok) {
      if (!ok) return null;
      if (!state.frame) {
        state.frame = el('iframe', {
          src: frameUrl(), title: options.title, allow: 'clipboard-write',
          referrerpolicy: 'no-referrer',
        });
        panel.replaceChildren(state.frame);
      }
      return state.frame;
    });
  }

  function post(message) {
    if (!state.frame || !state.frameReady) { state.queue.push(message); return; }
    state.frame.contentWindow.postMessage(Object.assign({ chatWidget: 1 }, message), SERVER);
  }

  /** A command whose answer (`result` with its id) resolves the returned promise. */
  function ask(type, fields) {
    return ensureFrame().then(function (frame) {
      if (!frame) return { ok: false, error: 'not_configured' };
      return new Promise(function (resolve) {
        const id = state.nextId++;
        state.waiting.set(id, resolve);
        post(Object.assign({ type: type, id: id }, fields));
      });
    });
  }

  window.addEventListener('message', function (ev) {
    // Only the chat server's iframe speaks to us.
    if (ev.origin !== SERVER || !state.frame || ev.source !== state.frame.contentWindow) return;
    const m = ev.data;
    if (!m || m.chatWidget !== 1 || typeof m.type !== 'string') return;
    switch (m.type) {
      case 'ready': {
        state.frameReady = true;
        flag(!!m.session);
        if (identity) { post({ type: 'identify', id: 0, identity: identity }); identity = null; }
        if (state.open) post({ type: 'open', page: here() });
        const queued = state.queue;
        state.queue = [];
        queued.forEach(post);
        break;
      }
      case 'state':
        state.unread = Math.max(0, Number(m.unread) || 0);
        if (m.preview && typeof m.preview.text === 'string') state.preview = { from: String(m.preview.from || ''), text: m.preview.text };
        if (state.unread === 0) state.preview = null;
        flag(!!m.session);
        renderBadge();
        break;
      case 'close':
        close(true);
        break;
      case 'result': {
        const resolve = state.waiting.get(m.id);
        if (resolve) { state.waiting.delete(m.id); resolve({ ok: !!m.ok, error: m.error || null }); }
        break;
      }
      default:
        break;
    }
  });

  // ---------------------------------------------------------------- open and close

  function showNotice() {
    const closeBtn = el('button', { class: 'x', type: 'button', 'aria-label': 'Close' }, [icon(ICON_CLOSE)]);
    closeBtn.addEventListener('click', function () { close(true); });
    panel.replaceChildren(el('div', { class: 'notice' }, [
      el('div', { class: 'notice-head' }, [el('h2', { text: options.title }), closeBtn]),
      el('p', { text: 'The chat is not set up for this site yet, so it cannot open here.' }),
      el('p', { text: 'If this is your store: open the support console’s Settings panel and add this site’s origin, ' }),
      el('p', {}, [el('code', { text: location.origin })]),
      el('p', { text: 'to the chat server’s --embed-origins (or CHAT_EMBED_ORIGINS), then restart it.' }),
    ]));
    closeBtn.focus();
  }

  function open() {
    if (state.open) return;
    state.open = true;
    root.classList.add('open');
    launcher.setAttribute('aria-expanded', 'true');
    renderBadge();
    ensureFrame().then(function (frame) {
      if (!state.open) return;
      if (!frame) { showNotice(); return; }
      frame.focus();
      post({ type: 'open', page: here() });
    });
  }

  /** Closes the panel; `refocus` moves focus back to the launcher (it was inside the widget). */
  function close(refocus) {
    if (!state.open) return;
    state.open = false;
    root.classList.remove('open');
    launcher.setAttribute('aria-expanded', 'false');
    if (state.frame && state.frameReady) post({ type: 'hide' });
    renderBadge();
    if (refocus) launcher.focus();
  }

  launcher.addEventListener('click', function () { if (state.open) close(true); else open(); });
  bubble.addEventListener('click', open);
  shadow.addEventListener('keydown', function (ev) {
    if (ev.key === 'Escape' && state.open) { ev.stopPropagation(); close(true); }
  });

  // ---------------------------------------------------------------- the API

  window.ChatWidget = Object.freeze({
    version: 1,
    open: open,
    close: function () { close(false); },
    /** Signs the visitor in as the store's customer; resolves to {ok, error}. */
    identify: function (who) {
      const i = who || {};
      return ask('identify', { identity: {
        external_id: String(i.external_id || ''), name: String(i.name || ''),
        email: i.email ? String(i.email) : undefined, hash: String(i.hash || ''),
      } });
    },
    /** Store sign-out: forgets the customer and the conversation in this browser. */
    reset: function () {
      flag(false);
      state.unread = 0;
      state.preview = null;
      renderBadge();
      return ask('reset', {});
    },
  });

  function mount() {
    document.body.append(host);
    renderBadge();
    // A conversation in this browser, or a customer the store names: load it now (hidden).
    if (flagged() || identity) ensureFrame();
  }
  if (document.body) mount();
  else document.addEventListener('DOMContentLoaded', mount);
}());

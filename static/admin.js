// The staff support console (/admin): an inbox of every customer's support conversation, the
// open conversation with its reply box, moderation (delete, ban, announcements) and live figures.
// An ES module, no build step, no dependencies, under a strict CSP (everything is wired up here
// with addEventListener).
//
// What both pages do is in the shared modules of static/lib/ (the README has the list): the
// connection and its recovery, pending sends and their acks, the room model, the message list,
// formatting and DOM helpers. This file keeps what is the console's own: the inbox, the thread
// header and customer panel, moderation, the figures, the phone layout, the look of a message.
//
// Security rule: every piece of user-supplied text (chat text, names, room names, server
// messages) goes into the DOM through textContent / text nodes only (h() of lib/dom.js), never
// innerHTML.
//
// Data flow:
//   HTTP  /api/admin/conversations (every 15 s) and /api/admin/stats (every 5 s);
//         moderation calls (delete, ban/unban, announcements); the open conversation's first
//         page and older pages while the socket is down.
//   WS    /ws: `support_activity` keeps the inbox live for every support room; the open
//         conversation is the client's only room: joined (with `since` after a reconnect)
//         and kept by lib/client.js from `joined` / `message` / `history` / `deleted` / ...
import { h, svgIcon, reconcile, toast } from './lib/dom.js';
import { clockTime, fullTime, relTime, unreadText, charCount, initial, oneLine } from './lib/format.js';
import { createApi } from './lib/api.js';
import { ChatClient } from './lib/client.js';
import { dropMessage, lastMessage } from './lib/rooms.js';
import { MessageList } from './lib/messages.js';
import { bindComposer } from './lib/composer.js';
import { loadSettings } from './admin-settings.js';
import { ApiKeysPanel } from './api-keys.js';

// ---------------------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------------------

const TOKEN_KEY = 'chat.admin.token';
const STAFF_ONLY = 'This console is for staff only.';
const STATS_EVERY_MS = 5000;
const CONVERSATIONS_EVERY_MS = 15000;
const CLOCK_EVERY_MS = 30000;        // refresh relative times ("3m")
const ROOM_RE = /^(?:[a-z0-9][a-z0-9_-]{0,63}|support:[1-9][0-9]*)$/;
const STAT_KEYS = ['connections', 'online_users', 'rooms', 'messages_per_minute',
  'messages_total', 'users_total'];

// ---------------------------------------------------------------------------------------------
// DOM references
// ---------------------------------------------------------------------------------------------

const $ = (sel) => document.querySelector(sel);
const dom = {
  signin: $('#admin-signin'), signinForm: $('#admin-signin-form'),
  username: $('#admin-username'), password: $('#admin-password'),
  login: $('#admin-login'), error: $('#admin-error'),
  console: $('#console'), signOut: $('#admin-sign-out'), me: $('#admin-me'),
  conn: $('#admin-connection'), connLabel: $('#admin-connection-label'),
  stats: $('#stats'),
  list: $('#conversation-list'), listEmpty: $('#conversation-list-empty'),
  inboxCount: $('#inbox-count'), search: $('#conversation-search'),
  filters: document.querySelectorAll('.filter'),
  thread: $('#thread'), back: $('#conversation-back'), title: $('#conversation-title'),
  threadAvatar: $('#thread-avatar'), threadStatus: $('#thread-status'),
  threadTags: $('#thread-tags'), threadRoom: $('#thread-room'),
  messages: $('#conversation-messages'), jump: $('#jump-latest'), typing: $('#admin-typing'),
  composerForm: $('#composer-form'), composer: $('#admin-composer'), send: $('#admin-send'),
  count: $('#composer-count'),
  details: $('#details'), detailsToggle: $('#toggle-details'), detailsClose: $('#details-close'),
  scrim: $('#details-scrim'),
  customerNone: $('#customer-none'), customerCard: $('#customer-card'),
  customerAvatar: $('#customer-avatar'), customerName: $('#customer-name'),
  customerKind: $('#customer-kind'), customerStatus: $('#customer-status'),
  customerId: $('#customer-id'), customerRoom: $('#customer-room'),
  customerActivity: $('#customer-activity'),
  ban: $('#ban-toggle'), banNote: $('#ban-note'),
  announceForm: $('#announce-form'), announceRoom: $('#announce-room'),
  announceText: $('#announce-text'), announceSend: $('#announce-send'),
  announceResult: $('#announce-result'),
  toasts: $('#admin-toasts'),
};

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

const state = {
  token: null,
  running: false,
  epoch: 0,                 // bumped on sign-in/out so late async results can be dropped
  countdownTimer: 0,         // the "Reconnecting in 5s" label
  timers: [],
  convs: new Map(),         // room -> conversation (shape of /api/admin/conversations items)
  convsLoaded: false,
  items: new Map(),         // room -> cached DOM parts of its inbox item
  banned: new Map(),        // user id -> boolean, as last reported by the server
  drafts: new Map(),        // room -> unsent composer text
  open: null,               // the open conversation: the client's room, see openConversation()
  filter: 'all',
  query: '',
};

const phoneQuery = window.matchMedia('(max-width: 759px)');

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

const ICONS = {
  trash: 'M3 6h18M8 6V4h8v2M19 6l-1 14H6L5 6M10 11v6M14 11v6',
  back: 'M19 12H5M12 19l-7-7 7-7',
  send: 'M22 2L11 13M22 2l-7 20-4-9-9-4 20-7z',
  megaphone: 'M3 11v2a1 1 0 0 0 1 1h2l6 4V6l-6 4H4a1 1 0 0 0-1 1zM16 8.5a5 5 0 0 1 0 7M19 5.5a9 9 0 0 1 0 13',
  info: 'M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20zM12 16v-4M12 8h.01',
  ban: 'M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20zM4.9 4.9l14.2 14.2',
  signout: 'M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4M16 17l5-5-5-5M21 12H9',
};

/** A stroked SVG icon (styled by .icon in admin.css). */
const icon = (name) => svgIcon(ICONS[name]);

const isSupportRoom = (room) => /^support:[1-9][0-9]*$/.test(room);
const avatarClass = (id) => `avatar c${Math.abs(Number(id) || 0) % 8}`;

function setAvatar(el, user, extra) {
  el.className = avatarClass(user && user.id) + (extra ? ` ${extra}` : '');
  el.textContent = initial(user && user.username);
}

/** Transient notices in the bottom corner. */
const notify = (text, kind) => toast(dom.toasts, text, kind);

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

/**
 * JSON requests. While the console runs, a 401 ends the session and a 403 from /api/admin shows
 * the "staff only" message; the error says it was handled.
 */
const api = createApi({
  token: () => state.token,
  onError(err, path) {
    if (!state.running) return;
    if (err.status === 401) {
      err.handled = true;
      endSession(err.message ? `Please sign in again (${err.message}).` : 'Please sign in again.');
    } else if (err.status === 403 && path.startsWith('/api/admin')) {
      err.handled = true;
      endSession(STAFF_ONLY);
    }
  },
});

const apiKeys = new ApiKeysPanel({
  api,
  form: $('#api-key-form'),
  name: $('#api-key-name'),
  create: $('#api-key-create'),
  fresh: $('#api-key-fresh'),
  freshKey: $('#api-key-value'),
  list: $('#api-key-list'),
  result: $('#api-key-result'),
});

const roomPath = (room) => encodeURIComponent(room);

// ---------------------------------------------------------------------------------------------
// Sign-in / sign-out
// ---------------------------------------------------------------------------------------------

function showSignin(message) {
  dom.console.hidden = true;
  dom.signin.hidden = false;
  dom.error.textContent = message || '';
  document.title = 'Support console';
  setTimeout(() => (dom.username.value ? dom.password : dom.username).focus(), 0);
}

async function onLoginSubmit(ev) {
  ev.preventDefault();
  const username = dom.username.value.trim();
  const password = dom.password.value;
  if (!username || !password) {
    dom.error.textContent = 'Enter your username and password.';
    return;
  }
  dom.error.textContent = '';
  dom.login.disabled = true;
  dom.login.textContent = 'Signing in…';
  try {
    const data = await api('POST', '/api/auth/login', { username, password }, { auth: false });
    if (!data.user || (data.user.role !== 'admin' && data.user.role !== 'agent')) {
      // A customer account: keep nothing, load nothing.
      dom.error.textContent = STAFF_ONLY;
      return;
    }
    localStorage.setItem(TOKEN_KEY, data.token);
    state.token = data.token;
    dom.password.value = '';
    startConsole(data.user);
  } catch (e) {
    dom.error.textContent = e.message;
  } finally {
    dom.login.disabled = false;
    dom.login.textContent = 'Sign in';
  }
}

/** Leaves the console (expired token, lost staff rights, sign-out) and shows sign-in. */
function endSession(message) {
  stopConsole();
  localStorage.removeItem(TOKEN_KEY);
  state.token = null;
  showSignin(message);
}

function startConsole(me) {
  state.running = true;
  state.epoch += 1;
  dom.signin.hidden = true;
  dom.console.hidden = false;
  dom.error.textContent = '';
  dom.me.textContent = me.username;
  dom.listEmpty.textContent = 'Loading conversations…';
  dom.listEmpty.hidden = false;
  renderThread();
  refreshConversations();
  refreshStats();
  loadSettings(api);
  apiKeys.refresh();
  client.start(state.token, me);
  state.timers.push(
    setInterval(refreshStats, STATS_EVERY_MS),
    setInterval(refreshConversations, CONVERSATIONS_EVERY_MS),
    // Relative times ("3m") in the inbox, "Today" / "Yesterday" in the thread.
    setInterval(() => { renderList(); renderCustomer(); list.render(); }, CLOCK_EVERY_MS),
  );
}

/** Stops sockets and timers and forgets all data of the session. */
function stopConsole() {
  state.running = false;
  state.epoch += 1;
  state.timers.forEach(clearInterval);
  state.timers = [];
  client.stop();
  state.open = null;
  state.convsLoaded = false;
  state.convs.clear();
  state.items.clear();
  state.banned.clear();
  state.drafts.clear();
  dom.list.replaceChildren();
  list.reset();
  dom.composer.value = '';
  dom.announceRoom.value = '';
  dom.announceText.value = '';
  apiKeys.reset();
  dom.announceResult.textContent = '';
  for (const k of STAT_KEYS) {
    const el = dom.stats.querySelector(`[data-stat="${k}"]`);
    if (el) el.textContent = '–';
  }
  setConn('offline');
}

// ---------------------------------------------------------------------------------------------
// WebSocket connection
// ---------------------------------------------------------------------------------------------

const client = new ChatClient({
  api,
  hooks: {
    status(s, retryAt) {
      showConnection(s, retryAt);
      list.render(); // pending messages say whether they wait for the connection
    },
    hello: onHello,
    joined: onJoined,
    message: onMessage,
    ack: (p, room) => { if (room && room === state.open) list.render(); },
    history: (room) => { if (room === state.open) list.render(); },
    deleted: onDeleted,
    presence: onPresence,
    typing: (room) => { if (room === state.open) renderTyping(); },
    pending: () => list.render(),
    error: onErrorFrame,
    frame(f) {
      if (f.type === 'unread') onUnread(f);
      else if (f.type === 'support_activity') onSupportActivity(f);
      else if (f.type === 'conversation_moved') onConversationMoved(f);
    },
    down: () => { list.render(); renderTyping(); },
  },
});

function setConn(s, label) {
  dom.conn.dataset.state = s;
  dom.connLabel.textContent = label || {
    connecting: 'Connecting…', connected: 'Live', reconnecting: 'Reconnecting…', offline: 'Offline',
  }[s];
  dom.conn.title = s === 'connected' ? 'Connected: updates arrive live'
    : 'Not connected. Click to retry now.';
}

/** The connection pill; while a retry is scheduled, with a live countdown to it. */
function showConnection(s, retryAt) {
  clearInterval(state.countdownTimer);
  if (s !== 'reconnecting' || !retryAt) { setConn(s); return; }
  const tick = () => {
    if (navigator.onLine === false) { setConn('offline'); return; }
    const left = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
    setConn('reconnecting', left > 0 ? `Reconnecting in ${left}s` : 'Reconnecting…');
  };
  tick();
  state.countdownTimer = setInterval(tick, 1000);
}

function onHello(f) {
  if (f.user && (f.user.role !== 'admin' && f.user.role !== 'agent')) { endSession(STAFF_ONLY); return; }
  if (f.user) dom.me.textContent = f.user.username;
  composer.update(); // the limits may have changed
  // The client joins the open conversation once this returns. Activity may have been missed
  // while we were away: catch up.
  refreshConversations();
  refreshStats();
}

function onErrorFrame(f, room) {
  if (room && room === state.open) list.render(); // a join or history refused: say so on top
  notify(f.message || `Error: ${f.code}`, 'error');
}

// ---------------------------------------------------------------------------------------------
// Conversation list (inbox)
// ---------------------------------------------------------------------------------------------

function normalizeConv(s) {
  const c = {
    room: s.room,
    customer: s.customer || { id: Number(s.room.slice(8)), username: s.room, role: 'user' },
    online: !!s.online,
    unread: Number(s.unread) || 0,
    last_seq: Number(s.last_seq) || 0,
    last_message: s.last_message || null,
    last_activity: s.last_activity || (s.last_message && s.last_message.ts) || 0,
    placeholder: !s.customer,   // customer details not known yet
  };
  noteBanned(s);
  return c;
}

/** Picks up a ban flag if the server includes one (the list endpoint may not). */
function noteBanned(s) {
  const id = s.customer && s.customer.id;
  if (id == null) return;
  const flag = typeof s.banned === 'boolean' ? s.banned
    : (typeof s.customer.banned === 'boolean' ? s.customer.banned : null);
  if (flag !== null) state.banned.set(id, flag);
}

async function refreshConversations() {
  if (!state.running) return;
  const epoch = state.epoch;
  const started = Date.now();
  let data;
  try {
    data = await api('GET', '/api/admin/conversations');
  } catch (e) {
    if (e.handled || epoch !== state.epoch) return;
    if (!state.convsLoaded) {
      dom.listEmpty.textContent = `Could not load conversations: ${e.message}`;
      dom.listEmpty.hidden = false;
    }
    return;
  }
  if (epoch !== state.epoch) return;
  mergeConversations(Array.isArray(data.conversations) ? data.conversations : [], started);
}

/** Coalesces bursts of refresh requests into one call. */
let refreshSoonTimer = 0;
function refreshConversationsSoon() {
  if (refreshSoonTimer) return;
  refreshSoonTimer = setTimeout(() => { refreshSoonTimer = 0; refreshConversations(); }, 400);
}

/**
 * Merges a server snapshot into the inbox. Frames may have moved a conversation further than
 * the snapshot (it was taken before they arrived): the newer local state then wins.
 */
function mergeConversations(list, started) {
  const seen = new Set();
  for (const s of list) {
    if (!s || typeof s.room !== 'string') continue;
    seen.add(s.room);
    const c = state.convs.get(s.room);
    if (!c) { state.convs.set(s.room, normalizeConv(s)); continue; }
    if (s.customer) { c.customer = s.customer; c.placeholder = false; }
    c.online = !!s.online;
    noteBanned(s);
    const seq = Number(s.last_seq) || 0;
    if (seq >= c.last_seq) {
      c.last_seq = seq;
      c.last_message = s.last_message || null;
      c.last_activity = s.last_activity || (s.last_message && s.last_message.ts) || c.last_activity;
      c.unread = Number(s.unread) || 0;
    }
    if (isBeingRead(s.room)) c.unread = 0;
  }
  // Conversations the server no longer lists disappear, except the one open and those that
  // frames added after this snapshot was requested.
  for (const [room, c] of [...state.convs]) {
    if (!seen.has(room) && !(state.open && state.open.name === room) && !(c.addedAt >= started)) {
      state.convs.delete(room);
      const it = state.items.get(room);
      if (it) it.el.remove();
      state.items.delete(room);
    }
  }
  state.convsLoaded = true;
  renderList();
  renderThread();
  markRead();
}

/**
 * Applies a stored message to its conversation (from `support_activity` or `message`).
 * `last_seq` deduplicates, so a message seen through both paths counts once.
 */
function noteConversationMessage(m, customer) {
  if (!m || !isSupportRoom(m.room)) return;
  let c = state.convs.get(m.room);
  if (!c) {
    c = normalizeConv({ room: m.room, customer, online: false, unread: 0, last_seq: 0 });
    c.addedAt = Date.now();
    state.convs.set(m.room, c);
  }
  if (customer) { c.customer = customer; c.placeholder = false; }
  if (m.seq <= c.last_seq) return;
  c.last_seq = m.seq;
  c.last_message = m;
  c.last_activity = Math.max(c.last_activity || 0, m.ts || Date.now());
  if (!client.isMine(m) && !isBeingRead(m.room)) c.unread += 1;
  if (m.from && m.from.id === c.customer.id) c.online = true;  // they just wrote: connected
}

function onSupportActivity(f) {
  const m = f.message;
  if (!m || typeof f.room !== 'string') return;
  if (!m.room) m.room = f.room;
  noteConversationMessage(m, f.customer);
  if (!f.customer) {
    // The server had the customer at hand neither as author nor as a connection: they are
    // offline, and if we do not know them yet, the conversation list has their details.
    const c = state.convs.get(f.room);
    if (c) c.online = false;
    if (!c || c.placeholder) refreshConversationsSoon();
  }
  const o = state.open;
  if (o && o.name === m.room && o.loaded && client.receive(o, m)) {
    // Usually the `message` frame has brought it already; otherwise show it now.
    list.incoming(true, client.isMine(m));
    markRead();
  }
  renderList();
  if (o && o.name === m.room) renderThread();
}

/**
 * A guest signed in on the store: their conversation moved into the customer's. The old one
 * is gone from the inbox; if it was open, the customer's opens in its place (with the draft),
 * so the next reply goes where the customer reads it. Replies still waiting for the old room
 * were refused by the server (not_found) and are dropped.
 */
function onConversationMoved(f) {
  if (typeof f.from !== 'string' || typeof f.into !== 'string') return;
  const wasOpen = !!(state.open && state.open.name === f.from);
  const typed = (wasOpen && dom.composer.value) || state.drafts.get(f.from);
  state.drafts.delete(f.from);
  client.forgetRoom(f.from);
  if (wasOpen) state.open = null;
  state.convs.delete(f.from);
  const it = state.items.get(f.from);
  if (it) it.el.remove();
  state.items.delete(f.from);
  if (wasOpen) {
    if (typed) state.drafts.set(f.into, typed);
    openConversation(f.into);
    notify('The visitor signed in: the conversation continues in the customer\'s.', 'info');
  } else {
    renderList();
  }
  refreshConversationsSoon();
}

function onUnread(f) {
  const c = state.convs.get(f.room);
  if (!c) return;
  c.unread = isBeingRead(f.room) ? 0 : Math.max(0, Number(f.count) || 0);
  renderList();
}

function onPresence(f, room) {
  const c = state.convs.get(f.room);
  if (c && f.user && c.customer && f.user.id === c.customer.id) {
    c.online = !!f.online;
    renderList();
    renderThread();
  }
  if (room && room === state.open) renderTyping();
}

function matchesFilter(c) {
  if (state.filter === 'unread' && !c.unread) return false;
  if (state.filter === 'online' && !c.online) return false;
  if (state.query) {
    const q = state.query;
    const name = String((c.customer && c.customer.username) || '').toLowerCase();
    if (!name.includes(q) && !c.room.includes(q)) return false;
  }
  return true;
}

function previewText(c) {
  const m = c.last_message;
  if (!m) return 'No messages yet';
  const text = oneLine(m.text);
  if (m.kind === 'announcement') return `Announcement: ${text}`;
  if (m.kind === 'store') return `Store: ${text}`;
  if (client.isMine(m)) return `You: ${text}`;
  if (m.from && (m.from.role === 'admin' || m.from.role === 'agent')) return `${m.from.username}: ${text}`;
  return text;
}

/** Creates (once) and updates the inbox item of a conversation. */
function listItem(c) {
  let it = state.items.get(c.room);
  if (!it) {
    const el = h('button', { type: 'button', class: 'conversation', dataset: { room: c.room } });
    it = {
      el,
      avatar: h('span', { class: 'avatar' }),
      dot: h('span', { class: 'online-dot', 'aria-hidden': 'true' }),
      name: h('span', { class: 'customer-name' }),
      guest: h('span', { class: 'tag tag-guest', text: 'guest' }),
      bannedTag: h('span', { class: 'tag tag-banned', text: 'banned' }),
      time: h('time', { class: 'conversation-time' }),
      last: h('span', { class: 'last-message' }),
      badge: h('span', { class: 'unread-badge' }),
    };
    el.append(
      h('span', { class: 'avatar-wrap' }, it.avatar, it.dot),
      h('span', { class: 'conversation-main' },
        h('span', { class: 'conversation-top' }, it.name, it.guest, it.bannedTag, it.time),
        h('span', { class: 'conversation-bottom' }, it.last, it.badge)),
    );
    const room = c.room;
    el.addEventListener('click', () => openConversation(room));
    state.items.set(c.room, it);
  }
  const cust = c.customer || {};
  setAvatar(it.avatar, cust);
  it.name.textContent = cust.username || c.room;
  it.guest.hidden = cust.role !== 'guest';
  it.bannedTag.hidden = state.banned.get(cust.id) !== true;
  it.dot.classList.toggle('online', !!c.online);
  it.dot.title = c.online ? 'Online' : 'Offline';
  it.time.textContent = relTime(c.last_activity);
  if (c.last_activity) it.time.dateTime = new Date(c.last_activity).toISOString();
  it.last.textContent = previewText(c);
  it.badge.textContent = c.unread > 0 ? unreadText(c.unread) : '';
  it.badge.hidden = !(c.unread > 0);
  it.el.classList.toggle('has-unread', c.unread > 0);
  const selected = !!(state.open && state.open.name === c.room);
  it.el.classList.toggle('is-selected', selected);
  if (selected) it.el.setAttribute('aria-current', 'true');
  else it.el.removeAttribute('aria-current');
  it.el.hidden = !matchesFilter(c) && !selected;
  return it.el;
}

/** Re-renders the inbox, newest activity first, moving only the nodes that changed place. */
function renderList() {
  const sorted = [...state.convs.values()].sort((a, b) =>
    (b.last_activity || 0) - (a.last_activity || 0) || a.room.localeCompare(b.room));
  const focused = document.activeElement;
  reconcile(dom.list, sorted.map(listItem));
  if (focused && focused !== document.activeElement && dom.list.contains(focused)) {
    focused.focus({ preventScroll: true });
  }
  const visible = sorted.filter((c) => matchesFilter(c)).length;
  if (!state.convsLoaded) dom.listEmpty.hidden = false;
  else if (!sorted.length) {
    dom.listEmpty.textContent = 'No support conversations yet.';
    dom.listEmpty.hidden = false;
  } else if (!visible) {
    dom.listEmpty.textContent = 'No conversation matches.';
    dom.listEmpty.hidden = false;
  } else dom.listEmpty.hidden = true;
  const unreadConvs = sorted.filter((c) => c.unread > 0).length;
  dom.inboxCount.textContent = unreadConvs ? String(unreadConvs) : '';
  document.title = unreadConvs ? `(${unreadConvs}) Support console` : 'Support console';
}

// ---------------------------------------------------------------------------------------------
// Open conversation
// ---------------------------------------------------------------------------------------------

/** Whether the staff member is looking at `room` right now (unread does not grow there). */
function isBeingRead(room) {
  const o = state.open;
  return !!(o && o.name === room && document.visibilityState === 'visible'
    && (!phoneQuery.matches || dom.console.dataset.screen === 'conversation'));
}

function openConversation(room) {
  if (state.open && state.open.name === room) {
    showScreen('conversation');
    markRead();
    return;
  }
  closeConversation();
  const o = client.addRoom(room);
  state.open = o;
  dom.composer.value = state.drafts.get(room) || '';
  dom.announceRoom.value = room;
  dom.announceResult.textContent = '';
  showScreen('conversation');
  renderThread();
  renderList();
  list.render('bottom');
  if (!client.join(o)) loadViaHttp(o);
  if (!phoneQuery.matches) dom.composer.focus({ preventScroll: true });
}

function closeConversation() {
  const o = state.open;
  if (!o) return;
  client.stopTyping();
  // No `leave`: it would drop the room from our list together with our read cursor, and the
  // conversation would count as unread again. Frames of rooms not open only feed the inbox.
  client.removeRoom(o.name);
  state.open = null;
}

function onJoined(o, f, firstLoad) {
  if (o !== state.open) return;
  const c = state.convs.get(o.name);
  if (c && Array.isArray(f.online) && c.customer) {
    if (f.online.some((u) => u.id === c.customer.id)) c.online = true;
  }
  // Deleted while the console was away: the inbox preview may have shown one of them.
  for (const seq of f.deleted || []) notePreviewDeleted(o.name, seq);
  const msgs = f.messages || [];
  if (msgs.length) noteConversationMessage(msgs[msgs.length - 1]);
  // Typing that started before the join could not be announced yet.
  if (document.activeElement === dom.composer && dom.composer.value.trim()) onComposerInput();
  list.render(firstLoad ? 'bottom' : 'auto');
  renderList();
  renderThread();
  markRead();
}

/** First page over HTTP when the socket is down; the join (with `since`) follows on connect. */
async function loadViaHttp(o) {
  const epoch = state.epoch;
  try {
    const limit = client.limits.history_page_default;
    const data = await api('GET', `/api/rooms/${roomPath(o.name)}/messages?limit=${limit}`);
    if (epoch !== state.epoch || state.open !== o || o.loaded) return;
    client.takePage(o, data.messages || [], data.more);
    o.loaded = true;
    list.render('bottom');
    if (!o.joinPending) client.join(o);
  } catch (e) {
    if (e.handled || state.open !== o || o.loaded) return;
    o.error = e.message;
    list.render();
  }
}

/** Asks for the page before the oldest message shown (socket, or HTTP while offline). */
function loadOlder(o) {
  if (o !== state.open || !o.loaded) return;
  if (client.ready) {
    if (client.requestHistory(o)) list.render();
    return;
  }
  if (!o.more || o.historyPending || !o.oldestSeq) return;
  if (o.oldestSeq <= 1) { o.more = false; list.render(); return; }
  o.historyPending = true;
  list.render();
  const limit = client.limits.history_page_default;
  api('GET', `/api/rooms/${roomPath(o.name)}/messages?before=${o.oldestSeq}&limit=${limit}`)
    .then((d) => {
      if (state.open !== o) return;
      client.takePage(o, d.messages || [], d.more);
      list.render();
    })
    .catch((e) => {
      if (state.open !== o) return;
      o.historyPending = false;
      list.render();
      if (!e.handled) notify(e.message, 'error');
    });
}

function onMessage(m, room, isNew) {
  noteConversationMessage(m);
  if (room && room === state.open && room.loaded) {
    list.incoming(isNew, client.isMine(m));
    renderTyping();
    markRead();
  }
  renderList();
}

function onDeleted(f, room, dropped) {
  if (dropped && room === state.open) list.render();
  notePreviewDeleted(f.room, f.seq);
}

/** The inbox preview showed a deleted message: the newest one shown, or ask the server. */
function notePreviewDeleted(roomName, seq) {
  const c = state.convs.get(roomName);
  if (!c || !c.last_message || c.last_message.seq !== seq) return;
  const o = state.open;
  if (o && o.name === roomName && o.loaded) c.last_message = lastMessage(o);
  else refreshConversationsSoon();
  renderList();
}

/** Sends `read` up to the newest message shown while the conversation is being read. */
function markRead() {
  const o = state.open;
  if (!o || !isBeingRead(o.name)) return;
  const c = state.convs.get(o.name);
  if (c && c.unread) { c.unread = 0; renderList(); }
  client.markRead(o);
}

// --- the look of a message (rows of lib/messages.js) -----------------------------------------

const edge = (cls, ...children) => h('div', { class: `history-edge${cls ? ` ${cls}` : ''}` }, ...children);

const skin = {
  /** The top of the history: error, loading, "load earlier", or the beginning. */
  top(o) {
    if (o.error) return { sig: `error:${o.error}`, build: () => edge('is-error', o.error) };
    if (!o.loaded || o.historyPending) {
      const text = o.loaded ? 'Loading earlier messages…' : 'Loading conversation…';
      return { sig: text, build: () => edge('is-loading', text) };
    }
    if (o.more) {
      return {
        sig: 'more',
        build() {
          const btn = h('button', { type: 'button', class: 'btn btn-ghost btn-small' }, 'Load earlier messages');
          btn.addEventListener('click', () => loadOlder(o));
          return edge(null, btn);
        },
      };
    }
    const c = state.convs.get(o.name);
    const name = c && c.customer ? c.customer.username : o.name;
    const text = o.messages.length ? `Beginning of the conversation with ${name}`
      : `No messages yet. Say hello to ${name}.`;
    return { sig: text, build: () => edge(null, text) };
  },
  // Day breaks are drawn by CSS from the message's data-day (.new-day), not as rows.
  message: buildMessage,
};

/** Builds the element of one message (stored, or pending when `row.pending` is set). */
function buildMessage(row) {
  const { m, pending, mine } = row;
  // A message the store's backend wrote (server API) answers the customer: the staff's side.
  const fromStore = m.kind === 'store';
  const staff = (m.from.role === 'admin' || m.from.role === 'agent') || fromStore;
  const announcement = m.kind === 'announcement';
  const cls = ['message', staff ? 'staff' : 'customer'];
  if (mine) cls.push('own');
  if (announcement) cls.push('announcement');
  if (pending) cls.push('pending');
  if (pending && pending.status === 'failed') cls.push('failed');
  if (row.newDay) cls.push('new-day');
  if (row.grouped) cls.push('continued');
  const el = h('div', { class: cls.join(' '), dataset: { ts: String(m.ts), author: String(m.from.id) } });
  if (row.newDay) el.dataset.day = row.day;
  if (m.seq != null) el.dataset.seq = String(m.seq);
  if (m.id != null) el.dataset.id = String(m.id);
  if (pending) el.dataset.cid = pending.cid;

  const meta = h('div', { class: 'message-meta' }, h('span', { class: 'message-author' }, m.from.username));
  if (announcement) meta.prepend(h('span', { class: 'tag tag-announcement' }, icon('megaphone'), 'Announcement'));
  else if (fromStore) meta.append(h('span', { class: 'tag tag-staff', text: 'Store' }));
  else if (staff) meta.append(h('span', { class: 'tag tag-staff', text: mine ? 'You' : 'Staff' }));
  else if (m.from.role === 'guest') meta.append(h('span', { class: 'tag tag-guest', text: 'guest' }));
  meta.append(h('time', { class: 'message-time', title: fullTime(m.ts), datetime: new Date(m.ts).toISOString() },
    clockTime(m.ts)));

  const bubble = h('div', { class: 'message-bubble', title: fullTime(m.ts) },
    h('div', { class: 'message-text', text: String(m.text || '') }));
  const line = h('div', { class: 'message-row' }, bubble);
  if (!pending && m.id != null) {
    const del = h('button', { type: 'button', class: 'delete-message', title: 'Delete message',
      'aria-label': 'Delete message' }, icon('trash'));
    line.append(h('div', { class: 'message-actions' }, del));
  }
  el.append(meta, line);
  if (pending) el.append(pendingStatus(pending));
  return el;
}

/** Under a pending message: sending, waiting, or why it failed with Retry · Discard. */
function pendingStatus(p) {
  const status = h('div', { class: 'message-status' });
  if (p.status === 'failed') {
    status.append(h('span', { class: 'status-error' }, `Not sent: ${p.error}`), ' ',
      h('button', { type: 'button', class: 'link-btn retry', text: 'Retry' }), ' · ',
      h('button', { type: 'button', class: 'link-btn discard', text: 'Discard' }));
  } else {
    status.append(client.ready ? 'Sending…' : 'Waiting for connection…');
  }
  return status;
}

const list = new MessageList({
  box: dom.messages,
  jump: dom.jump,
  client,
  room: () => state.open,
  skin,
  nearBottomPx: 120,
  olderAtPx: 150,
  onOlder: loadOlder,
});

// --- header, customer panel, typing ----------------------------------------------------------

function renderThread() {
  const o = state.open;
  dom.thread.classList.toggle('is-empty', !o);
  dom.composer.disabled = !o;
  composer.update();
  if (!o) {
    dom.title.textContent = '';
    renderCustomer();
    renderTyping();
    return;
  }
  const c = state.convs.get(o.name);
  const cust = (c && c.customer) || { id: Number(o.name.slice(8)), username: o.name, role: 'user' };
  dom.title.textContent = cust.username;
  setAvatar(dom.threadAvatar, cust, 'avatar-large');
  const online = !!(c && c.online);
  dom.threadStatus.textContent = online ? 'Online' : 'Offline';
  dom.threadStatus.classList.toggle('online', online);
  const tags = [];
  if (cust.role === 'guest') tags.push(h('span', { class: 'tag tag-guest', text: 'guest' }));
  if (cust.role === 'admin' || cust.role === 'agent') tags.push(h('span', { class: 'tag tag-staff', text: 'staff' }));
  if (state.banned.get(cust.id) === true) tags.push(h('span', { class: 'tag tag-banned', text: 'banned' }));
  dom.threadTags.replaceChildren(...tags);
  dom.threadRoom.textContent = o.name;
  renderCustomer();
  renderTyping();
}

function renderCustomer() {
  const o = state.open;
  dom.customerNone.hidden = !!o;
  dom.customerCard.hidden = !o;
  if (!o) return;
  const c = state.convs.get(o.name);
  const cust = (c && c.customer) || { id: Number(o.name.slice(8)), username: o.name, role: 'user' };
  setAvatar(dom.customerAvatar, cust, 'avatar-large');
  dom.customerName.textContent = cust.username;
  dom.customerKind.textContent = cust.role === 'guest' ? 'Guest visitor'
    : (cust.role === 'admin' || cust.role === 'agent') ? 'Staff member' : 'Registered customer';
  dom.customerStatus.textContent = c && c.online ? 'Online' : 'Offline';
  dom.customerStatus.classList.toggle('online', !!(c && c.online));
  dom.customerId.textContent = String(cust.id);
  dom.customerRoom.textContent = o.name;
  dom.customerActivity.textContent = c && c.last_activity ? fullTime(c.last_activity) : '—';
  renderBan(cust);
}

function renderBan(cust) {
  const banned = state.banned.get(cust.id) === true;
  if (!dom.ban.classList.contains('is-busy')) {
    dom.ban.lastChild.textContent = banned ? 'Unban customer' : 'Ban customer';
  }
  dom.ban.classList.toggle('is-banned', banned);
  dom.ban.disabled = (cust.role === 'admin' || cust.role === 'agent') || dom.ban.classList.contains('is-busy');
  dom.banNote.textContent = (cust.role === 'admin' || cust.role === 'agent') ? 'Staff accounts cannot be banned.'
    : banned ? 'This customer is banned and cannot sign in or chat.' : '';
}

function renderTyping() {
  const o = state.open;
  const names = o ? o.typing.names() : [];
  let text = '';
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = 'Several people are typing…';
  dom.typing.textContent = text;
  dom.typing.classList.toggle('active', !!text);
}

// ---------------------------------------------------------------------------------------------
// Composer
// ---------------------------------------------------------------------------------------------

// The cap and its counter follow the server's hello.limits.max_message_chars.
const composer = bindComposer({
  form: dom.composerForm,
  input: dom.composer,
  counter: dom.count,
  send: dom.send,
  maxHeight: 200,
  maxChars: () => client.limits.max_message_chars,
  canSend: () => !!state.open,
  onSend(text) {
    const o = state.open;
    state.drafts.delete(o.name);
    client.stopTyping();
    client.send(o.name, text);
    list.render('bottom');
  },
  onInput: onComposerInput,
});

/** Keeps the draft of the open conversation, and tells the customer we are typing. */
function onComposerInput() {
  const o = state.open;
  if (!o) return;
  if (dom.composer.value) state.drafts.set(o.name, dom.composer.value);
  else state.drafts.delete(o.name);
  client.typing(o.name, !!dom.composer.value.trim());
}

// ---------------------------------------------------------------------------------------------
// Moderation
// ---------------------------------------------------------------------------------------------

async function onMessagesClick(ev) {
  const btn = ev.target.closest('.delete-message');
  if (!btn) return;
  const el = btn.closest('.message');
  const o = state.open;
  if (!o || !el || !el.dataset.id) return;
  const seq = Number(el.dataset.seq);
  const m = o.bySeq.get(seq);
  const author = m && m.from ? m.from.username : 'this author';
  let snippet = m ? oneLine(m.text) : '';
  if (snippet.length > 80) snippet = `${snippet.slice(0, 80)}…`;
  if (!window.confirm(`Delete this message from ${author}?\n\n“${snippet}”\n\nEveryone in the room will stop seeing it.`)) return;
  btn.disabled = true;
  try {
    await api('DELETE', `/api/admin/messages/${encodeURIComponent(el.dataset.id)}`);
    if (state.open === o) removeShown(o, seq);
  } catch (e) {
    if (e.handled) return;
    if (e.status === 404) {
      if (state.open === o) removeShown(o, seq);
      notify('That message was already deleted.');
    } else {
      btn.disabled = false;
      notify(`Could not delete the message: ${e.message}`, 'error');
    }
  }
}

/** Takes a message we deleted off the screen at once (the room's `deleted` frame follows). */
function removeShown(o, seq) {
  if (dropMessage(o, seq)) list.render();
  notePreviewDeleted(o.name, seq);
}

async function onBanClick() {
  const o = state.open;
  const c = o && state.convs.get(o.name);
  if (!c || !c.customer) return;
  const cust = c.customer;
  const banned = state.banned.get(cust.id) === true;
  const question = banned
    ? `Unban ${cust.username}? They will be able to sign in and chat again.`
    : `Ban ${cust.username}? They will be disconnected and can no longer sign in or chat.`;
  if (!window.confirm(question)) return;
  dom.ban.classList.add('is-busy');
  dom.ban.disabled = true;
  dom.ban.lastChild.textContent = banned ? 'Unbanning…' : 'Banning…';
  const epoch = state.epoch;
  try {
    const r = await api('POST', `/api/admin/users/${encodeURIComponent(cust.id)}/${banned ? 'unban' : 'ban'}`);
    if (epoch !== state.epoch) return;
    const now = typeof r.banned === 'boolean' ? r.banned : !banned;
    state.banned.set(cust.id, now);
    notify(now ? `${cust.username} is banned.` : `${cust.username} is no longer banned.`, 'success');
  } catch (e) {
    if (e.handled || epoch !== state.epoch) return;
    notify(`Could not ${banned ? 'unban' : 'ban'} ${cust.username}: ${e.message}`, 'error');
  } finally {
    dom.ban.classList.remove('is-busy');
    if (epoch === state.epoch) { renderThread(); renderList(); }
  }
}

function setAnnounceResult(text, kind) {
  dom.announceResult.textContent = text;
  dom.announceResult.className = `announce-result${kind ? ` is-${kind}` : ''}`;
}

async function onAnnounceSubmit(ev) {
  ev.preventDefault();
  const room = dom.announceRoom.value.trim();
  const text = dom.announceText.value;
  if (!ROOM_RE.test(room)) {
    setAnnounceResult('Enter a room: a public room such as “lobby”, or support:<id>.', 'error');
    dom.announceRoom.focus();
    return;
  }
  if (!text.trim()) {
    setAnnounceResult('Write the announcement first.', 'error');
    dom.announceText.focus();
    return;
  }
  const max = client.limits.max_message_chars;
  if (charCount(text) > max) {
    setAnnounceResult(`An announcement can be at most ${max} characters.`, 'error');
    return;
  }
  dom.announceSend.disabled = true;
  setAnnounceResult('Posting…', null);
  const epoch = state.epoch;
  try {
    const r = await api('POST', `/api/admin/rooms/${roomPath(room)}/announcements`, { text });
    if (epoch !== state.epoch) return;
    setAnnounceResult(`Posted to ${r.room || room} (message #${r.seq}).`, 'ok');
    dom.announceText.value = '';
  } catch (e) {
    if (e.handled || epoch !== state.epoch) return;
    setAnnounceResult(`Not posted: ${e.message}`, 'error');
  } finally {
    dom.announceSend.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Live figures
// ---------------------------------------------------------------------------------------------

async function refreshStats() {
  if (!state.running) return;
  const epoch = state.epoch;
  try {
    const s = await api('GET', '/api/admin/stats');
    if (epoch !== state.epoch) return;
    for (const k of STAT_KEYS) {
      const el = dom.stats.querySelector(`[data-stat="${k}"]`);
      if (el && typeof s[k] === 'number') el.textContent = String(s[k]);
    }
    dom.stats.classList.remove('is-stale');
    dom.stats.title = '';
  } catch (e) {
    if (e.handled || epoch !== state.epoch) return;
    dom.stats.classList.add('is-stale');
    dom.stats.title = `Figures may be out of date: ${e.message}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Layout: phone screens, details drawer
// ---------------------------------------------------------------------------------------------

function setComposerHint() {
  dom.composer.placeholder = phoneQuery.matches ? 'Write a reply…'
    : 'Write a reply… (Enter to send, Shift+Enter for a new line)';
}

function showScreen(screen) {
  dom.console.dataset.screen = screen;
  if (screen === 'list') client.stopTyping();
}

function setDetailsOpen(open) {
  dom.console.classList.toggle('details-open', open);
  dom.scrim.hidden = !open;
  dom.detailsToggle.setAttribute('aria-expanded', String(open));
}

// ---------------------------------------------------------------------------------------------
// Start-up
// ---------------------------------------------------------------------------------------------

function bindEvents() {
  dom.signinForm.addEventListener('submit', onLoginSubmit);
  dom.signOut.addEventListener('click', () => endSession(''));
  dom.conn.addEventListener('click', () => client.retryNow());

  dom.search.addEventListener('input', () => {
    state.query = dom.search.value.trim().toLowerCase();
    renderList();
  });
  dom.filters.forEach((btn) => btn.addEventListener('click', () => {
    state.filter = btn.dataset.filter;
    dom.filters.forEach((b) => b.classList.toggle('is-active', b === btn));
    renderList();
  }));

  dom.back.addEventListener('click', () => { showScreen('list'); renderList(); });
  dom.messages.addEventListener('click', onMessagesClick);

  dom.composer.addEventListener('blur', () => client.stopTyping());

  dom.ban.addEventListener('click', onBanClick);
  dom.announceForm.addEventListener('submit', onAnnounceSubmit);
  dom.announceText.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      dom.announceForm.requestSubmit();
    }
  });

  dom.detailsToggle.addEventListener('click', () =>
    setDetailsOpen(!dom.console.classList.contains('details-open')));
  dom.detailsClose.addEventListener('click', () => setDetailsOpen(false));
  dom.scrim.addEventListener('click', () => setDetailsOpen(false));
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && dom.console.classList.contains('details-open')) setDetailsOpen(false);
  });

  // Reading state depends on visibility and, on phones, on which screen shows.
  document.addEventListener('visibilitychange', markRead);
  window.addEventListener('focus', markRead);
  phoneQuery.addEventListener('change', () => { setComposerHint(); markRead(); });


  // Another tab signed out (or in as someone else): follow it.
  window.addEventListener('storage', (ev) => {
    if (ev.key !== TOKEN_KEY || !state.running) return;
    if (!ev.newValue) endSession('You signed out in another tab.');
    else if (ev.newValue !== state.token) {
      stopConsole();
      state.token = ev.newValue;
      resume();
    }
  });
}

/** Continues with a stored token: check that it is valid and belongs to staff. */
async function resume() {
  dom.signin.hidden = true;
  try {
    const me = await api('GET', '/api/me');
    if (me.role !== 'admin' && me.role !== 'agent') {
      localStorage.removeItem(TOKEN_KEY);
      state.token = null;
      showSignin(STAFF_ONLY);
      return;
    }
    startConsole(me);
  } catch (e) {
    if (e.status === 401) {
      localStorage.removeItem(TOKEN_KEY);
      state.token = null;
      showSignin('Your session has ended. Please sign in again.');
    } else {
      showSignin(e.message);
    }
  }
}

function init() {
  document.querySelectorAll('[data-icon]').forEach((el) => el.prepend(icon(el.dataset.icon)));
  // #ban-toggle's label must stay a text node of its own, after the icon.
  if (dom.ban.lastChild.nodeType !== Node.TEXT_NODE) dom.ban.append('Ban customer');
  bindEvents();
  setComposerHint();
  setConn('offline');
  state.token = localStorage.getItem(TOKEN_KEY);
  if (state.token) resume();
  else showSignin('');
}

init();

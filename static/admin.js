// Staff support console.
//
// One plain ES2020 file, no build step, no dependencies. The page runs under a strict CSP, so
// everything is wired up here with addEventListener, and every piece of user-supplied text (chat
// text, names, room names, server messages) goes into the DOM through textContent / text nodes
// only, never innerHTML.
//
// Data flow:
//   HTTP  /api/admin/conversations (every 15 s) and /api/admin/stats (every 5 s);
//         moderation calls (delete, ban/unban, announcements).
//   WS    /ws: `support_activity` keeps the inbox live for every support room; the open
//         conversation is joined (`join`, with `since` after a reconnect) and read from
//         `joined` / `message` / `history` / `deleted` / `typing` / `presence` frames.
import { h, svgIcon, reconcile, toast } from './lib/dom.js';
import { clockTime, fullTime, dayLabel, startOfDay, relTime, unreadText, charCount, initial, oneLine } from './lib/format.js';
import { createApi } from './lib/api.js';
import { Connection } from './lib/connection.js';

// ---------------------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------------------

const TOKEN_KEY = 'chat.admin.token';
const STAFF_ONLY = 'This console is for staff only.';
const STATS_EVERY_MS = 5000;
const CONVERSATIONS_EVERY_MS = 15000;
const CLOCK_EVERY_MS = 30000;        // refresh relative times ("3m")
const TYPING_EXPIRE_MS = 6000;       // hide "… is typing" if no frame refreshes it
const TYPING_IDLE_MS = 4000;         // our own typing stops after this much idle time
const PAGE_SIZE = 50;
const MAX_CHARS = 4000;
const GROUP_GAP_MS = 5 * 60 * 1000;  // consecutive messages by one author are grouped
const NEAR_BOTTOM_PX = 120;
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
  me: null,
  running: false,
  epoch: 0,                 // bumped on sign-in/out so late async results can be dropped
  countdownTimer: 0,         // the "Reconnecting in 5s" label
  timers: [],
  convs: new Map(),         // room -> conversation (shape of /api/admin/conversations items)
  convsLoaded: false,
  items: new Map(),         // room -> cached DOM parts of its inbox item
  banned: new Map(),        // user id -> boolean, as last reported by the server
  drafts: new Map(),        // room -> unsent composer text
  pending: new Map(),       // cid -> {cid, room, text, ts, status, error, el}
  open: null,               // the open conversation, see openConversation()
  filter: 'all',
  query: '',
  typingOn: false,          // we told `typingRoom` that we are typing
  typingRoom: null,
  typingIdle: 0,
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

function uuid() {
  if (window.crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  // Fallback for non-secure contexts (plain http on a LAN address): RFC 4122 v4.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = Array.from(b, (n) => n.toString(16).padStart(2, '0')).join('');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

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
    if (!data.user || data.user.role !== 'admin') {
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
  state.me = me;
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
  conn.start(state.token);
  state.timers.push(
    setInterval(refreshStats, STATS_EVERY_MS),
    setInterval(refreshConversations, CONVERSATIONS_EVERY_MS),
    setInterval(() => { renderList(); renderCustomer(); }, CLOCK_EVERY_MS),
  );
}

/** Stops sockets and timers and forgets all data of the session. */
function stopConsole() {
  state.running = false;
  state.epoch += 1;
  state.timers.forEach(clearInterval);
  state.timers = [];
  conn.stop();
  clearTimeout(state.typingIdle);
  if (state.open) clearTypers(state.open);
  Object.assign(state, {
    open: null, convsLoaded: false, me: null,
    typingOn: false, typingRoom: null,
  });
  state.convs.clear();
  state.items.clear();
  state.banned.clear();
  state.drafts.clear();
  state.pending.clear();
  dom.list.replaceChildren();
  dom.messages.replaceChildren();
  dom.composer.value = '';
  dom.announceRoom.value = '';
  dom.announceText.value = '';
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

const conn = new Connection({
  onFrame: handleFrame,
  onStatus: showConnection,
  onDown: onSocketLost,
  verify: () => api('GET', '/api/me').then(() => true, (e) => !e.handled),
});
const wsReady = () => conn.ready;
const wsSend = (frame) => conn.send(frame);

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

function onSocketLost() {
  const o = state.open;
  if (o) {
    o.joined = false;
    o.joinPending = false;
    o.loadingOlder = false;
    clearTypers(o);
    renderEdge();
  }
  state.typingOn = false;
}

function handleFrame(f) {
  switch (f.type) {
    case 'hello': return onHello(f);
    case 'joined': return onJoined(f);
    case 'message': return onMessage(f);
    case 'ack': return onAck(f);
    case 'history': return onHistoryPage(f.room, f.messages || [], !!f.more);
    case 'deleted': return onDeleted(f);
    case 'typing': return onTyping(f);
    case 'presence': return onPresence(f);
    case 'unread': return onUnread(f);
    case 'support_activity': return onSupportActivity(f);
    case 'error': return onErrorFrame(f);
    default: return undefined;   // unknown frames are ignored
  }
}

function onHello(f) {
  if (f.user && f.user.role !== 'admin') { endSession(STAFF_ONLY); return; }
  if (f.user) { state.me = f.user; dom.me.textContent = f.user.username; }
  if (state.open) sendJoin(state.open);
  // Activity may have been missed while we were away: catch up.
  refreshConversations();
  refreshStats();
}

function onErrorFrame(f) {
  if (f.cid && state.pending.has(f.cid)) {
    failPending(state.pending.get(f.cid), f.message || f.code);
    return;
  }
  if (f.code === 'unauthorized' && !conn.ready) {
    endSession(f.message || 'Please sign in again.');
    return;
  }
  const o = state.open;
  if (o && f.room === o.room) {
    if (o.joinPending) {
      o.joinPending = false;
      o.error = f.message || 'Could not open the conversation.';
      renderEdge();
    }
    if (o.loadingOlder) { o.loadingOlder = false; renderEdge(); }
  }
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
    if (!seen.has(room) && !(state.open && state.open.room === room) && !(c.addedAt >= started)) {
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
  const fromMe = state.me && m.from && m.from.id === state.me.id;
  if (!fromMe && !isBeingRead(m.room)) c.unread += 1;
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
  if (o && o.room === m.room && o.loaded) {
    // Usually the `message` frame has brought it already; otherwise show it now.
    showIncoming(m);
  }
  renderList();
  if (o && o.room === m.room) renderThread();
}

function onUnread(f) {
  const c = state.convs.get(f.room);
  if (!c) return;
  c.unread = isBeingRead(f.room) ? 0 : Math.max(0, Number(f.count) || 0);
  renderList();
}

function onPresence(f) {
  const c = state.convs.get(f.room);
  if (c && f.user && c.customer && f.user.id === c.customer.id) {
    c.online = !!f.online;
    renderList();
    renderThread();
  }
  const o = state.open;
  if (o && o.room === f.room && f.user && !f.online) clearTyper(o, f.user.id);
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
  if (state.me && m.from && m.from.id === state.me.id) return `You: ${text}`;
  if (m.from && m.from.role === 'admin') return `${m.from.username}: ${text}`;
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
  const selected = !!(state.open && state.open.room === c.room);
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
  return !!(o && o.room === room && document.visibilityState === 'visible'
    && (!phoneQuery.matches || dom.console.dataset.screen === 'conversation'));
}

function openConversation(room) {
  if (state.open && state.open.room === room) {
    showScreen('conversation');
    markRead();
    return;
  }
  closeConversation();
  const o = {
    room,
    msgs: new Map(),      // seq -> {m, el}
    minSeq: 0, maxSeq: 0, // oldest / newest seq ever shown (not lowered by deletions)
    loaded: false,        // a first page is on screen
    joined: false, joinPending: false, sinceUsed: false,
    more: false, loadingOlder: false,
    readSent: 0, error: null,
    typing: new Map(),    // user id -> {name, timer}
  };
  state.open = o;
  resetMessages(o);
  dom.composer.value = state.drafts.get(room) || '';
  autosize();
  dom.announceRoom.value = room;
  dom.announceResult.textContent = '';
  showScreen('conversation');
  renderThread();
  renderList();
  renderEdge();
  if (wsReady()) sendJoin(o);
  else loadViaHttp(o);
  if (!phoneQuery.matches) dom.composer.focus({ preventScroll: true });
}

function closeConversation() {
  const o = state.open;
  if (!o) return;
  stopTyping();
  clearTypers(o);
  // No `leave`: it would drop the room from our list together with our read cursor, and the
  // conversation would count as unread again. Frames of rooms not open are simply not shown.
  state.open = null;
}

function sendJoin(o) {
  if (!wsReady()) return;
  const frame = { type: 'join', room: o.room };
  o.sinceUsed = o.loaded;
  if (o.loaded) frame.since = o.maxSeq;
  o.joinPending = true;
  o.joined = false;
  o.error = null;
  wsSend(frame);
  renderEdge();
}

function onJoined(f) {
  const o = state.open;
  if (!o || f.room !== o.room) return;
  o.joinPending = false;
  o.joined = true;
  if (o.sinceUsed && f.recovered === false) {
    // Too much was missed to recover in one list: start again from the newest page.
    o.loaded = false;
    sendJoin(o);
    return;
  }
  const wasNear = nearBottom();
  if (!o.sinceUsed) resetMessages(o);
  const msgs = Array.isArray(f.messages) ? f.messages : [];
  for (const m of msgs) {
    resolvePending(m);   // a send stored just before the connection dropped
    insertMessage(o, m);
  }
  // Deleted while the console was away: take them off the screen.
  if (o.sinceUsed && Array.isArray(f.deleted)) f.deleted.forEach((seq) => onDeleted({ room: o.room, seq }));
  if (!o.loaded) {
    // A fresh page: older messages exist if it does not start at the very first seq.
    o.more = msgs.length > 0 && msgs[0].seq > 1;
    o.loaded = true;
    scrollToBottom();
  } else if (wasNear) scrollToBottom();
  const c = state.convs.get(o.room);
  if (c && Array.isArray(f.online) && c.customer) {
    if (f.online.some((u) => u.id === c.customer.id)) c.online = true;
  }
  if (msgs.length) noteConversationMessage(msgs[msgs.length - 1]);
  resendPending(o.room);
  // Typing that started before the join could not be announced yet.
  if (document.activeElement === dom.composer && dom.composer.value.trim()) onComposerInput();
  renderEdge();
  renderList();
  renderThread();
  markRead();
  fillViewport();
}

/** First page over HTTP when the socket is down; the join (with `since`) follows on connect. */
async function loadViaHttp(o) {
  const epoch = state.epoch;
  try {
    const data = await api('GET', `/api/rooms/${roomPath(o.room)}/messages?limit=${PAGE_SIZE}`);
    if (epoch !== state.epoch || state.open !== o || o.loaded) return;
    for (const m of data.messages || []) insertMessage(o, m);
    o.more = !!data.more;
    o.loaded = true;
    scrollToBottom();
    renderEdge();
    if (wsReady() && !o.joinPending) sendJoin(o);
  } catch (e) {
    if (e.handled || state.open !== o || o.loaded) return;
    o.error = e.message;
    renderEdge();
  }
}

/** Asks for the page before the oldest message shown (socket, or HTTP while offline). */
function loadOlder() {
  const o = state.open;
  if (!o || !o.loaded || !o.more || o.loadingOlder) return;
  if (!o.minSeq || o.minSeq <= 1) { o.more = false; renderEdge(); return; }
  o.loadingOlder = true;
  renderEdge();
  const before = o.minSeq;
  if (wsReady()) {
    wsSend({ type: 'history', room: o.room, before, limit: PAGE_SIZE });
    return;
  }
  api('GET', `/api/rooms/${roomPath(o.room)}/messages?before=${before}&limit=${PAGE_SIZE}`)
    .then((d) => onHistoryPage(o.room, d.messages || [], !!d.more))
    .catch((e) => {
      if (state.open !== o) return;
      o.loadingOlder = false;
      renderEdge();
      if (!e.handled) notify(e.message, 'error');
    });
}

function onHistoryPage(room, messages, more) {
  const o = state.open;
  if (!o || o.room !== room || !o.loaded) return;
  o.loadingOlder = false;
  o.more = more && messages.length > 0;
  // Keep the reader's position while older messages are added above.
  const box = dom.messages;
  const prevHeight = box.scrollHeight;
  const prevTop = box.scrollTop;
  for (const m of messages) insertMessage(o, m);
  box.scrollTop = prevTop + (box.scrollHeight - prevHeight);
  renderEdge();
  fillViewport();
}

/** Keeps loading older pages while the history does not fill the viewport. */
function fillViewport() {
  requestAnimationFrame(() => {
    const o = state.open;
    if (o && o.more && !o.loadingOlder && dom.messages.scrollHeight <= dom.messages.clientHeight + 40) {
      loadOlder();
    }
  });
}

function onMessage(f) {
  const m = Object.assign({}, f);
  delete m.type;
  resolvePending(m);
  noteConversationMessage(m);
  const o = state.open;
  if (o && o.room === m.room && o.loaded) showIncoming(m);
  renderList();
}

/** Shows a live message in the open conversation, keeping the reader's place. */
function showIncoming(m) {
  const o = state.open;
  if (o.msgs.has(m.seq)) return;
  const wasNear = nearBottom();
  resolvePending(m);
  insertMessage(o, m);
  if (m.from) clearTyper(o, m.from.id);
  const mine = state.me && m.from && m.from.id === state.me.id;
  if (wasNear || mine) scrollToBottom();
  else dom.jump.hidden = false;
  markRead();
}

function onDeleted(f) {
  const o = state.open;
  if (o && o.room === f.room) removeMessage(o, f.seq);
  const c = state.convs.get(f.room);
  if (c && c.last_message && c.last_message.seq === f.seq) {
    // The preview showed the deleted message: fall back to the newest one on screen, or ask
    // the server for the conversation's new last message.
    if (o && o.room === f.room && o.loaded) c.last_message = lastShown(o);
    else refreshConversationsSoon();
    renderList();
  }
}

/** Sends `read` up to the newest message shown while the conversation is being read. */
function markRead() {
  const o = state.open;
  if (!o || !isBeingRead(o.room)) return;
  const c = state.convs.get(o.room);
  if (c && c.unread) { c.unread = 0; renderList(); }
  if (wsReady() && o.maxSeq > o.readSent) {
    o.readSent = o.maxSeq;
    wsSend({ type: 'read', room: o.room, seq: o.maxSeq });
  }
}

// --- message rendering -----------------------------------------------------------------------

function resetMessages(o) {
  o.msgs.clear();
  o.minSeq = 0;
  o.maxSeq = 0;
  dom.messages.replaceChildren(h('div', { class: 'history-edge' }));
  dom.jump.hidden = true;
  for (const p of state.pending.values()) if (p.room === o.room) renderPending(p);
}

/** Builds the element of one message (stored, or pending when `pending` is given). */
function buildMessage(m, pending) {
  const own = !!(state.me && m.from && m.from.id === state.me.id);
  const staff = !!(m.from && m.from.role === 'admin');
  const announcement = m.kind === 'announcement';
  const cls = ['message', staff ? 'staff' : 'customer'];
  if (own) cls.push('own');
  if (announcement) cls.push('announcement');
  if (pending) cls.push('pending');
  const el = h('div', { class: cls.join(' '), dataset: { ts: String(m.ts || Date.now()),
    author: String(m.from ? m.from.id : '') } });
  if (m.seq != null) el.dataset.seq = String(m.seq);
  if (m.id != null) el.dataset.id = String(m.id);
  if (pending) el.dataset.cid = pending.cid;

  const meta = h('div', { class: 'message-meta' },
    h('span', { class: 'message-author' }, m.from ? m.from.username : 'Unknown'));
  if (announcement) meta.prepend(h('span', { class: 'tag tag-announcement' }, icon('megaphone'), 'Announcement'));
  else if (staff) meta.append(h('span', { class: 'tag tag-staff', text: own ? 'You' : 'Staff' }));
  else if (m.from && m.from.role === 'guest') meta.append(h('span', { class: 'tag tag-guest', text: 'guest' }));
  const time = h('time', { class: 'message-time', title: fullTime(m.ts || Date.now()) },
    clockTime(m.ts || Date.now()));
  if (m.ts) time.dateTime = new Date(m.ts).toISOString();
  meta.append(time);

  const bubble = h('div', { class: 'message-bubble', title: fullTime(m.ts || Date.now()) },
    h('div', { class: 'message-text', text: String(m.text || '') }));
  const row = h('div', { class: 'message-row' }, bubble);
  if (!pending && m.id != null) {
    const del = h('button', { type: 'button', class: 'delete-message', title: 'Delete message',
      'aria-label': 'Delete message' }, icon('trash'));
    row.append(h('div', { class: 'message-actions' }, del));
  }
  el.append(meta, row);
  if (pending) el.append(h('div', { class: 'message-status' }));
  return el;
}

/** Inserts a stored message in seq order (deduplicated by seq), before any pending ones. */
function insertMessage(o, m) {
  if (!m || typeof m.seq !== 'number' || o.msgs.has(m.seq)) return false;
  const el = buildMessage(m);
  let after = null;
  for (let n = dom.messages.lastElementChild; n; n = n.previousElementSibling) {
    if (n.dataset.seq && !n.classList.contains('pending') && Number(n.dataset.seq) < m.seq) {
      after = n;
      break;
    }
  }
  if (after) after.after(el);
  else dom.messages.firstElementChild.after(el);   // right after the history edge
  o.msgs.set(m.seq, { m, el });
  o.minSeq = o.minSeq ? Math.min(o.minSeq, m.seq) : m.seq;
  o.maxSeq = Math.max(o.maxSeq, m.seq);
  decorate(el);
  decorate(nextMessageEl(el));
  return true;
}

function removeMessage(o, seq) {
  const entry = o.msgs.get(seq);
  if (!entry) return;
  const next = nextMessageEl(entry.el);
  entry.el.remove();
  o.msgs.delete(seq);
  decorate(next);
}

function lastShown(o) {
  let best = null;
  for (const { m } of o.msgs.values()) if (!best || m.seq > best.seq) best = m;
  return best;
}

function nextMessageEl(el) {
  let n = el && el.nextElementSibling;
  while (n && !n.classList.contains('message')) n = n.nextElementSibling;
  return n;
}

function prevMessageEl(el) {
  let n = el && el.previousElementSibling;
  while (n && !n.classList.contains('message')) n = n.previousElementSibling;
  return n;
}

/**
 * Day separators and author grouping depend on the previous message, so they are recomputed
 * for a message and its successor whenever the list changes. The separator's label is drawn by
 * CSS from data-day (no markup).
 */
function decorate(el) {
  if (!el) return;
  const prev = prevMessageEl(el);
  const ts = Number(el.dataset.ts);
  const newDay = !prev || startOfDay(Number(prev.dataset.ts)) !== startOfDay(ts);
  el.classList.toggle('new-day', newDay);
  if (newDay) el.dataset.day = dayLabel(ts);
  else delete el.dataset.day;
  const continued = !newDay && prev.dataset.author === el.dataset.author
    && !el.classList.contains('announcement') && !prev.classList.contains('announcement')
    && ts - Number(prev.dataset.ts) < GROUP_GAP_MS;
  el.classList.toggle('continued', continued);
}

/** The top of the history: loading, "load earlier", beginning of the conversation, or error. */
function renderEdge() {
  const o = state.open;
  const edge = dom.messages.firstElementChild;
  if (!o || !edge) return;
  edge.replaceChildren();
  edge.className = 'history-edge';
  if (o.error) {
    edge.classList.add('is-error');
    edge.append(o.error);
  } else if (!o.loaded || o.loadingOlder) {
    edge.classList.add('is-loading');
    edge.append(o.loaded ? 'Loading earlier messages…' : 'Loading conversation…');
  } else if (o.more) {
    const btn = h('button', { type: 'button', class: 'btn btn-ghost btn-small' }, 'Load earlier messages');
    btn.addEventListener('click', loadOlder);
    edge.append(btn);
  } else {
    const c = state.convs.get(o.room);
    const name = c && c.customer ? c.customer.username : o.room;
    edge.append(o.msgs.size ? `Beginning of the conversation with ${name}`
      : `No messages yet. Say hello to ${name}.`);
  }
}

function nearBottom() {
  const box = dom.messages;
  return box.scrollHeight - box.scrollTop - box.clientHeight < NEAR_BOTTOM_PX;
}

function scrollToBottom() {
  dom.messages.scrollTop = dom.messages.scrollHeight;
  dom.jump.hidden = true;
}

function onMessagesScroll() {
  if (nearBottom()) dom.jump.hidden = true;
  if (dom.messages.scrollTop < 150) loadOlder();
}

// --- header, customer panel, typing ----------------------------------------------------------

function renderThread() {
  const o = state.open;
  dom.thread.classList.toggle('is-empty', !o);
  dom.composer.disabled = !o;
  dom.send.disabled = !o;
  if (!o) {
    dom.title.textContent = '';
    renderCustomer();
    renderTyping();
    return;
  }
  const c = state.convs.get(o.room);
  const cust = (c && c.customer) || { id: Number(o.room.slice(8)), username: o.room, role: 'user' };
  dom.title.textContent = cust.username;
  setAvatar(dom.threadAvatar, cust, 'avatar-large');
  const online = !!(c && c.online);
  dom.threadStatus.textContent = online ? 'Online' : 'Offline';
  dom.threadStatus.classList.toggle('online', online);
  const tags = [];
  if (cust.role === 'guest') tags.push(h('span', { class: 'tag tag-guest', text: 'guest' }));
  if (cust.role === 'admin') tags.push(h('span', { class: 'tag tag-staff', text: 'staff' }));
  if (state.banned.get(cust.id) === true) tags.push(h('span', { class: 'tag tag-banned', text: 'banned' }));
  dom.threadTags.replaceChildren(...tags);
  dom.threadRoom.textContent = o.room;
  renderCustomer();
  renderTyping();
}

function renderCustomer() {
  const o = state.open;
  dom.customerNone.hidden = !!o;
  dom.customerCard.hidden = !o;
  if (!o) return;
  const c = state.convs.get(o.room);
  const cust = (c && c.customer) || { id: Number(o.room.slice(8)), username: o.room, role: 'user' };
  setAvatar(dom.customerAvatar, cust, 'avatar-large');
  dom.customerName.textContent = cust.username;
  dom.customerKind.textContent = cust.role === 'guest' ? 'Guest visitor'
    : cust.role === 'admin' ? 'Staff member' : 'Registered customer';
  dom.customerStatus.textContent = c && c.online ? 'Online' : 'Offline';
  dom.customerStatus.classList.toggle('online', !!(c && c.online));
  dom.customerId.textContent = String(cust.id);
  dom.customerRoom.textContent = o.room;
  dom.customerActivity.textContent = c && c.last_activity ? fullTime(c.last_activity) : '—';
  renderBan(cust);
}

function renderBan(cust) {
  const banned = state.banned.get(cust.id) === true;
  if (!dom.ban.classList.contains('is-busy')) {
    dom.ban.lastChild.textContent = banned ? 'Unban customer' : 'Ban customer';
  }
  dom.ban.classList.toggle('is-banned', banned);
  dom.ban.disabled = cust.role === 'admin' || dom.ban.classList.contains('is-busy');
  dom.banNote.textContent = cust.role === 'admin' ? 'Staff accounts cannot be banned.'
    : banned ? 'This customer is banned and cannot sign in or chat.' : '';
}

function setTyper(o, user) {
  const prev = o.typing.get(user.id);
  if (prev) clearTimeout(prev.timer);
  const timer = setTimeout(() => clearTyper(o, user.id), TYPING_EXPIRE_MS);
  o.typing.set(user.id, { name: user.username, timer });
  renderTyping();
}

function clearTyper(o, userId) {
  const t = o.typing.get(userId);
  if (!t) return;
  clearTimeout(t.timer);
  o.typing.delete(userId);
  if (o === state.open) renderTyping();
}

function clearTypers(o) {
  for (const t of o.typing.values()) clearTimeout(t.timer);
  o.typing.clear();
  renderTyping();
}

function onTyping(f) {
  const o = state.open;
  if (!o || f.room !== o.room || !f.user) return;
  if (state.me && f.user.id === state.me.id) return;
  if (f.on) setTyper(o, f.user);
  else clearTyper(o, f.user.id);
}

function renderTyping() {
  const o = state.open;
  const names = o ? [...o.typing.values()].map((t) => t.name) : [];
  let text = '';
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = 'Several people are typing…';
  dom.typing.textContent = text;
  dom.typing.classList.toggle('active', !!text);
}

// ---------------------------------------------------------------------------------------------
// Composer and pending sends
// ---------------------------------------------------------------------------------------------

function autosize() {
  const ta = dom.composer;
  ta.style.height = 'auto';
  ta.style.height = `${Math.min(ta.scrollHeight, 200)}px`;
  const n = charCount(ta.value);
  dom.count.textContent = n > MAX_CHARS - 500 ? `${n} / ${MAX_CHARS}` : '';
  dom.count.classList.toggle('over', n > MAX_CHARS);
}

function onComposerInput() {
  autosize();
  const o = state.open;
  if (!o) return;
  if (dom.composer.value) state.drafts.set(o.room, dom.composer.value);
  else state.drafts.delete(o.room);
  // Tell the customer we are typing; stop after a pause or when the box is emptied.
  if (!dom.composer.value.trim()) { stopTyping(); return; }
  if (!state.typingOn && o.joined && wsReady()) {
    state.typingOn = true;
    state.typingRoom = o.room;
    wsSend({ type: 'typing', room: o.room, on: true });
  }
  clearTimeout(state.typingIdle);
  state.typingIdle = setTimeout(stopTyping, TYPING_IDLE_MS);
}

function stopTyping() {
  clearTimeout(state.typingIdle);
  if (!state.typingOn) return;
  state.typingOn = false;
  const o = state.open;
  if (o && o.room === state.typingRoom && o.joined && wsReady()) {
    wsSend({ type: 'typing', room: state.typingRoom, on: false });
  }
}

function onComposerKey(ev) {
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
    ev.preventDefault();
    sendFromComposer();
  }
}

function sendFromComposer() {
  const o = state.open;
  if (!o) return;
  const text = dom.composer.value;
  if (!text.trim()) return;
  if (charCount(text) > MAX_CHARS) {
    notify(`A message can be at most ${MAX_CHARS} characters.`, 'error');
    return;
  }
  const p = { cid: uuid(), room: o.room, text, ts: Date.now(), status: 'sending', error: null, el: null };
  state.pending.set(p.cid, p);
  dom.composer.value = '';
  state.drafts.delete(o.room);
  autosize();
  stopTyping();
  renderPending(p);
  scrollToBottom();
  transmit(p);
}

/** Sends a pending message if its room is joined; otherwise it waits for the next `joined`. */
function transmit(p) {
  const o = state.open;
  if (o && o.room === p.room && o.joined && wsReady()) {
    wsSend({ type: 'send', room: p.room, text: p.text, cid: p.cid });
  }
  updatePending(p);
}

/** After a (re)join: resend everything not acknowledged, with the same cid (§7 step 6). */
function resendPending(room) {
  for (const p of state.pending.values()) {
    if (p.room === room && p.status === 'sending') transmit(p);
  }
}

function renderPending(p) {
  const me = state.me || { id: 0, username: 'You', role: 'admin' };
  p.el = buildMessage({ room: p.room, from: me, text: p.text, ts: p.ts }, p);
  dom.messages.append(p.el);
  decorate(p.el);
  updatePending(p);
}

function updatePending(p) {
  if (!p.el) return;
  const status = p.el.querySelector('.message-status');
  p.el.classList.toggle('failed', p.status === 'failed');
  status.replaceChildren();
  if (p.status === 'failed') {
    const retry = h('button', { type: 'button', class: 'link-btn', text: 'Retry' });
    const discard = h('button', { type: 'button', class: 'link-btn', text: 'Discard' });
    retry.addEventListener('click', () => { p.status = 'sending'; p.error = null; transmit(p); });
    discard.addEventListener('click', () => { state.pending.delete(p.cid); dropPendingEl(p); });
    status.append(h('span', { class: 'status-error' }, `Not sent: ${p.error}`), ' ', retry, ' · ', discard);
  } else {
    status.append(wsReady() ? 'Sending…' : 'Waiting for connection…');
  }
}

function failPending(p, message) {
  p.status = 'failed';
  p.error = message;
  updatePending(p);
}

function dropPendingEl(p) {
  if (!p.el) return;
  const next = nextMessageEl(p.el);
  p.el.remove();
  p.el = null;
  decorate(next);
}

/** A stored message with our cid replaces its pending copy. */
function resolvePending(m) {
  if (!m.cid || !state.me || !m.from || m.from.id !== state.me.id) return;
  const p = state.pending.get(m.cid);
  if (!p || p.room !== m.room) return;
  state.pending.delete(m.cid);
  dropPendingEl(p);
}

function onAck(f) {
  const p = state.pending.get(f.cid);
  if (!p) return;
  state.pending.delete(f.cid);
  dropPendingEl(p);
  // A resend of a message stored earlier gets only an ack; normally the message is already
  // on screen (recovered by the join). If not, show our copy under its seq.
  const o = state.open;
  if (o && o.room === f.room && o.loaded && !o.msgs.has(f.seq)) {
    insertMessage(o, { room: f.room, seq: f.seq, from: state.me, text: p.text, ts: p.ts, cid: p.cid });
    scrollToBottom();
  }
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
  const entry = o.msgs.get(seq);
  const author = entry && entry.m.from ? entry.m.from.username : 'this author';
  let snippet = entry ? oneLine(entry.m.text) : '';
  if (snippet.length > 80) snippet = `${snippet.slice(0, 80)}…`;
  if (!window.confirm(`Delete this message from ${author}?\n\n“${snippet}”\n\nEveryone in the room will stop seeing it.`)) return;
  btn.disabled = true;
  try {
    await api('DELETE', `/api/admin/messages/${encodeURIComponent(el.dataset.id)}`);
    if (state.open === o) onDeleted({ room: o.room, seq });
  } catch (e) {
    if (e.handled) return;
    if (e.status === 404) {
      if (state.open === o) onDeleted({ room: o.room, seq });
      notify('That message was already deleted.');
    } else {
      btn.disabled = false;
      notify(`Could not delete the message: ${e.message}`, 'error');
    }
  }
}

async function onBanClick() {
  const o = state.open;
  const c = o && state.convs.get(o.room);
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
  if (charCount(text) > MAX_CHARS) {
    setAnnounceResult(`An announcement can be at most ${MAX_CHARS} characters.`, 'error');
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
  if (screen === 'list') stopTyping();
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
  dom.conn.addEventListener('click', () => conn.connect());

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
  dom.messages.addEventListener('scroll', onMessagesScroll, { passive: true });
  dom.messages.addEventListener('click', onMessagesClick);
  dom.jump.addEventListener('click', scrollToBottom);

  dom.composerForm.addEventListener('submit', (ev) => { ev.preventDefault(); sendFromComposer(); });
  dom.composer.addEventListener('keydown', onComposerKey);
  dom.composer.addEventListener('input', onComposerInput);
  dom.composer.addEventListener('blur', stopTyping);

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
    if (me.role !== 'admin') {
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

/* Browser chat client. Plain ES2020, no build step, no dependencies.
 *
 * Layout of this file:
 *   1. Constants, DOM lookups, state
 *   2. Small helpers (DOM building, time formatting, ids)
 *   3. HTTP API and the sign-in screen
 *   4. Session lifecycle (enter chat / sign out)
 *   5. Socket: connect, reconnect with backoff, frame dispatch
 *   6. Room model: messages, pending sends, unread, typing, presence
 *   7. Rendering: sidebar, header, messages, typing, connection state
 *   8. Composer, typing notifications, read receipts
 *   9. Event wiring and boot
 *
 * Security rule: every piece of user-provided text (messages, names, room names, server error
 * messages) reaches the DOM through textContent / createTextNode only. Never innerHTML.
 */
import { h, svgIcon, reconcile, toast } from './lib/dom.js';
import { clockTime, fullTime, dayLabel, startOfDay, unreadText, charCount, initial, oneLine } from './lib/format.js';
import { createApi } from './lib/api.js';
import { Connection } from './lib/connection.js';

// ------------------------------------------------------------------ 1. constants & state

const TOKEN_KEY = 'chat.token';
const LAST_ROOM_KEY = 'chat.lastRoom'; // sessionStorage: the room to reopen after a reload
const MAX_CHARS = 4000;
const COUNTER_FROM = 3600; // show the counter once the text gets this long
const GROUP_MS = 5 * 60 * 1000;
const TYPING_SEND_EVERY = 3000;
const TYPING_IDLE = 5000;
const TYPING_EXPIRE = 6000;
const HISTORY_PAGE = 50;
const NEAR_BOTTOM_PX = 80;
const ROOM_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const SUPPORT_LABEL = 'Help from the store';

const $ = (id) => document.getElementById(id);
const el = {
  boot: $('boot'), signin: $('signin'), chat: $('chat'), signinError: $('signin-error'),
  guestForm: $('guest-form'), guestName: $('guest-name'), guestStart: $('guest-start'),
  loginForm: $('login-form'), loginUser: $('login-username'), loginPass: $('login-password'),
  loginSubmit: $('login-submit'), registerForm: $('register-form'),
  registerUser: $('register-username'), registerPass: $('register-password'),
  registerSubmit: $('register-submit'), signOut: $('sign-out'), me: $('me'),
  sidebar: $('sidebar'), sidebarToggle: $('sidebar-toggle'), sidebarClose: $('sidebar-close'),
  backdrop: $('sidebar-backdrop'), toggleDot: $('toggle-dot'), roomList: $('room-list'),
  joinForm: $('join-form'), joinName: $('join-room-name'), joinSubmit: $('join-room-submit'),
  joinError: $('join-error'), roomTitle: $('room-title'), roomSubtitle: $('room-subtitle'),
  online: $('online'), leaveRoom: $('leave-room'), banner: $('reconnect-banner'),
  bannerText: $('reconnect-text'), reconnectNow: $('reconnect-now'), messages: $('messages'),
  newMessages: $('new-messages'), typing: $('typing'), composerForm: $('composer-form'),
  composer: $('composer'), send: $('send'), counter: $('composer-counter'),
  conn: $('connection-status'), toast: $('toast'),
};

/** Everything the page knows. Reset on sign-out. */
const state = {
  token: null,
  user: null,              // {id, username, role}
  rooms: new Map(),        // name -> Room (see newRoom)
  openRoom: null,          // name of the room on screen
  pending: new Map(),      // cid -> {cid, room, text, ts, status: 'pending'|'failed', error}
  connState: 'offline',
  joinRequests: new Set(), // rooms asked for through the join form, awaiting `joined`
};

/** Our own typing notification state. */
const myTyping = { room: null, on: false, lastSent: 0, idleTimer: null };

/** Rendered message elements of the open room, by key, so unchanged rows are reused. */
const view = { room: null, cache: new Map() };

function newRoom(name) {
  return {
    name,
    messages: [],          // stored messages, sorted by seq
    bySeq: new Map(),      // seq -> message
    loaded: false,         // received a `joined` at least once (so we can use `since`)
    joined: false,         // joined on the current socket
    oldestSeq: null,       // smallest seq from joined/history pages (for `before`)
    more: false,           // older history exists
    historyPending: false,
    historyHoldUntil: 0,   // after a refused history request, wait before asking again
    unread: 0,
    countedUpTo: 0,        // messages up to this seq are already reflected in `unread`
    readSent: 0,           // highest seq sent in a `read`
    online: new Map(),     // user id -> user
    crowdedCount: 0,       // users online when the room is too crowded to name them, else 0
    typing: new Map(),     // user id -> {user, timer}
    draft: '',
    el: null,              // sidebar element
  };
}

// ------------------------------------------------------------------ 2. helpers

const ICONS = {
  clock: 'M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18Zm0 2a7 7 0 1 1 0 14 7 7 0 0 1 0-14Zm-1 2v5.4l4.2 2.5 1-1.7-3.2-1.9V7h-2Z',
  check: 'M9.5 16.6 4.9 12l-1.4 1.4 6 6L21 7.9l-1.4-1.4L9.5 16.6Z',
  alert: 'M12 2 1 21h22L12 2Zm-1 7h2v6h-2V9Zm0 8h2v2h-2v-2Z',
  megaphone: 'M3 10v4a1 1 0 0 0 1 1h2l4 4V5L6 9H4a1 1 0 0 0-1 1Zm11-3v10a5 5 0 0 0 0-10Zm0-4v2a7 7 0 0 1 0 14v2a9 9 0 0 0 0-18Z',
  hash: 'M10 3 9.3 8H5v2h4l-.6 4H4v2h4.1L7.4 21h2l.7-5h3.9l-.7 5h2l.7-5H20v-2h-4.1l.6-4H21V8h-4.3l.7-5h-2l-.7 5h-3.9l.7-5h-2Zm1.3 7h3.9l-.6 4h-3.9l.6-4Z',
  support: 'M12 2a9 9 0 0 0-9 9v6a3 3 0 0 0 3 3h2v-8H5v-1a7 7 0 0 1 14 0v1h-3v8h3v1h-6v2h6a2 2 0 0 0 2-2V11a9 9 0 0 0-9-9Z',
};

const icon = (name, size = 14) => svgIcon(ICONS[name], { cls: 'icon icon-' + name, size, filled: true });

/** A client message id: 1-64 printable ASCII characters. */
function newCid() {
  if (window.crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  if (window.crypto && crypto.getRandomValues) crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  return 'c-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

const isSupport = (name) => name.startsWith('support:');
const mySupportRoom = () => (state.user ? 'support:' + state.user.id : null);
const isMine = (m) => !!state.user && m.from && m.from.id === state.user.id;
const isAnnouncement = (m) => m.kind === 'announcement';

function roomLabel(name) {
  if (name === mySupportRoom()) return SUPPORT_LABEL;
  if (isSupport(name)) {
    // A staff member looking at a customer's conversation: name it after the customer.
    const room = state.rooms.get(name);
    const ownerId = Number(name.slice(8));
    const byOwner = room && room.messages.find((m) => m.from && m.from.id === ownerId);
    return byOwner ? 'Support · ' + byOwner.from.username : 'Support #' + ownerId;
  }
  return name;
}

/** A small hue per user, so avatars are told apart. */
function hueFor(id) { return (Number(id) * 47) % 360; }

const notify = (text) => toast(el.toast, text, 'error');

// ------------------------------------------------------------------ 3. HTTP API & sign-in

// A 401 on any call made with the token means the session is over: back to sign-in, told why.
const api = createApi({
  token: () => state.token,
  onError: (err) => { if (err.status === 401) { err.handled = true; signOut(err.message); } },
});

function showSigninError(text) { el.signinError.textContent = text || ''; }

/** Run one of the three sign-in calls, with its button disabled meanwhile. */
async function signIn(button, path, body) {
  showSigninError('');
  const buttons = [el.guestStart, el.loginSubmit, el.registerSubmit];
  buttons.forEach((b) => { b.disabled = true; });
  button.classList.add('busy');
  try {
    const data = await api('POST', path, body, { auth: false });
    localStorage.setItem(TOKEN_KEY, data.token);
    sessionStorage.removeItem(LAST_ROOM_KEY); // a fresh sign-in opens the support room
    el.loginPass.value = '';
    el.registerPass.value = '';
    enterChat(data.token, data.user);
  } catch (err) {
    showSigninError(err.message);
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
    button.classList.remove('busy');
  }
}

function showSignin(message) {
  el.boot.hidden = true;
  el.chat.hidden = true;
  el.signin.hidden = false;
  showSigninError(message || '');
  document.title = 'Help & Chat';
  el.guestName.focus();
}

/** Decode the JWT payload (only to show a name before the server answers). */
function tokenClaims(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(Array.from(atob(part), (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')).join(''));
    return JSON.parse(json);
  } catch (_) { return null; }
}

// ------------------------------------------------------------------ 4. session lifecycle

function enterChat(token, user) {
  resetChatState();
  state.token = token;
  state.user = user;
  el.boot.hidden = true;
  el.signin.hidden = true;
  el.chat.hidden = false;
  renderMe();
  renderAll();
  conn.start(token);
}

/** Drop the session: close the socket, forget the token, show sign-in (with a reason). */
function signOut(message) {
  stopTyping();
  resetChatState();
  localStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(LAST_ROOM_KEY);
  state.token = null;
  state.user = null;
  setConnState('offline');
  showSignin(message);
}

function resetChatState() {
  conn.stop();
  markDisconnected();
  for (const room of state.rooms.values()) for (const t of room.typing.values()) clearTimeout(t.timer);
  state.rooms.clear();
  state.pending.clear();
  state.joinRequests.clear();
  state.openRoom = null;
  view.room = null;
  view.cache.clear();
  el.messages.replaceChildren();
  el.roomList.replaceChildren();
  el.composer.value = '';
  el.joinError.textContent = '';
  closeSidebar();
}

// ------------------------------------------------------------------ 5. socket

const conn = new Connection({
  onFrame: handleFrame,
  onStatus: setConnState,
  onDown: markDisconnected,
  verify: () => api('GET', '/api/me').then(() => true, (err) => !err.handled),
});
const socketReady = () => conn.ready;
const sendFrame = (frame) => conn.send(frame);

function markDisconnected() {
  for (const room of state.rooms.values()) {
    room.joined = false;
    room.historyPending = false;
    for (const t of room.typing.values()) clearTimeout(t.timer);
    room.typing.clear();
    room.online.clear(); // unknown until the next `joined`
    room.crowdedCount = 0;
  }
  myTyping.on = false;
  clearTimeout(myTyping.idleTimer);
  renderTyping();
  renderHeader();
}

function handleFrame(f) {
  switch (f.type) {
    case 'hello': return onHello(f);
    case 'joined': return onJoined(f);
    case 'message': return onMessage(f);
    case 'ack': return onAck(f);
    case 'history': return onHistory(f);
    case 'unread': return onUnread(f);
    case 'presence': return onPresence(f);
    case 'online': return onOnline(f);
    case 'typing': return onTyping(f);
    case 'deleted': return onDeleted(f);
    case 'error': return onError(f);
    default: return undefined; // frames this page does not use
  }
}

// ------------------------------------------------------------------ 6. room model

function onHello(f) {
  state.user = f.user;
  renderMe();

  // The server's list is authoritative: drop rooms that were left elsewhere.
  const listed = new Set(f.rooms.map((r) => r.room));
  for (const name of Array.from(state.rooms.keys())) {
    if (!listed.has(name) && !state.joinRequests.has(name)) state.rooms.delete(name);
  }
  for (const entry of f.rooms) {
    let room = state.rooms.get(entry.room);
    if (!room) {
      room = newRoom(entry.room);
      state.rooms.set(entry.room, room);
      if (entry.unread === 0) room.readSent = entry.last_seq;
    }
    room.unread = entry.unread;          // authoritative at this moment…
    if (entry.unread > 0) room.readSent = 0; // a read of ours may have been lost: allow a resend
    room.countedUpTo = entry.last_seq;   // …for every message up to last_seq
  }
  for (const room of state.rooms.values()) sendJoin(room);

  if (!state.openRoom || !state.rooms.has(state.openRoom)) {
    const last = sessionStorage.getItem(LAST_ROOM_KEY);
    openRoom(last && state.rooms.has(last) ? last : (mySupportRoom() && state.rooms.has(mySupportRoom()) ? mySupportRoom() : f.rooms[0] && f.rooms[0].room));
  }
  renderAll();
}

function sendJoin(room) {
  const frame = { type: 'join', room: room.name };
  if (room.loaded) frame.since = maxSeq(room);
  sendFrame(frame);
}

const maxSeq = (room) => (room.messages.length ? room.messages[room.messages.length - 1].seq : 0);

/** Insert a stored message, keeping seq order; false if it is a duplicate. */
function insertMessage(room, m) {
  if (room.bySeq.has(m.seq)) return false;
  room.bySeq.set(m.seq, m);
  const list = room.messages;
  if (!list.length || list[list.length - 1].seq < m.seq) { list.push(m); return true; }
  let lo = 0, hi = list.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (list[mid].seq < m.seq) lo = mid + 1; else hi = mid; }
  list.splice(lo, 0, m);
  return true;
}

function clearMessages(room) {
  room.messages = [];
  room.bySeq.clear();
  room.oldestSeq = null;
}

/** A stored message replaces the pending one with the same cid (ours). */
function settlePending(m) {
  if (!m.cid || !isMine(m)) return;
  const p = state.pending.get(m.cid);
  if (p && p.room === m.room) state.pending.delete(m.cid);
}

/** Count messages by others that the hello's unread did not include yet. */
function countUnread(room, list) {
  const seen = isOpenAndSeen(room.name);
  for (const m of list) {
    if (m.seq <= room.countedUpTo) continue;
    room.countedUpTo = m.seq;
    if (!isMine(m) && !seen) room.unread++;
  }
}

function onJoined(f) {
  const room = state.rooms.get(f.room) || newRoom(f.room);
  if (!state.rooms.has(f.room)) { state.rooms.set(f.room, room); room.countedUpTo = f.last_seq; }
  const firstLoad = !room.loaded;
  room.joined = true;
  setOnline(room, f);
  for (const m of f.messages) settlePending(m);

  if (firstLoad || f.recovered === false) {
    // First page, or the recovery was cut short: start again from the newest messages.
    clearMessages(room);
    if (f.recovered === false) {
      room.more = true;
      room.historyHoldUntil = 0;
      requestHistory(room, true);
    } else {
      f.messages.forEach((m) => insertMessage(room, m));
      room.oldestSeq = f.messages.length ? f.messages[0].seq : null;
      room.more = f.messages.length >= HISTORY_PAGE && f.messages[0].seq > 1;
    }
  } else {
    f.messages.forEach((m) => insertMessage(room, m));
    // Deleted while we were away: take them off the screen.
    for (const seq of f.deleted || []) dropMessage(room, seq);
  }
  room.loaded = true;
  countUnread(room, f.messages);
  if (room.countedUpTo < f.last_seq) room.countedUpTo = f.last_seq;

  // Resend everything this room has not had acknowledged, with the same cid.
  for (const p of state.pending.values()) {
    if (p.room === room.name && p.status === 'pending') sendFrame({ type: 'send', room: p.room, text: p.text, cid: p.cid });
  }

  if (state.joinRequests.delete(room.name)) {
    el.joinName.value = '';
    openRoom(room.name);
  } else if (room.name === state.openRoom) {
    renderMessages(firstLoad ? 'bottom' : 'auto');
    renderHeader();
    maybeMarkRead();
  }
  renderSidebar();
}

function onMessage(m) {
  const room = state.rooms.get(m.room);
  if (!room) return;
  settlePending(m);
  const isNew = insertMessage(room, m);
  const typer = room.typing.get(m.from.id);
  if (typer) { clearTimeout(typer.timer); room.typing.delete(m.from.id); }
  countUnread(room, [m]);
  if (room.name === state.openRoom) {
    const near = isNearBottom();
    renderMessages(isMine(m) ? 'bottom' : 'auto');
    if (isNew && !near && !isMine(m)) el.newMessages.hidden = false;
    renderTyping();
    maybeMarkRead();
  }
  renderSidebar();
}

function onAck(f) {
  const p = state.pending.get(f.cid);
  if (!p || p.room !== f.room) return;
  state.pending.delete(f.cid);
  const room = state.rooms.get(f.room);
  // A resend of a message stored earlier gets only an ack. If we do not hold that message yet
  // but it falls within what we have loaded, show it from our own copy.
  if (room && !room.bySeq.has(f.seq) && (room.oldestSeq === null || f.seq >= room.oldestSeq)) {
    insertMessage(room, { room: f.room, seq: f.seq, id: null, from: state.user, text: p.text, ts: p.ts, cid: p.cid });
  }
  if (f.room === state.openRoom) renderMessages('auto');
}

function onHistory(f) {
  const room = state.rooms.get(f.room);
  if (!room) return;
  room.historyPending = false;
  f.messages.forEach((m) => { settlePending(m); insertMessage(room, m); });
  if (f.messages.length && (room.oldestSeq === null || f.messages[0].seq < room.oldestSeq)) room.oldestSeq = f.messages[0].seq;
  room.more = f.more && f.messages.length > 0;
  if (f.room === state.openRoom) { renderMessages('auto'); maybeMarkRead(); }
  renderSidebar();
}

function requestHistory(room, newest) {
  if (room.historyPending || Date.now() < room.historyHoldUntil) return;
  if (!newest && (!room.more || room.oldestSeq === null)) return;
  const frame = { type: 'history', room: room.name, limit: HISTORY_PAGE };
  if (!newest) frame.before = room.oldestSeq;
  if (sendFrame(frame)) {
    room.historyPending = true;
    if (room.name === state.openRoom) renderMessages('auto');
  }
}

function onUnread(f) {
  const room = state.rooms.get(f.room);
  if (!room) return;
  room.unread = f.count;
  renderSidebar();
}

// Who is online, from `joined` or from an `online` frame. A crowded room names nobody and
// sends no presence: its head count comes only from these frames.
function setOnline(room, f) {
  room.online = new Map(f.online.map((u) => [u.id, u]));
  room.crowdedCount = f.online_count > f.online.length ? f.online_count : 0;
}

function onOnline(f) {
  const room = state.rooms.get(f.room);
  if (!room) return;
  setOnline(room, f);
  if (f.room === state.openRoom) renderHeader();
}

function onPresence(f) {
  const room = state.rooms.get(f.room);
  if (!room) return;
  if (f.online) room.online.set(f.user.id, f.user);
  else {
    room.online.delete(f.user.id);
    const t = room.typing.get(f.user.id);
    if (t) { clearTimeout(t.timer); room.typing.delete(f.user.id); }
  }
  if (f.room === state.openRoom) { renderHeader(); renderTyping(); }
}

function onTyping(f) {
  const room = state.rooms.get(f.room);
  if (!room || (state.user && f.user.id === state.user.id)) return;
  const old = room.typing.get(f.user.id);
  if (old) clearTimeout(old.timer);
  if (f.on) {
    // Each indicator expires unless refreshed (senders refresh every few seconds).
    const timer = setTimeout(() => {
      room.typing.delete(f.user.id);
      if (room.name === state.openRoom) renderTyping();
    }, TYPING_EXPIRE);
    room.typing.set(f.user.id, { user: f.user, timer });
  } else {
    room.typing.delete(f.user.id);
  }
  if (f.room === state.openRoom) renderTyping();
}

/** Takes a message out of a room's model; false if it was not there. */
function dropMessage(room, seq) {
  if (!room.bySeq.delete(seq)) return false;
  room.messages = room.messages.filter((m) => m.seq !== seq);
  return true;
}

function onDeleted(f) {
  const room = state.rooms.get(f.room);
  if (!room || !dropMessage(room, f.seq)) return;
  if (f.room === state.openRoom) renderMessages('auto');
  renderSidebar();
}

function onError(f) {
  // Refused at connect (banned / account gone): the socket closes with 1008 next.
  if (!conn.ready && f.code === 'unauthorized') { signOut(f.message); return; }
  if (f.cid && state.pending.has(f.cid)) {
    const p = state.pending.get(f.cid);
    p.status = 'failed';
    p.error = f.message;
    if (p.room === state.openRoom) renderMessages('auto');
    return;
  }
  if (f.room) {
    const room = state.rooms.get(f.room);
    if (state.joinRequests.delete(f.room)) {
      // A join from the form failed: take the room back out of the list.
      if (room && !room.joined) state.rooms.delete(f.room);
      el.joinError.textContent = f.message;
      renderSidebar();
      return;
    }
    if (room && room.historyPending) {
      room.historyPending = false;
      room.historyHoldUntil = Date.now() + 3000;
      if (f.code === 'forbidden' || f.code === 'not_found') room.more = false;
      if (f.room === state.openRoom) renderMessages('auto');
    }
    if (room && !room.joined && (f.code === 'forbidden' || f.code === 'not_found')) {
      state.rooms.delete(f.room);
      if (state.openRoom === f.room) openRoom(mySupportRoom());
      renderSidebar();
    }
  }
  // Background frames (typing, read) refused for rate are not worth a notice.
  if (f.code !== 'rate_limited') notify(f.message);
}

/** Queue a message: shown at once as pending, sent now if the room is joined, else after join. */
function sendMessage(text) {
  const room = state.rooms.get(state.openRoom);
  if (!room || !state.user) return;
  const p = { cid: newCid(), room: room.name, text, ts: Date.now(), status: 'pending', error: null };
  state.pending.set(p.cid, p);
  if (room.joined && socketReady()) sendFrame({ type: 'send', room: p.room, text: p.text, cid: p.cid });
  renderMessages('bottom');
}

function retryMessage(cid) {
  const p = state.pending.get(cid);
  if (!p) return;
  p.status = 'pending';
  p.error = null;
  const room = state.rooms.get(p.room);
  if (room && room.joined && socketReady()) sendFrame({ type: 'send', room: p.room, text: p.text, cid: p.cid });
  renderMessages('auto');
}

function discardMessage(cid) {
  state.pending.delete(cid);
  renderMessages('auto');
}

function joinRoomFromForm() {
  const name = el.joinName.value.trim();
  el.joinError.textContent = '';
  if (!ROOM_RE.test(name)) {
    el.joinError.textContent = 'Room names use lowercase letters, digits, “-” and “_” (up to 64), starting with a letter or digit.';
    return;
  }
  if (state.rooms.has(name) && state.rooms.get(name).joined) {
    el.joinName.value = '';
    openRoom(name);
    return;
  }
  if (!socketReady()) { el.joinError.textContent = 'Not connected right now. Try again in a moment.'; return; }
  state.joinRequests.add(name);
  if (!state.rooms.has(name)) state.rooms.set(name, newRoom(name));
  sendJoin(state.rooms.get(name));
  renderSidebar();
}

function leaveOpenRoom() {
  const name = state.openRoom;
  if (!name || isSupport(name)) return;
  stopTyping();
  sendFrame({ type: 'leave', room: name });
  const room = state.rooms.get(name);
  if (room) for (const t of room.typing.values()) clearTimeout(t.timer);
  state.rooms.delete(name);
  for (const [cid, p] of state.pending) if (p.room === name) state.pending.delete(cid);
  openRoom(mySupportRoom() && state.rooms.has(mySupportRoom()) ? mySupportRoom() : (state.rooms.keys().next().value || null));
  renderSidebar();
}

/** Put a room on screen. */
function openRoom(name) {
  if (!name) return;
  if (state.openRoom && state.openRoom !== name) {
    stopTyping();
    const prev = state.rooms.get(state.openRoom);
    if (prev) prev.draft = el.composer.value;
  }
  const changed = state.openRoom !== name;
  state.openRoom = name;
  sessionStorage.setItem(LAST_ROOM_KEY, name);
  const room = state.rooms.get(name);
  if (changed) {
    el.composer.value = room ? room.draft : '';
    el.newMessages.hidden = true;
    view.room = null; // forces a fresh message list
  }
  closeSidebar();
  renderAll('bottom');
  updateComposer();
  maybeMarkRead();
  if (changed && window.matchMedia('(min-width: 769px)').matches) el.composer.focus();
}

// ------------------------------------------------------------------ 7. rendering

function renderAll(scroll) {
  renderSidebar();
  renderHeader();
  renderMessages(scroll || 'auto');
  renderTyping();
}

function renderMe() {
  el.me.textContent = state.user ? state.user.username : '';
}

const CONN_TEXT = { connecting: 'Connecting…', connected: 'Connected', reconnecting: 'Reconnecting…', offline: 'Offline' };

function setConnState(s) {
  state.connState = s;
  el.conn.dataset.state = s;
  el.conn.querySelector('.conn-text').textContent = CONN_TEXT[s];
  const down = (s === 'reconnecting' || s === 'offline') && !!state.token;
  el.banner.hidden = !down;
  el.bannerText.textContent = s === 'offline'
    ? 'You’re offline. Messages you send will be delivered when the connection is back.'
    : 'Reconnecting… Messages you send will be delivered when the connection is back.';
}

/** Sidebar: one persistent element per room, reordered in place (support room first). */
function renderSidebar() {
  const names = Array.from(state.rooms.keys());
  const mine = mySupportRoom();
  names.sort((a, b) => (a === mine ? -1 : b === mine ? 1 : a < b ? -1 : a > b ? 1 : 0));
  const nodes = names.map((name) => {
    const room = state.rooms.get(name);
    if (!room.el) room.el = buildRoomItem(room);
    updateRoomItem(room);
    return room.el;
  });
  reconcile(el.roomList, nodes);

  // Unread total in the tab title, and a dot on the menu button (narrow screens).
  let total = 0, others = 0;
  for (const room of state.rooms.values()) {
    total += room.unread;
    if (room.name !== state.openRoom) others += room.unread;
  }
  document.title = (total ? '(' + unreadText(total) + ') ' : '') + 'Help & Chat';
  el.toggleDot.hidden = others === 0;
}

function buildRoomItem(room) {
  const support = isSupport(room.name);
  const item = h('button', { class: 'room-item', type: 'button', 'data-room': room.name },
    h('span', { class: 'room-icon' + (support ? ' support' : ''), 'aria-hidden': 'true' },
      icon(support ? 'support' : 'hash', 16)),
    h('span', { class: 'room-body' }, h('span', { class: 'room-name' }), h('span', { class: 'room-preview' })),
    h('span', { class: 'badge' }));
  item.addEventListener('click', () => openRoom(room.name));
  return item;
}

function updateRoomItem(room) {
  const item = room.el;
  const active = room.name === state.openRoom;
  item.classList.toggle('active', active);
  if (active) item.setAttribute('aria-current', 'true'); else item.removeAttribute('aria-current');
  item.classList.toggle('has-unread', room.unread > 0);
  item.querySelector('.room-name').textContent = roomLabel(room.name);
  const last = room.messages[room.messages.length - 1];
  const preview = item.querySelector('.room-preview');
  if (last) preview.textContent = (isMine(last) ? 'You' : last.from.username) + ': ' + oneLine(last.text);
  else preview.textContent = state.joinRequests.has(room.name) ? 'Joining…' : (isSupport(room.name) ? 'Ask us anything' : 'No messages yet');
  const badge = item.querySelector('.badge');
  badge.textContent = room.unread > 0 ? unreadText(room.unread) : '';
  badge.hidden = room.unread <= 0;
  item.setAttribute('aria-label', roomLabel(room.name) + (room.unread > 0 ? ', ' + unreadText(room.unread) + ' unread' : ''));
}

function renderHeader() {
  const name = state.openRoom;
  const room = name && state.rooms.get(name);
  el.roomTitle.textContent = name ? roomLabel(name) : '';
  el.roomTitle.classList.toggle('public', !!name && !isSupport(name));
  el.leaveRoom.hidden = !name || isSupport(name);
  const users = room ? Array.from(room.online.values()) : [];
  users.sort((a, b) => a.username.localeCompare(b.username) || a.id - b.id);
  let subtitle = '';
  if (name && isSupport(name) && name === mySupportRoom()) {
    subtitle = users.some((u) => u.role === 'admin')
      ? 'The team is online'
      : 'We’ll reply here as soon as we can';
  } else if (room && room.crowdedCount) {
    // A crowded room's count comes from `joined` and `online` frames, at most 10 s old.
    subtitle = 'About ' + room.crowdedCount + ' online';
  } else if (room) {
    subtitle = users.length + ' online';
  }
  el.roomSubtitle.textContent = subtitle;
  el.roomSubtitle.classList.toggle('staff-online', subtitle === 'The team is online');
  el.online.replaceChildren(...users.map((u) => {
    const chip = h('span', { class: 'online-user' + (state.user && u.id === state.user.id ? ' is-me' : '') + (u.role === 'admin' ? ' staff' : '') }, u.username);
    chip.dataset.initial = initial(u.username);
    chip.style.setProperty('--hue', String(hueFor(u.id)));
    chip.title = u.username + (u.role === 'admin' ? ' (staff)' : '');
    return chip;
  }));
}

function renderTyping() {
  const room = state.openRoom && state.rooms.get(state.openRoom);
  const names = room ? Array.from(room.typing.values(), (t) => t.user.username) : [];
  if (!names.length) { el.typing.replaceChildren(); return; }
  let text;
  if (names.length === 1) text = names[0] + ' is typing…';
  else if (names.length === 2) text = names[0] + ' and ' + names[1] + ' are typing…';
  else text = names[0] + ', ' + names[1] + ' and ' + (names.length - 2) + ' more are typing…';
  const dots = h('span', { class: 'typing-dots', 'aria-hidden': 'true' }, h('span'), h('span'), h('span'));
  el.typing.replaceChildren(dots, text);
}

function isNearBottom() {
  const m = el.messages;
  return m.scrollHeight - m.scrollTop - m.clientHeight < NEAR_BOTTOM_PX;
}

function scrollToBottom(smooth) {
  const m = el.messages;
  if (smooth) m.scrollTo({ top: m.scrollHeight, behavior: 'smooth' });
  else m.scrollTop = m.scrollHeight;
  el.newMessages.hidden = true;
}

/**
 * Render the open room's messages. `scroll`: 'bottom' always scrolls down; 'auto' follows the
 * bottom if the view was near it, and otherwise keeps the first visible row where it was (so
 * loading older history does not move what the reader is looking at).
 */
function renderMessages(scroll) {
  const box = el.messages;
  const room = state.openRoom && state.rooms.get(state.openRoom);
  if (view.room !== state.openRoom) { view.room = state.openRoom; view.cache.clear(); box.replaceChildren(); scroll = 'bottom'; }
  if (!room) { box.replaceChildren(); return; }

  const wasNear = isNearBottom();
  let anchorKey = null, anchorOffset = 0;
  if (scroll !== 'bottom' && !wasNear) {
    // Anchor on the first message row in view (not the top status or a day separator, which
    // move when older rows are inserted above them).
    for (const child of box.children) {
      if (child.classList.contains('message') && child.offsetTop + child.offsetHeight > box.scrollTop) {
        anchorKey = child.dataset.key; anchorOffset = child.offsetTop - box.scrollTop; break;
      }
    }
  }

  const rows = buildRows(room);
  const fresh = new Map();
  const nodes = rows.map((row) => {
    const cached = view.cache.get(row.key);
    const node = cached && cached.sig === row.sig ? cached.node : row.build();
    node.dataset.key = row.key;
    fresh.set(row.key, { sig: row.sig, node });
    return node;
  });
  view.cache = fresh;
  reconcile(box, nodes);

  if (scroll === 'bottom' || wasNear) {
    scrollToBottom(false);
  } else if (anchorKey) {
    const a = fresh.get(anchorKey);
    if (a) box.scrollTop = a.node.offsetTop - anchorOffset;
  }
  // Not enough to fill the view: fetch older messages right away.
  if (room.more && box.scrollHeight <= box.clientHeight + 40) requestHistory(room, false);
}

/** The rows of the list: a top status, day separators, stored then pending messages. */
function buildRows(room) {
  const rows = [];
  let top;
  if (room.historyPending) top = { key: 'top', sig: 'loading', build: () => buildTop('loading', room) };
  else if (room.more) top = { key: 'top', sig: 'more', build: () => buildTop('more', room) };
  else if (!room.loaded) top = { key: 'top', sig: 'wait', build: () => buildTop('wait', room) };
  else top = { key: 'top', sig: 'start:' + room.name, build: () => buildTop('start', room) };
  rows.push(top);

  const pend = Array.from(state.pending.values()).filter((p) => p.room === room.name)
    .map((p) => ({ seq: null, cid: p.cid, from: state.user, text: p.text, ts: p.ts, pending: p }));
  const all = room.messages.concat(pend);
  let prev = null;
  const msgRows = [];
  for (const m of all) {
    const day = startOfDay(m.ts);
    if (!prev || startOfDay(prev.ts) !== day) {
      const label = dayLabel(m.ts);
      rows.push({ key: 'd:' + day, sig: label, build: () => buildDay(label) });
      prev = null;
    }
    const grouped = !!prev && !isAnnouncement(prev) && !isAnnouncement(m) && prev.from.id === m.from.id && m.ts - prev.ts < GROUP_MS;
    const row = { m, grouped, last: true };
    if (grouped) msgRows[msgRows.length - 1].last = false;
    msgRows.push(row);
    rows.push(row);
    prev = m;
  }
  for (const row of msgRows) {
    const m = row.m, p = m.pending;
    row.key = p ? 'c:' + p.cid : 's:' + m.seq;
    row.sig = [row.grouped, row.last, p ? p.status : 'stored', p ? p.error : '', isMine(m), clockTime(m.ts), m.from.username].join('|');
    row.build = () => buildMessage(row);
  }
  return rows;
}

function buildTop(kind, room) {
  if (kind === 'loading' || kind === 'wait') {
    return h('div', { class: 'history-status' }, h('span', { class: 'spinner small', 'aria-hidden': 'true' }),
      kind === 'wait' ? 'Loading messages…' : 'Loading earlier messages…');
  }
  if (kind === 'more') return h('div', { class: 'history-status' }, 'Scroll up for earlier messages');
  // The beginning of the conversation.
  if (room.name === mySupportRoom()) {
    return h('div', { class: 'conversation-start' },
      h('div', { class: 'start-icon', 'aria-hidden': 'true' }, icon('support', 22)),
      h('p', { class: 'start-title' }, 'Hi ' + (state.user ? state.user.username : 'there') + ', how can we help?'),
      h('p', { class: 'start-text' }, 'Send us a message and the team will reply right here. You can close this page and come back any time.'));
  }
  return h('div', { class: 'conversation-start' },
    h('p', { class: 'start-title' }, 'This is the beginning of ' + roomLabel(room.name)),
    h('p', { class: 'start-text' }, isSupport(room.name) ? 'Support conversation.' : 'A public room: everyone who joins can read it.'));
}

function buildDay(label) {
  return h('div', { class: 'day-separator', role: 'separator' }, h('span', null, label));
}

/** A <time> with the clock time, the full date as its tooltip. */
function timeEl(ts) {
  return h('time', { class: 'message-time', datetime: new Date(ts).toISOString(), title: fullTime(ts) }, clockTime(ts));
}

function buildMessage(row) {
  const m = row.m, p = m.pending;
  const mine = isMine(m);
  const staff = m.from.role === 'admin';
  const cls = ['message'];
  if (mine) cls.push('mine');
  if (row.grouped) cls.push('grouped');
  if (row.last) cls.push('last');
  if (p) cls.push(p.status);
  if (staff) cls.push('staff');
  const node = h('div', { class: cls.join(' ') });
  node.dataset.seq = m.seq == null ? '' : String(m.seq);
  if (m.cid) node.dataset.cid = m.cid;

  if (isAnnouncement(m)) {
    node.classList.add('announcement');
    node.append(
      h('div', { class: 'announcement-label' }, icon('megaphone', 14), ' Announcement'),
      h('div', { class: 'message-text' }, m.text),
      h('div', { class: 'announcement-meta' }, h('span', { class: 'message-author' }, m.from.username), ' · ', timeEl(m.ts)));
    return node;
  }

  if (!mine) {
    const avatar = h('div', { class: 'avatar', 'aria-hidden': 'true' });
    if (!row.grouped) {
      avatar.dataset.initial = initial(m.from.username);
      avatar.style.setProperty('--hue', String(hueFor(m.from.id)));
    } else avatar.classList.add('spacer');
    node.append(avatar);
  }
  const body = h('div', { class: 'message-body' });
  if (!row.grouped) {
    body.append(h('div', { class: 'message-head' + (mine ? ' sr-only' : '') },
      h('span', { class: 'message-author' }, m.from.username),
      staff && h('span', { class: 'staff-tag' }, 'Staff')));
  }
  const meta = h('span', { class: 'message-meta' }, timeEl(m.ts));
  if (mine) {
    const status = !p ? 'Delivered' : p.status === 'failed' ? 'Not sent' : 'Sending';
    meta.append(h('span', { class: 'message-status', title: status === 'Sending' ? 'Sending…' : status },
      icon(!p ? 'check' : p.status === 'failed' ? 'alert' : 'clock', 13),
      h('span', { class: 'sr-only' }, status)));
  }
  body.append(h('div', { class: 'bubble' }, h('div', { class: 'message-text' }, m.text), meta));
  if (p && p.status === 'failed') {
    body.append(h('div', { class: 'message-failure' },
      h('span', { class: 'message-error' }, p.error || 'Not sent'),
      h('button', { class: 'retry', type: 'button' }, 'Retry'),
      h('button', { class: 'discard', type: 'button' }, 'Discard')));
  }
  node.append(body);
  return node;
}

// ------------------------------------------------------------------ 8. composer, typing, read

function updateComposer() {
  const text = el.composer.value;
  const n = charCount(text);
  el.send.disabled = !state.openRoom || !text.trim() || n > MAX_CHARS;
  if (n >= COUNTER_FROM) {
    el.counter.textContent = n > MAX_CHARS ? (n - MAX_CHARS) + ' characters too long' : n + ' / ' + MAX_CHARS;
    el.counter.classList.toggle('over', n > MAX_CHARS);
  } else {
    el.counter.textContent = '';
    el.counter.classList.remove('over');
  }
  // Grow with the text, up to a limit (set from JS: allowed by the CSP).
  el.composer.style.height = 'auto';
  el.composer.style.height = Math.min(el.composer.scrollHeight, 180) + 'px';
}

function submitComposer() {
  const text = el.composer.value;
  if (!state.openRoom || !text.trim() || charCount(text) > MAX_CHARS) return;
  el.composer.value = '';
  const room = state.rooms.get(state.openRoom);
  if (room) room.draft = '';
  stopTyping();
  updateComposer();
  sendMessage(text);
}

/** Typing notifications: on:true at most every 3 s while typing, off when idle/cleared/sent. */
function onComposerInput() {
  updateComposer();
  const name = state.openRoom;
  const room = name && state.rooms.get(name);
  if (!room) return;
  if (!el.composer.value.trim()) { stopTyping(); return; }
  const now = Date.now();
  if (!myTyping.on || myTyping.room !== name || now - myTyping.lastSent >= TYPING_SEND_EVERY) {
    if (room.joined && socketReady() && sendFrame({ type: 'typing', room: name, on: true })) {
      myTyping.on = true;
      myTyping.room = name;
      myTyping.lastSent = now;
    }
  }
  clearTimeout(myTyping.idleTimer);
  myTyping.idleTimer = setTimeout(stopTyping, TYPING_IDLE);
}

function stopTyping() {
  clearTimeout(myTyping.idleTimer);
  if (!myTyping.on) return;
  const room = state.rooms.get(myTyping.room);
  if (room && room.joined && socketReady()) sendFrame({ type: 'typing', room: myTyping.room, on: false });
  myTyping.on = false;
  myTyping.room = null;
}

/** Whether the reader can see the newest messages of `name` right now. */
function isOpenAndSeen(name) {
  return name === state.openRoom && document.visibilityState === 'visible' && isNearBottom();
}

let readTimer = null;
/** Send `read` for the open room when its newest message is on screen (debounced). */
function maybeMarkRead() {
  const name = state.openRoom;
  const room = name && state.rooms.get(name);
  if (!room || !room.loaded || !isOpenAndSeen(name)) return;
  if (room.unread) { room.unread = 0; renderSidebar(); } // optimistic; `unread` confirms
  el.newMessages.hidden = true;
  clearTimeout(readTimer);
  readTimer = setTimeout(() => {
    const r = state.rooms.get(name);
    if (!r || !socketReady()) return;
    const seq = maxSeq(r);
    if (seq > r.readSent) { r.readSent = seq; sendFrame({ type: 'read', room: name, seq }); }
  }, 300);
}

// ------------------------------------------------------------------ 9. sidebar & wiring

function openSidebar() {
  el.sidebar.classList.add('open');
  el.backdrop.hidden = false;
  el.sidebarToggle.setAttribute('aria-expanded', 'true');
}

function closeSidebar() {
  el.sidebar.classList.remove('open');
  el.backdrop.hidden = true;
  el.sidebarToggle.setAttribute('aria-expanded', 'false');
}

function wire() {
  el.guestForm.addEventListener('submit', (e) => {
    e.preventDefault();
    signIn(el.guestStart, '/api/auth/guest', { name: el.guestName.value });
  });
  el.loginForm.addEventListener('submit', (e) => {
    e.preventDefault();
    signIn(el.loginSubmit, '/api/auth/login', { username: el.loginUser.value.trim(), password: el.loginPass.value });
  });
  el.registerForm.addEventListener('submit', (e) => {
    e.preventDefault();
    signIn(el.registerSubmit, '/api/auth/register', { username: el.registerUser.value.trim(), password: el.registerPass.value });
  });
  el.signOut.addEventListener('click', () => signOut(''));

  el.sidebarToggle.addEventListener('click', () => (el.sidebar.classList.contains('open') ? closeSidebar() : openSidebar()));
  el.sidebarClose.addEventListener('click', closeSidebar);
  el.backdrop.addEventListener('click', closeSidebar);
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape' && el.sidebar.classList.contains('open')) closeSidebar(); });

  el.joinForm.addEventListener('submit', (e) => { e.preventDefault(); joinRoomFromForm(); });
  el.joinName.addEventListener('input', () => { el.joinError.textContent = ''; });
  el.leaveRoom.addEventListener('click', leaveOpenRoom);

  el.composerForm.addEventListener('submit', (e) => { e.preventDefault(); submitComposer(); });
  el.composer.addEventListener('input', onComposerInput);
  el.composer.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      submitComposer();
    }
  });

  el.messages.addEventListener('click', (e) => {
    const btn = e.target.closest('button');
    const msg = btn && btn.closest('.message');
    if (!msg || !msg.dataset.cid) return;
    if (btn.classList.contains('retry')) retryMessage(msg.dataset.cid);
    else if (btn.classList.contains('discard')) discardMessage(msg.dataset.cid);
  });
  el.messages.addEventListener('scroll', () => {
    const room = state.openRoom && state.rooms.get(state.openRoom);
    if (room && el.messages.scrollTop < 120) requestHistory(room, false);
    if (isNearBottom()) { el.newMessages.hidden = true; maybeMarkRead(); }
  }, { passive: true });
  el.newMessages.addEventListener('click', () => { scrollToBottom(true); setTimeout(maybeMarkRead, 400); });

  el.reconnectNow.addEventListener('click', () => conn.connect());
  window.addEventListener('focus', () => maybeMarkRead());
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') maybeMarkRead();
  });
  // Keep "Today"/"Yesterday" right across midnight.
  setInterval(() => { if (state.openRoom) renderMessages('auto'); }, 60000);
}

/** On load: reuse a saved token if the server still accepts it. */
async function boot() {
  wire();
  const token = localStorage.getItem(TOKEN_KEY);
  if (!token) { showSignin(''); return; }
  state.token = token;
  try {
    const user = await api('GET', '/api/me');
    enterChat(token, user);
  } catch (err) {
    if (!err.handled) {
      // Server unreachable: go to the chat anyway; the socket keeps retrying.
      const claims = tokenClaims(token);
      enterChat(token, claims ? { id: Number(claims.sub), username: claims.name, role: claims.role } : null);
    }
  }
}

boot();

/* The customer chat page (/): sign in (guest, account), a support conversation with the staff,
 * and public rooms. An ES module, no build step, no dependencies.
 *
 * What both pages do is in the shared modules of static/lib/ (the README has the list): the
 * connection and its recovery, pending sends and their acks, the room model, the message list,
 * formatting and DOM helpers. This file keeps what is the chat page's own:
 *   1. Constants, DOM lookups, state
 *   2. Small helpers (icons, room names)
 *   3. HTTP API and the sign-in screen (its forms and ban notice are signin-screen.js)
 *   4. Session lifecycle (enter chat / sign out)
 *   5. The client's hooks: the room list from hello, unread counts, join and leave
 *   6. Rendering: sidebar, header, typing, connection state (the room list is
 *      room-list.js, the look of a message chat-message.js)
 *   7. Composer and read receipts
 *   8. Event wiring and boot
 *
 * Security rule: every piece of user-provided text (messages, names, room names, server error
 * messages) reaches the DOM through textContent / text nodes only (h() of lib/dom.js). Never
 * innerHTML.
 */
import { h, svgIcon, toast } from './lib/dom.js';
import { initial } from './lib/format.js';
import { createApi } from './lib/api.js';
import { ChatClient } from './lib/client.js';
import { MessageList, shownName, avatarColor, inkOn } from './lib/messages.js';
import { bindComposer } from './lib/composer.js';
import { SeenMarks } from './lib/seen.js';
import { RoomDirectory } from './room-directory.js';
import { SigninScreen, tokenClaims } from './signin-screen.js';
import { RoomList } from './room-list.js';
import { hueFor, messageBuilder } from './chat-message.js';
import { DeskStatus, deskNotice, showDeskNotice } from './lib/desk-status.js';

// ------------------------------------------------------------------ 1. constants & state

const TOKEN_KEY = 'chat.token';
const LAST_ROOM_KEY = 'chat.lastRoom'; // sessionStorage: the room to reopen after a reload
const SUPPORT_LABEL = 'Help from the store';
const PAGE_TITLE = document.title; // index.html's <title>; unread counts go in front of it

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
  joinError: $('join-error'), directoryList: $('directory-list'),
  directoryCreateWrap: $('directory-create'), directoryCreate: $('create-room'),
  directoryEmpty: $('directory-empty'), roomTitle: $('room-title'), roomSubtitle: $('room-subtitle'),
  online: $('online'), leaveRoom: $('leave-room'), banner: $('reconnect-banner'),
  bannerText: $('reconnect-text'), reconnectNow: $('reconnect-now'), messages: $('messages'),
  newMessages: $('new-messages'), typing: $('typing'), composerForm: $('composer-form'),
  composer: $('composer'), send: $('send'), counter: $('composer-counter'),
  conn: $('connection-status'), toast: $('toast'),
};

/**
 * What the page knows beyond the client's rooms. Reset on sign-out. Each room of the client
 * also carries this page's fields: `unread`, `countedUpTo` (messages up to this seq are in
 * `unread` already), `draft` (unsent composer text) and `el` (its sidebar item); see addRoom().
 */
const state = {
  token: null,
  openRoom: null,          // name of the room on screen
  joinRequests: new Set(), // rooms asked for through the join form, awaiting `joined`
};

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
const buildMessage = messageBuilder(icon);

const isSupport = (name) => name.startsWith('support:');
const me = () => client.user;
const mySupportRoom = () => (me() ? 'support:' + me().id : null);
const isMine = (m) => client.isMine(m);
const openRoomModel = () => (state.openRoom && client.rooms.get(state.openRoom)) || null;

function roomLabel(name) {
  if (name === mySupportRoom()) return SUPPORT_LABEL;
  if (isSupport(name)) {
    // A staff member looking at a customer's conversation: name it after the customer.
    const room = client.rooms.get(name);
    const ownerId = Number(name.slice(8));
    const byOwner = room && room.messages.find((m) => m.from && m.from.id === ownerId);
    return byOwner ? 'Support · ' + byOwner.from.username : 'Support #' + ownerId;
  }
  return name;
}


const notify = (text) => toast(el.toast, text, 'error');

// ------------------------------------------------------------------ 3. HTTP API & sign-in

// A 401 on any call made with the token means the session is over: back to sign-in, told why.
const api = createApi({
  token: () => state.token,
  onError: (err) => { if (err.status === 401) { err.handled = true; signOut(err.message); } },
});

/** Business hours and the away message (lib/desk-status.js), shown above the customer's
 *  support conversation when nobody can answer now. */
const deskStatus = new DeskStatus(api, () => renderHeader());
const deskSlot = h('div', { class: 'desk-notice-slot', role: 'status', 'aria-live': 'polite', hidden: true });
document.querySelector('.conversation .messages-wrap').before(deskSlot);

// The sign-in screen and its ban notice (signin-screen.js).
const signin = new SigninScreen({
  api,
  el,
  title: PAGE_TITLE,
  onSignedIn: ({ token, user }) => {
    localStorage.setItem(TOKEN_KEY, token);
    sessionStorage.removeItem(LAST_ROOM_KEY); // a fresh sign-in opens the support room
    enterChat(token, user);
  },
});

function showSignin(message) {
  el.boot.hidden = true;
  el.chat.hidden = true;
  signin.show(message);
}

// ------------------------------------------------------------------ 4. session lifecycle

function enterChat(token, user) {
  resetChatState();
  state.token = token;
  el.boot.hidden = true;
  signin.hide();
  el.chat.hidden = false;
  client.start(token, user);
  directory.start();
  deskStatus.start();
  renderMe();
  renderAll();
}

/** Drop the session: close the socket, forget the token, show sign-in (with a reason). */
function signOut(message) {
  client.stopTyping();
  resetChatState();
  localStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(LAST_ROOM_KEY);
  state.token = null;
  setConnState('offline');
  showSignin(message);
}

function resetChatState() {
  client.stop();
  directory.stop();
  deskStatus.stop();
  state.joinRequests.clear();
  state.openRoom = null;
  list.reset();
  el.roomList.replaceChildren();
  el.composer.value = '';
  closeSidebar();
}

// ------------------------------------------------------------------ 5. the client's hooks

const client = new ChatClient({
  api,
  hooks: {
    status: setConnState,
    hello: onHello,
    joined: onJoined,
    message: onMessage,
    ack: (p, room) => { if (room && room.name === state.openRoom) list.render(); },
    history: onHistory,
    deleted: onDeleted,
    presence: (f, room) => { if (room && room.name === state.openRoom) { renderHeader(); renderTyping(); } },
    online: (room) => { if (room.name === state.openRoom) renderHeader(); },
    typing: (room) => { if (room.name === state.openRoom) renderTyping(); },
    pending: (p) => { if (p.room === state.openRoom) list.render(); },
    error: onError,
    frame: (f) => {
      if (f.type === 'unread') onUnread(f);
      else if (seenMarks.frame(f) && f.room === state.openRoom) list.render();
    },
    down: () => { renderTyping(); renderHeader(); },
  },
});

/** The client's room of this name, with this page's fields. */
function addRoom(name) {
  const room = client.addRoom(name);
  if (room.unread === undefined) Object.assign(room, { unread: 0, countedUpTo: 0, draft: '', el: null });
  return room;
}

function onHello(f) {
  renderMe();
  composer.update(); // the limits may have changed
  // The server's list is authoritative: drop rooms that were left elsewhere.
  const listed = new Set(f.rooms.map((r) => r.room));
  for (const name of Array.from(client.rooms.keys())) {
    if (!listed.has(name) && !state.joinRequests.has(name)) client.removeRoom(name);
  }
  for (const entry of f.rooms) {
    const known = client.rooms.has(entry.room);
    const room = addRoom(entry.room);
    if (!known && entry.unread === 0) room.readSent = entry.last_seq;
    room.unread = entry.unread;              // authoritative at this moment…
    if (entry.unread > 0) room.readSent = 0; // a read of ours may have been lost: allow a resend
    room.countedUpTo = entry.last_seq;       // …for every message up to last_seq
  }
  // The client joins every room (with `since`) once this returns.
  if (!state.openRoom || !client.rooms.has(state.openRoom)) {
    const last = sessionStorage.getItem(LAST_ROOM_KEY);
    const support = mySupportRoom();
    openRoom(last && client.rooms.has(last) ? last
      : (support && client.rooms.has(support) ? support : f.rooms[0] && f.rooms[0].room));
  }
  renderAll();
}

/** Count messages by others that the hello's unread did not include yet. */
function countUnread(room, messages) {
  const seen = isOpenAndSeen(room.name);
  for (const m of messages) {
    if (m.seq <= room.countedUpTo) continue;
    room.countedUpTo = m.seq;
    if (!isMine(m) && !seen) room.unread++;
  }
}

function onJoined(room, f, firstLoad) {
  seenMarks.joined(f);
  countUnread(room, f.messages);
  if (room.countedUpTo < f.last_seq) room.countedUpTo = f.last_seq;
  if (state.joinRequests.delete(room.name)) {
    directory.joinedOrLeft();
    openRoom(room.name);
  } else if (room.name === state.openRoom) {
    list.render(firstLoad ? 'bottom' : 'auto');
    renderHeader();
    maybeMarkRead();
  }
  renderSidebar();
}

function onMessage(m, room, isNew) {
  if (!room) return;
  countUnread(room, [m]);
  if (room.name === state.openRoom) {
    list.incoming(isNew, isMine(m));
    renderTyping();
    maybeMarkRead();
  }
  renderSidebar();
}

function onHistory(room) {
  if (room.name === state.openRoom) { list.render(); maybeMarkRead(); }
  renderSidebar();
}

function onDeleted(f, room, dropped) {
  if (!dropped) return;
  if (room.name === state.openRoom) list.render();
  renderSidebar();
}

function onUnread(f) {
  const room = client.rooms.get(f.room);
  if (!room) return;
  room.unread = f.count;
  renderSidebar();
}

function onError(f, room) {
  if (f.room) {
    if (state.joinRequests.delete(f.room)) {
      // A join from the form failed: take the room back out of the list.
      if (room && !room.joined) client.removeRoom(f.room);
      el.joinError.textContent = f.message;
      renderSidebar();
      return;
    }
    if (room && f.room === state.openRoom) list.render();
    if (room && !room.joined && (f.code === 'forbidden' || f.code === 'not_found')) {
      client.removeRoom(f.room);
      if (state.openRoom === f.room) openRoom(mySupportRoom());
      renderSidebar();
    }
  }
  // Background frames (typing, read) refused for rate are not worth a notice.
  if (f.code !== 'rate_limited') notify(f.message);
}

/** Asks for the page before the oldest message of the open room, and shows it is coming. */
function requestOlder(room) {
  if (client.requestHistory(room) && room.name === state.openRoom) list.render();
}

/** Joins a public room picked in the directory (or created there), or opens it if joined. */
function joinPublicRoom(name) {
  el.joinError.textContent = '';
  const known = client.rooms.get(name);
  if (known && known.joined) {
    directory.joinedOrLeft();
    openRoom(name);
    return;
  }
  if (!client.ready) { el.joinError.textContent = 'Not connected right now. Try again in a moment.'; return; }
  state.joinRequests.add(name);
  client.join(addRoom(name));
  renderSidebar();
}

function leaveOpenRoom() {
  const name = state.openRoom;
  if (!name || isSupport(name)) return;
  client.leave(name);
  directory.joinedOrLeft();
  const support = mySupportRoom();
  openRoom(support && client.rooms.has(support) ? support : (client.rooms.keys().next().value || null));
  renderSidebar();
}

/** Put a room on screen. */
function openRoom(name) {
  if (!name) return;
  if (state.openRoom && state.openRoom !== name) {
    client.stopTyping();
    const prev = client.rooms.get(state.openRoom);
    if (prev) prev.draft = el.composer.value;
  }
  const changed = state.openRoom !== name;
  state.openRoom = name;
  sessionStorage.setItem(LAST_ROOM_KEY, name);
  const room = client.rooms.get(name);
  if (changed) {
    el.composer.value = room ? room.draft : '';
    el.newMessages.hidden = true;
  }
  closeSidebar();
  renderAll('bottom');
  composer.update();
  maybeMarkRead();
  if (changed && window.matchMedia('(min-width: 769px)').matches) el.composer.focus();
}

// ------------------------------------------------------------------ 6. rendering

function renderAll(scroll) {
  renderSidebar();
  renderHeader();
  list.render(scroll || 'auto');
  renderTyping();
}

function renderMe() {
  el.me.textContent = me() ? me().username : '';
}

const CONN_TEXT = { connecting: 'Connecting…', connected: 'Connected', reconnecting: 'Reconnecting…', offline: 'Offline' };

function setConnState(s) {
  el.conn.dataset.state = s;
  el.conn.querySelector('.conn-text').textContent = CONN_TEXT[s];
  const down = (s === 'reconnecting' || s === 'offline') && !!state.token;
  el.banner.hidden = !down;
  el.bannerText.textContent = s === 'offline'
    ? 'You’re offline. Messages you send will be delivered when the connection is back.'
    : 'Reconnecting… Messages you send will be delivered when the connection is back.';
}

/** The sidebar's list of the user's rooms (room-list.js). */
const roomList = new RoomList({ el, title: PAGE_TITLE, label: roomLabel, icon, isSupport, isMine, open: (name) => openRoom(name) });

function renderSidebar() {
  roomList.render(client.rooms, { own: mySupportRoom(), openRoom: state.openRoom, joining: state.joinRequests });
}

function renderHeader() {
  const name = state.openRoom;
  const room = openRoomModel();
  el.roomTitle.textContent = name ? roomLabel(name) : '';
  el.roomTitle.classList.toggle('public', !!name && !isSupport(name));
  el.leaveRoom.hidden = !name || isSupport(name);
  const users = room ? Array.from(room.online.values()) : [];
  users.sort((a, b) => a.username.localeCompare(b.username) || a.id - b.id);
  let subtitle = '';
  const ownSupport = !!name && isSupport(name) && name === mySupportRoom();
  const desk = deskNotice(deskStatus.status, users.some((u) => (u.role === 'admin' || u.role === 'agent')));
  showDeskNotice(deskSlot, ownSupport ? desk : null);
  if (ownSupport) {
    subtitle = desk.mood === 'online' ? 'The team is online' : desk.short;
  } else if (room && room.crowdedCount) {
    // A crowded room's count comes from `joined` and `online` frames, at most 10 s old.
    subtitle = 'About ' + room.crowdedCount + ' online';
  } else if (room) {
    subtitle = users.length + ' online';
  }
  el.roomSubtitle.textContent = subtitle;
  el.roomSubtitle.classList.toggle('staff-online', subtitle === 'The team is online');
  el.online.replaceChildren(...users.map((u) => {
    const chip = h('span', { class: 'online-user' + (me() && u.id === me().id ? ' is-me' : '') + ((u.role === 'admin' || u.role === 'agent') ? ' staff' : '') }, shownName(u));
    chip.dataset.initial = initial(shownName(u));
    chip.style.setProperty('--hue', String(hueFor(u.id)));
    const color = avatarColor(u);
    if (color) { chip.classList.add('has-color'); chip.style.setProperty('--avatar-color', color); chip.style.setProperty('--avatar-ink', inkOn(color)); }
    chip.title = shownName(u) + ((u.role === 'admin' || u.role === 'agent') ? ' (staff)' : '');
    return chip;
  }));
}

function renderTyping() {
  const room = openRoomModel();
  const names = room ? room.typing.names() : [];
  if (!names.length) { el.typing.replaceChildren(); return; }
  let text;
  if (names.length === 1) text = names[0] + ' is typing…';
  else if (names.length === 2) text = names[0] + ' and ' + names[1] + ' are typing…';
  else text = names[0] + ', ' + names[1] + ' and ' + (names.length - 2) + ' more are typing…';
  const dots = h('span', { class: 'typing-dots', 'aria-hidden': 'true' }, h('span'), h('span'), h('span'));
  el.typing.replaceChildren(dots, text);
}

/** How far the staff has read the user's support conversation ("Seen", lib/seen.js). */
const seenMarks = new SeenMarks();

/** How this page draws the rows of lib/messages.js. */
const skin = {
  seenSeq: (room) => (room.name === mySupportRoom() ? seenMarks.ownSeenSeq(room, (m) => client.isMine(m)) : null),
  top(room) {
    let kind;
    if (room.historyPending) kind = 'loading';
    else if (room.more) kind = 'more';
    else if (!room.loaded) kind = 'wait';
    else kind = 'start';
    const sig = kind === 'start' ? 'start:' + roomLabel(room.name) : kind;
    return { sig, build: () => buildTop(kind, room) };
  },
  day: (label) => h('div', { class: 'day-separator', role: 'separator' }, h('span', null, label)),
  message: buildMessage,
};

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
      h('p', { class: 'start-title' }, 'Hi ' + (me() ? me().username : 'there') + ', how can we help?'),
      h('p', { class: 'start-text' }, 'Send us a message and the team will reply right here. You can close this page and come back any time.'));
  }
  return h('div', { class: 'conversation-start' },
    h('p', { class: 'start-title' }, 'This is the beginning of ' + roomLabel(room.name)),
    h('p', { class: 'start-text' }, isSupport(room.name) ? 'Support conversation.' : 'A public room: everyone who joins can read it.'));
}

/** The public rooms, in the sidebar under the user's own (room-directory.js). */
const directory = new RoomDirectory({
  api,
  el: {
    form: el.joinForm, input: el.joinName, error: el.joinError, list: el.directoryList,
    createWrap: el.directoryCreateWrap, create: el.directoryCreate, empty: el.directoryEmpty,
  },
  mayCreate: () => !!me() && me().role !== 'guest',
  isJoined: (name) => client.rooms.has(name),
  join: joinPublicRoom,
});

const list = new MessageList({
  box: el.messages,
  jump: el.newMessages,
  client,
  room: openRoomModel,
  skin,
  nearBottomPx: 80,
  olderAtPx: 120,
  onOlder: requestOlder,
  onSeen: () => maybeMarkRead(),
});

// ------------------------------------------------------------------ 7. composer, read receipts

// The cap and its counter follow the server's hello.limits.max_message_chars.
const composer = bindComposer({
  form: el.composerForm,
  input: el.composer,
  counter: el.counter,
  send: el.send,
  maxHeight: 180,
  maxChars: () => client.limits.max_message_chars,
  canSend: () => !!openRoomModel() && !!me(),
  onSend(text) {
    const room = openRoomModel();
    room.draft = '';
    client.stopTyping();
    client.send(room.name, text);
    list.render('bottom');
  },
  onInput() {
    if (state.openRoom) client.typing(state.openRoom, !!el.composer.value.trim());
  },
});

/** Whether the reader can see the newest messages of `name` right now. */
function isOpenAndSeen(name) {
  return name === state.openRoom && document.visibilityState === 'visible' && list.nearBottom();
}

let readTimer = null;
/** Send `read` for the open room when its newest message is on screen (debounced). */
function maybeMarkRead() {
  const name = state.openRoom;
  const room = openRoomModel();
  if (!room || !room.loaded || !isOpenAndSeen(name)) return;
  if (room.unread) { room.unread = 0; renderSidebar(); } // optimistic; `unread` confirms
  el.newMessages.hidden = true;
  clearTimeout(readTimer);
  readTimer = setTimeout(() => {
    const r = client.rooms.get(name);
    if (r) client.markRead(r);
  }, 300);
}

// ------------------------------------------------------------------ 8. sidebar & wiring

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
  el.signOut.addEventListener('click', () => signOut(''));

  el.sidebarToggle.addEventListener('click', () => (el.sidebar.classList.contains('open') ? closeSidebar() : openSidebar()));
  el.sidebarClose.addEventListener('click', closeSidebar);
  el.backdrop.addEventListener('click', closeSidebar);
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape' && el.sidebar.classList.contains('open')) closeSidebar(); });

  el.leaveRoom.addEventListener('click', leaveOpenRoom);

  el.reconnectNow.addEventListener('click', () => client.retryNow());
  window.addEventListener('focus', () => maybeMarkRead());
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') maybeMarkRead(); });
  // Keep "Today"/"Yesterday" right across midnight.
  setInterval(() => { if (state.openRoom) list.render(); }, 60000);
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
    // A 401 has signed us out already. Server unreachable: go to the chat anyway; the socket
    // keeps retrying.
    if (!err.handled) {
      const claims = tokenClaims(token);
      enterChat(token, claims ? { id: Number(claims.sub), username: claims.name, role: claims.role } : null);
    }
  }
}

boot();

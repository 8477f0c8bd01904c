/* The widget page (/widget): the support conversation only, compact, inside the iframe that
 * /widget.js puts on a store's page. Built from the shared modules of static/lib/ (connection
 * and recovery, outbox, message list, composer, DOM and formats); this file keeps what is the
 * widget's own:
 *   1. Options from the loader (the iframe's URL) and the parent's origin
 *   2. The session: a token kept in this frame's localStorage, taken only when the visitor first
 *      writes (a guest) or when the store names its customer (identify, merging the guest's
 *      conversation); forgotten by reset()
 *   3. The conversation: the client's hooks, unread count and the preview sent to the loader
 *   4. Staff online, the email to be answered by, notifications
 *   5. Talking to the loader: commands taken only from the parent with its origin
 *
 * Security rule (as on every page): user text reaches the DOM only as text (h() of lib/dom.js).
 */
import { h } from './lib/dom.js';
import { clockTime, fullTime, oneLine } from './lib/format.js';
import { createApi } from './lib/api.js';
import { ChatClient } from './lib/client.js';
import { MessageList, shownName, paintAvatar } from './lib/messages.js';
import { bindComposer } from './lib/composer.js';
import { banOfError, banText, checkBan, whenBanEnds } from './lib/ban.js';
import { Notifications } from './widget-notifications.js';
import { SeenMarks } from './lib/seen.js';
import { deskNotice, showDeskNotice } from './lib/desk-status.js';
import { loadSession, storeSession, emailGiven, noteEmail } from './widget-session.js';

// ------------------------------------------------------------------ 1. options

const STATUS_EVERY_MS = 30000;

const params = new URLSearchParams(location.search);
const opt = (name, fallback, max) => {
  const v = oneLine(params.get(name) || '');
  return v ? v.slice(0, max) : fallback;
};
const options = {
  title: opt('title', 'Chat with us', 60),
  greeting: opt('greeting', 'Hi! How can we help you today?', 300),
  accent: opt('accent', '', 40),
};
/** The store page the visitor is on (the loader says which, on load and on each open), as the
 *  server takes it (an http(s) URL up to 2000 characters); null when unknown. */
const pageOf = (raw) => (typeof raw === 'string' && /^https?:\/\/[^\s]+$/.test(raw) && raw.length <= 2000 ? raw : null);
/** The store page that framed us (the loader says which); null when opened on its own. */
const PARENT = window.parent !== window ? parentOrigin(params.get('origin')) : null;

function parentOrigin(claimed) {
  try {
    const origin = new URL(claimed).origin;
    // Chromium tells the real one: believe the claim only when it agrees.
    const real = location.ancestorOrigins && location.ancestorOrigins[0];
    return !real || real === origin ? origin : null;
  } catch (_) { return null; }
}

const $ = (id) => document.getElementById(id);
const el = {
  title: $('title'), status: $('status'), statusText: $('status-text'), close: $('close'),
  notice: $('notice'), notifications: $('notifications'), messages: $('messages'),
  jump: $('new-messages'), emailForm: $('email-form'), email: $('email'), emailSave: $('email-save'),
  emailNote: $('email-note'), typing: $('typing'), connection: $('connection'),
  composerForm: $('composer-form'), composer: $('composer'), counter: $('counter'), send: $('send'),
};

const state = {
  session: null,          // {token, user, external_id}
  visible: !PARENT,       // the panel is open (always, when not framed)
  staffOnline: null,      // from /api/support/status
  desk: null,             // that answer whole: business hours, away message, reply time
  unread: 0,              // staff messages not yet seen in the conversation
  countedUpTo: 0,         // messages up to this seq are counted in `unread` already
  preview: null,          // {from, text}: the newest unseen reply
  starting: null,         // the guest sign-in in flight
  identifying: false,     // an identify in flight: a 401 meanwhile is the guest's merged token
  page: pageOf(params.get('page')), // the store page the visitor is on
  pageSent: null,         // the page last stored for this session (PATCH /api/me)
  ban: { banned: false }, // a ban covering this browser: no new chat until it ends
};

// ------------------------------------------------------------------ 2. the session

const api = createApi({
  token: () => (state.session ? state.session.token : null),
  onError: (err) => {
    if (err.status !== 401 || state.identifying) return;
    err.handled = true;
    forget('Your chat session ended. Write again to start a new one.');
    checkBan(api).then((found) => { if (found.banned && !state.session) setBan(found); });
  },
});
/** Calls that must not end the session on 401 (identify with a wrong hash). */
const plainApi = createApi({ token: () => (state.session ? state.session.token : null) });

function saveSession(session) {
  state.session = session;
  storeSession(session);
}

const supportRoom = () => (state.session ? 'support:' + state.session.user.id : null);
const room = () => { const name = supportRoom(); return (name && client.rooms.get(name)) || null; };

/** Starts the socket for the saved session. */
function begin(session) {
  saveSession(session);
  seenMarks.clear();
  state.pageSent = null;
  state.unread = 0;
  state.countedUpTo = 0;
  state.preview = null;
  notifications.clear();
  client.start(session.token, session.user);
  client.addRoom(supportRoom());
  list.reset();
  render();
  report();
  if (state.visible) notifications.load(api);
}

/** Ends the session here: no socket, no token, an empty conversation. */
function forget(message) {
  client.stop();
  saveSession(null);
  seenMarks.clear();
  state.unread = 0;
  state.preview = null;
  notifications.clear();
  list.reset();
  showNotice(message || '');
  render();
  report();
}

/** The session, taking one as a guest if there is none (the visitor writes for the first time). */
function ensureSession() {
  if (state.session) return Promise.resolve(state.session);
  if (!state.starting) {
    const name = 'Visitor ' + String(Math.floor(1000 + Math.random() * 9000));
    state.starting = api('POST', '/api/auth/guest', { name }, { auth: false })
      .then((data) => { begin({ token: data.token, user: data.user, external_id: null }); return state.session; })
      .finally(() => { state.starting = null; });
  }
  return state.starting;
}

/**
 * The store names its customer. The same customer again: nothing to do. A guest here: their
 * token goes along, so what they wrote as a guest is merged into the customer's conversation.
 * Another customer (a shared computer without a reset): never merged, simply replaced.
 */
async function identify(who) {
  const identity = {
    external_id: String(who.external_id || ''), name: String(who.name || ''), hash: String(who.hash || ''),
  };
  if (who.email) identity.email = String(who.email);
  if (!identity.external_id || !identity.hash) return { ok: false, error: 'external_id and hash are required' };
  const s = state.session;
  if (s && s.external_id === identity.external_id) return { ok: true };
  const asGuest = !!s && s.user.role === 'guest';
  // The server closes the guest's sockets when it merges them into the customer: stop ours first,
  // so that the close is not taken for the end of the session (which would forget the new one).
  client.stop();
  state.identifying = true;
  try {
    const data = await plainApi('POST', '/api/auth/identify', identity, { auth: asGuest });
    begin({ token: data.token, user: data.user, external_id: identity.external_id });
    if (identity.email) noteEmail(state.session);
    showNotice('');
    return { ok: true };
  } catch (err) {
    if (s && asGuest) begin(s); // still the guest they were
    else if (s) forget(''); // signed in as someone else: they are not here any more
    const ban = banOfError(err); // this browser is banned: the ban screen, until when
    if (ban) {
      setBan(ban);
      return { ok: false, error: err.code };
    }
    showNotice(err.status === 401
      ? 'We could not confirm your store account, so this chat is not linked to it.'
      : 'Signing you in failed: ' + err.message);
    return { ok: false, error: err.code };
  } finally {
    state.identifying = false;
  }
}

function showNotice(text) {
  el.notice.textContent = text;
  el.notice.hidden = !text;
}

// ------------------------------------------------------------------ 3. the conversation

const client = new ChatClient({
  api,
  hooks: {
    status: showConnection,
    hello: onHello,
    joined: onJoined,
    message: onMessage,
    ack: () => list.render('bottom'),
    history: () => list.render(),
    deleted: (f, r, dropped) => { if (dropped) list.render(); },
    typing: renderTyping,
    presence: renderStatus,
    online: renderStatus,
    pending: () => list.render(),
    error: (f) => { if (f.code !== 'rate_limited' && f.code !== 'bad_request') showNotice(f.message); },
    frame: onFrame,
    down: renderTyping,
  },
});

function onHello(f) {
  const name = supportRoom();
  if (!name) return;
  client.addRoom(name);
  const entry = (f.rooms || []).find((r) => r.room === name);
  if (entry) {
    state.unread = entry.unread;
    state.countedUpTo = entry.last_seq;
  }
  notifications.setUnread(f.notifications_unread);
  report();
}

const isStaffReply = (m) => !client.isMine(m);
/** Who wrote it, as the widget names them: the store's own messages (server API) by the widget's title. */
const authorOf = (m) => (m.kind === 'store' || !m.from ? options.title : shownName(m.from));
const previewOf = (m) => ({ from: authorOf(m), text: oneLine(m.text).slice(0, 200) });

function onJoined(r, f, firstLoad) {
  if (r.name !== supportRoom()) return;
  seenMarks.joined(f);
  count(f.messages || []);
  // Unread since an earlier page load: the newest reply is the preview.
  if (state.unread > 0 && !state.preview) {
    const reply = [...r.messages].reverse().find(isStaffReply);
    if (reply) { state.preview = previewOf(reply); report(); }
  }
  list.render(firstLoad ? 'bottom' : 'auto');
  renderStatus();
  seen();
}

/** Counts replies the hello's count did not include yet; the newest becomes the preview. */
function count(messages) {
  for (const m of messages) {
    if (m.seq <= state.countedUpTo) continue;
    state.countedUpTo = m.seq;
    if (!isStaffReply(m) || looking()) continue;
    state.unread += 1;
    state.preview = previewOf(m);
  }
  report();
}

function onMessage(m, r, isNew) {
  if (!r || r.name !== supportRoom()) return;
  count([m]);
  list.incoming(isNew, client.isMine(m));
  renderTyping();
  seen();
}

function onFrame(f) {
  switch (f.type) {
    case 'unread':
      if (f.room === supportRoom()) { state.unread = f.count; if (!f.count) state.preview = null; report(); }
      break;
    case 'notification':
      notifications.receive(f);
      break;
    case 'notifications_unread':
      notifications.setUnread(f.count);
      break;
    case 'seen':
      if (f.room === supportRoom() && seenMarks.frame(f)) list.render();
      break;
    default:
      break;
  }
}

/** The reader sees the newest messages now. */
function looking() {
  return state.visible && document.visibilityState === 'visible' && list.nearBottom();
}

let readTimer = 0;
/** Marks the conversation read when its newest message is on screen. */
function seen() {
  const r = room();
  if (!r || !r.loaded || !looking()) return;
  if (state.unread) { state.unread = 0; state.preview = null; report(); }
  el.jump.hidden = true;
  clearTimeout(readTimer);
  // Still looking when it fires: a reply that came meanwhile to a closed panel stays unread.
  readTimer = setTimeout(() => { const x = room(); if (x && looking()) client.markRead(x); }, 300);
}

// ------------------------------------------------------------------ rendering

/** How far the staff has read the conversation: "Seen" under the last own message they read. */
const seenMarks = new SeenMarks();

const skin = {
  seenSeq: (r) => seenMarks.ownSeenSeq(r, (m) => client.isMine(m)),
  top(r) {
    const kind = r.historyPending ? 'loading' : r.more ? 'more' : r.loaded ? 'start' : 'wait';
    return { sig: kind, build: () => (kind === 'start' ? intro() : h('div', { class: 'history-status' },
      kind === 'more' ? 'Scroll up for earlier messages' : 'Loading messages…')) };
  },
  day: (label) => h('div', { class: 'day', role: 'separator' }, label),
  message(row) {
    const { m, pending: p, mine } = row;
    const cls = ['message'];
    if (mine) cls.push('mine');
    if (row.grouped) cls.push('grouped');
    if (p) cls.push(p.status);
    if (m.kind && m.kind !== 'text') cls.push(m.kind);
    const node = h('div', { class: cls.join(' '), dataset: { seq: m.seq == null ? '' : String(m.seq) } });
    if (m.cid) node.dataset.cid = m.cid;
    if (!mine && !row.grouped) node.append(authorLine(m));
    node.append(h('div', { class: 'bubble message-text' }, m.text));
    if (row.last || p) {
      const status = !p ? '' : p.status === 'failed' ? ' · Not sent' : ' · Sending…';
      node.append(h('time', { class: 'message-meta', datetime: new Date(m.ts).toISOString(), title: fullTime(m.ts) },
        clockTime(m.ts) + (mine ? status : '')));
    }
    if (row.seen) node.append(h('div', { class: 'message-seen' }, 'Seen'));
    if (p && p.status === 'failed') {
      node.append(h('div', { class: 'message-failure' }, p.error || 'Not sent',
        h('button', { class: 'retry', type: 'button' }, 'Retry'),
        h('button', { class: 'discard', type: 'button' }, 'Discard')));
    }
    return node;
  },
};

/** Who wrote a reply: a staff member's avatar (the initial on their colour) and the name they
 * sign with; the store's own messages by the widget's title alone. */
function authorLine(m) {
  const line = h('span', { class: 'message-author' });
  if (m.kind !== 'store' && m.from) {
    const avatar = h('span', { class: 'avatar', 'aria-hidden': 'true' });
    paintAvatar(avatar, m.from);
    line.append(avatar);
  }
  line.append(h('span', { class: 'author-name' }, authorOf(m)));
  return line;
}

/** The store's greeting, as the first message of every conversation. */
function intro() {
  return h('div', { class: 'intro' },
    h('span', { class: 'intro-from' }, options.title),
    h('div', { class: 'bubble intro-greeting' }, options.greeting));
}

const list = new MessageList({
  box: el.messages, jump: el.jump, client, room, skin,
  nearBottomPx: 60, olderAtPx: 100,
  onOlder: (r) => { if (client.requestHistory(r)) list.render(); },
  onSeen: seen,
});

function render() {
  if (room()) list.render();
  else el.messages.replaceChildren(intro());
  renderStatus();
  notifications.render();
  renderTyping();
  composer.update();
}

function renderTyping() {
  const r = room();
  const names = r ? r.typing.names() : [];
  el.typing.textContent = names.length ? names.join(', ') + (names.length > 1 ? ' are' : ' is') + ' typing…' : '';
}

const CONNECTION_TEXT = { connecting: '', connected: '', reconnecting: 'Reconnecting…', offline: 'You’re offline. We’ll send your messages when you’re back.' };

function showConnection(s) {
  const text = CONNECTION_TEXT[s] || '';
  el.connection.textContent = text;
  el.connection.hidden = !text;
  if (s === 'connected') composer.update();
}

// ------------------------------------------------------------------ 4. staff, email, notifications

async function refreshStatus() {
  try {
    const data = await api('GET', '/api/support/status', undefined, { auth: false });
    state.staffOnline = Number(data.staff_online) || 0;
    state.desk = data;
  } catch (_) { state.staffOnline = null; state.desk = null; }
  renderStatus();
}


/** Staff online now: the server's count, or a staff member present in the conversation. */
function staffOnline() {
  const r = room();
  if (r && Array.from(r.online.values()).some((u) => (u.role === 'admin' || u.role === 'agent'))) return Math.max(1, state.staffOnline || 0);
  return state.staffOnline;
}

/** Where the away notice goes (lib/desk-status.js): above the email form and the composer. */
const deskSlot = h('div', { class: 'desk-notice-slot', role: 'status', 'aria-live': 'polite', hidden: true });
el.emailForm.before(deskSlot);

function renderStatus() {
  const online = staffOnline();
  // Closed outside business hours counts as away even with a staff member signed in.
  const desk = deskNotice(state.desk, online > 0);
  el.status.dataset.staff = online === null ? 'unknown' : desk.mood === 'online' ? 'online' : 'away';
  el.statusText.textContent = desk.short;
  showDeskNotice(deskSlot, desk);
  // The notice above says that we are away; the form then only asks.
  el.emailForm.querySelector('.email-label').textContent = deskSlot.hidden
    ? 'We’re away right now. Leave your email and we’ll answer you there.'
    : 'Leave your email and we’ll answer you there.';
  el.emailForm.hidden = online === null || desk.mood === 'online' || emailGiven(state.session);
}

async function saveEmail(e) {
  e.preventDefault();
  const email = el.email.value.trim();
  el.emailNote.classList.remove('error');
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) {
    el.emailNote.textContent = 'Please enter an email address like name@example.com.';
    el.emailNote.classList.add('error');
    return;
  }
  el.emailSave.disabled = true;
  try {
    await ensureSession();
    await api('PATCH', '/api/me', { email });
    noteEmail(state.session);
    el.emailNote.textContent = '';
    el.emailForm.hidden = true;
    showNotice('');
    renderStatus();
    list.render();
    el.composer.focus();
  } catch (err) {
    el.emailNote.textContent = err.message;
    el.emailNote.classList.add('error');
  } finally {
    el.emailSave.disabled = false;
  }
}

const notifications = new Notifications({
  container: el.notifications,
  markRead: (id) => client.conn.send({ type: 'notification_read', id }),
  onChange: () => report(),
});

// ------------------------------------------------------------------ composer

const composer = bindComposer({
  form: el.composerForm, input: el.composer, counter: el.counter, send: el.send, maxHeight: 120,
  maxChars: () => client.limits.max_message_chars,
  canSend: () => !state.ban.banned,
  onSend(text) {
    client.stopTyping();
    ensureSession().then(reportPage).then(() => {
      client.send(supportRoom(), text);
      list.render('bottom');
    }, (err) => {
      el.composer.value = text;
      const ban = banOfError(err);
      if (ban) setBan(ban);
      else showNotice(err.message);
      composer.update();
    });
  },
  onInput() { if (state.session) client.typing(supportRoom(), !!el.composer.value.trim()); },
});

// The ban screen: while a ban covers this browser, the composer is off and the notice says until
// when; a timed ban ends by itself.
let stopBanTimer = () => {};
function setBan(ban) {
  stopBanTimer();
  state.ban = ban;
  stopBanTimer = whenBanEnds(ban, () => setBan({ banned: false }), api);
  el.composer.disabled = ban.banned;
  // No session and none to start: no email to leave, no connection to wait for.
  el.emailForm.style.display = ban.banned ? 'none' : '';
  if (ban.banned) el.connection.hidden = true;
  showNotice(ban.banned ? banText(ban) : '');
  composer.update();
}

// ------------------------------------------------------------------ 5. the loader

/**
 * Tells the server the store page the visitor is on (the staff's customer panel), once per page
 * and session: when the panel opens, and before the first message of a visit (which may be the
 * one that starts the session). Never fails: the page is a hint, not worth a refused message.
 */
function reportPage() {
  const page = state.page;
  if (!state.session || !page || state.pageSent === page) return Promise.resolve();
  state.pageSent = page;
  return plainApi('PATCH', '/api/me', { page }).catch(() => { state.pageSent = null; });
}

/** Tells the loader the badge's count and the preview of the newest unseen reply. */
function report() {
  const total = state.unread + notifications.unread;
  const latest = notifications.latest;
  const preview = state.preview || (latest ? { from: latest.title, text: latest.body || '' } : null);
  tell({ type: 'state', unread: total, preview: total ? preview : null, session: !!state.session });
}

function tell(message) {
  if (PARENT) window.parent.postMessage({ chatWidget: 1, ...message }, PARENT);
}

function show(visible) {
  state.visible = visible;
  if (visible) {
    refreshStatus();
    if (state.session) notifications.load(api);
    list.render('bottom');
    seen();
    el.composer.focus();
  } else {
    client.stopTyping();
  }
}

window.addEventListener('message', async (ev) => {
  // Commands only from the page that framed us, with the origin it was given.
  if (!PARENT || ev.source !== window.parent || ev.origin !== PARENT) return;
  const m = ev.data;
  if (!m || m.chatWidget !== 1 || typeof m.type !== 'string') return;
  switch (m.type) {
    case 'open':
      state.page = pageOf(m.page) || state.page;
      show(true);
      reportPage();
      break;
    case 'hide': show(false); break;
    case 'identify': {
      const result = await identify(m.identity || {});
      tell({ type: 'result', id: m.id, ...result });
      break;
    }
    case 'reset':
      forget('');
      tell({ type: 'result', id: m.id, ok: true });
      break;
    default: break;
  }
});

function wire() {
  el.title.textContent = options.title;
  document.title = options.title;
  if (options.accent && window.CSS && CSS.supports('color', options.accent)) {
    document.documentElement.style.setProperty('--accent', options.accent);
  }
  el.close.addEventListener('click', () => tell({ type: 'close' }));
  if (!PARENT) el.close.hidden = true;
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape') tell({ type: 'close' }); });
  el.emailForm.addEventListener('submit', saveEmail);
  document.addEventListener('visibilitychange', seen);
  window.addEventListener('focus', seen);
  setInterval(() => { if (state.visible) refreshStatus(); }, STATUS_EVERY_MS);
}

async function boot() {
  wire();
  const saved = loadSession();
  if (saved) {
    state.session = saved;
    try {
      const user = await api('GET', '/api/me');
      begin({ ...saved, user });
    } catch (err) {
      if (!err.handled) begin(saved); // server unreachable: the socket keeps trying
    }
  } else {
    render();
    checkBan(api).then((found) => { if (found.banned && !state.session) setBan(found); });
  }
  if (state.visible) refreshStatus();
  tell({ type: 'ready', session: !!state.session });
}

boot();

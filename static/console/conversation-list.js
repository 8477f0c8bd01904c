/* The inbox: every customer's support conversation, newest activity first, from
 * GET /api/admin/conversations (every 15 s and after a reconnect) kept live by `support_activity`,
 * `unread`, `presence` and `conversation_moved`; filters and the search box.
 */
import { h, reconcile } from '../lib/dom.js';
import { oneLine, relTime, unreadText } from '../lib/format.js';
import { client, list } from './client.js';
import { api } from './http.js';
import { dom, isNotesRoom, isSupportRoom, notify, setAvatar, state } from './state.js';
import { isBeingRead, markRead, openConversation, renderThread, renderTyping } from './conversation-view.js';
import { onNoteActivity } from './desk.js';
import { customerWrote, updateTitle } from './alerts.js';

export function normalizeConv(s) {
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
  noteDesk(c, s);
  return c;
}

/**
 * The support desk's fields of a conversation object (status, assignee, ...), where the server
 * gives them; a server without them leaves every conversation open and unassigned.
 */
export function noteDesk(c, s) {
  if (typeof s.status === 'string') { c.status = s.status; c.hasDesk = true; }
  else if (!c.status) c.status = 'open';
  if (s.assignee !== undefined) c.assignee = s.assignee || null;
  else if (c.assignee === undefined) c.assignee = null;
  for (const k of ['created_at', 'email', 'external_id', 'customer_read_seq', 'staff_read_seq']) {
    if (s[k] !== undefined) c[k] = s[k];
  }
  if (typeof s.customer_read_seq === 'number') noteSeen(s.room, s.customer_read_seq);
}

/** The customer has read their support room up to `seq` ("Seen" under our replies). */
export function noteSeen(room, seq) {
  if (!(seq > (state.seen.get(room) || 0))) return false;
  state.seen.set(room, seq);
  return true;
}

/**
 * A conversation object of the desk (`conversation_updated`, an answer to a status or assign
 * call, the conversation's own GET): the inbox takes it whole; its last message only if newer.
 */
export function takeConversation(s) {
  if (!s || typeof s.room !== 'string' || !isSupportRoom(s.room)) return null;
  let c = state.convs.get(s.room);
  if (!c) {
    c = normalizeConv(s);
    c.addedAt = Date.now();
    state.convs.set(s.room, c);
    return c;
  }
  if (s.customer) { c.customer = s.customer; c.placeholder = false; }
  if (typeof s.online === 'boolean') c.online = s.online;
  noteBanned(s);
  noteDesk(c, s);
  const seq = Number(s.last_seq) || 0;
  if (seq > c.last_seq) {
    c.last_seq = seq;
    c.last_message = s.last_message || c.last_message;
    c.last_activity = s.last_activity || c.last_activity;
    // No `unread` from here: a broadcast object's count is not this staff member's; the
    // `support_activity` and `unread` frames keep it.
  }
  return c;
}

/** Picks up a ban flag if the server includes one (the list endpoint may not). */
export function noteBanned(s) {
  const id = s.customer && s.customer.id;
  if (id == null) return;
  const flag = typeof s.banned === 'boolean' ? s.banned
    : (typeof s.customer.banned === 'boolean' ? s.customer.banned : null);
  if (flag !== null) state.banned.set(id, flag);
}

export async function refreshConversations() {
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
export function refreshConversationsSoon() {
  if (refreshSoonTimer) return;
  refreshSoonTimer = setTimeout(() => { refreshSoonTimer = 0; refreshConversations(); }, 400);
}

/**
 * Merges a server snapshot into the inbox. Frames may have moved a conversation further than
 * the snapshot (it was taken before they arrived): the newer local state then wins.
 */
export function mergeConversations(list, started) {
  const seen = new Set();
  for (const s of list) {
    if (!s || typeof s.room !== 'string') continue;
    seen.add(s.room);
    const c = state.convs.get(s.room);
    if (!c) { state.convs.set(s.room, normalizeConv(s)); continue; }
    if (s.customer) { c.customer = s.customer; c.placeholder = false; }
    c.online = !!s.online;
    noteBanned(s);
    noteDesk(c, s);
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
export function noteConversationMessage(m, customer) {
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

export function onSupportActivity(f) {
  const m = f.message;
  if (!m || typeof f.room !== 'string') return;
  if (!m.room) m.room = f.room;
  if (isNotesRoom(m.room)) { onNoteActivity(m); return; }
  noteConversationMessage(m, f.customer);
  const c0 = state.convs.get(f.room);
  if (c0 && c0.customer && m.from && m.from.id === c0.customer.id) customerWrote(c0, m);
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
export function onConversationMoved(f) {
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

export function onUnread(f) {
  const c = state.convs.get(f.room);
  if (!c) return;
  c.unread = isBeingRead(f.room) ? 0 : Math.max(0, Number(f.count) || 0);
  renderList();
}

export function onPresence(f, room) {
  const c = state.convs.get(f.room);
  if (c && f.user && c.customer && f.user.id === c.customer.id) {
    c.online = !!f.online;
    renderList();
    renderThread();
  }
  if (room && room === state.open) renderTyping();
}

/** Whether the conversation is assigned as the assignee filter asks (all, mine, unassigned). */
function matchesAssignee(c) {
  if (state.assignee === 'me') return !!(c.assignee && state.me && c.assignee.id === state.me.id);
  if (state.assignee === 'none') return !c.assignee;
  return true;
}

/** The search box: the customer's name, email or external id here, or the server's match (q=). */
function matchesQuery(c) {
  const q = state.query;
  if (!q) return true;
  if (state.searchHits && state.searchHits.has(c.room)) return true;
  const fields = [c.customer && c.customer.username, c.room, c.email, c.external_id];
  return fields.some((v) => v != null && String(v).toLowerCase().includes(q));
}

/** Shown in the inbox: the status tab, the assignee filter and the search box. */
export function matchesFilter(c) {
  return (c.status || 'open') === state.statusTab && matchesAssignee(c) && matchesQuery(c);
}

/** Asks the server which conversations match the search box (name, email, external id). */
let searchTimer = 0;
export function searchSoon() {
  clearTimeout(searchTimer);
  state.searchHits = null;
  if (!state.query) { renderList(); return; }
  renderList();
  searchTimer = setTimeout(async () => {
    const q = state.query;
    const epoch = state.epoch;
    try {
      const data = await api('GET', `/api/admin/conversations?q=${encodeURIComponent(q)}`);
      if (epoch !== state.epoch || q !== state.query) return;
      const found = Array.isArray(data.conversations) ? data.conversations : [];
      for (const s of found) takeConversation(s);
      state.searchHits = new Set(found.map((s) => s && s.room));
      renderList();
    } catch (_) {
      // The local match stays (name, email, external id of the conversations listed).
    }
  }, 300);
}

const STATUS_LABEL = { open: 'Open', pending: 'Pending', resolved: 'Resolved' };

export function previewText(c) {
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
export function listItem(c) {
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
      status: h('span', { class: 'tag tag-status' }),
      assignee: h('span', { class: 'conversation-assignee' }),
    };
    el.append(
      h('span', { class: 'avatar-wrap' }, it.avatar, it.dot),
      h('span', { class: 'conversation-main' },
        h('span', { class: 'conversation-top' }, it.name, it.guest, it.bannedTag, it.time),
        h('span', { class: 'conversation-bottom' }, it.last, it.badge),
        h('span', { class: 'conversation-desk' }, it.status, it.assignee)),
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
  const status = c.status || 'open';
  it.status.textContent = STATUS_LABEL[status] || status;
  it.status.dataset.status = status;
  it.assignee.textContent = assigneeText(c.assignee);
  const selected = !!(state.open && state.open.name === c.room);
  it.el.classList.toggle('is-selected', selected);
  if (selected) it.el.setAttribute('aria-current', 'true');
  else it.el.removeAttribute('aria-current');
  it.el.hidden = !matchesFilter(c) && !selected;
  return it.el;
}

/** "Unassigned", "Mine" or the assignee's name. */
export function assigneeText(a) {
  if (!a) return 'Unassigned';
  if (state.me && a.id === state.me.id) return 'Mine';
  return `Assigned to ${a.username}`;
}

/** Re-renders the inbox, newest activity first, moving only the nodes that changed place. */
export function renderList() {
  const sorted = [...state.convs.values()].sort((a, b) =>
    (b.last_activity || 0) - (a.last_activity || 0) || a.room.localeCompare(b.room));
  const focused = document.activeElement;
  reconcile(dom.list, sorted.map(listItem));
  if (focused && focused !== document.activeElement && dom.list.contains(focused)) {
    focused.focus({ preventScroll: true });
  }
  const visible = sorted.filter((c) => matchesFilter(c) || (state.open && state.open.name === c.room)).length;
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
  // Each status tab counts what it would show.
  for (const status of Object.keys(STATUS_LABEL)) {
    const el = document.querySelector(`[data-count="${status}"]`);
    const n = sorted.filter((c) => (c.status || 'open') === status && matchesAssignee(c) && matchesQuery(c)).length;
    if (el) el.textContent = n ? String(n) : '';
  }
  updateTitle();
}

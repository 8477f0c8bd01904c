/* The open conversation: opening and closing it (the client's only support room), its first
 * page over HTTP while the socket is down, older pages, live messages, read receipts, the thread
 * header and the typing line, and the composer's draft and typing notifications.
 */
import { lastMessage } from '../lib/rooms.js';
import { h } from '../lib/dom.js';
import { client, composer, list } from './client.js';
import { loadPanel, renderCustomer } from './customer-panel.js';
import { api } from './http.js';
import { dom, notify, phoneQuery, roomPath, setAvatar, state } from './state.js';
import { showScreen } from './layout.js';
import {
  noteConversationMessage, noteSeen, refreshConversationsSoon, renderList,
} from './conversation-list.js';
import { noteTypers, renderDesk } from './desk.js';
import { closeNotes, composerRoom, notesJoined, openNotes } from './notes.js';

/** Whether the staff member is looking at `room` right now (unread does not grow there). */
export function isBeingRead(room) {
  const o = state.open;
  return !!(o && o.name === room && document.visibilityState === 'visible'
    && (!phoneQuery.matches || dom.console.dataset.screen === 'conversation'));
}

export function openConversation(room) {
  if (state.open && state.open.name === room) {
    showScreen('conversation');
    markRead();
    return;
  }
  closeConversation();
  const o = client.addRoom(room);
  state.open = o;
  openNotes(room);
  dom.composer.value = state.drafts.get(room) || '';
  dom.announceResult.textContent = '';
  showScreen('conversation');
  renderThread();
  renderList();
  list.render('bottom');
  if (!client.join(o)) loadViaHttp(o);
  loadPanel(room);
  if (!phoneQuery.matches) dom.composer.focus({ preventScroll: true });
}

export function closeConversation() {
  const o = state.open;
  if (!o) return;
  client.stopTyping();
  // No `leave`: it would drop the room from our list together with our read cursor, and the
  // conversation would count as unread again. Frames of rooms not open only feed the inbox.
  client.removeRoom(o.name);
  closeNotes();
  state.open = null;
}

export function onJoined(o, f, firstLoad) {
  if (o === state.notes) { notesJoined(o); return; }
  if (o !== state.open) return;
  // The customer's read cursor ("Seen" under the last reply they read).
  if (typeof f.seen_seq === 'number') noteSeen(o.name, f.seen_seq);
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
export async function loadViaHttp(o) {
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
export function loadOlder(o) {
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

export function onMessage(m, room, isNew) {
  noteConversationMessage(m);
  if (room && room === state.open && room.loaded) {
    list.incoming(isNew, client.isMine(m));
    renderTyping();
    markRead();
  } else if (room && room === state.notes && room.loaded) {
    list.incoming(isNew, client.isMine(m));
    renderTyping();
  }
  renderList();
}

export function onDeleted(f, room, dropped) {
  if (dropped && (room === state.open || room === state.notes)) list.render();
  notePreviewDeleted(f.room, f.seq);
}

/** The inbox preview showed a deleted message: the newest one shown, or ask the server. */
export function notePreviewDeleted(roomName, seq) {
  const c = state.convs.get(roomName);
  if (!c || !c.last_message || c.last_message.seq !== seq) return;
  const o = state.open;
  if (o && o.name === roomName && o.loaded) c.last_message = lastMessage(o);
  else refreshConversationsSoon();
  renderList();
}

/** Sends `read` up to the newest message shown while the conversation is being read. */
export function markRead() {
  const o = state.open;
  if (!o || !isBeingRead(o.name)) return;
  const c = state.convs.get(o.name);
  if (c && c.unread) { c.unread = 0; renderList(); }
  client.markRead(o);
}

// --- header, customer panel, typing ----------------------------------------------------------

export function renderThread() {
  const o = state.open;
  dom.thread.classList.toggle('is-empty', !o);
  dom.composer.disabled = !o;
  composer.update();
  if (!o) {
    dom.title.textContent = '';
    renderCustomer();
    renderTyping();
    renderDesk();
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
  renderDesk();
}
export function renderTyping() {
  const o = state.open;
  const names = o ? o.typing.names() : [];
  let text = '';
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = 'Several people are typing…';
  // Colleagues writing a note (the notes thread's typing, staff only).
  const writers = o ? noteTypers() : [];
  if (writers.length) {
    const noteText = writers.length === 1 ? `${writers[0]} is writing a note…`
      : `${writers.join(' and ')} are writing notes…`;
    text = text ? `${text} ${noteText}` : noteText;
  }
  dom.typing.textContent = text;
  dom.typing.classList.toggle('active', !!text);
}

/** Keeps the draft of the open conversation, and tells the customer we are typing. */
export function onComposerInput() {
  const o = state.open;
  if (!o) return;
  if (dom.composer.value) state.drafts.set(o.name, dom.composer.value);
  else state.drafts.delete(o.name);
  client.typing(composerRoom(), !!dom.composer.value.trim());
}

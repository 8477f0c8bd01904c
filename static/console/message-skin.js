/* The look of a message in the open conversation (the skin of lib/messages.js): the top row
 * (loading, "load earlier", the beginning), each message with its author, tags, time and the
 * delete button, and a pending message's status. Day breaks are drawn by CSS from the message's
 * data-day (.new-day), not as rows. Text only, through h() of lib/dom.js.
 */
import { h } from '../lib/dom.js';
import { shownName, paintAvatar } from '../lib/messages.js';
import { clockTime, fullTime } from '../lib/format.js';
import { client } from './client.js';
import { state, icon, isNotesRoom, setAvatar } from './state.js';
import { loadOlder } from './conversation-view.js';

const edge = (cls, ...children) => h('div', { class: `history-edge${cls ? ` ${cls}` : ''}` }, ...children);

/** The top of the history: error, loading, "load earlier", or the beginning. */
export function skinTop(o) {
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
}

/** Builds the element of one message (stored, or pending when `row.pending` is set). */
export function buildMessage(row) {
  const { m, pending, mine } = row;
  if (m.kind === 'event') return buildEvent(row);
  // A private note of the team (notes thread): never shown to the customer.
  const note = m.kind === 'note' || m.note === true || isNotesRoom(m.room);
  // A message the store's backend wrote (server API) answers the customer: the staff's side.
  const fromStore = m.kind === 'store';
  const staff = (m.from.role === 'admin' || m.from.role === 'agent') || fromStore;
  const announcement = m.kind === 'announcement';
  const cls = ['message', staff ? 'staff' : 'customer'];
  if (mine) cls.push('own');
  if (note) cls.push('note');
  if (announcement) cls.push('announcement');
  if (pending) cls.push('pending');
  if (pending && pending.status === 'failed') cls.push('failed');
  if (row.newDay) cls.push('new-day');
  if (row.grouped) cls.push('continued');
  const el = h('div', { class: cls.join(' '), dataset: { ts: String(m.ts), author: String(m.from.id) } });
  if (row.newDay) el.dataset.day = row.day;
  if (m.seq != null) el.dataset.seq = String(m.seq);
  if (m.id != null) el.dataset.id = String(m.id);
  if (m.room) el.dataset.room = String(m.room);
  if (pending) el.dataset.cid = pending.cid;

  const meta = h('div', { class: 'message-meta' }, h('span', { class: 'message-author' }, shownName(m.from)));
  // A staff member's reply shows them as customers see them: their avatar colour and the name
  // they sign with (the login name in the tooltip, for the team).
  if (staff && !fromStore && !announcement) {
    const avatar = h('span', { class: 'avatar avatar-tiny', 'aria-hidden': 'true' });
    setAvatar(avatar, m.from, 'avatar-tiny');
    paintAvatar(avatar, m.from);
    meta.prepend(avatar);
    if (m.from.display_name) meta.title = `@${m.from.username}`;
  }
  if (announcement) meta.prepend(h('span', { class: 'tag tag-announcement' }, icon('megaphone'), 'Announcement'));
  else if (fromStore) meta.append(h('span', { class: 'tag tag-staff', text: 'Store' }));
  else if (staff) meta.append(h('span', { class: 'tag tag-staff', text: mine ? 'You' : 'Staff' }));
  else if (m.from.role === 'guest') meta.append(h('span', { class: 'tag tag-guest', text: 'guest' }));
  if (note) meta.append(h('span', { class: 'tag tag-note', text: 'Only the team sees this' }));
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
  if (row.seen) el.append(h('div', { class: 'message-seen', text: 'Seen' }));
  return el;
}

/** A desk event (status, assignment, reopened): a small centred line, "bob set the status to resolved". */
function buildEvent(row) {
  const { m } = row;
  const who = m.from && m.from.username ? shownName(m.from) : 'Someone';
  const el = h('div', { class: `message event${row.newDay ? ' new-day' : ''}`, role: 'note',
    dataset: { ts: String(m.ts), author: String(m.from ? m.from.id : 0) } },
  h('span', { class: 'event-text', text: `${who} ${String(m.text || '')}` }), ' · ',
  h('time', { class: 'message-time', title: fullTime(m.ts), datetime: new Date(m.ts).toISOString() }, clockTime(m.ts)));
  if (row.newDay) el.dataset.day = row.day;
  if (m.seq != null) el.dataset.seq = String(m.seq);
  if (m.room) el.dataset.room = String(m.room);
  return el;
}

/** Under a pending message: sending, waiting, or why it failed with Retry · Discard. */
export function pendingStatus(p) {
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

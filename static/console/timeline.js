/* The open conversation's timeline: the support room's messages interleaved by time with its
 * notes thread (private notes, desk events), and "Seen" under the last reply the customer read.
 *
 * lib/messages.js draws one room; this subclass only changes which rows there are (rows()), so
 * scrolling, older pages, the jump button and Retry / Discard stay the shared code's. Keys
 * carry the room (s: support, n: notes, c: pending) because the two rooms' seqs overlap.
 */
import { MessageList, avatarColor, removedRow, shownName, withRemoved } from '../lib/messages.js';
import { clockTime, dayLabel, startOfDay } from '../lib/format.js';
import { state, isNotesRoom } from './state.js';

/** Messages by one author this close together form a group (as lib/messages.js). */
const GROUP_MS = 5 * 60 * 1000;

const isStaffSide = (m) => m.kind === 'store' || (m.from && (m.from.role === 'admin' || m.from.role === 'agent'));
/** Notes and events are the team's own: never grouped with replies, never "Seen". */
const isPrivate = (m) => m.kind === 'note' || m.kind === 'event' || m.note === true || isNotesRoom(m.room);

export class TimelineList extends MessageList {
  /** The rows: the top, then the conversation's and its notes' messages by time, then pending. */
  rows(room) {
    const client = this.client;
    const me = client.user || { id: 0, username: 'You', role: 'user' };
    const top = this.skin.top(room);
    const rows = [{ key: 'top', sig: top.sig, build: top.build }];
    const notes = state.notes && state.notes.loaded && state.open === room ? state.notes : null;
    // Deleted messages keep their place as "message removed" (lib/messages.js withRemoved).
    const items = withRemoved(room).map(({ m, removed }) =>
      ({ m, key: `s:${m.seq}`, pending: null, mine: client.isMine(m), removed }));
    if (notes) {
      // Notes older than the oldest reply loaded come with the older page they belong to.
      const from = room.more && room.messages.length ? room.messages[0].ts : -Infinity;
      for (const { m, removed } of withRemoved(notes)) {
        if (m.ts >= from) {
          items.push({ m, key: `n:${m.seq}`, pending: null, mine: client.isMine(m), removed });
        }
      }
      items.sort((a, b) => (a.m.ts - b.m.ts) || (a.key < b.key ? -1 : 1));
    }
    const pendingRooms = notes ? [room.name, notes.name] : [room.name];
    const pending = pendingRooms.flatMap((name) => client.outbox.forRoom(name));
    pending.sort((a, b) => a.ts - b.ts);
    for (const p of pending) {
      const note = isNotesRoom(p.room);
      const m = { room: p.room, seq: null, id: null, cid: p.cid, from: me, text: p.text, ts: p.ts,
        kind: note ? 'note' : undefined, note };
      items.push({ m, key: `c:${p.cid}`, pending: p, mine: true });
    }

    // "Seen": the last stored reply of the staff the customer has read.
    const seenSeq = state.seen.get(room.name) || 0;
    let seenKey = null;
    for (const it of items) {
      const m = it.m;
      if (!it.pending && !it.removed && !isPrivate(m) && isStaffSide(m) && m.seq <= seenSeq) seenKey = it.key;
    }

    const messageRows = [];
    let prev = null;
    for (const item of items) {
      const m = item.m;
      const newDay = !prev || startOfDay(prev.m.ts) !== startOfDay(m.ts);
      const day = newDay ? dayLabel(m.ts) : '';
      const grouped = !newDay && !item.removed && !prev.removed && m.kind !== 'announcement' && prev.m.kind !== 'announcement'
        && m.kind !== 'event' && prev.m.kind !== 'event'
        && isPrivate(prev.m) === isPrivate(m)
        && prev.m.from.id === m.from.id && m.ts - prev.m.ts < GROUP_MS
        // A staff member who renamed themselves starts a new group, under the new name.
        && shownName(prev.m.from) === shownName(m.from) && avatarColor(prev.m.from) === avatarColor(m.from);
      if (grouped) prev.last = false;
      const row = { ...item, grouped, last: true, newDay, day, seen: item.key === seenKey };
      messageRows.push(row);
      rows.push(row);
      prev = row;
    }
    const ready = client.ready;
    for (const row of messageRows) {
      const { m, pending: p } = row;
      if (row.removed) {
        row.sig = `removed|${row.day}|${row.mine}`;
        row.build = () => (this.skin.removed ? this.skin.removed(row) : removedRow(row));
        continue;
      }
      row.sig = [row.grouped, row.last, row.day, row.mine, p ? `${p.status}:${p.error || ''}:${ready}` : 'stored',
        m.id != null, clockTime(m.ts), m.from.username, m.from.role, m.from.display_name || '', m.from.avatar_color || '',
        m.kind || '', row.seen].join('|');
      row.build = () => this.skin.message(row);
    }
    return rows;
  }
}

/* A room as both pages hold it: its stored messages by seq, what recovery needs, who is online
 * and who is typing. Plain data and small functions; lib/client.js keeps it in step with the
 * server's frames, the pages only read it (and may add fields of their own).
 */
import { Typers } from './typing.js';

/** Messages in a `joined` without `since`: fixed by the server (docs/protocol.md §8). */
export const JOINED_PAGE = 50;

/** A room not loaded yet. `onTypingExpired()` is called when a typing indicator times out. */
export function newRoom(name, onTypingExpired) {
  return {
    name,
    messages: [],          // stored messages, sorted by seq
    removed: new Map(),    // seq -> {room, seq, ts, from: {id, role}}: deleted by the staff, shown as "message removed"
    bySeq: new Map(),      // seq -> message
    seenSeq: 0,            // the highest seq received: `since` of the next join (§7 step 1)
    oldestSeq: null,       // the smallest seq of the pages received: `before` of the next history
    loaded: false,         // a first page is in, so a join can ask for what came `since`
    joined: false,         // joined on the current socket
    joinPending: false,    // a join was sent; neither `joined` nor an error has come
    error: null,           // why the room could not be opened, as the server said
    more: false,           // older history exists
    historyPending: false, // a history page was asked for
    historyHoldUntil: 0,   // after a refused history request, wait before asking again
    readSent: 0,           // highest seq sent in a `read`
    online: new Map(),     // user id -> user
    crowdedCount: 0,       // users online when the room is too crowded to name them, else 0
    typing: new Typers(onTypingExpired),
  };
}

/** Inserts a stored message, keeping seq order; false if it is already there (or has no seq). */
export function insertMessage(room, m) {
  if (!m || typeof m.seq !== 'number' || room.bySeq.has(m.seq)) return false;
  room.bySeq.set(m.seq, m);
  if (m.seq > room.seenSeq) room.seenSeq = m.seq;
  const list = room.messages;
  if (!list.length || list[list.length - 1].seq < m.seq) { list.push(m); return true; }
  let lo = 0, hi = list.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (list[mid].seq < m.seq) lo = mid + 1; else hi = mid; }
  list.splice(lo, 0, m);
  return true;
}

/**
 * Takes a message out (deleted by the staff); false if it was not there. Only its place is kept
 * (`room.removed`: seq, time and the author's id and role, no name, no text), so the pages can show "message removed"
 * where it was while previews, unread counts and "Seen" see only the messages that remain.
 */
export function dropMessage(room, seq) {
  const m = room.bySeq.get(seq);
  if (!m) return false;
  room.bySeq.delete(seq);
  room.messages = room.messages.filter((x) => x.seq !== seq);
  // Whose it was, only to put the placeholder on their side: never their name.
  const from = m.from ? { id: m.from.id, role: m.from.role } : null;
  room.removed.set(seq, { room: room.name, seq, ts: m.ts, from });
  return true;
}

/** Forgets the messages (not `seenSeq`: what we received stays received). */
export function clearMessages(room) {
  room.messages = [];
  room.bySeq.clear();
  room.removed.clear();
  room.oldestSeq = null;
}

/** The newest stored message, or null. */
export const lastMessage = (room) => room.messages[room.messages.length - 1] || null;

/**
 * Who is online, from `joined` or an `online` frame. A crowded room names nobody and sends no
 * presence: its head count comes only from these frames.
 */
export function setOnline(room, f) {
  const users = f.online || [];
  room.online = new Map(users.map((u) => [u.id, u]));
  room.crowdedCount = f.online_count > users.length ? f.online_count : 0;
}

/** A public room's name, as the server accepts it (docs/protocol.md §4). */
export const PUBLIC_ROOM_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** "1 member", "12 members"; "1 online", "3 online": a directory entry's counts. */
export function roomCounts(entry) {
  const members = entry.members === 1 ? '1 member' : `${entry.members} members`;
  return entry.online > 0 ? `${members} · ${entry.online} online` : members;
}

/**
 * What the directory offers for the text in its filter box, given the rooms the server listed
 * for it: `exact` (the listed room of exactly that name, else null) and `create` (the name a
 * "Create room" action would make, else null: the text is a valid public room name that does
 * not exist, and the user may create rooms). A room is never created by typing its name alone.
 */
export function directoryOffer(filter, entries, mayCreate) {
  const name = String(filter || '').trim().toLowerCase();
  const exact = name ? entries.find((r) => r.name === name) || null : null;
  const create = mayCreate && !exact && PUBLIC_ROOM_RE.test(name) ? name : null;
  return { name, exact, create };
}

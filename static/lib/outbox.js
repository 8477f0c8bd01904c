/* Messages we sent that the server has not acknowledged yet (docs/protocol.md §4 send, §7).
 *
 * Each gets a cid of its own when written. Until its `ack` (or our own copy coming back as a
 * `message`) it stays here and on screen as pending; after a reconnect it is sent again with the
 * same cid, so a message stored before the connection dropped is not stored twice. An `error`
 * with its cid marks it failed: the reader may retry (same cid) or discard it; except when the
 * server could not store it for a reason of its own (`unavailable`, `shutting_down`): then it
 * stays pending and is sent again by itself.
 */

/** A client message id: 1-64 printable ASCII characters, unique enough never to repeat. */
export function newCid() {
  if (window.crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  // Non-secure contexts (plain http on a LAN address) have no randomUUID.
  const bytes = new Uint8Array(16);
  if (window.crypto && crypto.getRandomValues) crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  return 'c-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export class Outbox {
  constructor() {
    this.byCid = new Map(); // cid -> {cid, room, text, ts, status: 'pending' | 'failed', error}
  }

  /** A new message for `room`, pending. */
  add(room, text) {
    const p = {
      cid: newCid(), room, text, ts: Date.now(), status: 'pending', error: null,
      refusals: 0, // how often the server could not store it (unavailable, shutting_down)
      held: false, // waiting to be sent again with the others, in order
    };
    this.byCid.set(p.cid, p);
    return p;
  }

  /** This room's messages, oldest first. */
  forRoom(room) {
    return Array.from(this.byCid.values()).filter((p) => p.room === room);
  }

  /** This room's messages still to be sent (not failed). */
  waiting(room) {
    return this.forRoom(room).filter((p) => p.status === 'pending');
  }

  /** A stored message by `me` with one of our cids: it is no longer pending. */
  settle(m, me) {
    if (!m.cid || !me || !m.from || m.from.id !== me.id) return null;
    return this.take(m.cid, m.room);
  }

  /** An `ack`: stored as `f.seq`. Returns the message, no longer pending. */
  ack(f) {
    return this.take(f.cid, f.room);
  }

  take(cid, room) {
    const p = this.byCid.get(cid);
    if (!p || p.room !== room) return null;
    this.byCid.delete(cid);
    return p;
  }

  /** Refused (an `error` with its cid): kept, marked failed with the server's reason. */
  fail(cid, error) {
    const p = this.byCid.get(cid);
    if (!p) return null;
    p.status = 'failed';
    p.error = error;
    return p;
  }

  /** Not stored for now (the server's reason, not the message's): still pending, counted, and
   *  held back to be sent again with the others. */
  later(cid) {
    const p = this.byCid.get(cid);
    if (!p) return null;
    p.refusals += 1;
    p.held = true;
    return p;
  }

  /** Holds a new message back behind those waiting to be sent again. */
  hold(p) {
    p.held = true;
  }

  /** Whether messages of `room` are held back to be sent again. */
  holdsRoom(room) {
    return this.forRoom(room).some((p) => p.held && p.status === 'pending');
  }

  /** The messages held back, oldest first. */
  held() {
    return Array.from(this.byCid.values())
      .filter((p) => p.held && p.status === 'pending')
      .sort((a, b) => a.ts - b.ts);
  }

  /** Takes the hold off the held messages and returns them, oldest first, to be sent again. */
  releaseHeld() {
    const held = this.held();
    for (const p of held) p.held = false;
    return held;
  }

  /** Every pending message of `room`, oldest first, with no hold: to be sent after a join. */
  release(room) {
    const pending = this.waiting(room).sort((a, b) => a.ts - b.ts);
    for (const p of pending) p.held = false;
    return pending;
  }

  /** Pending again, to be sent with the same cid. */
  retry(cid) {
    const p = this.byCid.get(cid);
    if (!p) return null;
    p.status = 'pending';
    p.error = null;
    return p;
  }

  discard(cid) {
    this.byCid.delete(cid);
  }

  dropRoom(room) {
    for (const [cid, p] of this.byCid) if (p.room === room) this.byCid.delete(cid);
  }

  clear() {
    this.byCid.clear();
  }
}

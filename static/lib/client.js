/* The chat protocol for both pages: rooms and their recovery after a reconnect, sends waiting for
 * their ack, typing and read receipts, over one lib/connection.js (docs/protocol.md §4, §5, §7).
 *
 * The client owns the state, the page owns the screen. Each frame first updates the rooms
 * (lib/rooms.js) and the outbox (lib/outbox.js), then calls the page's hook of that name, if it
 * has one, to draw what changed. Rooms exist only because the page added them: the chat page
 * adds every room of its list, the console only the conversation it has open. Frames of other
 * rooms still reach the page's `message`, `presence` and `deleted` hooks, with `room` null.
 *
 * Recovery, in one place (§7):
 *  - every room remembers the highest seq it received (`seenSeq`); on each `hello`, every room
 *    is joined again, with that as `since` once the room has a first page;
 *  - `joined.messages` are merged by seq and `joined.deleted` removed; `recovered: false` (too
 *    much missed) drops the room's messages and takes the newest page through `history`;
 *  - after `joined`, every send of the room without an ack goes again with the same cid: one
 *    stored before comes back as just an `ack`, and our own copy fills in if the room lacks it.
 *
 * The reader never sees the protocol's words: frames are paced to the server's rate
 * (lib/connection.js, lib/pacer.js), a `rate_limited` refusal that still comes is retried
 * quietly (a send, a join, a history page), and every other refusal reaches the page in human
 * words (humanError), never as the server's own text.
 */
import { Connection } from './connection.js';
import { Outbox } from './outbox.js';
import { TypingSender } from './typing.js';
import { JOINED_PAGE, newRoom, insertMessage, dropMessage, clearMessages, setOnline } from './rooms.js';

/** After a refused history request, wait this long before asking again (scrolling asks a lot). */
const HISTORY_RETRY_MS = 3000;

const utf8 = new TextEncoder();
/** Refusals that say nothing of the message itself: the server could not store it now. */
const TRANSIENT = new Set(['unavailable', 'shutting_down']);
const RESEND_FIRST_MS = 1000;
const RESEND_MAX_MS = 30000;
/** After a `rate_limited` join or history page, ask again after about this long. */
const RATE_RETRY_MS = 1000;

/**
 * What a refusal means to the reader, in their words rather than the protocol's (docs/protocol.md
 * §9 codes). `f.cid` set: about a message they wrote; `joining`: about a room being opened;
 * `limits`: the server's (hello.limits).
 */
export function humanError(f, limits, joining = false) {
  const aboutMessage = !!(f && f.cid);
  if (joining && !aboutMessage && f) {
    if (f.code === 'bad_request') return 'That room name isn’t valid.';
    if (f.code === 'forbidden') return 'You don’t have access to this room.';
  }
  switch (f && f.code) {
    case 'too_large': {
      const max = limits && limits.max_message_chars;
      return max ? `Too long to send (at most ${max} characters). Please shorten it.` : 'Too long to send. Please shorten it.';
    }
    case 'forbidden':
    case 'not_member':
      return aboutMessage ? 'You can’t send messages here.' : 'You don’t have access to this conversation.';
    case 'not_found': return 'This conversation no longer exists.';
    case 'too_many_rooms': return 'You’re in too many rooms. Leave one to join another.';
    case 'too_many_rooms_created': return 'You’ve created many rooms in the last hour. Join one that exists, or try again later.';
    case 'unauthorized': return 'Your session has ended. Please sign in again.';
    case 'rate_limited': return 'Busy right now. Trying again…';
    case 'unavailable':
    case 'shutting_down':
      return aboutMessage ? 'Not saved yet. Trying again…' : 'Not available right now. Please try again in a moment.';
    case 'bad_request':
      return aboutMessage ? 'This message could not be sent.' : 'That didn’t work. Please try again.';
    default: return 'Something went wrong. Please try again.';
  }
}

export class ChatClient {
  /**
   * `api`: the page's lib/api.js function (asked who we are when the socket is refused).
   * `hooks`, all optional: status(state, retryAt), hello(f) before the rooms are joined,
   * joined(room, f, firstLoad), message(m, room, isNew), ack(pending, room), history(room, f),
   * deleted(f, room, dropped), presence(f, room), online(room), typing(room), pending(p) when a
   * send failed, error(f, room), down() when the socket is lost, frame(f) for any other frame.
   */
  constructor({ api, hooks }) {
    this.hooks = hooks;
    this.user = null;        // {id, username, role}: from sign-in, then from each `hello`
    this.rooms = new Map();  // name -> room (lib/rooms.js)
    this.outbox = new Outbox();
    this.typingSender = new TypingSender((room, on) => this.sendIn(room, { type: 'typing', room, on }));
    this.conn = new Connection({
      onFrame: (f) => this.frame(f),
      onStatus: (s, retryAt) => this.call('status', s, retryAt),
      onDown: () => this.down(),
      verify: () => api('GET', '/api/me').then(() => true, (err) => !err.handled),
    });
  }

  call(hook, ...args) {
    const f = this.hooks[hook];
    return f ? f(...args) : undefined;
  }

  /** Connected and greeted: frames sent now are handled. */
  get ready() { return this.conn.ready; }
  /** The server's limits (hello.limits; the defaults before the first hello). */
  get limits() { return this.conn.limits; }
  /** Between start() and stop(). */
  get running() { return this.conn.token !== null; }

  /** A new session: connect with `token` and keep reconnecting until stop(). */
  start(token, user) {
    this.stop();
    this.user = user;
    this.conn.start(token);
  }

  /** Sign-out: close the socket and forget every room and unsent message. */
  stop() {
    this.conn.stop();
    this.typingSender.reset();
    for (const room of this.rooms.values()) room.typing.clear();
    this.rooms.clear();
    this.outbox.clear();
    this.user = null;
  }

  /** Connect now rather than at the end of the backoff. */
  retryNow() { this.conn.connect(); }

  isMine(m) { return !!this.user && !!m.from && m.from.id === this.user.id; }

  // ------------------------------------------------------------------ rooms

  /** The room of this name, added (not loaded, not joined) if it was not there. */
  addRoom(name) {
    let room = this.rooms.get(name);
    if (!room) {
      room = newRoom(name, () => this.call('typing', room));
      this.rooms.set(name, room);
    }
    return room;
  }

  /** Stops following a room on this page (no `leave`: the server keeps it in our list). */
  removeRoom(name) {
    const room = this.rooms.get(name);
    if (!room) return;
    room.typing.clear();
    this.rooms.delete(name);
  }

  /** Asks for `joined`; with `since` once the room has a first page. False when not connected. */
  join(room) {
    if (!this.ready) return false;
    const frame = { type: 'join', room: room.name };
    if (room.loaded) frame.since = room.seenSeq;
    room.joinPending = true;
    room.error = null;
    return this.conn.send(frame);
  }

  /**
   * The server took this connection out of the room (`conversation_moved`): forget it, its
   * typing and its unsent messages, without a word to the server (which would refuse it).
   */
  forgetRoom(name) {
    if (this.typingSender.room === name) this.typingSender.reset();
    this.removeRoom(name);
    this.outbox.dropRoom(name);
  }

  /** Takes the room out of the user's list, with its unsent messages. */
  leave(name) {
    if (this.typingSender.room === name) this.typingSender.stop();
    this.conn.send({ type: 'leave', room: name });
    this.removeRoom(name);
    this.outbox.dropRoom(name);
  }

  /**
   * Asks for the page before the oldest message held (or the newest page). False when there is
   * nothing to ask, one is on its way, a refusal is too recent, or the socket is not ready.
   */
  requestHistory(room, newest = false) {
    if (room.historyPending || Date.now() < room.historyHoldUntil) return false;
    if (!newest) {
      if (!room.more || room.oldestSeq === null) return false;
      if (room.oldestSeq <= 1) { room.more = false; return false; }
    }
    const frame = { type: 'history', room: room.name, limit: this.limits.history_page_default };
    if (!newest) frame.before = room.oldestSeq;
    if (!this.ready || !this.conn.send(frame)) return false;
    room.historyPending = true;
    room.historyFrame = frame; // asked again as it is if the server was too busy
    return true;
  }

  /** A page of older messages (from `history`, or from the HTTP endpoint). */
  takePage(room, messages, more) {
    room.historyPending = false;
    for (const m of messages) {
      this.outbox.settle(m, this.user);
      insertMessage(room, m);
    }
    if (messages.length && (room.oldestSeq === null || messages[0].seq < room.oldestSeq)) {
      room.oldestSeq = messages[0].seq;
    }
    room.more = !!more && messages.length > 0;
  }

  /** A live message for a loaded room; true if it is new to the room. */
  receive(room, m) {
    this.outbox.settle(m, this.user);
    const isNew = insertMessage(room, m);
    if (m.from) room.typing.delete(m.from.id);
    return isNew;
  }

  /** Marks the room read up to the newest message received, once per seq. */
  markRead(room) {
    if (!this.ready || room.seenSeq <= room.readSent) return;
    room.readSent = room.seenSeq;
    this.conn.send({ type: 'read', room: room.name, seq: room.seenSeq });
  }

  // ------------------------------------------------------------------ sending

  /** Writes a message: pending at once, sent now if the room is joined, else after `joined`. */
  send(roomName, text) {
    const p = this.outbox.add(roomName, text);
    // Behind messages waiting to be sent again, it waits too: the room keeps the order written.
    if (this.outbox.holdsRoom(roomName)) this.outbox.hold(p);
    else this.transmit(p);
    return p;
  }

  /** A failed message, pending again with the same cid. */
  retry(cid) {
    const p = this.outbox.retry(cid);
    if (p) this.transmit(p);
    return p;
  }

  discard(cid) { this.outbox.discard(cid); }

  /** Sends the messages the server could not store again, all together and in the order they
   *  were written, after a pause that grows with each refusal (1 s, 2 s, 4 s ... at most 30 s,
   *  with jitter). One timer for all of them: separate timers would resend them out of order. */
  resendLater() {
    if (this.resendTimer) return;
    const refusals = Math.max(1, ...this.outbox.held().map((p) => p.refusals));
    const delay = Math.min(RESEND_MAX_MS, RESEND_FIRST_MS * 2 ** Math.min(refusals - 1, 5));
    this.resendTimer = setTimeout(() => {
      this.resendTimer = null;
      for (const p of this.outbox.releaseHeld()) this.transmit(p);
    }, delay * (0.75 + Math.random() / 2));
  }

  transmit(p) {
    const frame = { type: 'send', room: p.room, text: p.text, cid: p.cid };
    // The server would refuse a larger frame without naming the cid, leaving it pending forever.
    if (utf8.encode(JSON.stringify(frame)).length > this.limits.max_frame_bytes) {
      this.outbox.fail(p.cid, 'Too long to send. Please shorten it.');
      return;
    }
    this.sendIn(p.room, frame);
  }

  /** Sends a frame about a room this connection has joined; false otherwise. */
  sendIn(roomName, frame) {
    const room = this.rooms.get(roomName);
    return !!room && room.joined && this.ready && this.conn.send(frame);
  }

  /** The composer of `roomName` changed (typing notifications, lib/typing.js). */
  typing(roomName, hasText) { this.typingSender.input(roomName, hasText); }
  stopTyping() { this.typingSender.stop(); }

  // ------------------------------------------------------------------ frames

  frame(f) {
    switch (f.type) {
      case 'hello': return this.onHello(f);
      case 'joined': return this.onJoined(f);
      case 'message': return this.onMessage(f);
      case 'ack': return this.onAck(f);
      case 'history': return this.onHistory(f);
      case 'deleted': return this.onDeleted(f);
      case 'presence': return this.onPresence(f);
      case 'online': return this.onOnline(f);
      case 'typing': return this.onTyping(f);
      case 'error': return this.onError(f);
      default: return this.call('frame', f); // only a page cares (unread, support_activity)
    }
  }

  onHello(f) {
    this.user = f.user;
    this.call('hello', f);
    if (!this.running) return; // the page ended the session
    for (const room of this.rooms.values()) this.join(room);
  }

  onJoined(f) {
    const room = this.rooms.get(f.room);
    if (!room) return; // closed or left meanwhile
    const firstLoad = !room.loaded;
    room.joined = true;
    room.joinPending = false;
    room.error = null;
    setOnline(room, f);
    const messages = f.messages || [];
    for (const m of messages) this.outbox.settle(m, this.user);
    if (f.recovered === false) {
      // Too much was missed to recover in one list: start again from the newest page.
      clearMessages(room);
      room.more = true;
      room.historyHoldUntil = 0;
      this.requestHistory(room, true);
    } else {
      if (firstLoad) clearMessages(room);
      for (const m of messages) insertMessage(room, m);
      if (firstLoad) {
        room.oldestSeq = messages.length ? messages[0].seq : null;
        room.more = messages.length >= JOINED_PAGE && messages[0].seq > 1;
      }
      // Deleted while we were away.
      for (const seq of f.deleted || []) dropMessage(room, seq);
    }
    room.loaded = true;
    // Everything still pending goes, in the order written, whatever was held back for a resend.
    for (const p of this.outbox.release(room.name)) this.transmit(p);
    this.call('joined', room, f, firstLoad);
  }

  onMessage(f) {
    const m = { ...f };
    delete m.type;
    const room = this.rooms.get(m.room) || null;
    let isNew = false;
    if (room && room.loaded) isNew = this.receive(room, m);
    else this.outbox.settle(m, this.user);
    this.call('message', m, room, isNew);
  }

  onAck(f) {
    const p = this.outbox.ack(f);
    if (!p) return;
    const room = this.rooms.get(f.room) || null;
    // A resend of a message stored earlier gets only an ack. If the room does not hold that
    // message but it falls within what is loaded, show it from our own copy.
    if (room && room.loaded && !room.bySeq.has(f.seq) && (room.oldestSeq === null || f.seq >= room.oldestSeq)) {
      insertMessage(room, { room: f.room, seq: f.seq, id: null, from: this.user, text: p.text, ts: p.ts, cid: p.cid });
    }
    this.call('ack', p, room);
  }

  onHistory(f) {
    const room = this.rooms.get(f.room);
    if (!room) return;
    this.takePage(room, f.messages || [], f.more);
    this.call('history', room, f);
  }

  onDeleted(f) {
    const room = this.rooms.get(f.room) || null;
    const dropped = !!room && dropMessage(room, f.seq);
    this.call('deleted', f, room, dropped);
  }

  onPresence(f) {
    const room = this.rooms.get(f.room) || null;
    if (room && f.user) {
      if (f.online) room.online.set(f.user.id, f.user);
      else {
        room.online.delete(f.user.id);
        room.typing.delete(f.user.id);
      }
    }
    this.call('presence', f, room);
  }

  onOnline(f) {
    const room = this.rooms.get(f.room);
    if (!room) return;
    setOnline(room, f);
    this.call('online', room);
  }

  onTyping(f) {
    const room = this.rooms.get(f.room);
    if (!room || !f.user || (this.user && f.user.id === this.user.id)) return;
    room.typing.set(f.user, !!f.on);
    this.call('typing', room);
  }

  onError(f) {
    // Refused at connect (banned, account gone): the 1008 close that follows asks /api/me.
    if (f.code === 'unauthorized' && !this.ready) return;
    if (f.code === 'rate_limited') { this.rateLimited(f); return; }
    if (f.cid && TRANSIENT.has(f.code)) {
      // Not stored, through no fault of the message: it stays pending and goes again by
      // itself (after the reconnect that follows `shutting_down`, or after a pause).
      const p = this.outbox.later(f.cid);
      if (p) {
        if (f.code === 'unavailable') this.resendLater();
        this.call('pending', p);
        return;
      }
    }
    const room = (f.room && this.rooms.get(f.room)) || null;
    const joining = !!room && room.joinPending;
    const human = { ...f, message: humanError(f, this.limits, joining) };
    if (f.cid) {
      const p = this.outbox.fail(f.cid, human.message);
      if (p) { this.call('pending', p); return; }
    }
    if (room) {
      if (room.joinPending) {
        room.joinPending = false;
        room.error = human.message;
      }
      if (room.historyPending) {
        room.historyPending = false;
        room.historyHoldUntil = Date.now() + HISTORY_RETRY_MS;
        if (f.code === 'forbidden' || f.code === 'not_found') room.more = false;
      }
    }
    this.call('error', human, room);
  }

  /**
   * Over the server's rate after all (another tab, a slow network bunching frames up) or the
   * server busy: nothing for the reader to see or do. A message waits and goes again by itself,
   * in order with the others; a join or history page is asked again after a pause; a typing or
   * read frame is not worth repeating (the next one says the same).
   */
  rateLimited(f) {
    if (f.cid) {
      const p = this.outbox.later(f.cid);
      if (p) { this.resendLater(); this.call('pending', p); }
      return;
    }
    // The refusal does not say which frame it was (it is given before the frame is read):
    // after a pause, whatever is still unanswered is asked again. An answer that was only
    // slow comes twice then, which the rooms take in their stride (merged by seq).
    if (this.rateTimer) return;
    this.rateTimer = setTimeout(() => {
      this.rateTimer = null;
      if (!this.ready) return; // the next hello joins every room again anyway
      for (const room of this.rooms.values()) {
        if (room.joinPending && !room.joined) this.join(room);
        else if (room.historyPending && room.historyFrame) this.conn.send(room.historyFrame);
      }
    }, RATE_RETRY_MS * (0.75 + Math.random() / 2));
  }

  down() {
    for (const room of this.rooms.values()) {
      room.joined = false;
      room.joinPending = false;
      room.historyPending = false;
      room.typing.clear();
      room.online.clear(); // unknown until the next `joined`
      room.crowdedCount = 0;
    }
    this.typingSender.reset();
    this.call('down');
  }
}

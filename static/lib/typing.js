/* "… is typing": the indicators of others in a room, and our own typing notifications.
 *
 * The server never times typing out (docs/protocol.md §4 typing), so both ends do: a sender
 * repeats `on: true` every few seconds while typing and says `on: false` when idle, and a
 * reader drops an indicator that was not repeated in time (a sender that vanished).
 */

/** An indicator not repeated for this long is dropped. */
export const TYPING_EXPIRE_MS = 6000;
/** While typing we repeat `on: true` this often: well within TYPING_EXPIRE_MS. */
export const TYPING_REFRESH_MS = 3000;
/** We send `on: false` after this long without a keystroke. */
export const TYPING_IDLE_MS = 5000;

/** Who else is typing in one room. `onExpire()` is called when an indicator times out. */
export class Typers {
  constructor(onExpire) {
    this.byUser = new Map(); // user id -> {user, timer}
    this.onExpire = onExpire;
  }

  /** A `typing` frame from `user`. */
  set(user, on) {
    this.delete(user.id);
    if (!on) return;
    const timer = setTimeout(() => { this.byUser.delete(user.id); this.onExpire(); }, TYPING_EXPIRE_MS);
    this.byUser.set(user.id, { user, timer });
  }

  /** Forgets one typer (they sent a message, or went offline); false if they were not typing. */
  delete(userId) {
    const t = this.byUser.get(userId);
    if (!t) return false;
    clearTimeout(t.timer);
    this.byUser.delete(userId);
    return true;
  }

  clear() {
    for (const t of this.byUser.values()) clearTimeout(t.timer);
    this.byUser.clear();
  }

  /** The typers' names, in the order they started. */
  names() {
    return Array.from(this.byUser.values(), (t) => t.user.username);
  }
}

/** Our own notifications. `send(room, on)` sends the frame and says whether it could. */
export class TypingSender {
  constructor(send) {
    this.send = send;
    this.room = null;  // the room we told that we are typing
    this.on = false;
    this.lastSent = 0;
    this.idleTimer = 0;
  }

  /** The composer of `room` changed; `hasText`: it holds more than white space. */
  input(room, hasText) {
    if (!hasText) { this.stop(); return; }
    if (this.on && this.room !== room) this.stop();
    const now = Date.now();
    if ((!this.on || now - this.lastSent >= TYPING_REFRESH_MS) && this.send(room, true)) {
      this.on = true;
      this.room = room;
      this.lastSent = now;
    }
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.stop(), TYPING_IDLE_MS);
  }

  /** Sent, emptied, idle, or another room opened: tell the room we stopped. */
  stop() {
    clearTimeout(this.idleTimer);
    if (!this.on) return;
    this.send(this.room, false);
    this.on = false;
    this.room = null;
  }

  /** The socket is gone, and the server forgot our typing with it. */
  reset() {
    clearTimeout(this.idleTimer);
    this.on = false;
    this.room = null;
  }
}

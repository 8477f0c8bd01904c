/* Pacing what a page sends to the server's rate (docs/protocol.md §8: `hello.limits`).
 *
 * The server takes one token per frame from a bucket of `rate_per_sec`, holding at most
 * `rate_burst`, and refuses a frame when it is empty (`rate_limited`). A reader who pastes sixty
 * lines, or a page that joins thirty rooms at once, would hit that. So the page keeps a bucket of
 * its own and sends only what it holds tokens for; the rest waits here, in order, and goes out
 * as tokens come back. Nothing is dropped and nothing overtakes.
 *
 * Why a margin: frames sent evenly may reach the server bunched up (the network, a busy tab), so
 * the page's bucket is smaller and slower than the server's (MARGIN_*): bunching eats into the
 * burst the page leaves unused instead of into a refusal.
 *
 * Plain logic with the clock and the timer passed in, so it can be checked with a fake clock.
 */

/** The share of the server's rate the page uses. */
export const MARGIN_RATE = 0.9;
/** The share of the server's burst the page uses. */
export const MARGIN_BURST = 0.75;

export class Pacer {
  /**
   * `transmit(frame)`: puts a frame on the wire now. `now()` in ms, `schedule(fn, ms)` and
   * `cancel(id)`: the clock and the timer (the browser's unless a test passes its own).
   */
  constructor({ transmit, now = () => performance.now(), schedule = (fn, ms) => setTimeout(fn, ms),
    cancel = (id) => clearTimeout(id) }) {
    this.transmit = transmit;
    this.now = now;
    this.schedule = schedule;
    this.cancel = cancel;
    this.queue = [];
    this.timer = null;
    this.rate = 0;
    this.capacity = 1;
    this.tokens = 0;
    this.last = this.now();
    this.setLimits(20, 40);
    this.reset();
  }

  /** The server's rate (frames per second) and burst (from `hello`). What waits keeps waiting. */
  setLimits(ratePerSec, burst) {
    const rate = Number(ratePerSec) > 0 ? Number(ratePerSec) : 20;
    const size = Number(burst) >= 1 ? Number(burst) : 1;
    this.refill();
    this.rate = (rate * MARGIN_RATE) / 1000; // tokens per ms
    this.capacity = Math.max(1, Math.floor(size * MARGIN_BURST));
    if (this.tokens > this.capacity) this.tokens = this.capacity;
    if (this.queue.length) { if (this.timer !== null) this.cancel(this.timer); this.timer = null; this.pump(); }
  }

  /** A new connection: a full bucket (as the server's is), nothing waiting (frames of the old
   *  socket are not sent on the new one: the client sends what still matters again). */
  reset() {
    this.tokens = this.capacity;
    this.last = this.now();
    this.queue = [];
    if (this.timer !== null) this.cancel(this.timer);
    this.timer = null;
  }

  /** How many frames wait for a token. */
  get waiting() { return this.queue.length; }

  /** Sends `frame` now if a token is there and nothing waits before it; else queues it. */
  send(frame) {
    this.queue.push(frame);
    this.pump();
  }

  refill() {
    const t = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + (t - this.last) * this.rate);
    this.last = t;
  }

  /** Sends what the bucket allows, oldest first, and wakes up when the next token is due. */
  pump() {
    this.refill();
    while (this.queue.length && this.tokens >= 1) {
      this.tokens -= 1;
      this.transmit(this.queue.shift());
    }
    if (this.queue.length && this.timer === null) {
      const wait = Math.max(1, Math.ceil((1 - this.tokens) / this.rate));
      this.timer = this.schedule(() => { this.timer = null; this.pump(); }, wait);
    }
  }
}

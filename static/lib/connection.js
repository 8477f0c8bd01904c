/* The WebSocket to /ws, for both pages: connect, reconnect with backoff, the limits of `hello`.
 *
 * One Connection per page. It knows nothing of rooms: every parsed frame goes to `onFrame`, and
 * lib/client.js builds rooms, recovery and pending sends on top (docs/protocol.md §3, §7).
 *
 * Why it waits before reconnecting: after a restart every browser comes back at once, so each
 * waits 1 s, 2 s, 4 s ... up to 30 s, with ±20% jitter. When the socket closed before `hello`
 * (the browser does not say why an upgrade was refused) or with 1008 (the account was shut out),
 * `verify()` asks the HTTP API first: a page whose session is over signs out instead of retrying.
 *
 * Every frame goes out through a lib/pacer.js bucket set to `hello.limits`: a burst larger than
 * the server's rate waits its turn, in order, instead of being refused.
 */
import { Pacer } from './pacer.js';

/** What a server says in `hello.limits` when it runs with the defaults (docs/protocol.md §8). */
export const DEFAULT_LIMITS = Object.freeze({
  max_message_chars: 4000,
  max_frame_bytes: 16384,
  history_page_max: 100,
  history_page_default: 50,
  rate_per_sec: 20,
  rate_burst: 40,
});

const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 30000;

export class Connection {
  /**
   * `onFrame(frame)`: every frame, `hello` included (after `limits` and `ready` are set).
   * `onStatus(state, retryAt)`: 'connecting' | 'connected' | 'reconnecting' | 'offline', and
   *   when a retry is scheduled, the time (ms) it will happen.
   * `onDown()`: the socket was lost; nothing joined on it is joined any more.
   * `verify()`: async, false when the session is over (the page has signed out).
   */
  constructor({ onFrame, onStatus, onDown, verify }) {
    this.onFrame = onFrame;
    this.onStatus = onStatus;
    this.onDown = onDown;
    this.verify = verify;
    this.token = null;
    this.ws = null;
    this.helloSeen = false;     // on the current socket
    this.everConnected = false; // a hello was seen since start(): losing it is "reconnecting"
    this.attempt = 0;           // reconnect attempts since the last hello
    this.timer = 0;
    /** The server's limits: from the last `hello`, the defaults until then. */
    this.limits = { ...DEFAULT_LIMITS };
    /** Frames wait here for the server's rate (lib/pacer.js); each socket starts afresh. */
    this.pacer = new Pacer({ transmit: (frame) => this.transmit(frame) });
    this.pacer.setLimits(this.limits.rate_per_sec, this.limits.rate_burst);

    // Back online, or back on the tab: try now instead of waiting out a long backoff.
    window.addEventListener('online', () => this.connect());
    window.addEventListener('offline', () => { if (this.token && !this.ready) this.onStatus('offline'); });
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') this.connect();
    });
  }

  /** Open, and `hello` received: frames sent now are handled. */
  get ready() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN && this.helloSeen;
  }

  /** Connects with this token (a new session), and keeps reconnecting until stop(). */
  start(token) {
    this.stop();
    this.token = token;
    this.everConnected = false;
    this.attempt = 0;
    this.connect();
  }

  /** Closes the socket on purpose (sign-out): no reconnect. */
  stop() {
    this.token = null;
    clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = null;
    this.helloSeen = false;
    this.pacer.reset();
    if (ws) {
      ws.onmessage = ws.onclose = ws.onerror = null;
      try { ws.close(1000, 'bye'); } catch (_) { /* already closed */ }
    }
  }

  /** Connects now unless a socket is open or opening (also the "try now" of a retry button). */
  connect() {
    if (!this.token || this.ws) return;
    clearTimeout(this.timer);
    this.onStatus(this.everConnected || this.attempt > 0 ? 'reconnecting' : 'connecting');
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}/ws?token=${encodeURIComponent(this.token)}`);
    this.ws = ws;
    this.helloSeen = false;
    this.pacer.reset();
    // Handlers ignore events of a socket that is no longer the current one.
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      let frame;
      try { frame = JSON.parse(ev.data); } catch (_) { return; }
      if (!frame || typeof frame.type !== 'string') return;
      if (frame.type === 'hello') this.hello(frame);
      this.onFrame(frame);
    };
    ws.onclose = (ev) => { if (ws === this.ws) this.lost(ev); };
    ws.onerror = () => { /* a close event follows */ };
  }

  /**
   * Sends a frame if the socket is open, paced to the server's rate (it may wait its turn
   * behind others, in order); false if the socket is not open (the caller keeps what it had).
   */
  send(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.pacer.send(frame);
    return true;
  }

  /** Puts a frame on the wire now (the pacer's turn came); gone with a socket that closed. */
  transmit(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  /** How many frames wait for the server's rate. */
  get queued() { return this.pacer.waiting; }

  hello(f) {
    this.helloSeen = true;
    this.everConnected = true;
    this.attempt = 0;
    this.limits = { ...DEFAULT_LIMITS, ...(f.limits || {}) };
    this.pacer.setLimits(this.limits.rate_per_sec, this.limits.rate_burst);
    this.onStatus('connected');
  }

  async lost(ev) {
    const hadHello = this.helloSeen;
    this.ws = null;
    this.helloSeen = false;
    this.pacer.reset();
    this.onDown();
    this.onStatus(navigator.onLine === false ? 'offline' : 'reconnecting');
    if (ev.code === 1008 || !hadHello) {
      const token = this.token;
      const ok = await this.verify();
      // Signed out, signed in anew, or reconnected meanwhile: nothing left to do here.
      if (!ok || this.token !== token || this.ws) return;
    }
    // 1013: too slow a reader; the server asks for a prompt reconnect with `since`.
    this.retryLater(ev.code === 1013 ? BACKOFF_MIN_MS : null);
  }

  retryLater(delay) {
    clearTimeout(this.timer);
    if (this.ws || !this.token) return;
    if (delay == null) {
      const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
      delay = Math.min(BACKOFF_MAX_MS, base * (0.8 + Math.random() * 0.4));
    }
    this.attempt += 1;
    this.onStatus(navigator.onLine === false ? 'offline' : 'reconnecting', Date.now() + delay);
    this.timer = setTimeout(() => this.connect(), delay);
  }
}

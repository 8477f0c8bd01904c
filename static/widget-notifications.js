/* The store's notifications in the widget ("your order has shipped", docs/protocol.md §2 and §5
 * `notification`): the unread ones as small cards above the conversation, and the count the
 * closed launcher adds to its badge. Title and body are text, never markup (h() of lib/dom.js);
 * a link opens in the store's own window, and only when it is http(s).
 */
import { h } from './lib/dom.js';

/** Cards kept at most (the newest). */
const MAX_SHOWN = 20;

export class Notifications {
  /**
   * `container`: where the cards go; `markRead(id)` tells the server (the socket's
   * `notification_read`); `onChange()` follows every change of the cards or the count.
   */
  constructor({ container, markRead, onChange }) {
    this.container = container;
    this.markRead = markRead;
    this.onChange = onChange;
    this.shown = [];  // unread notifications on screen, newest first
    this.unread = 0;  // the server's count (hello, notifications_unread) plus live arrivals
  }

  /** The newest unread one, for the launcher's preview; null when none. */
  get latest() {
    return this.unread > 0 ? this.shown[0] || null : null;
  }

  /** Forgets everything (another session). */
  clear() {
    this.shown = [];
    this.unread = 0;
    this.render();
  }

  /** The server's count (`hello.notifications_unread`, `notifications_unread`). */
  setUnread(count) {
    if (typeof count !== 'number') return;
    this.unread = Math.max(0, count);
    this.onChange();
  }

  /** A live `notification` frame. */
  receive(f) {
    this.shown = [f, ...this.shown.filter((n) => n.id !== f.id)].slice(0, MAX_SHOWN);
    this.unread += 1;
    this.render();
  }

  /** The unread ones from `GET /api/notifications` (after a page load), beside the live ones. */
  async load(api) {
    try {
      const data = await api('GET', '/api/notifications?limit=10');
      const unread = (data.notifications || []).filter((n) => !n.read);
      const live = this.shown.filter((n) => !unread.some((u) => u.id === n.id));
      this.shown = [...live, ...unread].slice(0, MAX_SHOWN);
      if (typeof data.unread === 'number') this.unread = data.unread;
      this.render();
    } catch (_) { /* nothing to show */ }
  }

  read(id) {
    this.markRead(id);
    this.shown = this.shown.filter((n) => n.id !== id);
    this.unread = Math.max(0, this.unread - 1);
    this.render();
  }

  render() {
    const items = this.shown.map((n) => {
      const link = typeof n.link === 'string' && /^https?:\/\//i.test(n.link)
        ? h('a', { class: 'notification-link', href: n.link, target: '_top', rel: 'noopener' }, 'View details') : null;
      if (link) link.addEventListener('click', () => this.read(n.id));
      const dismiss = h('button', { class: 'notification-dismiss', type: 'button', 'aria-label': 'Dismiss: ' + (n.title || '') }, '×');
      dismiss.addEventListener('click', () => this.read(n.id));
      return h('article', { class: 'notification', dataset: { id: String(n.id) } },
        h('p', { class: 'notification-title' }, n.title || ''),
        n.body ? h('p', { class: 'notification-body' }, n.body) : null,
        link, dismiss);
    });
    this.container.replaceChildren(...items);
    this.container.hidden = items.length === 0;
    this.onChange();
  }
}

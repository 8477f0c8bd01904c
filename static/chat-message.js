/* The chat page's look of one message: the `message` of its skin for lib/messages.js (a
 * bubble with the author's avatar and name, the time, the send status, "Seen", Retry/Discard for
 * a failed send; an announcement as a notice). Text reaches the DOM through h() only.
 */
import { h } from './lib/dom.js';
import { clockTime, fullTime } from './lib/format.js';
import { shownName, paintAvatar } from './lib/messages.js';

/** A notice the staff posted to the room. */
export const isAnnouncement = (m) => m.kind === 'announcement';
/** Written by the store's own backend (server API): shown on the staff's side, tagged Store. */
export const isFromStore = (m) => m.kind === 'store';

/** A small hue per user, so avatars are told apart. */
export function hueFor(id) { return (Number(id) * 47) % 360; }

/** A <time> with the clock time, the full date as its tooltip. */
function timeEl(ts) {
  return h('time', { class: 'message-time', datetime: new Date(ts).toISOString(), title: fullTime(ts) }, clockTime(ts));
}

/** The builder of one message row, drawing icons with the page's `icon(name, size)`. */
export function messageBuilder(icon) {
  return function buildMessage(row) {
    const { m, pending: p, mine } = row;
    const staff = (m.from.role === 'admin' || m.from.role === 'agent') || isFromStore(m);
    const cls = ['message'];
    if (mine) cls.push('mine');
    if (row.grouped) cls.push('grouped');
    if (row.last) cls.push('last');
    if (p) cls.push(p.status);
    if (staff) cls.push('staff');
    const node = h('div', { class: cls.join(' ') });
    node.dataset.seq = m.seq == null ? '' : String(m.seq);
    if (m.cid) node.dataset.cid = m.cid;

    if (isAnnouncement(m)) {
      node.classList.add('announcement');
      node.append(
        h('div', { class: 'announcement-label' }, icon('megaphone', 14), ' Announcement'),
        h('div', { class: 'message-text' }, m.text),
        h('div', { class: 'announcement-meta' }, h('span', { class: 'message-author' }, shownName(m.from)), ' · ', timeEl(m.ts)));
      return node;
    }

    if (!mine) {
      const avatar = h('div', { class: 'avatar', 'aria-hidden': 'true' });
      if (!row.grouped) {
        // A staff member's chosen colour and name, else a hue of their own.
        if (!paintAvatar(avatar, m.from, false)) avatar.style.setProperty('--hue', String(hueFor(m.from.id)));
      } else avatar.classList.add('spacer');
      node.append(avatar);
    }
    const body = h('div', { class: 'message-body' });
    if (!row.grouped) {
      body.append(h('div', { class: 'message-head' + (mine ? ' sr-only' : '') },
        h('span', { class: 'message-author' }, shownName(m.from)),
        staff && h('span', { class: 'staff-tag' }, isFromStore(m) ? 'Store' : 'Staff')));
    }
    const meta = h('span', { class: 'message-meta' }, timeEl(m.ts));
    if (mine) {
      const status = !p ? 'Delivered' : p.status === 'failed' ? 'Not sent' : 'Sending';
      meta.append(h('span', { class: 'message-status', title: status === 'Sending' ? 'Sending…' : status },
        icon(!p ? 'check' : p.status === 'failed' ? 'alert' : 'clock', 13),
        h('span', { class: 'sr-only' }, status)));
    }
    body.append(h('div', { class: 'bubble' }, h('div', { class: 'message-text' }, m.text), meta));
    if (row.seen) body.append(h('div', { class: 'message-seen' }, 'Seen'));
    if (p && p.status === 'failed') {
      body.append(h('div', { class: 'message-failure' },
        h('span', { class: 'message-error' }, p.error || 'Not sent'),
        h('button', { class: 'retry', type: 'button' }, 'Retry'),
        h('button', { class: 'discard', type: 'button' }, 'Discard')));
    }
    node.append(body);
    return node;
  };
}

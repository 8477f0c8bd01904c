/* The chat page's list of the user's rooms (the sidebar's "Your rooms"): one button per room,
 * kept and reordered in place, the user's support room first; each shows the room's last
 * message, its unread badge and whether it is open. Also the unread total in the tab's title
 * and a dot on the menu button (narrow screens) for unread messages in other rooms.
 *
 * Every name and message reaches the DOM as text (h() of lib/dom.js), never as HTML.
 */
import { h, reconcile } from './lib/dom.js';
import { unreadText, oneLine } from './lib/format.js';
import { lastMessage } from './lib/rooms.js';
import { shownName } from './lib/messages.js';

/**
 * The room list of one page. `el` holds the list (`roomList`) and the menu button's dot
 * (`toggleDot`); `title` is the page's title, the unread total goes in front of it;
 * `label(name)` is a room's shown name, `icon(name, size)` an icon,
 * `isSupport(name)` whether a room is a support conversation, `isMine(message)` whether the
 * user sent it, and `open(name)` opens a room.
 */
export class RoomList {
  constructor({ el, title, label, icon, isSupport, isMine, open }) {
    Object.assign(this, { el, title, label, icon, isSupport, isMine, open });
  }

  /** Draws the client's `rooms` (a Map by name): `own` is the user's support room, `openRoom`
   *  the room on screen, `joining` the names whose join is under way. */
  render(rooms, { own, openRoom, joining }) {
    const names = Array.from(rooms.keys());
    names.sort((a, b) => (a === own ? -1 : b === own ? 1 : a < b ? -1 : a > b ? 1 : 0));
    const nodes = names.map((name) => {
      const room = rooms.get(name);
      if (!room.el) room.el = this.build(room);
      this.update(room, openRoom, joining);
      return room.el;
    });
    reconcile(this.el.roomList, nodes);

    let total = 0, others = 0;
    for (const room of rooms.values()) {
      total += room.unread;
      if (room.name !== openRoom) others += room.unread;
    }
    document.title = (total ? '(' + unreadText(total) + ') ' : '') + this.title;
    this.el.toggleDot.hidden = others === 0;
  }

  build(room) {
    const support = this.isSupport(room.name);
    const item = h('button', { class: 'room-item', type: 'button', 'data-room': room.name },
      h('span', { class: 'room-icon' + (support ? ' support' : ''), 'aria-hidden': 'true' },
        this.icon(support ? 'support' : 'hash', 16)),
      h('span', { class: 'room-body' }, h('span', { class: 'room-name' }), h('span', { class: 'room-preview' })),
      h('span', { class: 'badge' }));
    item.addEventListener('click', () => this.open(room.name));
    return item;
  }

  update(room, openRoom, joining) {
    const item = room.el;
    const label = this.label(room.name);
    const active = room.name === openRoom;
    item.classList.toggle('active', active);
    if (active) item.setAttribute('aria-current', 'true'); else item.removeAttribute('aria-current');
    item.classList.toggle('has-unread', room.unread > 0);
    item.querySelector('.room-name').textContent = label;
    const last = lastMessage(room);
    const preview = item.querySelector('.room-preview');
    if (last) preview.textContent = (this.isMine(last) ? 'You' : shownName(last.from)) + ': ' + oneLine(last.text);
    else preview.textContent = joining.has(room.name) ? 'Joining…' : (this.isSupport(room.name) ? 'Ask us anything' : 'No messages yet');
    const badge = item.querySelector('.badge');
    badge.textContent = room.unread > 0 ? unreadText(room.unread) : '';
    badge.hidden = room.unread <= 0;
    item.setAttribute('aria-label', label + (room.unread > 0 ? ', ' + unreadText(room.unread) + ' unread' : ''));
  }
}

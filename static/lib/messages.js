/* The open room's messages on screen, for both pages: stored messages then pending ones, day
 * breaks, one author's messages grouped, the reader's scroll position kept, older pages fetched
 * when scrolled to the top, "New messages ↓" when something arrives out of view.
 *
 * What a message looks like is the page's own: its `skin` builds each row. The list works out
 * the rows and their order; a row is rebuilt only when its signature (what it shows) changed,
 * and reconcile() moves the others into place, so a re-render after each frame stays cheap and
 * keeps focus and selection. Skins build with h() (lib/dom.js): text is never parsed as markup.
 */
import { h, reconcile } from './dom.js';
import { clockTime, dayLabel, initial, startOfDay } from './format.js';

/** Messages by one author this close together form a group (one name, one avatar). */
const GROUP_MS = 5 * 60 * 1000;
/** A list shorter than the view plus this gets older messages at once (nothing to scroll). */
const FILL_SLACK_PX = 40;

const isAnnouncement = (m) => m.kind === 'announcement';

/** What a message deleted by the staff becomes on screen, in every page. */
export const REMOVED_TEXT = 'message removed';

/**
 * The messages of `room` and the places of those deleted by the staff (`room.removed`), by seq:
 * `{m, removed}` each. A removed one carries only its seq, time and whose side it was on (the
 * author's id and role): no name, no text.
 */
export function withRemoved(room) {
  if (!room.removed || !room.removed.size) return room.messages.map((m) => ({ m, removed: false }));
  // Deleted stays deleted, even if a copy of it came back (our own, from an ack).
  const items = room.messages.filter((m) => !room.removed.has(m.seq)).map((m) => ({ m, removed: false }));
  for (const m of room.removed.values()) items.push({ m, removed: true });
  return items.sort((a, b) => a.m.seq - b.m.seq);
}

/**
 * The muted "message removed" row that takes a deleted message's place (the pages' default;
 * a skin may draw its own with `skin.removed(row)`).
 */
export function removedRow(row) {
  // On the side its author's messages are on (the reader's own, the staff's), as it was.
  const from = row.m.from;
  const staff = !!from && (from.role === 'admin' || from.role === 'agent');
  const cls = ['message', 'message-removed'];
  if (row.mine) cls.push('mine', 'own');
  if (staff) cls.push('staff');
  // data-removed, not data-seq: what looks for stored messages by seq finds no text here.
  const node = h('div', { class: cls.join(' '), role: 'note',
    dataset: { removed: String(row.m.seq) } }, h('span', { class: 'message-removed-text' }, REMOVED_TEXT));
  // The console draws day breaks from the row's data-day (.new-day); the other pages as rows.
  if (row.newDay) { node.dataset.day = row.day; node.classList.add('new-day'); }
  return node;
}

/** The name a user is shown by: a staff member's chosen display name, else the username. */
export const shownName = (user) => String((user && (user.display_name || user.username)) || '');

/** A staff member's chosen avatar colour (`#rrggbb`), or null when none (or not a colour). */
export function avatarColor(user) {
  const c = user && user.avatar_color;
  return typeof c === 'string' && /^#[0-9a-f]{6}$/i.test(c) ? c.toLowerCase() : null;
}

/** The ink legible on `color` (#rrggbb): near-black on light colours, white on dark ones. */
export function inkOn(color) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(color.slice(i, i + 2), 16) / 255)
    .map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
  const luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  // Contrast with white (1.05 / (L + .05)) against contrast with #111 ((L + .05) / .0566).
  return 1.05 / (luminance + 0.05) >= (luminance + 0.05) / 0.0556 ? '#fff' : '#111';
}

/**
 * Paints `el` as the user's avatar when they chose a colour: the initial of the shown name on
 * that colour (inline, so it wins over the page's default avatar colours); returns whether it
 * did. `text`: put the initial in the element's text (else the page draws it from
 * data-initial).
 */
export function paintAvatar(el, user, text = true) {
  const letter = initial(shownName(user));
  if (text) el.textContent = letter;
  else el.dataset.initial = letter;
  const color = avatarColor(user);
  if (!color) return false;
  el.style.background = color;
  el.style.color = inkOn(color);
  el.classList.add('has-color');
  return true;
}

export class MessageList {
  /**
   * `box`: the scrolling element; `jump`: its "New messages ↓" button; `client`: the ChatClient;
   * `room()`: the room on screen, or null. `skin.top(room)` gives the first row, `{sig, build}`
   * (loading, "earlier messages", the beginning); `skin.day(label)`, if the page draws day
   * breaks as rows of their own; `skin.seenSeq(room)`, if the page shows "Seen", the seq of the
   * message that shows it (row.seen); `skin.message(row)` builds a message (row fields: m, pending,
   * mine, grouped, last, newDay, day). `onOlder(room)` is asked for the page before the oldest;
   * `onSeen()` runs when the reader reaches the bottom.
   */
  constructor({ box, jump, client, room, skin, nearBottomPx = 80, olderAtPx = 120, onOlder, onSeen }) {
    this.box = box;
    this.jump = jump;
    this.client = client;
    this.room = room;
    this.skin = skin;
    this.nearBottomPx = nearBottomPx;
    this.onOlder = onOlder;
    this.onSeen = onSeen || (() => {});
    this.shown = null;       // the room whose rows are in the box
    this.cache = new Map();  // row key -> {sig, node}

    box.addEventListener('scroll', () => {
      const r = this.room();
      if (r && box.scrollTop < olderAtPx) this.onOlder(r);
      if (this.nearBottom()) { this.jump.hidden = true; this.onSeen(); }
    }, { passive: true });
    jump.addEventListener('click', () => { this.scrollToBottom(true); setTimeout(() => this.onSeen(), 400); });
    // Retry and Discard under a message that was not sent.
    box.addEventListener('click', (e) => {
      const btn = e.target.closest('button.retry, button.discard');
      const msg = btn && btn.closest('.message');
      if (!msg || !msg.dataset.cid) return;
      if (btn.classList.contains('retry')) client.retry(msg.dataset.cid);
      else client.discard(msg.dataset.cid);
      this.render();
    });
  }

  nearBottom() {
    const b = this.box;
    return b.scrollHeight - b.scrollTop - b.clientHeight < this.nearBottomPx;
  }

  scrollToBottom(smooth) {
    const b = this.box;
    if (smooth) b.scrollTo({ top: b.scrollHeight, behavior: 'smooth' });
    else b.scrollTop = b.scrollHeight;
    this.jump.hidden = true;
  }

  /** Empties the list (sign-out); the next render starts afresh at the bottom. */
  reset() {
    this.shown = null;
    this.cache.clear();
    this.box.replaceChildren();
    this.jump.hidden = true;
  }

  /**
   * Draws the room on screen. `scroll`: 'bottom' always scrolls down; 'auto' follows the bottom
   * if the view was near it, and otherwise keeps the first visible message where it was (so
   * loading older history does not move what the reader is looking at).
   */
  render(scroll = 'auto') {
    const box = this.box;
    const room = this.room();
    if (this.shown !== room) { this.reset(); this.shown = room; scroll = 'bottom'; }
    if (!room) return;

    const wasNear = this.nearBottom();
    let anchorKey = null, anchorOffset = 0;
    if (scroll !== 'bottom' && !wasNear) {
      // Anchor on a message row (not the top row or a day break, which move when older rows
      // are inserted above them).
      for (const child of box.children) {
        if (child.classList.contains('message') && child.offsetTop + child.offsetHeight > box.scrollTop) {
          anchorKey = child.dataset.key;
          anchorOffset = child.offsetTop - box.scrollTop;
          break;
        }
      }
    }

    const fresh = new Map();
    const nodes = this.rows(room).map((row) => {
      const cached = this.cache.get(row.key);
      const node = cached && cached.sig === row.sig ? cached.node : row.build();
      node.dataset.key = row.key;
      fresh.set(row.key, { sig: row.sig, node });
      return node;
    });
    this.cache = fresh;
    reconcile(box, nodes);

    if (scroll === 'bottom' || wasNear) this.scrollToBottom(false);
    else if (anchorKey) {
      const a = fresh.get(anchorKey);
      if (a) box.scrollTop = a.node.offsetTop - anchorOffset;
    }
    if (room.more && box.scrollHeight <= box.clientHeight + FILL_SLACK_PX) this.onOlder(room);
  }

  /** After a live message: follow it if the reader was at the bottom or it is ours, else offer the jump. */
  incoming(isNew, mine) {
    const near = this.nearBottom();
    this.render(mine ? 'bottom' : 'auto');
    if (isNew && !near && !mine) this.jump.hidden = false;
  }

  /** The rows: the top, then each message (stored, then pending) with its day and group. */
  rows(room) {
    const client = this.client;
    const me = client.user || { id: 0, username: 'You', role: 'user' };
    const top = this.skin.top(room);
    const rows = [{ key: 'top', sig: top.sig, build: top.build }];
    const items = withRemoved(room).map(({ m, removed }) =>
      ({ m, pending: null, mine: client.isMine(m), removed }));
    for (const p of client.outbox.forRoom(room.name)) {
      const m = { room: p.room, seq: null, id: null, cid: p.cid, from: me, text: p.text, ts: p.ts };
      items.push({ m, pending: p, mine: true });
    }
    const messageRows = [];
    let prev = null;
    for (const item of items) {
      const m = item.m;
      const newDay = !prev || startOfDay(prev.m.ts) !== startOfDay(m.ts);
      const day = newDay ? dayLabel(m.ts) : '';
      if (newDay && this.skin.day) {
        rows.push({ key: 'd:' + startOfDay(m.ts), sig: day, build: () => this.skin.day(day) });
      }
      // A removed message stands alone: it names nobody, and breaks the group around it.
      const grouped = !newDay && !prev.removed && !item.removed && !isAnnouncement(prev.m) && !isAnnouncement(m)
        && prev.m.from.id === m.from.id && m.ts - prev.m.ts < GROUP_MS
        // A staff member who renamed themselves starts a new group, under the new name.
        && shownName(prev.m.from) === shownName(m.from) && avatarColor(prev.m.from) === avatarColor(m.from);
      if (grouped) prev.last = false;
      const row = { ...item, key: item.pending ? 'c:' + item.pending.cid : 's:' + m.seq, grouped, last: true, newDay, day };
      messageRows.push(row);
      rows.push(row);
      prev = row;
    }
    const ready = client.ready;
    // The one own message that shows "Seen", if the page draws it (lib/seen.js).
    const seenSeq = this.skin.seenSeq ? this.skin.seenSeq(room) : null;
    for (const row of messageRows) {
      const { m, pending: p } = row;
      if (row.removed) {
        row.sig = `removed|${row.day}|${row.mine}`;
        row.build = () => (this.skin.removed ? this.skin.removed(row) : removedRow(row));
        continue;
      }
      row.seen = seenSeq != null && m.seq === seenSeq;
      row.sig = [row.grouped, row.last, row.day, row.mine, p ? `${p.status}:${p.error || ''}:${ready}` : 'stored',
        m.id != null, clockTime(m.ts), m.from.username, m.from.role, m.from.display_name || '', m.from.avatar_color || '',
        row.seen].join('|');
      row.build = () => this.skin.message(row);
    }
    return rows;
  }
}

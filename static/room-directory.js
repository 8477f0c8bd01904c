/* The chat page's room directory (in the sidebar, under "Your rooms"): the public rooms with
 * their member and online counts (GET /api/rooms), a filter box, a click joins a room. A name
 * that does not exist is offered as "Create room <name>" (POST /api/rooms, then join): typing
 * a name never creates a room by itself, so a typo does not make a new room. Guests see the
 * rooms but no create action.
 *
 * Every name reaches the DOM as text (h() of lib/dom.js), never as HTML.
 */
import { h } from './lib/dom.js';
import { fullTime, relTime } from './lib/format.js';
import { directoryOffer, roomCounts } from './lib/rooms.js';

/** How often the counts are refreshed while the page is visible. */
const REFRESH_MS = 30000;
/** How long the filter waits after a keystroke before asking the server. */
const FILTER_DELAY_MS = 200;

/**
 * The directory of one page. `api` is the page's lib/api.js caller; `el` holds the form, the
 * input, its button, the error line, the list, the create button and the empty note;
 * `mayCreate()` whether the user may create rooms (not guests); `isJoined(name)` whether the
 * room is in the user's list; `join(name)` joins a room (or opens it when joined already).
 */
export class RoomDirectory {
  constructor({ api, el, mayCreate, isJoined, join }) {
    Object.assign(this, { api, el, mayCreate, isJoined, join });
    this.entries = [];
    this.loadedFor = null;  // the filter the entries were listed for
    this.asked = 0;         // the number of the newest request: older answers are dropped
    this.filterTimer = null;
    this.refreshTimer = null;
    this.creating = false;
    el.form.addEventListener('submit', (e) => { e.preventDefault(); this.submit(); });
    el.input.addEventListener('input', () => {
      this.showError('');
      this.render();
      clearTimeout(this.filterTimer);
      this.filterTimer = setTimeout(() => this.load(), FILTER_DELAY_MS);
    });
    el.create.addEventListener('click', () => this.create());
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible' && this.refreshTimer) this.load();
    });
  }

  /** Starts listing (after sign-in), and refreshes every REFRESH_MS while visible. */
  start() {
    this.stop();
    this.load();
    this.refreshTimer = setInterval(() => {
      if (document.visibilityState === 'visible') this.load();
    }, REFRESH_MS);
  }

  /** Stops refreshing and forgets everything (sign-out). */
  stop() {
    clearInterval(this.refreshTimer);
    clearTimeout(this.filterTimer);
    this.refreshTimer = null;
    this.entries = [];
    this.loadedFor = null;
    this.asked++;
    this.el.input.value = '';
    this.showError('');
    this.el.list.replaceChildren();
    this.el.createWrap.hidden = true;
    this.el.empty.textContent = '';
  }

  filter() { return this.el.input.value.trim().toLowerCase(); }

  /** Asks the server for the rooms matching the filter; `render`s the answer if still current. */
  async load() {
    const filter = this.filter();
    const ticket = ++this.asked;
    try {
      const data = await this.api('GET', '/api/rooms?q=' + encodeURIComponent(filter));
      if (ticket !== this.asked) return data.rooms;
      this.entries = data.rooms || [];
      this.loadedFor = filter;
      this.render();
      return this.entries;
    } catch (err) {
      // A 401 ends the session (the page's api does it); otherwise keep what is shown.
      return null;
    }
  }

  /** The rooms, the create action and the empty note, for the current filter. */
  render() {
    const filter = this.filter();
    const current = this.loadedFor === filter;
    const offer = directoryOffer(filter, current ? this.entries : [], this.mayCreate());
    const items = this.entries
      .filter((r) => !filter || r.name.includes(filter))
      .map((r) => this.item(r));
    this.el.list.replaceChildren(...items);
    this.el.createWrap.hidden = !(current && offer.create);
    if (offer.create) this.el.create.textContent = `Create room “${offer.create}”`;
    let note = '';
    if (current && !items.length) {
      if (!filter) note = this.mayCreate() ? 'No public rooms yet. Type a name to create one.' : 'No public rooms yet.';
      else if (offer.create) note = `No room called “${filter}” yet.`;
      else if (!this.mayCreate() && directoryOffer(filter, [], true).create) note = `No room called “${filter}”. Sign in with an account to create rooms.`;
      else note = 'No rooms match.';
    }
    this.el.empty.textContent = note;
  }

  item(entry) {
    const joined = this.isJoined(entry.name);
    const button = h('button', {
      class: 'directory-room' + (joined ? ' joined' : ''), type: 'button', 'data-room': entry.name,
      title: entry.last_activity ? 'Last message ' + fullTime(entry.last_activity) : 'No messages yet',
    },
    h('span', { class: 'directory-name' }, entry.name),
    h('span', { class: 'directory-counts' + (entry.online > 0 ? ' live' : '') }, roomCounts(entry)),
    joined ? h('span', { class: 'directory-tag' }, 'Joined')
      : (entry.last_activity ? h('span', { class: 'directory-age' }, relTime(entry.last_activity)) : null));
    button.addEventListener('click', () => this.join(entry.name));
    return h('li', null, button);
  }

  /** Enter in the filter box: join the room of that exact name, or say it does not exist. */
  async submit() {
    const filter = this.filter();
    if (!filter) return;
    const listed = this.loadedFor === filter ? this.entries : await this.load();
    const offer = directoryOffer(filter, listed || [], this.mayCreate());
    if (offer.exact || this.isJoined(filter)) { this.join(filter); return; }
    if (offer.create) { this.el.create.focus(); return; }
    if (!directoryOffer(filter, [], true).create) {
      this.showError('Room names use lowercase letters, digits, “-” and “_” (up to 64), starting with a letter or digit.');
    } else if (!this.mayCreate()) {
      this.showError(`There is no room called “${filter}”. Sign in with an account to create rooms.`);
    }
  }

  /** The explicit action: create the room, then join it. */
  async create() {
    const offer = directoryOffer(this.filter(), this.entries, this.mayCreate());
    if (!offer.create || this.creating) return;
    this.creating = true;
    this.el.create.disabled = true;
    try {
      await this.api('POST', '/api/rooms', { name: offer.create });
    } catch (err) {
      // Someone created it meanwhile: join it all the same.
      if (err.code !== 'conflict') {
        if (!err.handled) this.showError(err.message);
        return;
      }
    } finally {
      this.creating = false;
      this.el.create.disabled = false;
    }
    this.join(offer.create);
  }

  /** After a join or a leave: the rooms shown again, with fresh counts. */
  joinedOrLeft() {
    this.el.input.value = '';
    this.load();
  }

  showError(text) { this.el.error.textContent = text || ''; }
}

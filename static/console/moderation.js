/* Moderation: deleting a message, banning and unbanning the customer, posting announcements.
 *
 * An announcement goes to public rooms the staff choose from the room directory
 * (GET /api/rooms), or to all of them, through POST /api/admin/announcements. Nothing is
 * chosen by default, and the open support conversation is never a target: a store-wide notice
 * cannot land in one customer's private chat.
 */
import { dropMessage, roomCounts } from '../lib/rooms.js';
import { charCount, fullTime, oneLine } from '../lib/format.js';
import { h } from '../lib/dom.js';
import { showBans } from './bans.js';
import { client, list } from './client.js';
import { api } from './http.js';
import { dom, notify, state } from './state.js';
import { notePreviewDeleted, renderThread } from './conversation-view.js';
import { renderList } from './conversation-list.js';

export async function onMessagesClick(ev) {
  const btn = ev.target.closest('.delete-message');
  if (!btn) return;
  const el = btn.closest('.message');
  // A note lives in the notes thread, whose seqs are its own.
  const o = state.notes && el && el.dataset.room === state.notes.name ? state.notes : state.open;
  if (!o || !el || !el.dataset.id) return;
  const seq = Number(el.dataset.seq);
  const m = o.bySeq.get(seq);
  const author = m && m.from ? m.from.username : 'this author';
  let snippet = m ? oneLine(m.text) : '';
  if (snippet.length > 80) snippet = `${snippet.slice(0, 80)}…`;
  if (!window.confirm(`Delete this message from ${author}?\n\n“${snippet}”\n\nEveryone in the room will stop seeing it.`)) return;
  btn.disabled = true;
  try {
    await api('DELETE', `/api/admin/messages/${encodeURIComponent(el.dataset.id)}`);
    if (state.open === o || state.notes === o) removeShown(o, seq);
  } catch (e) {
    if (e.handled) return;
    if (e.status === 404) {
      if (state.open === o || state.notes === o) removeShown(o, seq);
      notify('That message was already deleted.');
    } else {
      btn.disabled = false;
      notify(`Could not delete the message: ${e.message}`, 'error');
    }
  }
}

/** Takes a message we deleted off the screen at once (the room's `deleted` frame follows). */
export function removeShown(o, seq) {
  if (dropMessage(o, seq)) list.render();
  notePreviewDeleted(o.name, seq);
}

// Banning: the button opens a small form (how long, why); unbanning asks for a confirmation.
const banEl = {
  form: document.getElementById('ban-form'), duration: document.getElementById('ban-duration'),
  reason: document.getElementById('ban-reason'), confirm: document.getElementById('ban-confirm'),
  cancel: document.getElementById('ban-cancel'),
};
let banTarget = null; // the customer the open ban form is about

function closeBanForm() {
  banTarget = null;
  if (banEl.form) banEl.form.hidden = true;
}

if (banEl.form) {
  banEl.form.addEventListener('submit', (ev) => { ev.preventDefault(); submitBan(); });
  banEl.cancel.addEventListener('click', () => { closeBanForm(); dom.ban.focus(); });
  // Another customer shown in the card (another conversation opened): the form was not about them.
  new MutationObserver(() => {
    if (banTarget && dom.customerId.textContent !== String(banTarget.id)) closeBanForm();
  }).observe(dom.customerId, { childList: true, characterData: true, subtree: true });
}

export async function onBanClick() {
  const o = state.open;
  const c = o && state.convs.get(o.name);
  if (!c || !c.customer) return;
  const cust = c.customer;
  const banned = state.banned.get(cust.id) === true;
  if (!banned) {
    // The form asks how long and why; a second click closes it.
    if (banEl.form && !banEl.form.hidden && banTarget && banTarget.id === cust.id) { closeBanForm(); return; }
    banTarget = cust;
    banEl.reason.value = '';
    banEl.form.hidden = false;
    banEl.duration.focus();
    return;
  }
  closeBanForm();
  if (!window.confirm(`Unban ${cust.username}? They will be able to sign in and chat again.`)) return;
  await sendBan(cust, 'unban', undefined);
}

async function submitBan() {
  const cust = banTarget;
  const o = state.open;
  const c = o && state.convs.get(o.name);
  // The conversation changed under the form: it is not about the customer shown any more.
  if (!cust || !c || !c.customer || c.customer.id !== cust.id) { closeBanForm(); return; }
  const minutes = banEl.duration.value ? Number(banEl.duration.value) : null;
  const reason = banEl.reason.value.trim();
  if (Array.from(reason).length > 200) {
    notify('The reason can be at most 200 characters.', 'error');
    banEl.reason.focus();
    return;
  }
  closeBanForm();
  await sendBan(cust, 'ban', { minutes, reason });
}

async function sendBan(cust, action, body) {
  const banning = action === 'ban';
  dom.ban.classList.add('is-busy');
  dom.ban.disabled = true;
  dom.ban.lastChild.textContent = banning ? 'Banning…' : 'Unbanning…';
  const epoch = state.epoch;
  try {
    const r = await api('POST', `/api/admin/users/${encodeURIComponent(cust.id)}/${action}`, body);
    if (epoch !== state.epoch) return;
    const now = typeof r.banned === 'boolean' ? r.banned : banning;
    state.banned.set(cust.id, now);
    if (now) {
      const ban = r.ban || {};
      const until = ban.expires_at == null ? 'until the ban is lifted' : `until ${fullTime(ban.expires_at)}`;
      notify(`${cust.username} is banned ${until}.`, 'success');
    } else {
      notify(`${cust.username} is no longer banned.`, 'success');
    }
    showBans();
  } catch (e) {
    if (e.handled || epoch !== state.epoch) return;
    notify(`Could not ${action} ${cust.username}: ${e.message}`, 'error');
  } finally {
    dom.ban.classList.remove('is-busy');
    if (epoch === state.epoch) { renderThread(); renderList(); }
  }
}

export function setAnnounceResult(text, kind) {
  dom.announceResult.textContent = text;
  dom.announceResult.className = `announce-result${kind ? ` is-${kind}` : ''}`;
}

/** The announcement form's room picker (admin.html), and what the staff chose in it. */
const picker = {
  all: document.getElementById('announce-all'),
  filter: document.getElementById('announce-filter'),
  list: document.getElementById('announce-room-list'),
  note: document.getElementById('announce-rooms-note'),
  rooms: [],           // the public rooms, as GET /api/rooms listed them
  chosen: new Set(),   // names ticked
  loading: null,       // the request in flight
  owner: null,         // the session (token) the choice was made in
};

/** More rooms than this and the picker shows a filter box. */
const FILTER_FROM = 8;

/** Lists the public rooms again (the panel came into view, or the form got focus). */
export async function loadAnnounceRooms() {
  if (picker.loading || !state.token) return picker.loading;
  picker.loading = (async () => {
    try {
      const r = await api('GET', '/api/rooms?limit=500');
      picker.rooms = r.rooms || [];
      // A room that is gone cannot stay chosen unseen.
      const names = new Set(picker.rooms.map((x) => x.name));
      for (const name of picker.chosen) if (!names.has(name)) picker.chosen.delete(name);
      renderAnnounceRooms();
    } catch (e) {
      if (!e.handled) picker.note.textContent = `Could not list the rooms: ${e.message}`;
    } finally {
      picker.loading = null;
    }
  })();
  return picker.loading;
}

/** The rooms as checkboxes (the filtered ones), and what the announcement will reach. */
function renderAnnounceRooms() {
  const all = picker.all.checked;
  const many = picker.rooms.length > FILTER_FROM;
  picker.filter.hidden = !many || all;
  const q = many ? picker.filter.value.trim().toLowerCase() : '';
  const shown = picker.rooms.filter((r) => !q || r.name.includes(q));
  picker.list.replaceChildren(...shown.map((r) => {
    const box = h('input', { type: 'checkbox', value: r.name });
    box.checked = all || picker.chosen.has(r.name);
    box.disabled = all;
    box.addEventListener('change', () => {
      if (box.checked) picker.chosen.add(r.name); else picker.chosen.delete(r.name);
      clearAnnounceError();
      renderAnnounceNote();
    });
    return h('label', { class: 'announce-option', 'data-room': r.name }, box,
      h('span', { class: 'announce-room-name' }, r.name),
      h('span', { class: 'announce-room-counts' }, roomCounts(r)));
  }));
  picker.list.hidden = all || !shown.length;
  renderAnnounceNote(shown.length === 0 && !!q);
}

function renderAnnounceNote(noMatch = false) {
  let note;
  const count = picker.rooms.length;
  if (!count) note = 'There are no public rooms yet.';
  else if (picker.all.checked) note = count === 1 ? 'Goes to the one public room.' : `Goes to all ${count} public rooms.`;
  else if (noMatch) note = 'No room matches.';
  else if (!picker.chosen.size) note = 'Choose the rooms to post to.';
  else note = `Goes to ${listOf([...picker.chosen].sort())}.`;
  picker.note.textContent = note;
}

/** "lobby", "lobby and sales", "lobby, sales and 3 more". */
function listOf(names) {
  if (names.length === 1) return names[0];
  if (names.length === 2) return `${names[0]} and ${names[1]}`;
  if (names.length <= 4) return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
  return `${names.slice(0, 2).join(', ')} and ${names.length - 2} more`;
}

/** A complaint about the choice goes once the choice changes. */
function clearAnnounceError() {
  if (dom.announceResult.classList.contains('is-error')) setAnnounceResult('', null);
}

/** Forgets the choice (after posting, and when another staff member signs in). */
function clearAnnounceChoice() {
  picker.chosen.clear();
  picker.all.checked = false;
  picker.filter.value = '';
  renderAnnounceRooms();
}

picker.all.addEventListener('change', () => { clearAnnounceError(); renderAnnounceRooms(); });
picker.filter.addEventListener('input', renderAnnounceRooms);
dom.announceForm.addEventListener('focusin', () => { loadAnnounceRooms(); });
// The panel sits in the details column: list the rooms whenever it is shown (its size leaves
// 0, e.g. after sign-in, where the previous session's choice is forgotten).
let announceShown = false;
new ResizeObserver(() => {
  const shown = dom.announceForm.offsetWidth > 0;
  if (shown && !announceShown) {
    if (picker.owner !== state.token) { picker.owner = state.token; clearAnnounceChoice(); }
    loadAnnounceRooms();
  }
  announceShown = shown;
}).observe(dom.announceForm);

export async function onAnnounceSubmit(ev) {
  ev.preventDefault();
  const all = picker.all.checked;
  const rooms = all ? 'all' : [...picker.chosen].sort();
  const text = dom.announceText.value;
  if (!all && !rooms.length) {
    setAnnounceResult('Choose at least one public room, or All public rooms.', 'error');
    (picker.list.querySelector('input') || picker.all).focus();
    return;
  }
  if (!text.trim()) {
    setAnnounceResult('Write the announcement first.', 'error');
    dom.announceText.focus();
    return;
  }
  const max = client.limits.max_message_chars;
  if (charCount(text) > max) {
    setAnnounceResult(`An announcement can be at most ${max} characters.`, 'error');
    return;
  }
  dom.announceSend.disabled = true;
  setAnnounceResult('Posting…', null);
  const epoch = state.epoch;
  try {
    const r = await api('POST', '/api/admin/announcements', { text, rooms });
    if (epoch !== state.epoch) return;
    const posted = (r.announcements || []).map((a) => a.room);
    setAnnounceResult(posted.length
      ? `Posted to ${all && posted.length > 1 ? `all ${posted.length} public rooms` : listOf(posted)}.`
      : 'There are no public rooms to post to.', posted.length ? 'ok' : 'error');
    if (posted.length) {
      dom.announceText.value = '';
      clearAnnounceChoice();
      loadAnnounceRooms();
    }
  } catch (e) {
    if (e.handled || epoch !== state.epoch) return;
    setAnnounceResult(`Not posted: ${e.message}`, 'error');
    // A room deleted or renamed meanwhile: show the rooms as they are now.
    if (e.status === 404) loadAnnounceRooms();
  } finally {
    dom.announceSend.disabled = false;
  }
}

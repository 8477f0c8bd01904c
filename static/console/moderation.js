/* Moderation: deleting a message, banning and unbanning the customer, posting announcements.
 */
import { dropMessage } from '../lib/rooms.js';
import { charCount, fullTime, oneLine } from '../lib/format.js';
import { showBans } from './bans.js';
import { client, list } from './client.js';
import { api } from './http.js';
import { ROOM_RE, dom, notify, roomPath, state } from './state.js';
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

export async function onAnnounceSubmit(ev) {
  ev.preventDefault();
  const room = dom.announceRoom.value.trim();
  const text = dom.announceText.value;
  if (!ROOM_RE.test(room)) {
    setAnnounceResult('Enter a room: a public room such as “lobby”, or support:<id>.', 'error');
    dom.announceRoom.focus();
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
    const r = await api('POST', `/api/admin/rooms/${roomPath(room)}/announcements`, { text });
    if (epoch !== state.epoch) return;
    setAnnounceResult(`Posted to ${r.room || room} (message #${r.seq}).`, 'ok');
    dom.announceText.value = '';
  } catch (e) {
    if (e.handled || epoch !== state.epoch) return;
    setAnnounceResult(`Not posted: ${e.message}`, 'error');
  } finally {
    dom.announceSend.disabled = false;
  }
}


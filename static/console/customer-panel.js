/* The customer panel of the details column: who the open conversation's customer is, what the
 * desk knows of them (GET /api/admin/conversations/{room} `panel`: name, email, external id,
 * first and last seen, the page they are on, their earlier conversations), and the ban
 * button's label and note. A server without the panel shows the card as before.
 */
import { h } from '../lib/dom.js';
import { fullTime, relTime } from '../lib/format.js';
import { api } from './http.js';
import { dom, roomPath, setAvatar, state } from './state.js';
import { renderList, takeConversation } from './conversation-list.js';
import { openConversation, renderThread } from './conversation-view.js';
import { onViewers } from './desk.js';

/** Panels fetched this session: support room -> panel. */
const panels = new Map();

/** Asks for the open conversation's panel (and its desk fields). */
export async function loadPanel(room) {
  const epoch = state.epoch;
  let data;
  try {
    data = await api('GET', `/api/admin/conversations/${roomPath(room)}`);
  } catch (_) {
    return; // no such endpoint yet, or the conversation is gone: the card stays as it is
  }
  if (epoch !== state.epoch) return;
  takeConversation(data);
  if (data && data.panel && typeof data.panel === 'object') panels.set(room, data.panel);
  // Who else has it open: `conversation_viewers` tells of changes made by others, never of
  // this connection's own join, so the answer says who was there already.
  if (data && Array.isArray(data.viewers)) onViewers({ room, viewers: data.viewers });
  renderList();
  if (state.open && state.open.name === room) renderThread();
}

/** Forgets the panels (sign-out). */
export function resetPanels() { panels.clear(); }

const orDash = (v) => (v == null || v === '' ? '—' : String(v));
const when = (ts) => (typeof ts === 'number' && ts > 0 ? fullTime(ts) : '—');

/** The panel's facts; the page as a link only when it is an http(s) URL (text as text). */
function renderPanel(room) {
  const p = panels.get(room);
  dom.panelFacts.hidden = !p;
  dom.panelEarlierBox.hidden = true;
  if (!p) return;
  dom.panelName.textContent = orDash(p.name);
  dom.panelEmail.textContent = orDash(p.email);
  dom.panelExternalId.textContent = orDash(p.external_id);
  dom.panelFirstSeen.textContent = when(p.first_seen);
  dom.panelLastSeen.textContent = when(p.last_seen);
  const page = typeof p.page === 'string' ? p.page : '';
  if (/^https?:\/\//i.test(page)) {
    dom.panelPage.replaceChildren(h('a', {
      href: page, target: '_blank', rel: 'noopener noreferrer', class: 'panel-page', text: page,
    }));
  } else dom.panelPage.textContent = orDash(page);
  const earlier = Array.isArray(p.earlier) ? p.earlier.filter((e) => e && typeof e.room === 'string') : [];
  dom.panelEarlierBox.hidden = !earlier.length;
  dom.panelEarlier.replaceChildren(...earlier.map((e) => {
    const btn = h('button', { type: 'button', class: 'link-btn',
      text: `${e.room} · ${e.status || 'open'} · ${e.last_activity ? relTime(e.last_activity) : ''}` });
    btn.addEventListener('click', () => openConversation(e.room));
    return h('li', null, btn);
  }));
}

export function renderCustomer() {
  const o = state.open;
  dom.customerNone.hidden = !!o;
  dom.customerCard.hidden = !o;
  if (!o) return;
  const c = state.convs.get(o.name);
  const cust = (c && c.customer) || { id: Number(o.name.slice(8)), username: o.name, role: 'user' };
  setAvatar(dom.customerAvatar, cust, 'avatar-large');
  dom.customerName.textContent = cust.username;
  dom.customerKind.textContent = cust.role === 'guest' ? 'Guest visitor'
    : (cust.role === 'admin' || cust.role === 'agent') ? 'Staff member' : 'Registered customer';
  dom.customerStatus.textContent = c && c.online ? 'Online' : 'Offline';
  dom.customerStatus.classList.toggle('online', !!(c && c.online));
  dom.customerId.textContent = String(cust.id);
  dom.customerRoom.textContent = o.name;
  dom.customerActivity.textContent = c && c.last_activity ? fullTime(c.last_activity) : '—';
  renderPanel(o.name);
  renderBan(cust);
}

export function renderBan(cust) {
  const banned = state.banned.get(cust.id) === true;
  if (!dom.ban.classList.contains('is-busy')) {
    dom.ban.lastChild.textContent = banned ? 'Unban customer' : 'Ban customer';
  }
  dom.ban.classList.toggle('is-banned', banned);
  dom.ban.disabled = (cust.role === 'admin' || cust.role === 'agent') || dom.ban.classList.contains('is-busy');
  dom.banNote.textContent = (cust.role === 'admin' || cust.role === 'agent') ? 'Staff accounts cannot be banned.'
    : banned ? 'This customer is banned and cannot sign in or chat.' : '';
}

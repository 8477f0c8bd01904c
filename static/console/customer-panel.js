/* The customer panel of the details column: who the open conversation's customer is, and the
 * ban button's label and note.
 */
import { fullTime } from '../lib/format.js';
import { dom, setAvatar, state } from './state.js';

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

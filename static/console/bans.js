/* The Bans panel: the bans in force (GET /api/admin/bans), newest first, each with whom it
 * covers, until when, why and by whom, and "Lift" (DELETE /api/admin/bans/{id}). Loaded when the
 * panel is opened, after each ban placed here, and every half minute while it stays open; a timed
 * ban leaves the list when it runs out, and its customer is no longer shown as banned (the server
 * agrees: listing the bans frees the accounts whose bans all ended).
 */
import { h } from '../lib/dom.js';
import { fullTime } from '../lib/format.js';
import { api } from './http.js';
import { notify, state } from './state.js';
import { renderList } from './conversation-list.js';
import { renderThread } from './conversation-view.js';

const REFRESH_MS = 30000;
const $ = (id) => document.getElementById(id);
const el = {
  details: $('bans-details'), list: $('bans-list'), empty: $('bans-empty'),
  count: $('bans-count'), result: $('bans-result'),
};

let bans = [];

const nameOf = (u) => (u ? (u.display_name || u.username) : null);
const inForce = (b) => b.expires_at == null || b.expires_at > Date.now();

/** Reads the bans in force again (quietly: the panel says when it cannot). */
export async function loadBans() {
  if (!el.list || !state.token) return;
  const epoch = state.epoch;
  try {
    const data = await api('GET', '/api/admin/bans');
    if (epoch !== state.epoch) return;
    bans = Array.isArray(data.bans) ? data.bans : [];
    el.result.textContent = '';
  } catch (e) {
    if (e.handled || epoch !== state.epoch) return;
    el.result.textContent = `Could not load the bans: ${e.message}`;
  }
  renderBans();
}

/** What a ban covers, in the team's words. */
function coverage(b) {
  const parts = [];
  if (b.user) parts.push(b.user.role === 'guest' ? 'guest' : 'account');
  if (b.device) parts.push('browser');
  if (b.address) parts.push(`network ${b.address}`);
  return parts.join(' · ');
}

/** A ban that ran out while listed: its account is free once no other listed ban holds it. */
function forgetEnded() {
  const ended = bans.filter((b) => !inForce(b));
  if (!ended.length) return;
  bans = bans.filter(inForce);
  let changed = false;
  for (const b of ended) {
    if (b.user && state.banned.get(b.user.id) === true && !bans.some((x) => x.user && x.user.id === b.user.id)) {
      state.banned.set(b.user.id, false);
      changed = true;
    }
  }
  if (changed) { renderThread(); renderList(); }
}

function renderBans() {
  forgetEnded();
  const shown = bans;
  el.count.textContent = shown.length ? String(shown.length) : '';
  el.empty.hidden = shown.length > 0;
  el.list.replaceChildren(...shown.map((b) => {
    const who = nameOf(b.user) || 'A guest who has left';
    const until = b.expires_at == null ? 'Until lifted' : `Until ${fullTime(b.expires_at)}`;
    const by = nameOf(b.created_by);
    const lift = h('button', { type: 'button', class: 'link-btn ban-lift', text: 'Lift',
      'aria-label': `Lift the ban on ${who}` });
    lift.addEventListener('click', () => liftBan(b, lift));
    return h('li', { class: 'ban-item', dataset: { id: String(b.id) } },
      h('span', { class: 'ban-who', text: who }), lift,
      h('span', { class: 'ban-until', text: until }),
      h('span', { class: 'ban-what', text: coverage(b) }),
      b.reason ? h('span', { class: 'ban-reason', text: `“${b.reason}”` }) : null,
      h('span', { class: 'ban-by', text: by ? `By ${by}, ${fullTime(b.created_at)}` : fullTime(b.created_at) }));
  }));
}

async function liftBan(b, button) {
  const who = nameOf(b.user) || 'this guest';
  button.disabled = true;
  const epoch = state.epoch;
  try {
    await api('DELETE', `/api/admin/bans/${encodeURIComponent(b.id)}`);
    if (epoch !== state.epoch) return;
    notify(`The ban on ${who} is lifted.`, 'success');
  } catch (e) {
    if (e.handled || epoch !== state.epoch) return;
    if (e.status !== 404) {
      button.disabled = false;
      notify(`Could not lift the ban on ${who}: ${e.message}`, 'error');
      return;
    }
    notify(`The ban on ${who} had already ended.`);
  }
  // The account is free when no other ban of it is left.
  bans = bans.filter((x) => x.id !== b.id);
  if (b.user && !bans.some((x) => x.user && x.user.id === b.user.id && inForce(x))) {
    state.banned.set(b.user.id, false);
    renderThread();
    renderList();
  }
  renderBans();
}

/** Opens the panel on the bans in force (after a ban is placed). */
export function showBans() {
  if (!el.details) return;
  if (el.details.open) loadBans();
  else el.details.open = true; // the toggle loads them
}

if (el.details) {
  el.details.addEventListener('toggle', () => { if (el.details.open) loadBans(); });
  setInterval(() => {
    if (el.details.open && state.running) loadBans();
    else if (bans.some((b) => !inForce(b))) renderBans();
  }, REFRESH_MS);
}

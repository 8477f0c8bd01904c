/* The support desk in the open conversation's header: its status (Open / Pending / Resolved),
 * who it is assigned to, and who else of the team is viewing it; and the desk's frames:
 * `conversation_updated` (status, assignment, reopened, created), `conversation_viewers`,
 * and a note or event arriving for a conversation (`support_activity` of a notes thread).
 *
 * Built against the contract of issue 15 defensively: a server whose conversation objects carry
 * no `status` shows none of these controls, and a refused call only says so in a toast.
 */
import { h } from '../lib/dom.js';
import { client, list } from './client.js';
import { api } from './http.js';
import { dom, notify, roomPath, state, supportOf } from './state.js';
import { noteSeen, renderList, takeConversation } from './conversation-list.js';
import { renderThread } from './conversation-view.js';
import { newConversation } from './alerts.js';

const STATUSES = ['open', 'pending', 'resolved'];

/** `conversation_updated`: the inbox takes the conversation; a new one may ring the alert. */
export function onConversationUpdated(f) {
  const c = takeConversation(f.conversation);
  if (!c) return;
  if (f.change === 'created' || f.change === 'reopened') newConversation(c, f.change === 'reopened');
  renderList();
  if (state.open && state.open.name === c.room) renderThread();
}

/** `conversation_viewers`: the staff connections that have joined a support room. */
export function onViewers(f) {
  if (typeof f.room !== 'string' || !Array.isArray(f.viewers)) return;
  state.viewers.set(f.room, f.viewers.filter((u) => u && typeof u.id === 'number'));
  if (state.open && state.open.name === f.room) renderViewers();
}

/**
 * A note or an event of a notes thread, as `support_activity` brings it to every staff
 * connection: shown at once if its conversation is open (the `message` frame of the joined
 * thread usually brought it already).
 */
export function onNoteActivity(m) {
  const notes = state.notes;
  if (notes && notes.name === m.room && notes.loaded && client.receive(notes, m)) {
    list.incoming(true, client.isMine(m));
  }
  // An event changes the conversation: its object follows in `conversation_updated`.
  const c = state.convs.get(supportOf(m.room));
  if (c && m.kind === 'event') c.last_activity = Math.max(c.last_activity || 0, m.ts || 0);
}

/** "Also here: bob, carol": the other staff members viewing the open conversation. */
export function renderViewers() {
  const o = state.open;
  const me = state.me && state.me.id;
  const others = o ? (state.viewers.get(o.name) || []).filter((u) => u.id !== me) : [];
  dom.viewers.textContent = others.length
    ? `Also viewing: ${others.map((u) => u.username).join(', ')}` : '';
  dom.viewers.hidden = !others.length;
}

/** The header's status buttons and assignee select, for the open conversation. */
export function renderDesk() {
  const o = state.open;
  const c = o && state.convs.get(o.name);
  dom.deskControls.hidden = !(c && c.hasDesk);
  renderViewers();
  if (!c || !c.hasDesk) return;
  dom.statusButtons.forEach((btn) => {
    const on = btn.dataset.setStatus === c.status;
    btn.setAttribute('aria-pressed', String(on));
    btn.classList.toggle('is-active', on);
  });
  renderAssignSelect(c);
}

/**
 * The assignee select: the whole team where GET /api/admin/staff answered (admins); otherwise
 * (agents) the staff known from `staff_updated` frames, always with "me" and the assignee.
 */
function renderAssignSelect(c) {
  const me = state.me;
  const people = new Map();
  // Agents may not list the team: colleagues seen as assignees or viewers count as known too.
  for (const conv of state.convs.values()) if (conv.assignee) people.set(conv.assignee.id, conv.assignee);
  for (const viewers of state.viewers.values()) for (const u of viewers) people.set(u.id, u);
  for (const m of state.staff.values()) {
    if (m.active === false) people.delete(m.id);
    else people.set(m.id, m);
  }
  if (me) people.set(me.id, me);
  if (c.assignee) people.set(c.assignee.id, c.assignee);
  const options = [h('option', { value: '', text: 'Unassigned' })];
  const sorted = [...people.values()].sort((a, b) => String(a.username).localeCompare(String(b.username)));
  for (const p of sorted) {
    const label = me && p.id === me.id ? `Me (${p.username})` : String(p.username);
    options.push(h('option', { value: String(p.id), text: label }));
  }
  const sel = dom.assignSelect;
  const focused = document.activeElement === sel;
  sel.replaceChildren(...options);
  sel.value = c.assignee ? String(c.assignee.id) : '';
  if (focused) sel.focus({ preventScroll: true });
}

/** Sets the open conversation's status (a button of the header). */
async function setStatus(status) {
  const o = state.open;
  const c = o && state.convs.get(o.name);
  if (!c || !STATUSES.includes(status) || c.status === status) return;
  const epoch = state.epoch;
  try {
    const r = await api('POST', `/api/admin/conversations/${roomPath(c.room)}/status`, { status });
    if (epoch !== state.epoch) return;
    takeConversation(r);
  } catch (e) {
    if (!e.handled) notify(`Could not set the status: ${e.message}`, 'error');
  }
  renderList();
  renderThread();
}

/** Assigns the open conversation (the header's select; '' unassigns). */
async function assign(value) {
  const o = state.open;
  const c = o && state.convs.get(o.name);
  if (!c) return;
  const agentId = value === '' ? null : Number(value);
  const epoch = state.epoch;
  try {
    const r = await api('POST', `/api/admin/conversations/${roomPath(c.room)}/assign`, { agent_id: agentId });
    if (epoch !== state.epoch) return;
    takeConversation(r);
  } catch (e) {
    if (!e.handled) notify(`Could not assign the conversation: ${e.message}`, 'error');
  }
  renderList();
  renderThread();
}

/** Wires the header's controls and the inbox's tabs and filter (once, at start-up). */
export function bindDesk() {
  dom.statusButtons.forEach((btn) => btn.addEventListener('click', () => setStatus(btn.dataset.setStatus)));
  dom.assignSelect.addEventListener('change', () => assign(dom.assignSelect.value));
  const tabs = [...dom.statusTabs];
  const select = (tab) => {
    state.statusTab = tab.dataset.status;
    tabs.forEach((t) => {
      t.classList.toggle('is-active', t === tab);
      t.setAttribute('aria-selected', String(t === tab));
      t.tabIndex = t === tab ? 0 : -1;
    });
    renderList();
  };
  tabs.forEach((tab, i) => {
    tab.tabIndex = tab.classList.contains('is-active') ? 0 : -1;
    tab.addEventListener('click', () => select(tab));
    // Arrow keys move between the tabs, as in any tab list.
    tab.addEventListener('keydown', (ev) => {
      if (ev.key !== 'ArrowLeft' && ev.key !== 'ArrowRight') return;
      ev.preventDefault();
      const next = tabs[(i + (ev.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length];
      select(next);
      next.focus();
    });
  });
  dom.assigneeFilter.addEventListener('change', () => {
    state.assignee = dom.assigneeFilter.value;
    renderList();
  });
}

/** The typing line's extra: who is writing a note in the open conversation's notes thread. */
export function noteTypers() {
  const n = state.notes;
  return n ? n.typing.names() : [];
}

/** Forgets what the desk knew of the session (sign-out). */
export function resetDesk() {
  state.viewers.clear();
  state.seen.clear();
  state.searchHits = null;
  dom.viewers.textContent = '';
  dom.deskControls.hidden = true;
}

/** `seen` by the customer: "Seen" moves under the last reply they read. */
export function onSeenFrame(f) {
  if (f.by !== 'customer' || typeof f.room !== 'string' || typeof f.seq !== 'number') return;
  if (noteSeen(f.room, f.seq) && state.open && state.open.name === f.room) list.render();
}

/* The team: every staff member's own availability (the header's select, POST
 * /api/admin/availability) and profile ("Your profile", profile.js), and for admins the Team
 * panel (GET /api/admin/staff): each member with the name and colour customers see, role,
 * active, availability and online; add an agent or admin, change a role or a member's name and
 * colour, deactivate and reactivate. `staff_updated` keeps both live, and tells agents (who may not list the team)
 * of the colleagues they can assign conversations to.
 */
import { h } from '../lib/dom.js';
import { api } from './http.js';
import { dom, notify, state, setAvatar } from './state.js';
import { renderList } from './conversation-list.js';
import { renderThread } from './conversation-view.js';
import { renderViewers } from './desk.js';
import { profileEditor, renderOwnProfile, resetOwnProfile } from './profile.js';
import { shownName, paintAvatar } from '../lib/messages.js';

const AVAILABILITY = ['online', 'busy', 'offline'];

const isMember = (m) => m && typeof m.id === 'number' && typeof m.username === 'string';

/** The member whose profile editor is open in the Team panel, if any. */
let editing = null;
/** That editor, kept across re-renders (a colleague connecting must not wipe what is typed). */
let editor = null;

/** Takes a member object (list, answer or frame). */
function takeMember(m) {
  if (!isMember(m)) return;
  // A member's answer or frame leaves out a profile field that is not set: not a merge of it.
  state.staff.set(m.id, { ...state.staff.get(m.id), display_name: undefined, avatar_color: undefined, ...m });
  if (state.me && m.id === state.me.id) {
    state.me.display_name = m.display_name;
    state.me.avatar_color = m.avatar_color;
  }
  if (state.me && m.id === state.me.id && typeof m.availability === 'string') {
    state.me.availability = m.availability;
    renderAvailability();
  }
}

/** At start: my availability (GET /api/me) and, for admins, the team. */
export async function loadTeam() {
  const epoch = state.epoch;
  try {
    const me = await api('GET', '/api/me');
    if (epoch !== state.epoch || !state.me || me.id !== state.me.id) return;
    state.me = { ...state.me, ...me };
  } catch (_) { /* the select stays hidden */ }
  renderAvailability();
  renderOwnProfile();
  const admin = state.me && state.me.role === 'admin';
  dom.teamPanel.hidden = true;
  if (!admin) {
    // An agent may not list the team, but may see whom a conversation can go to.
    try {
      const data = await api('GET', '/api/admin/assignees');
      if (epoch !== state.epoch) return;
      for (const m of Array.isArray(data.assignees) ? data.assignees : []) takeMember(m);
    } catch (_) { /* colleagues known from assignees and viewers only */ }
    renderThread();
    return;
  }
  try {
    const data = await api('GET', '/api/admin/staff');
    if (epoch !== state.epoch) return;
    for (const m of Array.isArray(data.staff) ? data.staff : []) takeMember(m);
    state.staffListed = true;
    dom.teamPanel.hidden = false;
  } catch (_) {
    state.staffListed = false;
  }
  renderTeam();
  renderThread();
}

/** `staff_updated`: a member was created or changed, or came or went. */
export function onStaffUpdated(f) {
  takeMember(f.member);
  renderTeam();
  renderThread();
  renderViewers();
  renderList();
}

/** The header's select of my availability (hidden when the server does not say it). */
function renderAvailability() {
  const a = state.me && state.me.availability;
  dom.availability.hidden = !AVAILABILITY.includes(a);
  if (AVAILABILITY.includes(a)) dom.availability.value = a;
  dom.availability.dataset.availability = a || '';
}

async function onAvailabilityChange() {
  const next = dom.availability.value;
  const before = state.me && state.me.availability;
  try {
    const m = await api('POST', '/api/admin/availability', { availability: next });
    takeMember(m);
    if (state.me) state.me.availability = (m && m.availability) || next;
  } catch (e) {
    if (!e.handled) notify(`Could not change your availability: ${e.message}`, 'error');
    if (state.me) state.me.availability = before;
  }
  renderAvailability();
}

function memberState(m) {
  const parts = [m.active === false ? 'deactivated' : (m.availability || 'online')];
  parts.push(m.online ? 'connected' : 'not connected');
  return parts.join(' · ');
}

/** The Team panel's list (admins). */
function renderTeam() {
  if (!state.staffListed) { dom.teamList.replaceChildren(); return; }
  const me = state.me && state.me.id;
  const members = [...state.staff.values()].sort((a, b) => String(a.username).localeCompare(String(b.username)));
  dom.teamList.replaceChildren(...members.map((m) => {
    const self = m.id === me;
    const role = h('select', { class: 'team-role', 'aria-label': `Role of ${m.username}`,
      dataset: { id: String(m.id) }, disabled: self },
    h('option', { value: 'agent', text: 'Agent' }), h('option', { value: 'admin', text: 'Admin' }));
    role.value = m.role;
    const active = h('button', { type: 'button', class: 'link-btn team-active', disabled: self,
      dataset: { id: String(m.id), active: String(m.active !== false) },
      text: m.active === false ? 'Reactivate' : 'Deactivate' });
    const avatar = h('span', { 'aria-hidden': 'true' });
    setAvatar(avatar, m, 'avatar-tiny');
    paintAvatar(avatar, m);
    const shown = shownName(m);
    const name = h('span', { class: 'team-name' }, avatar, h('span', { class: 'team-shown', text: self ? `${shown} (you)` : shown }));
    name.title = m.display_name ? `${m.display_name} (@${m.username})` : m.username;
    const edit = h('button', { type: 'button', class: 'link-btn team-edit', dataset: { id: String(m.id) },
      'aria-expanded': String(editing === m.id), text: 'Name & colour' });
    const item = h('li', { class: `team-member${m.active === false ? ' is-inactive' : ''}`, dataset: { id: String(m.id) } },
      h('span', { class: `team-dot${m.online ? ' online' : ''}`, 'aria-hidden': 'true' }),
      name,
      h('span', { class: 'team-state', text: (m.display_name ? `@${m.username} · ` : '') + memberState(m) }),
      role, active, edit);
    if (editing === m.id) {
      if (!editor || editor.dataset.member !== String(m.id)) editor = memberEditor(m);
      item.append(editor);
    }
    return item;
  }));
}

/** The Team panel's editor of one member's name and colour (admins). */
function memberEditor(m) {
  const form = profileEditor(m, {
    label: `Save ${m.username}'s profile`,
    idPrefix: `member-${m.id}`,
    async submit(body) {
      takeMember(await api('PATCH', `/api/admin/staff/${encodeURIComponent(m.id)}`, body));
      editing = null;
      renderTeam();
      renderThread();
    },
    cancel() { editing = null; renderTeam(); },
  });
  form.classList.add('team-profile');
  form.dataset.member = String(m.id);
  return form;
}

function say(text, kind) {
  dom.teamResult.textContent = text;
  dom.teamResult.className = `announce-result${kind ? ` is-${kind}` : ''}`;
}

async function patchMember(id, body) {
  try {
    takeMember(await api('PATCH', `/api/admin/staff/${encodeURIComponent(id)}`, body));
    say('', null);
  } catch (e) {
    if (!e.handled) say(e.message, 'error');
  }
  renderTeam();
  renderThread();
}

async function onCreate(ev) {
  ev.preventDefault();
  const username = dom.teamUsername.value.trim();
  const password = dom.teamPassword.value;
  const role = dom.teamRole.value;
  if (!username || !password) { say('Enter a username and a password.', 'error'); return; }
  dom.teamCreate.disabled = true;
  try {
    const m = await api('POST', '/api/admin/staff', { username, password, role });
    takeMember(m);
    dom.teamUsername.value = '';
    dom.teamPassword.value = '';
    say(`${username} joined the team as ${role}.`, 'ok');
  } catch (e) {
    if (!e.handled) say(e.message, 'error');
  } finally {
    dom.teamCreate.disabled = false;
  }
  renderTeam();
  renderThread();
}

/** Forgets the team (sign-out). */
export function resetTeam() {
  state.staff.clear();
  state.staffListed = false;
  dom.teamPanel.hidden = true;
  dom.teamList.replaceChildren();
  dom.availability.hidden = true;
  editing = null;
  editor = null;
  resetOwnProfile();
  say('', null);
}

/** Wires the select, the list and the form (once, at start-up). */
export function bindTeam() {
  dom.availability.addEventListener('change', onAvailabilityChange);
  dom.teamForm.addEventListener('submit', onCreate);
  dom.teamList.addEventListener('change', (ev) => {
    const sel = ev.target.closest('select.team-role');
    if (sel) patchMember(sel.dataset.id, { role: sel.value });
  });
  dom.teamList.addEventListener('click', (ev) => {
    const edit = ev.target.closest('button.team-edit');
    if (edit) {
      const id = Number(edit.dataset.id);
      editing = editing === id ? null : id;
      editor = null;
      renderTeam();
      const field = editing != null && document.getElementById(`member-${id}-name`);
      if (field) field.focus();
      return;
    }
    const btn = ev.target.closest('button.team-active');
    if (!btn) return;
    const active = btn.dataset.active === 'true';
    const m = state.staff.get(Number(btn.dataset.id));
    const name = m ? m.username : 'this member';
    if (active && !window.confirm(`Deactivate ${name}? They are signed out at once and cannot sign in.`)) return;
    patchMember(btn.dataset.id, { active: !active });
  });
}

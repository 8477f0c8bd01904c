/* How customers see a staff member on their replies: the name they sign with and their avatar
 * colour. The "Your profile" form lets each staff member set their own (PATCH /api/me); the
 * profile editor of the Team panel lets an admin set a member's (PATCH /api/admin/staff/{id},
 * drawn by team.js). Both show a live preview: the avatar (initial on the colour) and the name
 * as customers will read it. Text only, through h() of lib/dom.js.
 */
import { h } from '../lib/dom.js';
import { shownName, avatarColor, paintAvatar } from '../lib/messages.js';
import { api } from './http.js';
import { client } from './client.js';
import { state, setAvatar } from './state.js';

/** The longest display name the server takes (domain/profile.rs). */
export const MAX_NAME = 40;
/** The colour a picker starts on when the member has none yet (the console's accent). */
const DEFAULT_COLOR = '#4c59d6';

/**
 * A profile editor for `member` (a UserInfo or staff member): name field, colour picker with a
 * "No colour" switch, preview. `submit(body)` receives `{display_name, avatar_color}` (null
 * clears) and returns a promise; `cancel`, if given, adds a Cancel button. Returns the form.
 */
export function profileEditor(member, { submit, cancel, label = 'Save profile', idPrefix = 'profile' }) {
  const color = avatarColor(member);
  const preview = h('span', { class: 'avatar avatar-large profile-avatar', 'aria-hidden': 'true' });
  const previewName = h('span', { class: 'profile-preview-name' });
  const name = h('input', { id: `${idPrefix}-name`, type: 'text', maxlength: String(MAX_NAME), autocomplete: 'off',
    placeholder: 'e.g. Maya from Support', value: member.display_name || '' });
  const picker = h('input', { id: `${idPrefix}-color`, type: 'color', value: color || DEFAULT_COLOR });
  const none = h('input', { id: `${idPrefix}-no-color`, type: 'checkbox' });
  none.checked = !color;
  const result = h('p', { class: 'announce-result', role: 'status', 'aria-live': 'polite' });
  const save = h('button', { type: 'submit', class: 'btn btn-secondary btn-block' }, label);

  const wanted = () => ({
    display_name: name.value.trim() || null,
    avatar_color: none.checked ? null : picker.value.toLowerCase(),
  });
  const refresh = () => {
    const w = wanted();
    const shown = { ...member, display_name: w.display_name, avatar_color: w.avatar_color };
    preview.removeAttribute('style');
    setAvatar(preview, shown, 'avatar-large profile-avatar');
    paintAvatar(preview, shown);
    previewName.textContent = shownName(shown);
    picker.disabled = none.checked;
  };
  name.addEventListener('input', refresh);
  picker.addEventListener('input', () => { none.checked = false; refresh(); });
  none.addEventListener('change', refresh);

  const form = h('form', { class: 'announce profile-form', novalidate: true },
    h('div', { class: 'profile-preview' }, preview, previewName),
    h('label', { class: 'field', for: name.id }, h('span', { class: 'field-label' }, 'Display name'), name),
    h('div', { class: 'field profile-colors' },
      h('label', { class: 'field-label', for: picker.id }, 'Avatar colour'),
      h('span', { class: 'profile-color-row' }, picker,
        h('label', { class: 'profile-no-color', for: none.id }, none, ' No colour'))),
    save);
  if (cancel) {
    const back = h('button', { type: 'button', class: 'btn btn-ghost btn-small btn-block' }, 'Cancel');
    back.addEventListener('click', cancel);
    form.append(back);
  }
  form.append(result);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = wanted();
    if (body.display_name && Array.from(body.display_name).length > MAX_NAME) {
      result.className = 'announce-result is-error';
      result.textContent = `The name can be at most ${MAX_NAME} characters.`;
      return;
    }
    save.disabled = true;
    try {
      await submit(body);
      result.className = 'announce-result is-ok';
      result.textContent = idPrefix === 'profile' ? 'Saved. Customers see it on your next replies.' : 'Saved.';
    } catch (e) {
      result.className = 'announce-result is-error';
      if (!e.handled) result.textContent = `Could not save: ${e.message}`;
    } finally {
      save.disabled = false;
    }
  });
  refresh();
  return form;
}

/** Draws the "Your profile" form for the signed-in staff member (after GET /api/me). */
export function renderOwnProfile() {
  const panel = document.getElementById('profile-panel');
  const box = document.getElementById('profile-box');
  if (!panel || !box) return;
  const me = state.me;
  panel.hidden = !me;
  if (!me) { box.replaceChildren(); return; }
  box.replaceChildren(profileEditor(me, {
    async submit(body) {
      const shown = await api('PATCH', '/api/me', body);
      if (state.me && shown && shown.id === state.me.id) {
        state.me.display_name = shown.display_name;
        state.me.avatar_color = shown.avatar_color;
      }
      // The member's own pending messages show the new face before the server echoes them.
      if (client.user && shown && client.user.id === shown.id) {
        client.user.display_name = shown.display_name;
        client.user.avatar_color = shown.avatar_color;
      }
    },
  }));
}

/** Forgets the form (sign-out). */
export function resetOwnProfile() {
  const panel = document.getElementById('profile-panel');
  const box = document.getElementById('profile-box');
  if (panel) panel.hidden = true;
  if (box) box.replaceChildren();
}

/* Canned replies: typing `/` at the start of the composer opens the list of the team's replies
 * (GET /api/admin/canned) filtered by what follows; arrow keys move, Enter, Tab or a click
 * inserts the text, Esc closes. The "Canned replies" panel of the details column makes, edits
 * and deletes them. A server without canned replies hides both.
 */
import { h } from '../lib/dom.js';
import { oneLine } from '../lib/format.js';
import { api } from './http.js';
import { dom, state } from './state.js';

const MAX_SHOWN = 8;

/** The popup: the replies shown and the one highlighted. */
const popup = { items: [], index: 0, open: false };
/** The id of the canned reply being edited in the panel, or null. */
let editing = null;

const sortCanned = (list) => list.sort((a, b) => String(a.shortcut).localeCompare(String(b.shortcut)));

/** Loads the replies (at start and after each change). */
export async function loadCanned() {
  const epoch = state.epoch;
  try {
    const data = await api('GET', '/api/admin/canned');
    if (epoch !== state.epoch) return;
    state.canned = sortCanned(Array.isArray(data.canned) ? data.canned.filter((c) => c && c.shortcut) : []);
    state.cannedOk = true;
  } catch (_) {
    if (epoch !== state.epoch) return;
    state.cannedOk = false;
    state.canned = [];
  }
  dom.cannedPanel.hidden = !state.cannedOk;
  renderCannedList();
}

/** The word after `/` while the composer starts with one (no space yet), else null. */
function slashQuery() {
  const v = dom.composer.value;
  const m = /^\/([^\s/]*)$/.exec(v);
  return m ? m[1].toLowerCase() : null;
}

/** The composer changed: open, filter or close the popup. */
export function onCannedInput() {
  const q = state.cannedOk ? slashQuery() : null;
  if (q === null) { closePopup(); return; }
  const starts = state.canned.filter((c) => c.shortcut.toLowerCase().startsWith(q));
  const within = state.canned.filter((c) => !c.shortcut.toLowerCase().startsWith(q)
    && (c.shortcut.toLowerCase().includes(q) || String(c.text).toLowerCase().includes(q)));
  popup.items = [...starts, ...within].slice(0, MAX_SHOWN);
  popup.index = 0;
  if (!popup.items.length) { closePopup(); return; }
  popup.open = true;
  renderPopup();
}

function renderPopup() {
  const box = dom.cannedPopup;
  box.replaceChildren(...popup.items.map((c, i) => {
    const li = h('li', { id: `canned-option-${i}`, role: 'option', class: 'canned-option',
      'aria-selected': String(i === popup.index), dataset: { index: String(i) } },
    h('span', { class: 'canned-shortcut', text: `/${c.shortcut}` }),
    h('span', { class: 'canned-preview', text: oneLine(c.text).slice(0, 120) }));
    return li;
  }));
  box.hidden = false;
  dom.composer.setAttribute('aria-expanded', 'true');
  dom.composer.setAttribute('aria-activedescendant', `canned-option-${popup.index}`);
  const active = box.children[popup.index];
  if (active) active.scrollIntoView({ block: 'nearest' });
}

export function closePopup() {
  popup.open = false;
  popup.items = [];
  dom.cannedPopup.hidden = true;
  dom.cannedPopup.replaceChildren();
  dom.composer.setAttribute('aria-expanded', 'false');
  dom.composer.removeAttribute('aria-activedescendant');
}

/** Puts the reply's text in the composer (the composer's own input handling follows). */
function insert(c) {
  closePopup();
  dom.composer.value = String(c.text);
  dom.composer.dispatchEvent(new Event('input', { bubbles: true }));
  dom.composer.focus();
  dom.composer.setSelectionRange(dom.composer.value.length, dom.composer.value.length);
}

/** Keys while the popup is open; captured before the composer's Enter-to-send. */
function onKeydown(ev) {
  if (!popup.open || ev.target !== dom.composer) return;
  const n = popup.items.length;
  if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
    popup.index = (popup.index + (ev.key === 'ArrowDown' ? 1 : n - 1)) % n;
    renderPopup();
  } else if (ev.key === 'Enter' || ev.key === 'Tab') {
    insert(popup.items[popup.index]);
  } else if (ev.key === 'Escape') {
    closePopup();
  } else return;
  ev.preventDefault();
  ev.stopPropagation();
}

// --- the panel ---------------------------------------------------------------------------------

function say(text, kind) {
  dom.cannedResult.textContent = text;
  dom.cannedResult.className = `announce-result${kind ? ` is-${kind}` : ''}`;
}

function renderCannedList() {
  dom.cannedList.replaceChildren(...state.canned.map((c) => h('li', { class: 'api-key canned-item' },
    h('span', { class: 'api-key-name', text: `/${c.shortcut}` }),
    h('span', { class: 'api-key-meta canned-text', text: oneLine(c.text) }),
    h('span', { class: 'canned-actions' },
      h('button', { type: 'button', class: 'link-btn canned-edit', dataset: { id: String(c.id) },
        'aria-label': `Edit /${c.shortcut}`, text: 'Edit' }),
      ' · ',
      h('button', { type: 'button', class: 'link-btn canned-delete', dataset: { id: String(c.id) },
        'aria-label': `Delete /${c.shortcut}`, text: 'Delete' })))));
}

function startEdit(c) {
  editing = c ? c.id : null;
  dom.cannedShortcut.value = c ? c.shortcut : '';
  dom.cannedText.value = c ? c.text : '';
  dom.cannedSave.textContent = c ? 'Save canned reply' : 'Add canned reply';
  dom.cannedCancel.hidden = !c;
  if (c) dom.cannedShortcut.focus();
}

async function onSubmit(ev) {
  ev.preventDefault();
  const shortcut = dom.cannedShortcut.value.trim().replace(/^\//, '');
  const text = dom.cannedText.value;
  if (!/^[a-z0-9_-]{1,32}$/i.test(shortcut)) {
    say('A shortcut is 1 to 32 letters, digits, _ or -.', 'error');
    return;
  }
  if (!text.trim()) { say('Write the reply\'s text.', 'error'); return; }
  dom.cannedSave.disabled = true;
  try {
    if (editing != null) await api('PATCH', `/api/admin/canned/${encodeURIComponent(editing)}`, { shortcut, text });
    else await api('POST', '/api/admin/canned', { shortcut, text });
    say(editing != null ? `Saved /${shortcut}.` : `Added /${shortcut}.`, 'ok');
    startEdit(null);
    await loadCanned();
  } catch (e) {
    if (!e.handled) say(e.message, 'error');
  } finally {
    dom.cannedSave.disabled = false;
  }
}

async function onListClick(ev) {
  const btn = ev.target.closest('button');
  if (!btn) return;
  const c = state.canned.find((x) => String(x.id) === btn.dataset.id);
  if (!c) return;
  if (btn.classList.contains('canned-edit')) { startEdit(c); return; }
  if (!window.confirm(`Delete the canned reply /${c.shortcut}?`)) return;
  try {
    await api('DELETE', `/api/admin/canned/${encodeURIComponent(c.id)}`);
    say(`Deleted /${c.shortcut}.`, 'ok');
    if (editing === c.id) startEdit(null);
  } catch (e) {
    if (!e.handled && e.status !== 404) say(e.message, 'error');
  }
  loadCanned();
}

/** Forgets the replies (sign-out). */
export function resetCanned() {
  state.canned = [];
  state.cannedOk = false;
  closePopup();
  startEdit(null);
  say('', null);
  dom.cannedPanel.hidden = true;
  dom.cannedList.replaceChildren();
}

/** Wires the popup and the panel (once, at start-up). */
export function bindCanned() {
  dom.composer.setAttribute('aria-autocomplete', 'list');
  dom.composer.setAttribute('aria-controls', 'canned-popup');
  dom.composer.setAttribute('aria-expanded', 'false');
  // Capture on the form: runs before the composer's own keydown (Enter sends).
  dom.composerForm.addEventListener('keydown', onKeydown, true);
  dom.composer.addEventListener('blur', () => setTimeout(() => {
    if (document.activeElement !== dom.composer) closePopup();
  }, 150));
  dom.cannedPopup.addEventListener('mousedown', (ev) => ev.preventDefault()); // keep the focus
  dom.cannedPopup.addEventListener('click', (ev) => {
    const li = ev.target.closest('.canned-option');
    if (li) insert(popup.items[Number(li.dataset.index)]);
  });
  dom.cannedForm.addEventListener('submit', onSubmit);
  dom.cannedCancel.addEventListener('click', () => { startEdit(null); say('', null); });
  dom.cannedList.addEventListener('click', onListClick);
}

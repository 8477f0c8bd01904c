/* The Business hours panel (admins): when the support desk is open, in which time zone, the
 * away message customers see while nobody can answer, and how soon they can expect a reply
 * (GET / PUT / DELETE /api/admin/desk-hours). The chat page and the widget show them through
 * lib/desk-status.js.
 *
 * A day's hours are typed as "09:00-17:00", several separated by commas ("09:00-12:00,
 * 13:00-17:00"); an empty day is closed. Without "Set opening hours" the desk counts as always
 * open and only the texts apply (while no agent is online).
 */
import { h } from '../lib/dom.js';
import { openAgainText } from '../lib/desk-status.js';
import { api } from './http.js';
import { state } from './state.js';

const DAYS = [
  ['mon', 'Monday'], ['tue', 'Tuesday'], ['wed', 'Wednesday'], ['thu', 'Thursday'],
  ['fri', 'Friday'], ['sat', 'Saturday'], ['sun', 'Sunday'],
];
const INTERVAL_RE = /^(\d{1,2}):(\d{2})\s*[-–—]\s*(\d{1,2}):(\d{2})$/;

const $ = (id) => document.getElementById(id);
const el = {
  panel: $('hours-panel'), now: $('hours-now'), form: $('hours-form'), enabled: $('hours-enabled'),
  schedule: $('hours-schedule'), timezone: $('hours-timezone'), zones: $('hours-zones'),
  days: $('hours-days'), away: $('hours-away'), reply: $('hours-reply'), save: $('hours-save'),
  clear: $('hours-clear'), result: $('hours-result'),
};
/** The day inputs, by key. */
const dayInputs = new Map();
let bound = false;

function say(text, kind) {
  el.result.textContent = text;
  el.result.className = `announce-result${kind ? ` is-${kind}` : ''}`;
}

const browserZone = () => {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch (_) { return 'UTC'; }
};

/** "HH:MM" with two digits each, or null for an impossible time. */
function clock(hours, minutes, endOfDay) {
  const hh = Number(hours);
  const mm = Number(minutes);
  if (mm > 59 || hh > 24 || (hh === 24 && (mm !== 0 || !endOfDay))) return null;
  return `${String(hh).padStart(2, '0')}:${String(mm).padStart(2, '0')}`;
}

/** One day's text to intervals; throws a sentence for the admin. */
function parseDay(text, label) {
  const parts = text.split(',').map((p) => p.trim()).filter(Boolean);
  return parts.map((part) => {
    const m = INTERVAL_RE.exec(part);
    const open = m && clock(m[1], m[2], false);
    const close = m && clock(m[3], m[4], true);
    if (!open || !close) {
      throw new Error(`${label}: write the hours like 09:00-17:00 (several separated by commas).`);
    }
    if (close <= open) throw new Error(`${label}: ${part} closes before it opens.`);
    return { open, close };
  });
}

/** The form to the PUT body; throws a sentence for the admin. */
function body() {
  const timezone = el.timezone.value.trim();
  if (!timezone) throw new Error('Choose a time zone, e.g. Europe/Berlin.');
  let days = null;
  if (el.enabled.checked) {
    days = {};
    for (const [key, label] of DAYS) days[key] = parseDay(dayInputs.get(key).value, label);
  }
  return { timezone, days, away_message: el.away.value.trim() || null, reply_time: el.reply.value.trim() || null };
}

/** "Open now" / "Closed now; opens again Monday at 09:00" / "Always open". */
function describe(saved) {
  if (!saved.timezone || !saved.days) return 'No opening hours set: the desk counts as always open.';
  if (saved.open) return 'Open now, by these hours.';
  return saved.next_open_at
    ? `Closed now; opens again ${openAgainText(saved.next_open_at)} (your time).`
    : 'Closed now, and no day has opening hours.';
}

/** Puts a saved answer into the form. */
function fill(saved) {
  el.timezone.value = saved.timezone || browserZone();
  el.enabled.checked = !!saved.days;
  for (const [key] of DAYS) {
    const list = saved.days && Array.isArray(saved.days[key]) ? saved.days[key] : [];
    dayInputs.get(key).value = list.map((i) => `${i.open}-${i.close}`).join(', ');
  }
  if (!saved.days) {
    // A first-time suggestion: office hours on weekdays.
    for (const [key] of DAYS.slice(0, 5)) dayInputs.get(key).value = '09:00-17:00';
  }
  el.away.value = saved.away_message || '';
  el.reply.value = saved.reply_time || '';
  el.now.textContent = describe(saved);
  renderEnabled();
}

function renderEnabled() {
  el.schedule.hidden = !el.enabled.checked;
}

async function onSave(ev) {
  ev.preventDefault();
  let request;
  try { request = body(); } catch (err) { say(err.message, 'error'); return; }
  el.save.disabled = true;
  say('', null);
  try {
    const saved = await api('PUT', '/api/admin/desk-hours', request);
    fill(saved);
    say('Saved. Customers see it now.', 'ok');
  } catch (err) {
    if (!err.handled) say(err.message, 'error');
  } finally {
    el.save.disabled = false;
  }
}

async function onClear() {
  if (!window.confirm('Remove the opening hours and the away message? The desk then counts as always open.')) return;
  el.clear.disabled = true;
  try {
    fill(await api('DELETE', '/api/admin/desk-hours'));
    say('Removed.', 'ok');
  } catch (err) {
    if (!err.handled) say(err.message, 'error');
  } finally {
    el.clear.disabled = false;
  }
}

function bind() {
  if (bound || !el.panel) return;
  bound = true;
  el.days.replaceChildren(...DAYS.map(([key, label]) => {
    const input = h('input', {
      id: `hours-day-${key}`, type: 'text', class: 'hours-day-input', autocomplete: 'off',
      spellcheck: 'false', placeholder: 'Closed', 'aria-label': `${label} opening hours`,
    });
    dayInputs.set(key, input);
    return h('label', { class: 'hours-day', for: input.id },
      h('span', { class: 'hours-day-name', title: label }, label.slice(0, 3)), input);
  }));
  let zones = [];
  try { zones = Intl.supportedValuesOf('timeZone'); } catch (_) { /* a free text field */ }
  el.zones.replaceChildren(...zones.map((z) => h('option', { value: z })));
  el.enabled.addEventListener('change', renderEnabled);
  el.form.addEventListener('submit', onSave);
  el.clear.addEventListener('click', onClear);
}

/** At the start of a session: the panel and its data for an admin, hidden for an agent. */
export async function loadHours(admin) {
  if (!el.panel) return;
  el.panel.hidden = true;
  if (!admin) return;
  bind();
  const epoch = state.epoch;
  say('', null);
  try {
    const saved = await api('GET', '/api/admin/desk-hours');
    if (epoch !== state.epoch) return;
    fill(saved);
    el.panel.hidden = false;
  } catch (err) {
    if (!err.handled) { el.panel.hidden = false; el.now.textContent = 'Could not load the business hours: ' + err.message; }
  }
}

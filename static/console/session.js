/* The console's session: sign-in and sign-out, start and stop (timers, the socket, forgetting
 * everything of the previous staff member), the connection pill, and resuming with a stored
 * token.
 */
import { api, onSessionLost } from './http.js';
import { client, composer, list } from './client.js';
import {
  dom, state, TOKEN_KEY, STAFF_ONLY, STAT_KEYS, STATS_EVERY_MS, CONVERSATIONS_EVERY_MS, CLOCK_EVERY_MS, notify,
} from './state.js';
import { refreshConversations, renderList } from './conversation-list.js';
import { renderThread } from './conversation-view.js';
import { renderCustomer, resetPanels } from './customer-panel.js';
import { refreshStats } from './stats.js';
import { loadSettings } from '../admin-settings.js';
import { ApiKeysPanel } from '../api-keys.js';
import { resetDesk } from './desk.js';
import { loadCanned, resetCanned } from './canned.js';
import { notesRefused, renderMode } from './notes.js';
import { resetAlerts } from './alerts.js';
import { loadTeam, resetTeam } from './team.js';
import { loadHours } from './hours.js';

const apiKeys = new ApiKeysPanel({
  api,
  form: document.querySelector('#api-key-form'),
  name: document.querySelector('#api-key-name'),
  create: document.querySelector('#api-key-create'),
  fresh: document.querySelector('#api-key-fresh'),
  freshKey: document.querySelector('#api-key-value'),
  list: document.querySelector('#api-key-list'),
  result: document.querySelector('#api-key-result'),
});

// ---------------------------------------------------------------------------------------------
// Sign-in / sign-out
// ---------------------------------------------------------------------------------------------

export function showSignin(message) {
  dom.console.hidden = true;
  dom.signin.hidden = false;
  dom.error.textContent = message || '';
  document.title = 'Support console';
  setTimeout(() => (dom.username.value ? dom.password : dom.username).focus(), 0);
}

export async function onLoginSubmit(ev) {
  ev.preventDefault();
  const username = dom.username.value.trim();
  const password = dom.password.value;
  if (!username || !password) {
    dom.error.textContent = 'Enter your username and password.';
    return;
  }
  dom.error.textContent = '';
  dom.login.disabled = true;
  dom.login.textContent = 'Signing in…';
  try {
    const data = await api('POST', '/api/auth/login', { username, password }, { auth: false });
    if (!data.user || (data.user.role !== 'admin' && data.user.role !== 'agent')) {
      // A customer account: keep nothing, load nothing.
      dom.error.textContent = STAFF_ONLY;
      return;
    }
    localStorage.setItem(TOKEN_KEY, data.token);
    state.token = data.token;
    dom.password.value = '';
    startConsole(data.user);
  } catch (e) {
    dom.error.textContent = e.message;
  } finally {
    dom.login.disabled = false;
    dom.login.textContent = 'Sign in';
  }
}

/** Leaves the console (expired token, lost staff rights, sign-out) and shows sign-in. */
export function endSession(message) {
  stopConsole();
  localStorage.removeItem(TOKEN_KEY);
  state.token = null;
  showSignin(message);
}

export function startConsole(me) {
  state.running = true;
  state.epoch += 1;
  dom.signin.hidden = true;
  dom.console.hidden = false;
  dom.error.textContent = '';
  dom.me.textContent = me.username;
  state.me = { id: me.id, username: me.username, role: me.role, availability: me.availability };
  dom.listEmpty.textContent = 'Loading conversations…';
  dom.listEmpty.hidden = false;
  renderThread();
  refreshConversations();
  refreshStats();
  // Settings, API keys and the team are the admins' (agents get 403 "admins only").
  const admin = me.role === 'admin';
  dom.settingsPanel.hidden = !admin;
  dom.apiKeysPanel.hidden = !admin;
  if (admin) {
    loadSettings(api);
    apiKeys.refresh();
  }
  loadHours(admin);
  loadTeam();
  loadCanned();
  client.start(state.token, me);
  state.timers.push(
    setInterval(refreshStats, STATS_EVERY_MS),
    setInterval(refreshConversations, CONVERSATIONS_EVERY_MS),
    // Relative times ("3m") in the inbox, "Today" / "Yesterday" in the thread.
    setInterval(() => { renderList(); renderCustomer(); list.render(); }, CLOCK_EVERY_MS),
  );
}

/** Stops sockets and timers and forgets all data of the session. */
export function stopConsole() {
  state.running = false;
  state.epoch += 1;
  state.timers.forEach(clearInterval);
  state.timers = [];
  client.stop();
  state.open = null;
  state.notes = null;
  state.notesOk = false;
  state.noteMode = false;
  state.me = null;
  renderMode();
  resetDesk();
  resetCanned();
  resetTeam();
  resetAlerts();
  resetPanels();
  state.convsLoaded = false;
  state.convs.clear();
  state.items.clear();
  state.banned.clear();
  state.drafts.clear();
  dom.list.replaceChildren();
  list.reset();
  dom.composer.value = '';
  dom.announceRoom.value = '';
  dom.announceText.value = '';
  apiKeys.reset();
  dom.announceResult.textContent = '';
  for (const k of STAT_KEYS) {
    const el = dom.stats.querySelector(`[data-stat="${k}"]`);
    if (el) el.textContent = '–';
  }
  setConn('offline');
}

export function setConn(s, label) {
  dom.conn.dataset.state = s;
  dom.connLabel.textContent = label || {
    connecting: 'Connecting…', connected: 'Live', reconnecting: 'Reconnecting…', offline: 'Offline',
  }[s];
  dom.conn.title = s === 'connected' ? 'Connected: updates arrive live'
    : 'Not connected. Click to retry now.';
}

/** The connection pill; while a retry is scheduled, with a live countdown to it. */
export function showConnection(s, retryAt) {
  clearInterval(state.countdownTimer);
  if (s !== 'reconnecting' || !retryAt) { setConn(s); return; }
  const tick = () => {
    if (navigator.onLine === false) { setConn('offline'); return; }
    const left = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
    setConn('reconnecting', left > 0 ? `Reconnecting in ${left}s` : 'Reconnecting…');
  };
  tick();
  state.countdownTimer = setInterval(tick, 1000);
}

export function onHello(f) {
  if (f.user && (f.user.role !== 'admin' && f.user.role !== 'agent')) { endSession(STAFF_ONLY); return; }
  if (f.user) dom.me.textContent = f.user.username;
  composer.update(); // the limits may have changed
  // The client joins the open conversation once this returns. Activity may have been missed
  // while we were away: catch up.
  refreshConversations();
  refreshStats();
}

export function onErrorFrame(f, room) {
  // The notes thread refused for good (a server without notes, or no longer staff): no toggle.
  // Any other error about it (`unavailable` on a re-join, say) is passing: notes stay on.
  const refusal = ['forbidden', 'not_found', 'bad_request'].includes(f.code);
  if (room && room === state.notes && !f.cid && refusal) { notesRefused(room); return; }
  if (room && room === state.open) list.render(); // a join or history refused: say so on top
  notify(f.message || `Error: ${f.code}`, 'error');
}

/** Continues with a stored token: check that it is valid and belongs to staff. */
export async function resume() {
  dom.signin.hidden = true;
  try {
    const me = await api('GET', '/api/me');
    if (me.role !== 'admin' && me.role !== 'agent') {
      localStorage.removeItem(TOKEN_KEY);
      state.token = null;
      showSignin(STAFF_ONLY);
      return;
    }
    startConsole(me);
  } catch (e) {
    if (e.status === 401) {
      localStorage.removeItem(TOKEN_KEY);
      state.token = null;
      showSignin('Your session has ended. Please sign in again.');
    } else {
      showSignin(e.message);
    }
  }
}

onSessionLost(endSession);

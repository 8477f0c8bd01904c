/* Alerts while the console's tab is in the background: when a new conversation starts or a
 * customer writes in a conversation assigned to me or to no one, the title shows "(N) ..." (N
 * conversations with news), a short beep plays (WebAudio; the "Sound" toggle, kept in
 * localStorage) and, once the staff member allowed it, a desktop notification shows. Back on
 * the tab, the count is 0 again (the inbox's badge counts the unread conversations).
 */
import { dom, state } from './state.js';
import { openConversation } from './conversation-view.js';

const SOUND_KEY = 'chat.admin.sound';
const TITLE = 'Support console';

/** Conversations with news since the tab was hidden. */
const news = new Set();
/** The highest seq alerted per room: a message seen through two frames rings once. */
const alerted = new Map();
let audio = null;

const soundOn = () => localStorage.getItem(SOUND_KEY) !== 'off';

/** Whether the conversation is mine to answer: assigned to me, or to no one. */
function concernsMe(c) {
  return !c.assignee || !!(state.me && c.assignee.id === state.me.id);
}

/** The document's title: "(N) Support console" while N conversations have news unseen. */
export function updateTitle() {
  const n = news.size;
  document.title = n ? `(${n}) ${TITLE}` : TITLE;
}

/** A new (or, `reopened`, a resolved one the customer came back to) conversation. */
export function newConversation(c, reopened) {
  alert(c, reopened ? 'Conversation reopened' : 'New conversation',
    c.last_message ? String(c.last_message.text || '') : '');
}

/** A customer's message `m` in conversation `c`. */
export function customerWrote(c, m) {
  if (!(m.seq > (alerted.get(c.room) || 0))) return;
  alerted.set(c.room, m.seq);
  alert(c, c.customer ? c.customer.username : 'A customer', String(m.text || ''));
}

function alert(c, title, body) {
  if (!state.running || !document.hidden || !concernsMe(c)) return;
  news.add(c.room);
  updateTitle();
  if (soundOn()) beep();
  desktop(c.room, title, body);
}

/** A short beep (WebAudio); silent where the browser does not allow it yet. */
function beep() {
  try {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    if (!audio) audio = new Ctx();
    if (audio.state === 'suspended') audio.resume().catch(() => {});
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.08, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.18);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.2);
  } catch (_) { /* no sound: the title still counts */ }
}

/** A desktop notification, once the staff member allowed them; a click opens the conversation. */
function desktop(room, title, body) {
  if (!('Notification' in window) || Notification.permission !== 'granted') return;
  try {
    const n = new Notification(title, { body: body.slice(0, 140), tag: room });
    n.onclick = () => { window.focus(); openConversation(room); n.close(); };
  } catch (_) { /* some browsers only notify from a service worker */ }
}

function renderAlertControls() {
  const on = soundOn();
  dom.soundToggle.setAttribute('aria-pressed', String(on));
  dom.soundToggle.textContent = on ? 'Sound on' : 'Sound off';
  dom.notifyEnable.hidden = !('Notification' in window) || Notification.permission !== 'default';
}

/** Back on the tab: the news are seen. */
function onVisible() {
  if (document.hidden) return;
  news.clear();
  updateTitle();
}

/** Forgets the news (sign-out). */
export function resetAlerts() {
  news.clear();
  alerted.clear();
  updateTitle();
}

/** Wires the Sound toggle, the notifications button and the tab's visibility (once). */
export function bindAlerts() {
  renderAlertControls();
  dom.soundToggle.addEventListener('click', () => {
    localStorage.setItem(SOUND_KEY, soundOn() ? 'off' : 'on');
    renderAlertControls();
    // A click is a user gesture: the audio context may start now, for later beeps.
    if (soundOn() && !audio) {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      if (Ctx) audio = new Ctx();
    }
  });
  dom.notifyEnable.addEventListener('click', () => {
    Notification.requestPermission().then(renderAlertControls, renderAlertControls);
  });
  document.addEventListener('visibilitychange', onVisible);
  window.addEventListener('focus', onVisible);
}

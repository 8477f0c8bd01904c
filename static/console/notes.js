/* The open conversation's notes thread, notes:<id>: private notes of the team and the desk's
 * events, shown in the timeline between the customer's messages (console/timeline.js), and the
 * composer's Reply / Note toggle. The console joins the thread beside support:<id>; a note is
 * sent as `{"type":"send","room":"support:<id>","text","note":true,"cid"}` (console/client.js)
 * and acked with the thread's room and seq.
 *
 * A server without notes threads refuses the join: the toggle stays hidden, nothing is said.
 */
import { client, list } from './client.js';
import { api } from './http.js';
import { dom, notesOf, roomPath, state } from './state.js';
import { renderTyping } from './conversation-view.js';
import { setComposerHint } from './layout.js';

/** Follows the notes thread of the support room just opened. */
export function openNotes(supportRoom) {
  closeNotes();
  const n = client.addRoom(notesOf(supportRoom));
  state.notes = n;
  state.notesOk = false;
  state.noteMode = false;
  if (!client.join(n)) loadNotesViaHttp(n);
  renderMode();
}

/** Stops following it (another conversation opens, or none). */
export function closeNotes() {
  const n = state.notes;
  if (!n) return;
  client.removeRoom(n.name);
  state.notes = null;
  state.notesOk = false;
  state.noteMode = false;
  renderMode();
}

/** `joined` of the notes thread: its messages are in, the toggle shows. */
export function notesJoined(n) {
  if (n !== state.notes) return;
  state.notesOk = true;
  renderMode();
  list.render();
  renderTyping();
}

/** The server refused the thread (no notes on this server, or not staff): no toggle. */
export function notesRefused(n) {
  if (n !== state.notes) return;
  state.notesOk = false;
  // Never switch a note being written into a reply behind the agent's back: Note mode stays
  // (its sends carry `note: true`, which the server stores as a note or refuses) until the
  // agent picks Reply themselves.
  renderMode();
}

/** The thread's newest page over HTTP while the socket is down. */
async function loadNotesViaHttp(n) {
  const epoch = state.epoch;
  try {
    const limit = client.limits.history_page_default;
    const data = await api('GET', `/api/rooms/${roomPath(n.name)}/messages?limit=${limit}`);
    if (epoch !== state.epoch || state.notes !== n || n.loaded) return;
    client.takePage(n, data.messages || [], data.more);
    n.loaded = true;
    notesJoined(n);
  } catch (_) {
    notesRefused(n);
  }
}

/** The room the composer writes to: the notes thread in Note mode, else the conversation. */
export function composerRoom() {
  const o = state.open;
  if (!o) return null;
  if (!state.noteMode) return o.name;
  // In Note mode a note never goes to the conversation itself, thread open or not.
  return state.notes ? state.notes.name : `notes:${String(o.name).replace(/^support:/, '')}`;
}

/** Switches the composer between a reply to the customer and a private note. */
export function setNoteMode(on) {
  const next = !!on && (state.notesOk || state.noteMode);
  if (next === state.noteMode) return;
  client.stopTyping();
  state.noteMode = next;
  renderMode();
  dom.composer.focus({ preventScroll: true });
}

/** The toggle, and the composer's look and label in each mode. */
export function renderMode() {
  dom.composerMode.hidden = !state.notesOk && !state.noteMode;
  const note = state.noteMode;
  dom.modeReply.classList.toggle('is-active', !note);
  dom.modeReply.setAttribute('aria-checked', String(!note));
  dom.modeNote.classList.toggle('is-active', note);
  dom.modeNote.setAttribute('aria-checked', String(note));
  dom.composerForm.classList.toggle('is-note', note);
  dom.modeHint.textContent = note ? 'Only the team sees this' : '';
  dom.composer.setAttribute('aria-label', note ? 'Private note' : 'Reply');
  if (note) dom.composer.placeholder = 'Write a private note… (only the team sees it)';
  else setComposerHint();
}

/** Wires the toggle (once, at start-up). */
export function bindNotes() {
  dom.modeReply.addEventListener('click', () => setNoteMode(false));
  dom.modeNote.addEventListener('click', () => setNoteMode(true));
  // Arrow keys move between the two, as in any radio group.
  dom.composerMode.addEventListener('keydown', (ev) => {
    if (ev.key !== 'ArrowLeft' && ev.key !== 'ArrowRight') return;
    ev.preventDefault();
    setNoteMode(!state.noteMode);
    (state.noteMode ? dom.modeNote : dom.modeReply).focus();
  });
}

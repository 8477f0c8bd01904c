/* The widget's session, kept in the iframe's localStorage (the chat server's origin, partitioned
 * by the store's site), so a visitor's conversation survives the shop's page loads: the token,
 * the user, and the store's id for an identified customer. reset() (store sign-out) forgets it.
 */

const SESSION_KEY = 'chat.widget.session'; // {token, user, external_id}
const EMAIL_KEY = 'chat.widget.email';     // the user id whose email was given here

/** The saved session, or null. */
export function loadSession() {
  try {
    const s = JSON.parse(localStorage.getItem(SESSION_KEY) || 'null');
    return s && typeof s.token === 'string' && s.user && typeof s.user.id === 'number' ? s : null;
  } catch (_) { return null; }
}

/** Saves the session, or with null forgets it (and the email noted for it). */
export function storeSession(s) {
  try {
    if (s) localStorage.setItem(SESSION_KEY, JSON.stringify(s));
    else { localStorage.removeItem(SESSION_KEY); localStorage.removeItem(EMAIL_KEY); }
  } catch (_) { /* storage off: this page load only */ }
}

/** Whether the session's user gave an email address (the server says so, or we noted it). */
export function emailGiven(s) {
  if (!s) return false;
  if (s.user.email) return true;
  try { return localStorage.getItem(EMAIL_KEY) === String(s.user.id); } catch (_) { return false; }
}

/** Notes that the session's user gave an email address. */
export function noteEmail(s) {
  try { localStorage.setItem(EMAIL_KEY, String(s.user.id)); } catch (_) { /* this page load only */ }
}

/* The console's Settings panel: the store sites the chat widget may be shown on
 * (GET /api/admin/settings, read-only: they are a flag of the server), and how to add one;
 * whether the email follow-up is on (its `email` object, where the server has one).
 * Its own module, so admin.js only calls it once a staff member is signed in.
 */
import { h } from './lib/dom.js';

/** Shows the embed origins; `api` is the console's lib/api.js function (with its token). */
export async function loadSettings(api) {
  const list = document.getElementById('embed-origins');
  const none = document.getElementById('embed-origins-none');
  if (!list || !none) return;
  try {
    const data = await api('GET', '/api/admin/settings');
    const origins = Array.isArray(data.embed_origins) ? data.embed_origins : [];
    list.replaceChildren(...origins.map((o) => h('li', null, String(o))));
    none.hidden = origins.length > 0;
    showEmail(data.email);
  } catch (err) {
    if (err.handled) return;
    list.replaceChildren();
    none.hidden = false;
    none.textContent = 'Could not load the settings: ' + err.message;
  }
}

/** "Email follow-up is off: start the server with --smtp-url", or when and from whom it mails. */
function showEmail(email) {
  const off = document.getElementById('email-off');
  const on = document.getElementById('email-on');
  if (!off || !on) return;
  const known = !!email && typeof email === 'object' && typeof email.enabled === 'boolean';
  off.hidden = !known || email.enabled;
  on.hidden = !known || !email.enabled;
  if (known && email.enabled) {
    const mins = Math.round((Number(email.email_after_secs) || 0) / 60);
    const after = mins >= 1 ? `${mins} min` : `${Number(email.email_after_secs) || 0} s`;
    on.textContent = `Email follow-up is on: unread replies are emailed after ${after}`
      + (email.mail_from ? `, from ${email.mail_from}.` : '.');
  }
}

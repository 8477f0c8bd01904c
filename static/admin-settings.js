/* The console's Settings panel: the store sites the chat widget may be shown on
 * (GET /api/admin/settings, read-only: they are a flag of the server), and how to add one;
 * whether unread staff replies are emailed to customers (--smtp-url).
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

/** Says whether customers get emails of the replies they left unread, and after how long. */
function showEmail(email) {
  const status = document.getElementById('email-status');
  if (!status) return;
  if (!email || !email.enabled) {
    status.textContent = 'Off: customers get no email of unread replies. Start the chat server '
      + 'with --smtp-url and --mail-from (CHAT_SMTP_URL, CHAT_MAIL_FROM) to turn it on.';
    return;
  }
  const secs = Number(email.email_after_secs) || 0;
  const after = secs % 60 === 0 && secs > 0 ? `${secs / 60} min` : `${secs} s`;
  status.textContent = `On: a customer who left without reading a reply gets an email after ${after}`
    + ` of quiet, from ${email.mail_from}.`;
}

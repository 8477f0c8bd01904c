/* The console's Settings panel: the store sites the chat widget may be shown on
 * (GET /api/admin/settings, read-only: they are a flag of the server), and how to add one.
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
  } catch (err) {
    if (err.handled) return;
    list.replaceChildren();
    none.hidden = false;
    none.textContent = 'Could not load the settings: ' + err.message;
  }
}

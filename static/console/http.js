/* The console's HTTP API (lib/api.js with the session's token). While the console runs, a 401
 * ends the session and a 403 from /api/admin shows the "staff only" message (an agent's
 * "admins only" is an ordinary refusal); the error says it was handled. What ending a session
 * means is the session module's (registered with onSessionLost, so this module imports no other
 * console module).
 */
import { createApi } from '../lib/api.js';
import { state, STAFF_ONLY } from './state.js';

let sessionLost = () => {};

/** Registers what ends the session (session.js's endSession). */
export function onSessionLost(fn) { sessionLost = fn; }

/** JSON requests: `api(method, path, body, { auth })`, see lib/api.js. */
export const api = createApi({
  token: () => state.token,
  onError(err, path) {
    if (!state.running) return;
    if (err.status === 401) {
      err.handled = true;
      sessionLost(err.message ? `Please sign in again (${err.message}).` : 'Please sign in again.');
    } else if (err.status === 403 && path.startsWith('/api/admin') && !/admins only/i.test(err.message)) {
      // "staff only": not (or no longer) staff. An agent's "admins only" is only a refusal.
      err.handled = true;
      sessionLost(STAFF_ONLY);
    }
  },
});

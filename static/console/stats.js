/* The live figures of the top bar (GET /api/admin/stats every 5 s).
 */
import { api } from './http.js';
import { STAT_KEYS, dom, state } from './state.js';

export async function refreshStats() {
  if (!state.running) return;
  const epoch = state.epoch;
  try {
    const s = await api('GET', '/api/admin/stats');
    if (epoch !== state.epoch) return;
    for (const k of STAT_KEYS) {
      const el = dom.stats.querySelector(`[data-stat="${k}"]`);
      if (el && typeof s[k] === 'number') el.textContent = String(s[k]);
    }
    dom.stats.classList.remove('is-stale');
    dom.stats.title = '';
  } catch (e) {
    if (e.handled || epoch !== state.epoch) return;
    dom.stats.classList.add('is-stale');
    dom.stats.title = `Figures may be out of date: ${e.message}`;
  }
}

/* The console's API keys panel: the keys the store's own backend calls /api/server/* with
 * (notifications, store messages). Admins make one here and see it once, right after it is
 * made: the server keeps only its digest, and the list never shows a key. Revoking one refuses
 * it at once. Text is set as text only (lib/dom.js). */
import { h } from './lib/dom.js';
import { fullTime, relTime } from './lib/format.js';

export class ApiKeysPanel {
  /** `api`: the page's API function; the elements of the panel in admin.html. */
  constructor({ api, form, name, create, fresh, freshKey, list, result }) {
    Object.assign(this, { api, form, name, create, fresh, freshKey, list, result });
    this.epoch = 0;
    form.addEventListener('submit', (ev) => { ev.preventDefault(); this.make(); });
    freshKey.addEventListener('focus', () => freshKey.select());
    list.addEventListener('click', (ev) => {
      const btn = ev.target.closest('button.revoke-key');
      if (btn) this.revoke(Number(btn.dataset.id), btn.dataset.name, btn);
    });
  }

  say(text, kind) {
    this.result.textContent = text;
    this.result.className = `announce-result${kind ? ` is-${kind}` : ''}`;
  }

  /** Loads the list again. */
  async refresh() {
    const epoch = this.epoch;
    try {
      const r = await this.api('GET', '/api/admin/api-keys');
      if (epoch === this.epoch) this.render(r.keys || []);
    } catch (e) {
      if (!e.handled && epoch === this.epoch) this.say(`Could not load the keys: ${e.message}`, 'error');
    }
  }

  render(keys) {
    if (!keys.length) {
      this.list.replaceChildren(h('li', { class: 'panel-empty', text: 'No API keys yet.' }));
      return;
    }
    this.list.replaceChildren(...keys.map((k) => h('li', { class: 'api-key', dataset: { id: String(k.id) } },
      h('div', { class: 'api-key-text' },
        h('span', { class: 'api-key-name', text: k.name }),
        h('span', { class: 'api-key-meta', title: fullTime(k.created_at),
          text: `made ${relTime(k.created_at)} · ${k.last_used_at ? `used ${relTime(k.last_used_at)}` : 'never used'}` })),
      h('button', { type: 'button', class: 'btn btn-danger-outline revoke-key', text: 'Revoke',
        'aria-label': `Revoke the key ${k.name}`, dataset: { id: String(k.id), name: k.name } }))));
  }

  async make() {
    const name = this.name.value.trim();
    if (!name) { this.say('Name the key first (what will use it, say “shop backend”).', 'error'); this.name.focus(); return; }
    const epoch = this.epoch;
    this.create.disabled = true;
    try {
      const r = await this.api('POST', '/api/admin/api-keys', { name });
      if (epoch !== this.epoch) return;
      this.name.value = '';
      this.freshKey.value = r.key;
      this.fresh.hidden = false;
      this.freshKey.focus();
      this.say(`Key “${r.name}” made. Copy it now: it will not be shown again.`, 'ok');
      this.refresh();
    } catch (e) {
      if (!e.handled && epoch === this.epoch) this.say(`Not made: ${e.message}`, 'error');
    } finally {
      this.create.disabled = false;
    }
  }

  async revoke(id, name, btn) {
    if (!window.confirm(`Revoke the key “${name}”? Whatever uses it is refused from now on.`)) return;
    const epoch = this.epoch;
    btn.disabled = true;
    try {
      await this.api('DELETE', `/api/admin/api-keys/${id}`);
      if (epoch !== this.epoch) return;
      this.say(`Key “${name}” revoked.`, 'ok');
      this.refresh();
    } catch (e) {
      btn.disabled = false;
      if (!e.handled && epoch === this.epoch) this.say(`Not revoked: ${e.message}`, 'error');
    }
  }

  /** Forgets everything shown (sign-out). */
  reset() {
    this.epoch += 1;
    this.list.replaceChildren();
    this.freshKey.value = '';
    this.fresh.hidden = true;
    this.name.value = '';
    this.say('', null);
  }
}

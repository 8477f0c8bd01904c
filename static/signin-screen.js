/* The chat page's sign-in screen: a guest name, an account's sign-in, a new account. While a
 * ban covers this browser or address it says so and until when, and offers neither a new guest
 * nor a new account (signing in to an existing account stays possible); the ban ends by itself.
 *
 * Every server message reaches the DOM as text (textContent), never as HTML.
 */
import { h } from './lib/dom.js';
import { banOfError, banText, checkBan, whenBanEnds } from './lib/ban.js';

/**
 * The sign-in screen of one page. `api` is the page's lib/api.js caller; `el` holds the screen
 * (`signin`), its error line and the three forms with their fields and buttons (the names of
 * app.js's `el`); `title` is the page's title; `onSignedIn({ token, user })` is called with the
 * answer of a sign-in.
 */
export class SigninScreen {
  constructor({ api, el, title, onSignedIn }) {
    Object.assign(this, { api, el, title, onSignedIn });
    this.ban = { banned: false };
    this.stopBanTimer = () => {};
    this.banNotice = h('p', { id: 'ban-notice', class: 'form-error', role: 'status' });
    el.guestForm.querySelector('.input-row').after(this.banNotice);
    this.wire();
  }

  wire() {
    const { el } = this;
    el.guestForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.signIn(el.guestStart, '/api/auth/guest', { name: el.guestName.value });
    });
    el.loginForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.signIn(el.loginSubmit, '/api/auth/login', { username: el.loginUser.value.trim(), password: el.loginPass.value });
    });
    el.registerForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.signIn(el.registerSubmit, '/api/auth/register', { username: el.registerUser.value.trim(), password: el.registerPass.value });
    });
  }

  /** Shows the screen, with a reason when there is one (a session that ended), and looks for a ban. */
  show(message) {
    this.el.signin.hidden = false;
    this.showError(message || '');
    document.title = this.title;
    this.el.guestName.focus();
    checkBan(this.api).then((found) => { if (!this.el.signin.hidden) this.setBan(found); });
  }

  hide() { this.el.signin.hidden = true; }

  showError(text) { this.el.signinError.textContent = text || ''; }

  /** Runs one of the three sign-in calls, with the buttons disabled meanwhile. */
  async signIn(button, path, body) {
    const { el } = this;
    this.showError('');
    const buttons = [el.guestStart, el.loginSubmit, el.registerSubmit];
    buttons.forEach((b) => { b.disabled = true; });
    button.classList.add('busy');
    try {
      const data = await this.api('POST', path, body, { auth: false });
      el.loginPass.value = '';
      el.registerPass.value = '';
      this.onSignedIn(data);
    } catch (err) {
      const ban = banOfError(err);
      if (ban) this.setBan(ban);
      else this.showError(err.message);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
      button.classList.remove('busy');
      this.renderBan();
    }
  }

  setBan(next) {
    this.stopBanTimer();
    this.ban = next;
    this.stopBanTimer = whenBanEnds(next, () => { this.setBan({ banned: false }); this.showError(''); }, this.api);
    this.renderBan();
  }

  renderBan() {
    const { el, ban } = this;
    el.guestStart.disabled = ban.banned;
    el.guestName.disabled = ban.banned;
    el.registerSubmit.disabled = ban.banned;
    this.banNotice.textContent = ban.banned ? banText(ban) : '';
  }
}

/** The JWT's payload, decoded only to show a name before the server answers; `null` if unreadable. */
export function tokenClaims(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(Array.from(atob(part), (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')).join(''));
    return JSON.parse(json);
  } catch (_) { return null; }
}

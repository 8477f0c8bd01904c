/* The support desk's status as customers see it, shared by the chat page and the widget: whether
 * the team is online, whether the desk is within its business hours, the admin's away message
 * and the expected reply time (GET /api/support/status), polled while a page shows the
 * conversation, and the notice that tells a customer what to expect when nobody can answer now.
 *
 * Security rule: the away message and the reply time are the admin's text: they reach the DOM
 * as text only (h() of dom.js).
 */
import { h } from './dom.js';
import { clockTime, startOfDay } from './format.js';

/** How often a page asks again while it shows the conversation. */
export const STATUS_EVERY_MS = 30000;

const DAY_MS = 86400000;
const weekdayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long' });
const dateFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric' });

/** When the desk opens again, in the reader's zone and clock: "today at 09:00", "tomorrow at
 *  09:00", "Monday at 09:00", or further off "Monday, March 3 at 09:00". */
export function openAgainText(ts, now = Date.now()) {
  const days = Math.round((startOfDay(ts) - startOfDay(now)) / DAY_MS);
  const time = clockTime(ts);
  if (days <= 0) return `today at ${time}`;
  if (days === 1) return `tomorrow at ${time}`;
  if (days < 7) return `${weekdayFmt.format(ts)} at ${time}`;
  return `${dateFmt.format(ts)} at ${time}`;
}

/** A sentence ends with one full stop, whatever the admin typed. */
const sentence = (text) => (/[.!?…]$/.test(text) ? text : text + '.');

/**
 * What to tell a customer, from the status and whether a staff member is there:
 * {mood: 'online'|'away'|'closed'|'unknown', short, headline, message, reply}. `short` is the
 * one-line status; the other three (each null when there is nothing to say) make the notice:
 * none while the team is online within business hours, and none while the team is away with
 * no away message or reply time set (the page's status line says it).
 */
export function deskNotice(status, staffThere = false) {
  const online = staffThere || (!!status && Number(status.staff_online) > 0);
  const open = !status || status.open !== false;
  if (open && online) {
    return { mood: 'online', short: 'We’re online now', headline: null, message: null, reply: null };
  }
  if (!status) {
    return { mood: 'unknown', short: 'We’ll reply here as soon as we can', headline: null, message: null, reply: null };
  }
  const reply = status.reply_time ? sentence('We usually reply ' + status.reply_time) : null;
  if (!open) {
    const when = status.next_open_at ? ' We open again ' + openAgainText(status.next_open_at) + '.' : '';
    return {
      mood: 'closed',
      short: 'We’re closed now',
      headline: 'We’re closed now.' + when,
      message: status.away_message || null,
      reply: reply || 'We’ll reply here as soon as we can.',
    };
  }
  return {
    mood: 'away',
    short: 'We’re away right now',
    headline: null,
    message: status.away_message || null,
    reply,
  };
}

/** The notice element for `notice` (from deskNotice), or null when there is nothing to say. */
export function deskNoticeElement(notice) {
  if (!notice || (!notice.headline && !notice.message && !notice.reply)) return null;
  return h('div', { class: 'desk-notice', 'data-mood': notice.mood },
    notice.headline ? h('p', { class: 'desk-notice-headline' }, notice.headline) : null,
    notice.message ? h('p', { class: 'desk-notice-message' }, notice.message) : null,
    notice.reply ? h('p', { class: 'desk-notice-reply' }, notice.reply) : null);
}

/** Puts the notice in `slot` (an element of the page, a polite live region), or empties and
 *  hides it. An unchanged notice is left in place, so that a screen reader does not read it
 *  again at every presence change that redraws the page's header. */
export function showDeskNotice(slot, notice) {
  const key = notice ? JSON.stringify([notice.mood, notice.headline, notice.message, notice.reply]) : '';
  if (slot.dataset.notice === key) return;
  slot.dataset.notice = key;
  const element = deskNoticeElement(notice);
  slot.replaceChildren(...(element ? [element] : []));
  slot.hidden = !element;
}

/** Asks for the status now and every STATUS_EVERY_MS while started; onChange(status|null)
 *  after each answer (null: the server could not be asked). */
export class DeskStatus {
  constructor(api, onChange) {
    this.api = api;
    this.onChange = onChange;
    this.status = null;
    this.timer = null;
  }

  start() {
    if (this.timer) return;
    this.refresh();
    this.timer = setInterval(() => this.refresh(), STATUS_EVERY_MS);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  async refresh() {
    try {
      this.status = await this.api('GET', '/api/support/status', undefined, { auth: false });
    } catch (_) {
      this.status = null;
    }
    this.onChange(this.status);
  }
}

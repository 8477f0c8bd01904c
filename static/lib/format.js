/* How every page writes times, days, counts and text: in the reader's locale, one way for all.
 *
 * The one time formatter of the chat page, the widget and the console (and every other time on
 * screen): Intl with the browser's locale and that locale's own hour cycle (no hour12 forced),
 * so a reader in Germany sees "14:05" and one in the US "2:05 PM" for the same message, on
 * every page alike. Never format a time by hand or with toLocale*String elsewhere.
 */

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const dateTimeFmt = new Intl.DateTimeFormat(undefined,
  { weekday: 'short', day: 'numeric', month: 'short', hour: 'numeric', minute: '2-digit' });
const dateTimeYearFmt = new Intl.DateTimeFormat(undefined,
  { day: 'numeric', month: 'short', year: 'numeric', hour: 'numeric', minute: '2-digit' });
const weekdayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'short' });
const shortDateFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric' });
const dayYearFmt = new Intl.DateTimeFormat(undefined,
  { weekday: 'long', month: 'long', day: 'numeric', year: 'numeric' });

const DAY_MS = 86400000;

/** "14:05" (or "2:05 PM"): a message's time, under a day break that says which day. */
export const clockTime = (ts) => timeFmt.format(ts);

/** Date and time, for tooltips and details. */
export const fullTime = (ts) => fullFmt.format(ts);

/**
 * A time that may lie on another day, shown where no day break says which: "14:05" today,
 * "Tue, 9 Dec, 14:05" another day of this year, "9 Dec 2027, 14:05" further away (when a ban
 * ends, when the desk opens again, an older message on its own).
 */
export function dateTime(ts) {
  if (daysAgo(ts) === 0) return clockTime(ts);
  return new Date(ts).getFullYear() === new Date().getFullYear() ? dateTimeFmt.format(ts) : dateTimeYearFmt.format(ts);
}

/** Midnight (local time) of the day of `ts`, in ms. */
export function startOfDay(ts) {
  const d = new Date(ts);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

/** How many calendar days `ts` lies before today (0 = today). */
function daysAgo(ts) {
  return Math.round((startOfDay(Date.now()) - startOfDay(ts)) / DAY_MS);
}

/** "Today", "Yesterday", "Monday, March 3" (with the year when it is not this one). */
export function dayLabel(ts) {
  const days = daysAgo(ts);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  return new Date(ts).getFullYear() === new Date().getFullYear() ? dayFmt.format(ts) : dayYearFmt.format(ts);
}

/** "now", "5m", "3h", "Yesterday", "Mon", "12 Nov": a compact age, for lists. */
export function relTime(ts) {
  if (!ts) return '';
  const diff = Date.now() - ts;
  if (diff < 45000) return 'now';
  if (diff < 3600000) return `${Math.max(1, Math.round(diff / 60000))}m`;
  const days = daysAgo(ts);
  if (days === 0) return `${Math.floor(diff / 3600000)}h`;
  if (days === 1) return 'Yesterday';
  if (diff < 6 * DAY_MS) return weekdayFmt.format(ts);
  return shortDateFmt.format(ts);
}

/** An unread count for a badge. The server's counts stop at 1000 ("1000 or more"). */
export const unreadText = (n) => (n > 999 ? '999+' : String(n));

/** Length in Unicode scalar values, as the server counts a message's characters. */
export const charCount = (s) => Array.from(s).length;

/** The capital first letter of a name, for avatars. */
export const initial = (name) => (Array.from(String(name || '').trim())[0] || '?').toUpperCase();

/** Text on one line (white space folded), for previews. */
export const oneLine = (text) => String(text || '').replace(/\s+/g, ' ').trim();

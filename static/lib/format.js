/* How both pages write times, days, counts and text: in the reader's locale, one way for both. */

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const weekdayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'short' });
const shortDateFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric' });
const dayYearFmt = new Intl.DateTimeFormat(undefined,
  { weekday: 'long', month: 'long', day: 'numeric', year: 'numeric' });

const DAY_MS = 86400000;

/** "14:05" (or "02:05 PM"): a message's time. */
export const clockTime = (ts) => timeFmt.format(ts);

/** Date and time, for tooltips and details. */
export const fullTime = (ts) => fullFmt.format(ts);

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

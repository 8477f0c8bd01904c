/* A ban staff placed on this browser or address, as the chat page and the widget show it: asked
 * of the server (`GET /api/auth/ban`) or read from a refused sign-in, said in the reader's words
 * ("until Dec 7, 2026, 9:15 PM"), and ended by itself when a timed ban runs out. */
import { fullTime } from './format.js';

/** The ban covering this browser now: `{ banned: false }` or `{ banned: true, expiresAt }`. */
export async function checkBan(api) {
  try {
    const r = await api('GET', '/api/auth/ban', undefined, { auth: false });
    return r.banned ? { banned: true, expiresAt: typeof r.expires_at === 'number' ? r.expires_at : null }
      : { banned: false };
  } catch (_) {
    return { banned: false }; // unreachable server: the sign-in itself will tell
  }
}

/** The ban as a refused sign-in told it (`code` "banned"), or null. */
export const banOfError = (err) => (err && err.code === 'banned'
  ? { banned: true, expiresAt: typeof err.expiresAt === 'number' ? err.expiresAt : null } : null);

/** What the visitor reads: until when they cannot start a new chat. */
export function banText(ban) {
  return ban.expiresAt
    ? `You can’t start a new chat here until ${fullTime(ban.expiresAt)}.`
    : 'You can’t start a new chat here until the team lifts the restriction.';
}

/** How often a page under a ban asks whether staff lifted it. */
const RECHECK_MS = 60000;

/**
 * Calls `ended()` once the ban is over: when a timed ban runs out (a little after, so the server
 * agrees), or when the server no longer reports it (staff lifted it; asked every minute).
 * Returns a function that stops watching. Nothing to watch when not banned.
 */
export function whenBanEnds(ban, ended, api) {
  if (!ban.banned) return () => {};
  let timer = null;
  let stopped = false;
  const finish = () => { if (!stopped) { stopped = true; clearTimeout(timer); clearInterval(poll); ended(); } };
  const arm = () => {
    const wait = ban.expiresAt - Date.now() + 1000;
    // setTimeout holds at most ~24.8 days: wait in steps.
    timer = setTimeout(() => (Date.now() >= ban.expiresAt ? finish() : arm()), Math.max(0, Math.min(wait, 2 ** 31 - 1)));
  };
  if (ban.expiresAt) arm();
  const poll = setInterval(() => {
    checkBan(api).then((now) => { if (!now.banned) finish(); });
  }, RECHECK_MS);
  return () => { stopped = true; clearTimeout(timer); clearInterval(poll); };
}

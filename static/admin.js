// The staff support console (/admin): an inbox of every customer's support conversation (by
// status and assignee), the open conversation with its notes and its reply box, the support
// desk (status, assignment, canned replies, the team), moderation (delete, ban, announcements)
// and live figures.
// An ES module, no build step, no dependencies, under a strict CSP (everything is wired up with
// addEventListener).
//
// This file only starts the console and wires the page's controls; each concern is a module of
// static/console/ (docs/architecture.md has the table):
//   state.js              constants, the page's elements, the session's data, small helpers
//   http.js               the HTTP API with the session's token (401 / 403 end the session)
//   client.js             the ChatClient and its hooks, the message list, the composer
//   session.js            sign-in, sign-out, start, stop, resume, the connection pill
//   conversation-list.js  the inbox (GET /api/admin/conversations, `support_activity`, ...)
//   conversation-view.js  the open conversation, its header, reads, typing, drafts
//   message-skin.js       the look of a message
//   customer-panel.js     the customer card and the ban button
//   moderation.js         delete, ban / unban, announcements
//   stats.js              the live figures
//   layout.js             phone screens and the details drawer
//   desk.js               status and assignment, viewers, the desk's frames
//   timeline.js           the conversation and its notes thread interleaved, "Seen"
//   notes.js              the notes thread notes:<id> and the Reply / Note toggle
//   canned.js             canned replies: the `/` popup and their panel
//   team.js               my availability; the Team panel (admins)
//   alerts.js             title count, sound and desktop notifications in the background
// What both pages do is in the shared modules of static/lib/ (the README has the list).
//
// Security rule: every piece of user-supplied text (chat text, names, room names, server
// messages) goes into the DOM through textContent / text nodes only (h() of lib/dom.js), never
// innerHTML.
//
// Data flow:
//   HTTP  /api/admin/conversations (every 15 s) and /api/admin/stats (every 5 s);
//         moderation calls (delete, ban/unban, announcements); the open conversation's first
//         page and older pages while the socket is down.
//   WS    /ws: `support_activity` keeps the inbox live for every support room; the open
//         conversation is the client's only room: joined (with `since` after a reconnect)
//         and kept by lib/client.js from `joined` / `message` / `history` / `deleted` / ...
import { client } from './console/client.js';
import { dom, state, TOKEN_KEY, icon, phoneQuery } from './console/state.js';
import { endSession, onLoginSubmit, resume, setConn, showSignin, stopConsole } from './console/session.js';
import { renderList, searchSoon } from './console/conversation-list.js';
import { bindDesk } from './console/desk.js';
import { bindNotes } from './console/notes.js';
import { bindCanned } from './console/canned.js';
import { bindTeam } from './console/team.js';
import { bindAlerts } from './console/alerts.js';
import { markRead } from './console/conversation-view.js';
import { onAnnounceSubmit, onBanClick, onMessagesClick } from './console/moderation.js';
import { setComposerHint, setDetailsOpen, showScreen } from './console/layout.js';

function bindEvents() {
  dom.signinForm.addEventListener('submit', onLoginSubmit);
  dom.signOut.addEventListener('click', () => endSession(''));
  dom.conn.addEventListener('click', () => client.retryNow());

  dom.search.addEventListener('input', () => {
    state.query = dom.search.value.trim().toLowerCase();
    searchSoon();
  });
  bindDesk();
  bindNotes();
  bindCanned();
  bindTeam();
  bindAlerts();

  dom.back.addEventListener('click', () => { showScreen('list'); renderList(); });
  dom.messages.addEventListener('click', onMessagesClick);

  dom.composer.addEventListener('blur', () => client.stopTyping());

  dom.ban.addEventListener('click', onBanClick);
  dom.announceForm.addEventListener('submit', onAnnounceSubmit);
  dom.announceText.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      dom.announceForm.requestSubmit();
    }
  });

  dom.detailsToggle.addEventListener('click', () =>
    setDetailsOpen(!dom.console.classList.contains('details-open')));
  dom.detailsClose.addEventListener('click', () => setDetailsOpen(false));
  dom.scrim.addEventListener('click', () => setDetailsOpen(false));
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && dom.console.classList.contains('details-open')) setDetailsOpen(false);
  });

  // Reading state depends on visibility and, on phones, on which screen shows.
  document.addEventListener('visibilitychange', markRead);
  window.addEventListener('focus', markRead);
  phoneQuery.addEventListener('change', () => { setComposerHint(); markRead(); });


  // Another tab signed out (or in as someone else): follow it.
  window.addEventListener('storage', (ev) => {
    if (ev.key !== TOKEN_KEY || !state.running) return;
    if (!ev.newValue) endSession('You signed out in another tab.');
    else if (ev.newValue !== state.token) {
      stopConsole();
      state.token = ev.newValue;
      resume();
    }
  });
}

function init() {
  document.querySelectorAll('[data-icon]').forEach((el) => el.prepend(icon(el.dataset.icon)));
  // #ban-toggle's label must stay a text node of its own, after the icon.
  if (dom.ban.lastChild.nodeType !== Node.TEXT_NODE) dom.ban.append('Ban customer');
  bindEvents();
  setComposerHint();
  setConn('offline');
  state.token = localStorage.getItem(TOKEN_KEY);
  if (state.token) resume();
  else showSignin('');
}

init();
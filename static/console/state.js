/* The console's shared state: its constants, the elements of admin.html it draws into, the
 * session's data (the inbox, the open conversation, drafts) and small helpers every console
 * module uses (icons, avatars, toasts). Plain data, imported by every module of static/console/;
 * it imports no console module itself.
 */
import { svgIcon, toast } from '../lib/dom.js';
import { initial } from '../lib/format.js';

export const TOKEN_KEY = 'chat.admin.token';
export const STAFF_ONLY = 'This console is for staff only.';
export const STATS_EVERY_MS = 5000;
export const CONVERSATIONS_EVERY_MS = 15000;
export const CLOCK_EVERY_MS = 30000;        // refresh relative times ("3m")
export const ROOM_RE = /^(?:[a-z0-9][a-z0-9_-]{0,63}|support:[1-9][0-9]*)$/;
export const STAT_KEYS = ['connections', 'online_users', 'rooms', 'messages_per_minute',
  'messages_total', 'users_total'];

// ---------------------------------------------------------------------------------------------
// DOM references
// ---------------------------------------------------------------------------------------------

const $ = (sel) => document.querySelector(sel);
export const dom = {
  signin: $('#admin-signin'), signinForm: $('#admin-signin-form'),
  username: $('#admin-username'), password: $('#admin-password'),
  login: $('#admin-login'), error: $('#admin-error'),
  console: $('#console'), signOut: $('#admin-sign-out'), me: $('#admin-me'),
  conn: $('#admin-connection'), connLabel: $('#admin-connection-label'),
  stats: $('#stats'),
  list: $('#conversation-list'), listEmpty: $('#conversation-list-empty'),
  inboxCount: $('#inbox-count'), search: $('#conversation-search'),
  thread: $('#thread'), back: $('#conversation-back'), title: $('#conversation-title'),
  threadAvatar: $('#thread-avatar'), threadStatus: $('#thread-status'),
  threadTags: $('#thread-tags'), threadRoom: $('#thread-room'),
  messages: $('#conversation-messages'), jump: $('#jump-latest'), typing: $('#admin-typing'),
  composerForm: $('#composer-form'), composer: $('#admin-composer'), send: $('#admin-send'),
  count: $('#composer-count'),
  details: $('#details'), detailsToggle: $('#toggle-details'), detailsClose: $('#details-close'),
  scrim: $('#details-scrim'),
  customerNone: $('#customer-none'), customerCard: $('#customer-card'),
  customerAvatar: $('#customer-avatar'), customerName: $('#customer-name'),
  customerKind: $('#customer-kind'), customerStatus: $('#customer-status'),
  customerId: $('#customer-id'), customerRoom: $('#customer-room'),
  customerActivity: $('#customer-activity'),
  ban: $('#ban-toggle'), banNote: $('#ban-note'),
  announceForm: $('#announce-form'), announceRoom: $('#announce-room'),
  announceText: $('#announce-text'), announceSend: $('#announce-send'),
  announceResult: $('#announce-result'),
  toasts: $('#admin-toasts'),
  // The support desk (issue 15).
  availability: $('#my-availability'), soundToggle: $('#sound-toggle'), notifyEnable: $('#notify-enable'),
  statusTabs: document.querySelectorAll('[data-status]'), assigneeFilter: $('#assignee-filter'),
  viewers: $('#thread-viewers'), deskControls: $('#desk-controls'),
  statusButtons: document.querySelectorAll('[data-set-status]'), assignSelect: $('#assign-select'),
  composerMode: $('#composer-mode'), modeReply: $('#mode-reply'), modeNote: $('#mode-note'),
  modeHint: $('#mode-hint'), cannedPopup: $('#canned-popup'),
  panelFacts: $('#customer-panel-facts'), panelName: $('#panel-name'), panelEmail: $('#panel-email'),
  panelExternalId: $('#panel-external-id'), panelFirstSeen: $('#panel-first-seen'),
  panelLastSeen: $('#panel-last-seen'), panelPage: $('#panel-page'),
  panelEarlierBox: $('#panel-earlier-box'), panelEarlier: $('#panel-earlier'),
  cannedPanel: $('#canned-panel'), cannedList: $('#canned-list'), cannedForm: $('#canned-form'),
  cannedId: $('#canned-id'), cannedShortcut: $('#canned-shortcut'), cannedText: $('#canned-text'),
  cannedSave: $('#canned-save'), cannedCancel: $('#canned-cancel'), cannedResult: $('#canned-result'),
  teamPanel: $('#team-panel'), teamList: $('#team-list'), teamForm: $('#team-form'),
  teamUsername: $('#team-username'), teamPassword: $('#team-password'), teamRole: $('#team-role'),
  teamCreate: $('#team-create'), teamResult: $('#team-result'),
  settingsPanel: $('#settings-panel'), apiKeysPanel: $('#api-keys-panel'),
};

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

export const state = {
  token: null,
  running: false,
  epoch: 0,                 // bumped on sign-in/out so late async results can be dropped
  countdownTimer: 0,         // the "Reconnecting in 5s" label
  timers: [],
  convs: new Map(),         // room -> conversation (shape of /api/admin/conversations items)
  convsLoaded: false,
  items: new Map(),         // room -> cached DOM parts of its inbox item
  banned: new Map(),        // user id -> boolean, as last reported by the server
  drafts: new Map(),        // room -> unsent composer text
  open: null,               // the open conversation: the client's room, see openConversation()
  query: '',
  // The support desk (issue 15).
  me: null,                 // {id, username, role, availability?}: who is signed in
  statusTab: 'open',        // the inbox shows conversations of this status
  assignee: 'all',          // 'all' | 'me' | 'none'
  searchHits: null,         // rooms the server matched for the search box (q=), or null
  staff: new Map(),         // staff id -> member ({id, username, role, active, availability, online})
  staffListed: false,       // GET /api/admin/staff answered (admins): the whole team is known
  viewers: new Map(),       // support room -> staff viewing it (`conversation_viewers`)
  seen: new Map(),          // support room -> the customer's read cursor (`seen`, joined.seen_seq)
  notes: null,              // the open conversation's notes thread notes:<id> (a client room)
  notesOk: false,           // the notes thread answered (joined or read over HTTP)
  noteMode: false,          // the composer writes a private note
  canned: [],               // canned replies, sorted by shortcut
  cannedOk: false,          // GET /api/admin/canned answered
};

export const phoneQuery = window.matchMedia('(max-width: 759px)');

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

const ICONS = {
  trash: 'M3 6h18M8 6V4h8v2M19 6l-1 14H6L5 6M10 11v6M14 11v6',
  back: 'M19 12H5M12 19l-7-7 7-7',
  send: 'M22 2L11 13M22 2l-7 20-4-9-9-4 20-7z',
  megaphone: 'M3 11v2a1 1 0 0 0 1 1h2l6 4V6l-6 4H4a1 1 0 0 0-1 1zM16 8.5a5 5 0 0 1 0 7M19 5.5a9 9 0 0 1 0 13',
  info: 'M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20zM12 16v-4M12 8h.01',
  ban: 'M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20zM4.9 4.9l14.2 14.2',
  signout: 'M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4M16 17l5-5-5-5M21 12H9',
};

/** A stroked SVG icon (styled by .icon in admin.css). */
export const icon = (name) => svgIcon(ICONS[name]);

export const isSupportRoom = (room) => /^support:[1-9][0-9]*$/.test(room);
/** Whether `room` is a notes thread (notes:<id>, staff only). */
export const isNotesRoom = (room) => /^notes:[1-9][0-9]*$/.test(String(room));
/** The notes thread of a support room and back (support:5 <-> notes:5). */
export const notesOf = (room) => `notes:${String(room).slice(8)}`;
export const supportOf = (room) => `support:${String(room).slice(6)}`;
/** Admins and agents. */
export const isStaffRole = (role) => role === 'admin' || role === 'agent';
const avatarClass = (id) => `avatar c${Math.abs(Number(id) || 0) % 8}`;

export function setAvatar(el, user, extra) {
  el.className = avatarClass(user && user.id) + (extra ? ` ${extra}` : '');
  el.textContent = initial(user && user.username);
}

/** Transient notices in the bottom corner. */
export const notify = (text, kind) => toast(dom.toasts, text, kind);

export const roomPath = (room) => encodeURIComponent(room);

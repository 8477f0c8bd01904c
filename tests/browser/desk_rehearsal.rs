//! The console's desk rehearsed against the contract of issue 15 before the server has it: the
//! page's `fetch` answers the desk's endpoints with the contract's shapes (on top of the real
//! server's answers) and the desk's frames are delivered on the real socket. What the server
//! parts do is tested by their own stories (tests/api, tests/browser/desk.rs); this one pins
//! what the console makes of the contract's names and shapes, and runs without them.

use crate::driver::{driver_or_skip, Browser, ENTER};
use crate::helpers::{spawn_app, Backend};
use serde_json::{json, Value};

/// The stand-in for the desk's endpoints, installed in the page before sign-in. `window.__desk`
/// holds what it answers; `window.__ws` is the console's socket, `window.__frame(f)` delivers
/// a frame on it as if the server had sent it.
const STAGE: &str = r#"
const D = window.__desk = {
  status: {}, assignee: {},
  staff: [
    { id: arguments[0], username: 'staff', role: 'admin', active: true, availability: 'online', online: true },
    { id: 777, username: 'bob', role: 'agent', active: true, availability: 'busy', online: true },
  ],
  canned: [
    { id: 1, shortcut: 'refund', text: 'Your refund is on its way.', created_at: 1, updated_at: 1 },
    { id: 2, shortcut: 'hello', text: 'Hello! How can I help?', created_at: 1, updated_at: 1 },
  ],
};
const RealSocket = window.WebSocket;
window.WebSocket = class extends RealSocket {
  constructor(...args) { super(...args); window.__ws = this; }
};
window.__frame = (f) => window.__ws.dispatchEvent(new MessageEvent('message', { data: JSON.stringify(f) }));
const real = window.fetch.bind(window);
const json = (body, status = 200) => new Response(JSON.stringify(body),
  { status, headers: { 'Content-Type': 'application/json' } });
const desk = (c) => ({ ...c, status: D.status[c.room] || 'open', assignee: D.assignee[c.room] || null,
  created_at: 1, customer_read_seq: 0, staff_read_seq: 0 });
const list = async (headers) => (await (await real('/api/admin/conversations', { headers })).json()).conversations;
window.fetch = async (path, opts = {}) => {
  const method = (opts.method || 'GET').toUpperCase();
  const url = new URL(path, location.origin);
  const body = opts.body ? JSON.parse(opts.body) : null;
  if (url.pathname === '/api/admin/conversations' && method === 'GET' && !url.searchParams.get('q')) {
    return json({ conversations: (await list(opts.headers)).map(desk) });
  }
  const m = url.pathname.match(/^\/api\/admin\/conversations\/([^/]+)(\/status|\/assign)?$/);
  if (m) {
    const room = decodeURIComponent(m[1]);
    if (m[2] === '/status') D.status[room] = body.status;
    if (m[2] === '/assign') D.assignee[room] = body.agent_id == null ? null
      : (({ id, username, role }) => ({ id, username, role }))(D.staff.find((s) => s.id === body.agent_id));
    const c = desk((await list(opts.headers)).find((x) => x.room === room));
    if (!m[2]) {
      c.panel = { name: 'Rita Rehearsed', email: 'rita@example.com', external_id: 'cust-9',
        first_seen: Date.now() - 86400000, last_seen: Date.now(), page: 'https://shop.example/cart?<b>x</b>',
        earlier: [{ room: 'support:999', last_activity: Date.now() - 3600000, status: 'resolved' }] };
    }
    return json(c);
  }
  if (url.pathname === '/api/admin/staff' && method === 'GET') return json({ staff: D.staff });
  if (url.pathname === '/api/admin/staff' && method === 'POST') {
    if (D.staff.some((s) => s.username === body.username)) {
      return json({ error: { code: 'conflict', message: 'username is already taken' } }, 409);
    }
    const member = { id: 800 + D.staff.length, username: body.username, role: body.role, active: true,
      availability: 'online', online: false };
    D.staff.push(member);
    return json(member, 201);
  }
  const sm = url.pathname.match(/^\/api\/admin\/staff\/(\d+)$/);
  if (sm && method === 'PATCH') {
    const member = D.staff.find((s) => s.id === Number(sm[1]));
    Object.assign(member, body);
    return json(member);
  }
  if (url.pathname === '/api/admin/conversations' && url.searchParams.get('q')) {
    const q = url.searchParams.get('q');
    return json({ conversations: q === 'cust-9' ? (await list(opts.headers)).map(desk) : [] });
  }
  if (url.pathname === '/api/admin/canned' && method === 'GET') return json({ canned: D.canned });
  if (url.pathname === '/api/admin/availability') return json({ ...D.staff[0], availability: body.availability });
  if (url.pathname === '/api/me' || url.pathname === '/api/admin/settings') {
    const r = await real(path, opts);
    if (!r.ok) return r;
    const b = await r.json();
    return json(url.pathname === '/api/me' ? { ...b, availability: 'online' }
      : { ...b, email: { enabled: false, email_after_secs: 300, mail_from: null } });
  }
  return real(path, opts);
};
return true;
"#;

/// Delivers a frame on the console's socket.
async fn frame(browser: &Browser, f: Value) {
    browser
        .eval(&format!("window.__frame({f}); return true;"))
        .await;
}

/// Whether some element matching `css` has text containing `text`.
fn some_text(css: &str, text: &str) -> String {
    format!(
        "return [...document.querySelectorAll({})].some(e => e.textContent.includes({}));",
        json!(css),
        json!(text)
    )
}

#[actix_rt::test]
async fn the_console_makes_sense_of_the_desk_contract() {
    let mut driver = driver_or_skip!("the_console_makes_sense_of_the_desk_contract");
    let (app, _data) = spawn_app(Backend::Sqlite).await;
    let (_, staff_id) = app.staff().await;
    let (_, _, room, mut guest) = app.guest_in_support("Rita Rehearsed").await;
    guest.say(&room, "Where is my refund?", "r-1").await;
    let notes = format!("notes:{}", &room["support:".len()..]);

    let staff = driver.browser(1280, 900).await;
    staff.open(&app, "/admin").await;
    staff
        .client
        .execute(STAGE, vec![json!(staff_id)])
        .await
        .expect("the stand-in is installed");
    staff.type_into("#admin-username", "staff").await;
    staff.type_into("#admin-password", "staff-password").await;
    staff.click("#admin-login").await;
    staff.find("#console").await;
    staff
        .wait_until(
            "the console is connected",
            "return document.querySelector('#admin-connection').dataset.state === 'connected';",
        )
        .await;

    // The inbox row says open and unassigned; the header has the desk's controls.
    let row = format!(".conversation[data-room=\"{room}\"]");
    staff
        .wait_for_text(&format!("{row} .tag-status"), "Open")
        .await;
    staff
        .wait_for_text(&format!("{row} .conversation-assignee"), "Unassigned")
        .await;
    staff.click(&row).await;
    staff
        .wait_for_text(
            "#conversation-messages .message-text",
            "Where is my refund?",
        )
        .await;
    staff.find("#desk-controls").await;

    // My availability, the team (admin), email follow-up off, the customer panel.
    staff
        .wait_until(
            "my availability shows",
            "const s = document.querySelector('#my-availability'); return !s.hidden && s.value === 'online';",
        )
        .await;
    staff
        .wait_until(
            "the team lists bob",
            &some_text("#team-list .team-name", "bob"),
        )
        .await;
    staff.find("#email-off").await;
    staff
        .wait_for_text("#panel-email", "rita@example.com")
        .await;
    let page = staff
        .eval(
            "const a = document.querySelector('#panel-page a');
             return a ? [a.getAttribute('href'), a.rel, a.textContent, a.children.length] : null;",
        )
        .await;
    assert_eq!(
        page,
        json!([
            "https://shop.example/cart?<b>x</b>",
            "noopener noreferrer",
            "https://shop.example/cart?<b>x</b>",
            0
        ])
    );
    staff
        .wait_until(
            "earlier conversations show",
            &some_text("#panel-earlier", "support:999"),
        )
        .await;

    // Assign to bob (the team's list), then set it pending: the row follows.
    staff
        .wait_until(
            "bob can be picked",
            "return !!document.querySelector('#assign-select option[value=\"777\"]');",
        )
        .await;
    staff
        .eval(
            "const s = document.querySelector('#assign-select'); s.value = '777';
             s.dispatchEvent(new Event('change', { bubbles: true })); return true;",
        )
        .await;
    staff
        .wait_for_text(&format!("{row} .conversation-assignee"), "Assigned to bob")
        .await;
    staff.click("[data-set-status=\"pending\"]").await;
    staff
        .wait_until(
            "the tabs count it as pending",
            "return document.querySelector('[data-count=\"pending\"]').textContent === '1';",
        )
        .await;

    // `conversation_updated` from a colleague: resolved.
    let mut conversation = staff
        .eval(&format!(
            "return fetch('/api/admin/conversations/{room}', {{ headers: {{ Authorization:
               'Bearer ' + localStorage.getItem('chat.admin.token') }} }}).then(r => r.json());"
        ))
        .await;
    conversation["status"] = json!("resolved");
    staff
        .eval(&format!(
            "window.__desk.status['{room}'] = 'resolved'; return true;"
        ))
        .await;
    let bob = json!({"id": 777, "username": "bob", "role": "agent"});
    frame(
        &staff,
        json!({"type": "conversation_updated", "conversation": conversation, "change": "status", "by": bob}),
    )
    .await;
    staff
        .wait_until(
            "the resolved button is pressed",
            "return document.querySelector('[data-set-status=\"resolved\"]').getAttribute('aria-pressed') === 'true';",
        )
        .await;

    // Viewers, a note, an event and a colleague writing a note, in the timeline and header.
    frame(
        &staff,
        json!({"type": "conversation_viewers", "room": room, "viewers": [
            {"id": staff_id, "username": "staff", "role": "admin"}, bob]}),
    )
    .await;
    staff
        .wait_for_text("#thread-viewers", "Also viewing: bob")
        .await;
    let now = staff.eval("return Date.now();").await;
    for (seq, kind, text) in [
        (1, "note", "VIP customer, be nice"),
        (2, "event", "set the status to resolved"),
    ] {
        frame(
            &staff,
            json!({"type": "support_activity", "room": room, "message": {
                "room": notes, "seq": seq, "id": 900 + seq, "from": bob, "text": text,
                "ts": now, "kind": kind, "note": kind == "note"}}),
        )
        .await;
    }
    staff
        .wait_for_text(
            "#conversation-messages .message.note .message-text",
            "VIP customer, be nice",
        )
        .await;
    staff
        .wait_for_text(
            "#conversation-messages .message.event .event-text",
            "bob set the status to resolved",
        )
        .await;
    frame(
        &staff,
        json!({"type": "typing", "room": notes, "user": bob, "on": true}),
    )
    .await;
    staff
        .wait_until(
            "bob is writing a note",
            &some_text("#admin-typing", "bob is writing a note"),
        )
        .await;

    // A canned reply with `/`, sent; the customer reads it: "Seen".
    staff.type_into("#admin-composer", "/ref").await;
    staff
        .wait_for_text("#canned-popup .canned-shortcut", "/refund")
        .await;
    staff.type_into("#admin-composer", ENTER).await;
    staff.type_into("#admin-composer", ENTER).await;
    staff
        .wait_until(
            "the reply is stored",
            "return [...document.querySelectorAll('#conversation-messages .message.staff:not(.pending)')]
                .some(m => m.dataset.seq && m.textContent.includes('Your refund is on its way.'));",
        )
        .await;
    let seq = staff
        .eval(
            "return Number([...document.querySelectorAll('#conversation-messages .message.staff')]
                .find(m => m.textContent.includes('Your refund')).dataset.seq);",
        )
        .await;
    frame(
        &staff,
        json!({"type": "seen", "room": room, "seq": seq, "by": "customer"}),
    )
    .await;
    staff
        .wait_until(
            "Seen is under the reply",
            "const m = [...document.querySelectorAll('#conversation-messages .message.staff')]
               .find(m => m.textContent.includes('Your refund'));
             return !!m && !!m.querySelector('.message-seen');",
        )
        .await;
    staff.screenshot("desk-rehearsal").await;

    // The team: add an agent, make them admin, deactivate them.
    staff.type_into("#team-username", "carol").await;
    staff.type_into("#team-password", "carol-password").await;
    staff.click("#team-create").await;
    staff
        .wait_until(
            "carol is on the team",
            &some_text("#team-list .team-name", "carol"),
        )
        .await;
    let carol = "#team-list .team-member[data-id=\"802\"]";
    staff
        .eval(&format!(
            "const s = document.querySelector('{carol} select.team-role'); s.value = 'admin';
             s.dispatchEvent(new Event('change', {{ bubbles: true }})); return true;"
        ))
        .await;
    staff
        .wait_until(
            "carol is an admin",
            "return window.__desk.staff.find(s => s.username === 'carol').role === 'admin';",
        )
        .await;
    staff
        .eval("window.confirm = () => true; return true;")
        .await;
    staff.click(&format!("{carol} button.team-active")).await;
    staff
        .wait_for_text(&format!("{carol} button.team-active"), "Reactivate")
        .await;
    staff.type_into("#team-username", "bob").await;
    staff.type_into("#team-password", "whatever-1").await;
    staff.click("#team-create").await;
    staff
        .wait_for_text("#team-result", "username is already taken")
        .await;

    // Search: the server matches the external id (q=), which the list item does not carry;
    // the tab counts what the search leaves.
    staff.type_into("#conversation-search", "cust-9").await;
    staff
        .wait_until(
            "the server's match counts",
            "return document.querySelector('[data-count=\"resolved\"]').textContent === '1';",
        )
        .await;
    staff
        .eval(
            "const s = document.querySelector('#conversation-search'); s.value = 'zzz';
             s.dispatchEvent(new Event('input', { bubbles: true })); return true;",
        )
        .await;
    staff
        .wait_until(
            "nothing matches",
            "return document.querySelector('[data-count=\"resolved\"]').textContent === '';",
        )
        .await;

    // On a phone: the header's controls wrap under the name.
    staff
        .client
        .set_window_size(390, 844)
        .await
        .expect("resize");
    staff
        .wait_until(
            "the details drawer has slid away",
            "return getComputedStyle(document.querySelector('#details')).visibility === 'hidden'
                && document.documentElement.scrollWidth <= window.innerWidth;",
        )
        .await;
    staff.screenshot("desk-rehearsal-phone").await;
    staff.close().await;
}

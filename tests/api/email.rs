//! Stories of the email follow-up: a customer who left before reading a staff reply gets one
//! email with the unread replies and a link back, from a real SMTP server started by the test
//! (`smtp_sink.rs`). The email delay is one second and the worker looks every 100 ms.
//!
//! A story that says "no email" has a second customer, emailed in the same scan, as its
//! witness: the worker records every email of a scan before it sends any, so once the
//! witness's email has come, the other conversation has been looked at, and its outbox is
//! read to be empty.

use crate::helpers::{call, spawn_app_with, start, Backend, TestApp, TestData, WsClient, WAIT};
use crate::on_both_backends;
use crate::smtp_sink::{Mail, SmtpSink};
use chat_server::config::Settings;
use chat_server::db::{email_outbox, open_pool, DbTarget, SqliteSync};
use chat_server::startup::Application;
use serde_json::json;
use std::time::Duration;

/// The sender the stories configure.
const FROM: &str = "Shop support <support@shop.example>";
/// The link back the stories configure.
const PUBLIC_URL: &str = "https://chat.shop.example";

/// Emails on, through `smtp_url`, after one second.
fn with_email(smtp_url: String) -> impl FnOnce(&mut Settings) {
    move |s: &mut Settings| {
        s.smtp_url = Some(smtp_url);
        s.mail_from = Some(FROM.into());
        s.public_url = Some(PUBLIC_URL.into());
        s.email_after = Duration::from_secs(1);
        s.email_scan_interval = Duration::from_millis(100);
    }
}

/// A customer in their support conversation, with the staff member who answers there.
struct Conversation {
    room: String,
    customer: Option<WsClient>,
    staff: WsClient,
}

impl Conversation {
    /// `name` registers (with `email`, if any), opens the chat and writes; the staff member
    /// joins the conversation.
    async fn start(app: &TestApp, name: &str, email: Option<&str>) -> Conversation {
        let (token, id) = app.register(name).await;
        Conversation::open(app, token, id, email).await
    }

    /// The same for a guest of the chat widget, who left an address when no one was there.
    async fn start_as_guest(app: &TestApp, name: &str, email: &str) -> Conversation {
        let (token, id) = app.guest(name).await;
        Conversation::open(app, token, id, Some(email)).await
    }

    /// The account `id` (with `email`, if any) opens the chat and writes; the staff joins.
    async fn open(app: &TestApp, token: String, id: i64, email: Option<&str>) -> Conversation {
        if let Some(email) = email {
            set_email(app, &token, email).await;
        }
        let room = format!("support:{id}");
        let mut customer = app.connect(&token).await;
        customer.join(&room).await;
        customer.say(&room, "Where is my parcel?", "c-1").await;
        let (staff_token, _) = app.staff().await;
        let mut staff = app.connect(&staff_token).await;
        staff.join(&room).await;
        Conversation {
            room,
            customer: Some(customer),
            staff,
        }
    }

    /// The staff member answers; the seq of the reply.
    async fn reply(&mut self, text: &str, cid: &str) -> i64 {
        self.staff.say(&self.room, text, cid).await
    }

    /// The customer closes the chat.
    async fn leave(&mut self) {
        if let Some(customer) = self.customer.take() {
            customer.close().await;
        }
    }
}

/// `PATCH /api/me {"email"}`.
async fn set_email(app: &TestApp, token: &str, email: &str) {
    let (status, body) = call(
        app,
        "PATCH",
        "/api/me",
        Some(token),
        Some(json!({ "email": email })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// The email outbox of `room`: (from_seq, up_to_seq, state), oldest first.
fn outbox(data: &TestData, room: &str) -> Vec<(i64, i64, String)> {
    let target = DbTarget::from_url(&data.database_url);
    let pool = open_pool(&target, 1, SqliteSync::Normal).expect("the test database");
    email_outbox::of_room(&mut pool.get().unwrap(), room).expect("the outbox")
}

/// Waits until the outbox of `room` is `expected` (the worker marks an email sent just after
/// the SMTP server took it, so a story that saw the email may read the row a moment early).
async fn outbox_becomes(data: &TestData, room: &str, expected: &[(i64, i64, &str)]) {
    let expected: Vec<(i64, i64, String)> = expected
        .iter()
        .map(|(from, to, state)| (*from, *to, (*state).to_owned()))
        .collect();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let rows = outbox(data, room);
        if rows == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "outbox of {room}: {rows:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The one email addressed to `to` among `mails`.
fn the_email_to<'a>(mails: &'a [Mail], to: &str) -> &'a Mail {
    let found: Vec<&Mail> = mails.iter().filter(|m| m.to == [to]).collect();
    assert_eq!(found.len(), 1, "one email to {to}: {mails:?}");
    found[0]
}

async fn an_unread_reply_is_emailed_once_with_its_text_and_a_link_back(backend: Backend) {
    let mut sink = SmtpSink::start();
    let (app, data) = spawn_app_with(backend, with_email(sink.url())).await;
    let mut ann = Conversation::start(&app, "ann", Some("ann@example.com")).await;
    let seq = ann.reply("Your parcel left today.", "r-1").await;
    ann.leave().await;

    let mails = sink.wait_for(1, WAIT).await;
    let mail = the_email_to(&mails, "ann@example.com");
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("You have a new reply from support")
    );
    assert!(mail
        .header("From")
        .unwrap()
        .contains("support@shop.example"));
    let body = mail.body();
    assert!(body.contains("Hello ann,"), "{body}");
    assert!(body.contains("staff wrote at"), "{body}");
    assert!(body.contains("Your parcel left today."), "{body}");
    assert!(body.contains("https://chat.shop.example/"), "{body}");
    assert!(
        !body.contains("Where is my parcel?"),
        "only staff replies: {body}"
    );
    outbox_becomes(&data, &ann.room, &[(0, seq, "sent")]).await;

    // The console says emails are on.
    let (staff_token, _) = app.staff().await;
    let (status, settings) = app.get("/api/admin/settings", Some(&staff_token)).await;
    assert_eq!(status, 200, "{settings}");
    assert_eq!(
        settings["email"],
        json!({"enabled": true, "email_after_secs": 1, "mail_from": FROM})
    );
}

async fn a_guest_who_left_an_address_in_the_widget_is_emailed_too(backend: Backend) {
    let mut sink = SmtpSink::start();
    let (app, data) = spawn_app_with(backend, with_email(sink.url())).await;
    let mut guest = Conversation::start_as_guest(&app, "Visitor", "visitor@example.com").await;
    let seq = guest.reply("We ship to Norway, yes.", "r-1").await;
    guest.leave().await;

    let mails = sink.wait_for(1, WAIT).await;
    let body = the_email_to(&mails, "visitor@example.com").body();
    assert!(body.contains("We ship to Norway, yes."), "{body}");
    outbox_becomes(&data, &guest.room, &[(0, seq, "sent")]).await;
}

async fn a_customer_who_reads_the_reply_first_gets_no_email(backend: Backend) {
    let mut sink = SmtpSink::start();
    let (app, data) = spawn_app_with(backend, with_email(sink.url())).await;
    let mut ann = Conversation::start(&app, "ann", Some("ann@example.com")).await;
    let seq = ann.reply("Your parcel left today.", "r-1").await;
    let customer = ann.customer.as_mut().unwrap();
    customer
        .send(json!({"type": "read", "room": ann.room, "seq": seq}))
        .await;
    let unread = customer
        .expect_ignoring("unread", &["message", "presence", "typing"])
        .await;
    assert_eq!(unread["count"], 0, "{unread}");
    ann.leave().await;
    let mut bob = Conversation::start(&app, "bob", Some("bob@example.com")).await;
    bob.reply("Hello bob", "r-2").await;
    bob.leave().await;

    let mails = sink.wait_for(1, WAIT).await;
    the_email_to(&mails, "bob@example.com");
    assert!(outbox(&data, &ann.room).is_empty());
    assert_eq!(sink.mails().len(), 1);
}

async fn a_customer_still_connected_or_without_an_address_gets_no_email(backend: Backend) {
    let mut sink = SmtpSink::start();
    let (app, data) = spawn_app_with(backend, with_email(sink.url())).await;
    // Ann stays in the chat without reading; Cy never gave an address.
    let mut ann = Conversation::start(&app, "ann", Some("ann@example.com")).await;
    ann.reply("Your parcel left today.", "r-1").await;
    let mut cy = Conversation::start(&app, "cyd", None).await;
    cy.reply("Hello cy", "r-3").await;
    cy.leave().await;
    let mut bob = Conversation::start(&app, "bob", Some("bob@example.com")).await;
    bob.reply("Hello bob", "r-2").await;
    bob.leave().await;

    let mails = sink.wait_for(1, WAIT).await;
    the_email_to(&mails, "bob@example.com");
    assert!(outbox(&data, &ann.room).is_empty(), "ann is connected");
    assert!(outbox(&data, &cy.room).is_empty(), "cy has no address");

    // Once Ann leaves without reading, the reply is emailed.
    ann.leave().await;
    let mails = sink.wait_for(2, WAIT).await;
    assert!(the_email_to(&mails, "ann@example.com")
        .body()
        .contains("Your parcel left today."));
    assert!(outbox(&data, &cy.room).is_empty(), "cy has no address");
}

async fn a_reply_after_the_email_gets_one_more_email_with_only_the_new_reply(backend: Backend) {
    let mut sink = SmtpSink::start();
    let (app, data) = spawn_app_with(backend, with_email(sink.url())).await;
    let mut ann = Conversation::start(&app, "ann", Some("ann@example.com")).await;
    let first = ann.reply("Your parcel left today.", "r-1").await;
    ann.leave().await;
    sink.wait_for(1, WAIT).await;

    let second = ann.reply("It arrives on Monday.", "r-2").await;
    let mails = sink.wait_for(2, WAIT).await;
    let body = mails[1].body();
    assert!(body.contains("It arrives on Monday."), "{body}");
    assert!(!body.contains("Your parcel left today."), "{body}");
    outbox_becomes(
        &data,
        &ann.room,
        &[(0, first, "sent"), (first, second, "sent")],
    )
    .await;
}

async fn while_the_mail_server_is_down_the_email_waits_and_is_delivered_once(backend: Backend) {
    let port = SmtpSink::free_port();
    let url = format!("smtp://127.0.0.1:{port}");
    let (app, data) = spawn_app_with(backend, with_email(url)).await;
    let mut ann = Conversation::start(&app, "ann", Some("ann@example.com")).await;
    let seq = ann.reply("Your parcel left today.", "r-1").await;
    ann.leave().await;

    // Attempts fail while nothing listens; the email stays pending.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let rows = outbox(&data, &ann.room);
        if rows.len() == 1 && attempts(&data, &ann.room) >= 2 {
            assert_eq!(rows[0], (0, seq, "pending".to_owned()));
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no failed attempts");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut sink = SmtpSink::start_on(port);
    let mails = sink.wait_for(1, WAIT).await;
    the_email_to(&mails, "ann@example.com");
    outbox_becomes(&data, &ann.room, &[(0, seq, "sent")]).await;
    assert_eq!(sink.mails().len(), 1);
}

/// Attempts made at the one email of `room`.
fn attempts(data: &TestData, room: &str) -> i32 {
    use chat_server::db::schema::email_outbox::dsl;
    use diesel::prelude::*;
    let target = DbTarget::from_url(&data.database_url);
    let pool = open_pool(&target, 1, SqliteSync::Normal).expect("the test database");
    let mut conn = pool.get().unwrap();
    chat_server::with_backend!(&mut *conn, c => dsl::email_outbox
        .filter(dsl::room.eq(room))
        .select(dsl::attempts)
        .first::<i32>(c))
    .unwrap_or(0)
}

async fn a_restart_between_the_reply_and_the_email_still_delivers_it_once(backend: Backend) {
    let mut sink = SmtpSink::start();
    let (app, data) = spawn_app_with(backend, |s| {
        with_email(sink.url())(s);
        // Long enough for the stop to come first.
        s.email_after = Duration::from_secs(5);
    })
    .await;
    let mut ann = Conversation::start(&app, "ann", Some("ann@example.com")).await;
    let seq = ann.reply("Your parcel left today.", "r-1").await;
    ann.leave().await;
    let settings = app.stop().await;
    assert!(
        outbox(&data, &ann.room).is_empty(),
        "not due before the stop"
    );
    assert!(sink.mails().is_empty());

    let _app = start(settings).await;
    let mails = sink.wait_for(1, WAIT).await;
    the_email_to(&mails, "ann@example.com");
    outbox_becomes(&data, &ann.room, &[(0, seq, "sent")]).await;
}

async fn a_note_is_never_emailed(backend: Backend) {
    let mut sink = SmtpSink::start();
    let (app, _data) = spawn_app_with(backend, with_email(sink.url())).await;
    let mut ann = Conversation::start(&app, "ann", Some("ann@example.com")).await;
    let notes = ann.room.replace("support:", "notes:");
    ann.staff.join(&notes).await;
    ann.staff
        .say(&notes, "She ordered twice, refund one.", "n-1")
        .await;
    ann.reply("Your parcel left today.", "r-1").await;
    ann.staff
        .say(&notes, "Told her about the parcel.", "n-2")
        .await;
    ann.leave().await;

    let mails = sink.wait_for(1, WAIT).await;
    let body = the_email_to(&mails, "ann@example.com").body();
    assert!(body.contains("Your parcel left today."), "{body}");
    assert!(!body.contains("refund"), "{body}");
    assert!(!body.contains("Told her"), "{body}");
}

async fn without_an_smtp_url_nothing_is_emailed_and_the_console_says_so(backend: Backend) {
    let (app, data) = spawn_app_with(backend, |_| {}).await;
    let (staff_token, _) = app.staff().await;
    let (status, settings) = app.get("/api/admin/settings", Some(&staff_token)).await;
    assert_eq!(status, 200, "{settings}");
    assert_eq!(
        settings["email"],
        json!({"enabled": false, "email_after_secs": 300, "mail_from": null})
    );

    // Nor does a server start with an SMTP server but no sender.
    let mut settings = crate::helpers::test_settings(&data);
    settings.smtp_url = Some("smtp://127.0.0.1:2525".into());
    let refused = Application::build(settings).await.err().expect("refused");
    assert!(
        refused.to_string().contains("--mail-from (CHAT_MAIL_FROM)"),
        "{refused}"
    );
}

on_both_backends!(
    an_unread_reply_is_emailed_once_with_its_text_and_a_link_back,
    a_guest_who_left_an_address_in_the_widget_is_emailed_too,
    a_customer_who_reads_the_reply_first_gets_no_email,
    a_customer_still_connected_or_without_an_address_gets_no_email,
    a_reply_after_the_email_gets_one_more_email_with_only_the_new_reply,
    while_the_mail_server_is_down_the_email_waits_and_is_delivered_once,
    a_restart_between_the_reply_and_the_email_still_delivers_it_once,
    a_note_is_never_emailed,
    without_an_smtp_url_nothing_is_emailed_and_the_console_says_so,
);

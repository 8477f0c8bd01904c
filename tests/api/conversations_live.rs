//! The support desk's conversations, their live side (issue 15): new ones assigned round robin
//! with `--auto-assign`, the staff seeing who else has a conversation open, and the message
//! writer keeping the conversations' rows (both ways of storing a batch, the store's messages).

use crate::conversations::{agent, listed, names, next_of, run_sql, update_of, viewers_of};
use crate::helpers::{spawn_app, spawn_app_with, Backend, TestData};
use crate::on_both_backends;
use serde_json::{json, Value};

on_both_backends!(
    new_conversations_go_round_robin_to_connected_online_staff,
    the_staff_see_who_else_has_a_conversation_open,
    a_batch_keeps_its_support_conversations_rows_on_either_way_of_storing,
    a_message_from_the_store_reopens_a_resolved_conversation,
);

async fn new_conversations_go_round_robin_to_connected_online_staff(backend: Backend) {
    let (app, data) = spawn_app_with(backend, |s| s.auto_assign = true).await;
    let (staff, _) = app.staff().await;

    // Nobody on the staff connected: the first conversation stays unassigned.
    let (_, _, first, mut ws) = app.guest_in_support("Early").await;
    ws.say(&first, "anyone?", "e1").await;

    let (a1_token, a1) = agent(&app, &data, "alice").await;
    let (a2_token, a2) = agent(&app, &data, "arthur").await;
    let (busy_token, busy) = agent(&app, &data, "bianca").await;
    let (_, away) = agent(&app, &data, "dora").await;
    run_sql(
        &data,
        &format!("UPDATE users SET availability = 'busy' WHERE id = {busy}"),
    );
    let mut alice = app.connect(&a1_token).await;
    let _arthur = app.connect(&a2_token).await;
    let _bianca = app.connect(&busy_token).await;
    // dora is online by her availability, but has no connection open.

    assert_eq!(listed(&app, &staff, "").await[0]["assignee"], Value::Null);

    let mut assignees = Vec::new();
    for i in 0..4 {
        let (_, id, room, mut ws) = app.guest_in_support(&format!("Guest {i}")).await;
        // Alice keeps the notes thread open, where the assignment is recorded.
        let notes_room = format!("notes:{id}");
        alice
            .send(json!({"type": "join", "room": notes_room}))
            .await;
        next_of(&mut alice, "joined").await;
        ws.say(&room, "hello", "g1").await;
        let update = update_of(&mut alice, &room).await;
        assert_eq!(update["change"], "created");
        let assignee = &update["conversation"]["assignee"];
        assignees.push(assignee["id"].as_i64().expect("assigned"));
        let event = next_of(&mut alice, "message").await;
        assert_eq!(event["room"], notes_room.as_str());
        assert_eq!(event["kind"], "event");
        assert_eq!(event["from"], *assignee, "from the assignee");
        assert_eq!(
            event["text"],
            format!(
                "assigned the conversation to {}",
                assignee["username"].as_str().unwrap()
            )
        );
    }
    assert_eq!(assignees, [a1, a2, a1, a2]);
    assert!(!assignees.contains(&busy) && !assignees.contains(&away));
    assert_eq!(
        listed(&app, &staff, &format!("?assignee={a2}")).await.len(),
        2
    );
}

async fn the_staff_see_who_else_has_a_conversation_open(backend: Backend) {
    let (app, data) = spawn_app(backend).await;
    let (a1_token, a1) = agent(&app, &data, "alice").await;
    let (a2_token, a2) = agent(&app, &data, "arthur").await;
    let (_, _, room, mut ann) = app.guest_in_support("Ann").await;
    ann.say(&room, "hi", "a1").await;
    let mut alice = app.connect(&a1_token).await;
    let mut arthur = app.connect(&a2_token).await;

    alice.send(json!({"type": "join", "room": room})).await;
    next_of(&mut alice, "joined").await;
    // The others hear of it; alice, who did it, reads who is there with the conversation.
    assert_eq!(viewers_of(&mut arthur, &room).await, ["alice"]);
    let path = format!("/api/admin/conversations/{room}");
    let (status, detail) = app.get(&path, Some(&a1_token)).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(names(&detail["viewers"]), ["alice"]);

    arthur.send(json!({"type": "join", "room": room})).await;
    next_of(&mut arthur, "joined").await;
    let frame = next_of(&mut alice, "conversation_viewers").await;
    assert_eq!(names(&frame["viewers"]), ["alice", "arthur"]);
    let ids: Vec<i64> = frame["viewers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [a1, a2], "sorted by id");
    assert_eq!(frame["viewers"][1]["role"], "agent");
    let (_, detail) = app.get(&path, Some(&a2_token)).await;
    assert_eq!(names(&detail["viewers"]), ["alice", "arthur"]);

    // A second tab of arthur's changes nothing; his leaving does.
    let mut arthur_tab = app.connect(&a2_token).await;
    arthur_tab.send(json!({"type": "join", "room": room})).await;
    next_of(&mut arthur_tab, "joined").await;
    arthur_tab.close().await;
    arthur.close().await;
    assert_eq!(viewers_of(&mut alice, &room).await, ["alice"]);

    // Alice's own leave is no frame to her; the conversation says nobody is there.
    alice.send(json!({"type": "leave", "room": room})).await;
    let deadline = std::time::Instant::now() + crate::helpers::WAIT;
    loop {
        let (_, detail) = app.get(&path, Some(&a1_token)).await;
        if names(&detail["viewers"]).is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{detail}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Straight through `db::messages::store_batch_tracked`, as the message writer calls it: on
/// PostgreSQL a batch of three messages or more takes the array statements
/// (`db::store_pg_arrays`), a smaller one the prepared statements; SQLite always the latter.
async fn a_batch_keeps_its_support_conversations_rows_on_either_way_of_storing(backend: Backend) {
    use chat_server::db::conversations::{self, AssigneeFilter, ListFilter, Viewer};
    use chat_server::db::messages::{store_batch_tracked, Events, NewMessage};
    use chat_server::db::{open_pool, users, DbTarget, SqliteSync};
    use chat_server::domain::{ConversationStatus, MessageKind, Role, RoomName, UserId};

    let data = TestData::new(&backend);
    let pool = open_pool(&DbTarget::from_url(&data.database_url), 1, SqliteSync::Full).unwrap();
    let mut db = pool.get().unwrap();
    let mut account =
        |name, role| UserId(users::insert_user(&mut db, name, role, None).unwrap().id);
    let (ann, bob, staff) = (
        account("ann", Role::Guest),
        account("bob", Role::Guest),
        account("sam", Role::Admin),
    );
    let message = |room: &RoomName, sender: UserId, text: &str| NewMessage {
        room: room.to_string(),
        sender,
        cid: None,
        text: text.to_owned(),
        kind: MessageKind::Text,
    };
    let (ann_room, bob_room) = (RoomName::support(ann), RoomName::support(bob));
    let lobby = RoomName::parse("lobby").unwrap();
    let all = ListFilter {
        status: None,
        assignee: AssigneeFilter::Any,
        q: None,
        limit: 10,
    };
    let statuses = |db: &mut chat_server::db::DbConn| -> Vec<(String, ConversationStatus)> {
        conversations::list(db, Viewer::Staff(staff), &all)
            .unwrap()
            .into_iter()
            .map(|c| (c.room.to_string(), c.status))
            .collect()
    };

    // A large batch: two conversations begin, a public room costs nothing.
    let batch = [
        message(&ann_room, ann, "hello"),
        message(&lobby, bob, "hi all"),
        message(&bob_room, bob, "help"),
        message(&ann_room, staff, "hi ann"),
    ];
    let stored = store_batch_tracked(&mut db, &batch, Events::Off).unwrap();
    let mut created = stored.conversations.created.clone();
    created.sort();
    assert_eq!(created, [ann_room.to_string(), bob_room.to_string()]);
    assert!(stored.conversations.reopened.is_empty());
    let mut listed = statuses(&mut db);
    listed.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        listed,
        [
            (ann_room.to_string(), ConversationStatus::Open),
            (bob_room.to_string(), ConversationStatus::Open),
        ]
    );

    for room in [&ann_room, &bob_room] {
        conversations::set_status(&mut db, room, ConversationStatus::Resolved, 1).unwrap();
    }
    // The staff's reply leaves Ann's resolved; Bob's own message reopens his; both in one
    // large batch, then Ann's in a small one.
    let batch = [
        message(&ann_room, staff, "anything else?"),
        message(&bob_room, bob, "it broke again"),
        message(&lobby, ann, "bye"),
    ];
    let stored = store_batch_tracked(&mut db, &batch, Events::Off).unwrap();
    assert!(stored.conversations.created.is_empty());
    assert_eq!(stored.conversations.reopened, [bob_room.to_string()]);
    let stored =
        store_batch_tracked(&mut db, &[message(&ann_room, ann, "thanks")], Events::Off).unwrap();
    assert_eq!(stored.conversations.reopened, [ann_room.to_string()]);
    let listed = statuses(&mut db);
    assert_eq!(
        listed,
        [
            (ann_room.to_string(), ConversationStatus::Open),
            (bob_room.to_string(), ConversationStatus::Open),
        ],
        "newest activity first"
    );
    let one = conversations::get(&mut db, Viewer::Staff(staff), &ann_room)
        .unwrap()
        .unwrap();
    assert_eq!((one.last_seq, one.unread), (4, 2), "unread: ann's two");
    assert_eq!(one.last_message.unwrap().text, "thanks");
}

async fn a_message_from_the_store_reopens_a_resolved_conversation(backend: Backend) {
    let (app, data) = spawn_app(backend).await;
    let key = app.api_key("shop").await;
    let (staff, _) = app.staff().await;
    let (_, ann_id, room, mut ann) = app.guest_in_support("Ann").await;
    ann.say(&room, "where is my parcel?", "a1").await;
    run_sql(
        &data,
        &format!("UPDATE users SET external_id = 'cust-9' WHERE id = {ann_id}"),
    );
    let (code, _) = app
        .post_as(
            &staff,
            &format!("/api/admin/conversations/{room}/status"),
            json!({"status": "resolved"}),
        )
        .await;
    assert_eq!(code, 200);
    let mut console = app.connect(&staff).await;

    let (code, stored) = app
        .post_as(
            &key,
            "/api/server/conversations/cust-9/messages",
            json!({"text": "Your parcel ships today"}),
        )
        .await;
    assert_eq!(code, 201, "{stored}");
    // In the transaction of the message: open by the time the store has its answer.
    let list = listed(&app, &staff, "").await;
    assert_eq!(list[0]["status"], "open");
    assert_eq!(list[0]["external_id"], "cust-9");
    let reopened = update_of(&mut console, &room).await;
    assert_eq!(reopened["change"], "reopened");
    assert_eq!(reopened["by"]["id"], ann_id, "on the customer's behalf");
}

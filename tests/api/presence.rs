//! Presence: one per user and room however many tabs; heartbeats drop silent clients.

use crate::helpers::*;
use crate::on_both_backends;
use serde_json::json;
use std::time::Duration;

on_both_backends!(
    a_user_with_several_tabs_is_one_presence_until_the_last_tab_leaves,
    a_client_that_stops_answering_pings_is_dropped_and_goes_offline,
    a_crowded_room_counts_its_users_instead_of_naming_them,
    a_crowded_room_hears_its_head_count_when_it_changes,
);

async fn a_user_with_several_tabs_is_one_presence_until_the_last_tab_leaves(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (ann_token, ann_id) = app.register("ann").await;
    let (bob_token, _) = app.register("bob").await;
    let mut bob = app.connect(&bob_token).await;
    bob.join("lobby").await;

    let mut tabs = Vec::new();
    for _ in 0..3 {
        let mut tab = app.connect(&ann_token).await;
        tab.join("lobby").await;
        tabs.push(tab);
    }
    let online = bob.expect("presence").await;
    let ann = json!({"id": ann_id, "username": "ann", "role": "user"});
    assert_eq!(
        online,
        json!({"type": "presence", "room": "lobby", "user": ann, "online": true})
    );
    bob.expect_silence(Duration::from_millis(200)).await;

    let last = tabs.pop().unwrap();
    for tab in tabs {
        tab.close().await;
    }
    bob.expect_silence(Duration::from_millis(300)).await;
    // Leaving the room in the last tab makes Ann go offline there.
    let mut last = last;
    last.send(json!({"type": "leave", "room": "lobby"})).await;
    let offline = bob.expect("presence").await;
    assert_eq!(
        offline,
        json!({"type": "presence", "room": "lobby", "user": ann, "online": false})
    );
    let joined = bob.join("lobby").await;
    assert_eq!(joined["online"].as_array().unwrap().len(), 1);
}

async fn a_client_that_stops_answering_pings_is_dropped_and_goes_offline(backend: Backend) {
    let (app, _data) = spawn_app_with(backend, |s| {
        s.heartbeat_interval = Duration::from_millis(100);
        s.client_timeout = Duration::from_millis(400);
    })
    .await;
    let (ann_token, _) = app.register("ann").await;
    let (bob_token, _) = app.register("bob").await;
    let mut bob = app.connect(&bob_token).await;
    bob.join("lobby").await;
    let mut ann = app.connect(&ann_token).await;
    ann.join("lobby").await;
    assert_eq!(bob.expect("presence").await["online"], true);

    // Ann's client hangs: it neither reads nor answers pings. Bob keeps answering his.
    let offline = bob.expect("presence").await;
    assert_eq!(offline["online"], false);
    assert_eq!(offline["user"]["username"], "ann");
    drop(ann);
}

async fn a_crowded_room_counts_its_users_instead_of_naming_them(backend: Backend) {
    // A room is crowded past two users online, and stops being crowded at one.
    let (app, _data) = spawn_app_with(backend, |s| {
        s.presence_limit = 2;
        s.crowd_count_interval = Duration::ZERO;
    })
    .await;
    let (ann_token, ann_id) = app.register("ann").await;
    let (bob_token, bob_id) = app.register("bob").await;
    let (cat_token, _) = app.register("cat").await;
    let mut ann = app.connect(&ann_token).await;
    ann.join("lobby").await;
    let mut bob = app.connect(&bob_token).await;
    let joined = bob.join("lobby").await;
    assert_eq!(joined["online_count"], 2);
    assert_eq!(joined["online"].as_array().unwrap().len(), 2);
    ann.expect("presence").await; // Bob: the room is not crowded yet

    // Cat makes three: everyone learns the room is crowded; Cat gets the count, no names.
    let mut cat = app.connect(&cat_token).await;
    let joined = cat.join("lobby").await;
    assert_eq!(joined["online_count"], 3);
    assert_eq!(joined["online"], json!([]));
    let crowded = json!({"type": "online", "room": "lobby", "online": [], "online_count": 3});
    for member in [&mut ann, &mut bob, &mut cat] {
        assert_eq!(member.expect("online").await, crowded);
    }

    // Messages and typing reach everyone, crowded or not.
    ann.send(json!({"type": "typing", "room": "lobby", "on": true}))
        .await;
    ann.say("lobby", "hello crowd", "c-1").await;
    for member in [&mut bob, &mut cat] {
        assert_eq!(member.expect("typing").await["on"], true);
        assert_eq!(member.expect("message").await["text"], "hello crowd");
    }

    // Bob leaving leaves two: still crowded, nobody is told.
    bob.send(json!({"type": "leave", "room": "lobby"})).await;
    ann.expect_silence(Duration::from_millis(200)).await;
    // Cat leaving leaves one: no longer crowded, and Ann is told who is online.
    cat.send(json!({"type": "leave", "room": "lobby"})).await;
    let online = ann.expect("online").await;
    assert_eq!(online["online_count"], 1);
    assert_eq!(online["online"][0]["id"], ann_id);
    // From then on, presence as usual.
    bob.join("lobby").await;
    let presence = ann.expect("presence").await;
    assert_eq!(presence["user"]["id"], bob_id);
    assert_eq!(presence["online"], true);
}

async fn a_crowded_room_hears_its_head_count_when_it_changes(backend: Backend) {
    let (app, _data) = spawn_app_with(backend, |s| {
        s.presence_limit = 1;
        s.crowd_count_interval = Duration::from_millis(100);
    })
    .await;
    let mut members = Vec::new();
    for name in ["Ann", "Bob"] {
        let (token, _) = app.guest(name).await;
        let mut member = app.connect(&token).await;
        member.join("lobby").await;
        members.push(member);
    }
    let mut ann = members.remove(0);
    // Bob made the room crowded.
    assert_eq!(
        ann.expect_ignoring("online", &["presence"]).await["online_count"],
        2
    );

    // Cat comes in: no presence frame, but the new count within the interval.
    let (token, _) = app.guest("Cat").await;
    let mut cat = app.connect(&token).await;
    cat.join("lobby").await;
    let count = ann.expect("online").await;
    assert_eq!(
        count,
        json!({"type": "online", "room": "lobby", "online": [], "online_count": 3})
    );
    // Nothing changes, nothing is said.
    ann.expect_silence(Duration::from_millis(400)).await;
}

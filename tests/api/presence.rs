//! Presence: one per user and room however many tabs; heartbeats drop silent clients.

use crate::helpers::*;
use crate::on_both_backends;
use serde_json::json;
use std::time::Duration;

on_both_backends!(
    a_user_with_several_tabs_is_one_presence_until_the_last_tab_leaves,
    a_client_that_stops_answering_pings_is_dropped_and_goes_offline,
    a_crowded_room_counts_its_users_instead_of_naming_them,
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
    // A room is crowded past two users online.
    let (app, _data) = spawn_app_with(backend, |s| s.presence_limit = 2).await;
    let (ann_token, _) = app.register("ann").await;
    let (bob_token, bob_id) = app.register("bob").await;
    let (cat_token, _) = app.register("cat").await;
    let mut ann = app.connect(&ann_token).await;
    ann.join("lobby").await;
    let mut bob = app.connect(&bob_token).await;
    let joined = bob.join("lobby").await;
    assert_eq!(joined["online_count"], 2);
    assert_eq!(joined["online"].as_array().unwrap().len(), 2);
    ann.expect("presence").await; // Bob: the room is not crowded yet

    // Cat makes three: nobody is told, and Cat is given the count but no names.
    let mut cat = app.connect(&cat_token).await;
    let joined = cat.join("lobby").await;
    assert_eq!(joined["online_count"], 3);
    assert_eq!(joined["online"], json!([]));
    ann.expect_silence(Duration::from_millis(200)).await;

    // Cat leaving brings it back to the limit: still untold. Below it, presence is back.
    cat.send(json!({"type": "leave", "room": "lobby"})).await;
    ann.expect_silence(Duration::from_millis(200)).await;
    bob.send(json!({"type": "leave", "room": "lobby"})).await;
    let offline = ann.expect("presence").await;
    assert_eq!(offline["user"]["id"], bob_id);
    assert_eq!(offline["online"], false);

    // Messages and typing reach everyone, crowded or not.
    let mut bob = app.connect(&bob_token).await;
    bob.join("lobby").await;
    cat.join("lobby").await;
    ann.send(json!({"type": "typing", "room": "lobby", "on": true}))
        .await;
    for member in [&mut bob, &mut cat] {
        let typing = member.expect_ignoring("typing", &["presence"]).await;
        assert_eq!(typing["on"], true);
    }
    ann.say("lobby", "hello crowd", "c-1").await;
    for member in [&mut bob, &mut cat] {
        let message = member
            .expect_ignoring("message", &["presence", "typing"])
            .await;
        assert_eq!(message["text"], "hello crowd");
    }
}

//! The live rooms' stories: tabs, typing, crowds, and users through other nodes.

use super::*;
use crate::domain::Role;

fn user(id: i64) -> UserInfo {
    UserInfo {
        id: UserId(id),
        username: format!("user{id:03}"),
        role: Role::User,
        display_name: None,
        avatar_color: None,
    }
}

fn room(name: &str) -> RoomName {
    RoomName::parse(name).unwrap()
}

#[test]
fn a_user_comes_online_with_their_first_tab_and_goes_offline_with_their_last() {
    let mut rooms = LiveRooms::new(500);
    let lobby = room("lobby");
    let ann = user(1);
    assert_eq!(
        rooms.enter(&lobby, SessionId(1), &ann),
        PresenceNews::Presence { online: true }
    );
    assert_eq!(
        rooms.enter(&lobby, SessionId(2), &ann),
        PresenceNews::Nothing
    );
    rooms.enter(&lobby, SessionId(3), &user(2));
    assert_eq!(rooms.online(&lobby).0, 2);

    let quiet = rooms.leave(&lobby, SessionId(1), ann.id);
    assert_eq!(quiet.news, PresenceNews::Nothing, "a tab is still open");
    let gone = rooms.leave(&lobby, SessionId(2), ann.id);
    assert_eq!(gone.news, PresenceNews::Presence { online: false });
    assert_eq!(rooms.online(&lobby), (1, vec![user(2)]));
}

#[test]
fn the_last_connection_leaving_forgets_the_room_without_news() {
    let mut rooms = LiveRooms::new(500);
    let lobby = room("lobby");
    rooms.enter(&lobby, SessionId(1), &user(1));
    rooms.set_typing(&lobby, UserId(1), true);
    let departure = rooms.leave(&lobby, SessionId(1), UserId(1));
    assert_eq!(departure.news, PresenceNews::Nothing);
    assert!(!departure.stopped_typing);
    assert!(rooms.is_empty());
    assert!(!rooms.set_typing(&lobby, UserId(1), true), "no live room");
}

#[test]
fn a_typist_who_goes_offline_stops_typing() {
    let mut rooms = LiveRooms::new(500);
    let lobby = room("lobby");
    rooms.enter(&lobby, SessionId(1), &user(1));
    rooms.enter(&lobby, SessionId(2), &user(2));
    rooms.set_typing(&lobby, UserId(1), true);
    let departure = rooms.leave(&lobby, SessionId(1), UserId(1));
    assert!(departure.stopped_typing);
    assert_eq!(departure.news, PresenceNews::Presence { online: false });
}

#[test]
fn a_room_past_the_limit_is_crowded_until_a_tenth_below() {
    let mut rooms = LiveRooms::new(20);
    let hall = room("hall");
    for id in 1..=20 {
        let news = rooms.enter(&hall, SessionId(id as u64), &user(id));
        assert_eq!(news, PresenceNews::Presence { online: true });
    }
    assert_eq!(
        rooms.enter(&hall, SessionId(21), &user(21)),
        PresenceNews::Online,
        "the 21st user makes the room crowded"
    );
    assert_eq!(rooms.online(&hall), (21, Vec::new()), "nobody is named");
    assert_eq!(
        rooms.enter(&hall, SessionId(22), &user(22)),
        PresenceNews::Nothing
    );

    // 22 online; the room stops being crowded at 18 (20 less a tenth).
    let mut last = PresenceNews::Nothing;
    for id in (19..=22).rev() {
        last = rooms.leave(&hall, SessionId(id as u64), UserId(id)).news;
    }
    assert_eq!(rooms.online(&hall).0, 18);
    assert_eq!(last, PresenceNews::Online, "at 18 the names come back");
    assert_eq!(rooms.online(&hall).1.len(), 18);
}

#[test]
fn the_online_list_shows_a_users_new_role() {
    let mut rooms = LiveRooms::new(500);
    let lobby = room("lobby");
    rooms.enter(&lobby, SessionId(1), &user(1));
    let promoted = UserInfo {
        role: Role::Admin,
        ..user(1)
    };
    assert!(
        rooms.update_user(&lobby, &promoted),
        "a room that names its users"
    );
    assert!(!rooms.update_user(&room("elsewhere"), &promoted));
    assert_eq!(rooms.online(&lobby), (1, vec![promoted]));
}

#[test]
fn support_rooms_are_never_crowded() {
    let mut rooms = LiveRooms::new(0);
    let support = room("support:1");
    assert_eq!(
        rooms.enter(&support, SessionId(1), &user(1)),
        PresenceNews::Presence { online: true }
    );
    assert_eq!(rooms.online(&support).1, vec![user(1)]);
}

#[test]
fn a_crowded_room_is_listed_for_its_head_count_only_when_it_changed() {
    let mut rooms = LiveRooms::new(1);
    let hall = room("hall");
    rooms.enter(&hall, SessionId(1), &user(1));
    rooms.enter(&hall, SessionId(2), &user(2));
    assert_eq!(rooms.crowd_counts_changed(), vec![hall.clone()]);
    assert_eq!(rooms.tell_online(&hall).0, 2);
    assert!(rooms.crowd_counts_changed().is_empty());
    rooms.enter(&hall, SessionId(3), &user(3));
    assert_eq!(rooms.crowd_counts_changed(), vec![hall]);
}

fn node(name: &str) -> NodeId {
    NodeId::from(name)
}

#[test]
fn a_user_in_the_room_through_another_node_is_online_here_too() {
    let mut rooms = LiveRooms::new(500);
    let lobby = room("lobby");
    let now = Instant::now();
    rooms.enter(&lobby, SessionId(1), &user(1));
    let news = rooms.remote_changed(&lobby, &node("b"), UserId(2), 1, Some(user(2)), now);
    assert_eq!(
        news,
        Some((user(2), PresenceNews::Presence { online: true }))
    );
    assert_eq!(rooms.online(&lobby), (2, vec![user(1), user(2)]));

    // Their tab here as well: nothing new, and they count once.
    assert_eq!(
        rooms.enter(&lobby, SessionId(2), &user(2)),
        PresenceNews::Nothing
    );
    assert_eq!(rooms.online(&lobby).0, 2);
    // The tab here closes: the other node still has them.
    let departure = rooms.leave(&lobby, SessionId(2), UserId(2));
    assert_eq!(departure.news, PresenceNews::Nothing);
    // The other node's last goes: offline.
    let news = rooms.remote_changed(&lobby, &node("b"), UserId(2), 2, None, now);
    assert_eq!(
        news,
        Some((user(2), PresenceNews::Presence { online: false }))
    );
    assert_eq!(rooms.online(&lobby), (1, vec![user(1)]));
}

#[test]
fn a_dead_nodes_users_leave_every_room_but_those_a_local_tab_keeps() {
    let mut rooms = LiveRooms::new(500);
    let (lobby, cafe) = (room("lobby"), room("cafe"));
    let now = Instant::now();
    rooms.enter(&lobby, SessionId(1), &user(1));
    rooms.enter(&cafe, SessionId(2), &user(3));
    rooms.remote_changed(&lobby, &node("b"), UserId(2), 1, Some(user(2)), now);
    rooms.remote_changed(&cafe, &node("b"), UserId(3), 2, Some(user(3)), now);
    let news = rooms.forget_node("b");
    assert_eq!(
        news,
        vec![(
            lobby.clone(),
            user(2),
            PresenceNews::Presence { online: false }
        )],
        "user 3 still has a tab here in the cafe"
    );
    assert_eq!(rooms.online(&cafe), (1, vec![user(3)]));
}

#[test]
fn news_of_a_room_that_is_not_live_here_is_ignored() {
    let mut rooms = LiveRooms::new(500);
    let now = Instant::now();
    let news = rooms.remote_changed(
        &room("elsewhere"),
        &node("b"),
        UserId(2),
        1,
        Some(user(2)),
        now,
    );
    assert_eq!(news, None);
    assert!(rooms.is_empty());
}

#[test]
fn the_crowd_is_counted_over_every_node() {
    let mut rooms = LiveRooms::new(2);
    let lobby = room("lobby");
    let now = Instant::now();
    rooms.enter(&lobby, SessionId(1), &user(1));
    rooms.remote_changed(&lobby, &node("b"), UserId(2), 1, Some(user(2)), now);
    let news = rooms.remote_changed(&lobby, &node("c"), UserId(3), 1, Some(user(3)), now);
    assert_eq!(
        news,
        Some((user(3), PresenceNews::Online)),
        "three over two nodes"
    );
    assert_eq!(rooms.online(&lobby), (3, Vec::new()));
}

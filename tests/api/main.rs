//! The integration suite: one binary, a file per part of the product. Every story starts its
//! own server on port 0 with its own database, and runs on SQLite and (when TEST_DATABASE_URL
//! is set) on PostgreSQL.

mod helpers;
mod pg_cluster;
mod redis_server;
mod smtp_sink;

mod accounts;
mod admin;
mod architecture;
mod bad_input;
mod bans;
mod bans_hold;
mod canned;
mod cluster;
mod cluster_failures;
mod cluster_frames;
mod cluster_live;
mod cluster_presence;
mod conversations;
mod conversations_live;
mod customer_panel;
mod directory;
mod durability;
mod edge;
mod email;
mod guest_merge;
mod hardening;
mod headers;
mod hours;
mod identity;
mod merged_guest;
mod messaging;
mod metrics;
mod notes;
mod notifications;
mod outage;
mod pages;
mod presence;
mod profile;
mod read_state;
mod rights;
mod search;
mod server_api;
mod store_batches;
mod team;
mod webhook_receiver;
mod webhook_restarts;
mod webhooks;
mod widget;

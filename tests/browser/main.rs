//! Browser stories: headless Chromium (through chromedriver) drives the real pages against a real
//! server. Without a browser on the machine they say loudly that they were skipped, unless
//! CHAT_TEST_REQUIRE_BROWSER=1 makes that a failure (as `.ci/run` does). Screenshots of the main
//! screens land in target/screenshots/.

#[allow(dead_code, unused_macros)]
#[path = "../api/helpers.rs"]
mod helpers;

mod bans;
mod chat_kit;
mod desk;
mod desk_rehearsal;
mod directory;
mod driver;
mod guest_sign_in;
mod hours;
mod pages_polish;
mod profile;
mod store;
mod store_site;
mod stories;
mod widget;
mod widget_customers;
mod widget_kit;

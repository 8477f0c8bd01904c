//! Webhooks to the store's backend: every message of a support conversation, and the start of
//! each conversation, POSTed to `--webhook-url`, signed with `--webhook-secret`.
//!
//! Where it sits in the flow: the message writer (`history/writer.rs`) enqueues the events in
//! the outbox table in the transaction that stores their messages (`db/webhooks.rs`), so an
//! acked message always has its event and a resend has none; after the commit it rings the
//! worker's bell. The delivery worker ([`worker`]) is a thread of its own with its own
//! database connection and HTTP client: no actor and no async worker ever waits on a receiver.
//! It sends each conversation's events in order, at least once, retrying with backoff
//! ([`policy`]); the body and its signature are built in [`payload`].
//!
//! Without a URL nothing is enqueued: events of a time without a URL are never sent later.

pub mod payload;
pub mod policy;
pub mod worker;

use crate::config::Settings;
use policy::Backoff;
use std::fmt;
use std::time::Duration;

pub use worker::WebhookWorker;

/// Where and how events are delivered: `--webhook-url` and the settings around it.
#[derive(Clone)]
pub struct WebhookConfig {
    /// The receiver, an http:// or https:// URL.
    pub url: String,
    /// The HMAC key of `X-Chat-Signature`.
    pub secret: String,
    /// Longest wait for one answer (connecting, sending, the status line).
    pub timeout: Duration,
    /// Waits between the attempts of a failing event.
    pub backoff: Backoff,
}

impl fmt::Debug for WebhookConfig {
    /// The receiver's address without credentials or query, and never the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &redacted(&self.url))
            .field("timeout", &self.timeout)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

impl WebhookConfig {
    /// The webhook settings, checked: `None` when no URL is set (webhooks off). A URL without
    /// a secret, or one that is not http(s), is refused with a message saying what to fix.
    pub fn from_settings(settings: &Settings) -> Result<Option<WebhookConfig>, String> {
        let url = settings.webhook_url.as_deref().map(str::trim).unwrap_or("");
        let secret = settings.webhook_secret.as_deref().unwrap_or("");
        if url.is_empty() {
            if !secret.is_empty() {
                log::warn!("--webhook-secret is set without --webhook-url: webhooks are off");
            }
            return Ok(None);
        }
        check_url(url)?;
        if secret.is_empty() {
            return Err(format!(
                "--webhook-url (CHAT_WEBHOOK_URL) is {} but --webhook-secret \
                 (CHAT_WEBHOOK_SECRET) is not set: the store could not tell our events from \
                 forged ones; set a secret shared with the receiver",
                redacted(url)
            ));
        }
        if secret.len() < 32 {
            log::warn!("--webhook-secret is shorter than 32 bytes: use a longer random secret");
        }
        if settings.webhook_retry_base.is_zero() {
            return Err("--webhook-retry-base must be more than 0".into());
        }
        Ok(Some(WebhookConfig {
            url: url.to_owned(),
            secret: secret.to_owned(),
            timeout: settings.webhook_timeout.max(Duration::from_millis(100)),
            backoff: Backoff {
                base: settings.webhook_retry_base,
                max: settings.webhook_retry_max.max(settings.webhook_retry_base),
            },
        }))
    }
}

/// An http:// or https:// URL with a host.
fn check_url(url: &str) -> Result<(), String> {
    let refused = |why: &str| {
        Err(format!(
            "--webhook-url (CHAT_WEBHOOK_URL) {}: {why}",
            redacted(url)
        ))
    };
    let Ok(uri) = url.parse::<ureq::http::Uri>() else {
        return refused("not a URL");
    };
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return refused("use an http:// or https:// URL");
    }
    if uri.host().map_or(true, str::is_empty) {
        return refused("the URL has no host");
    }
    Ok(())
}

/// The URL as the log may show it: scheme, host, port and path, without user information or
/// query (either may hold a token).
pub fn redacted(url: &str) -> String {
    let Ok(uri) = url.parse::<ureq::http::Uri>() else {
        return "(not a URL)".into();
    };
    let scheme = uri.scheme_str().unwrap_or("?");
    let host = uri.host().unwrap_or("?");
    let port = uri.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{scheme}://{host}{port}{}", uri.path())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: Option<&str>, secret: Option<&str>) -> Settings {
        let mut s = Settings::defaults();
        s.webhook_url = url.map(str::to_owned);
        s.webhook_secret = secret.map(str::to_owned);
        s
    }

    #[test]
    fn no_url_means_webhooks_off_even_with_a_secret() {
        assert!(WebhookConfig::from_settings(&settings(None, None))
            .unwrap()
            .is_none());
        assert!(WebhookConfig::from_settings(&settings(Some(""), Some("s")))
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_url_without_a_secret_is_refused_with_a_clear_message() {
        let error = WebhookConfig::from_settings(&settings(
            Some("https://user:pw@shop.example/hooks?token=abc"),
            None,
        ))
        .unwrap_err();
        assert!(error.contains("--webhook-secret"), "{error}");
        assert!(error.contains("https://shop.example/hooks"), "{error}");
        assert!(!error.contains("pw") && !error.contains("abc"), "{error}");
    }

    #[test]
    fn only_http_and_https_urls_are_taken() {
        for good in [
            "http://127.0.0.1:9000/hook",
            "https://shop.example/chat-events",
        ] {
            let config = WebhookConfig::from_settings(&settings(Some(good), Some("secret")))
                .unwrap()
                .expect("on");
            assert_eq!(config.url, good);
            assert_eq!(config.timeout, Duration::from_secs(5));
            assert_eq!(config.backoff.base, Duration::from_secs(1));
            assert_eq!(config.backoff.max, Duration::from_secs(300));
        }
        for bad in [
            "ftp://shop.example/",
            "shop.example/hook",
            "http://",
            "not a url",
        ] {
            let error =
                WebhookConfig::from_settings(&settings(Some(bad), Some("secret"))).unwrap_err();
            assert!(error.contains("--webhook-url"), "{bad}: {error}");
        }
    }

    #[test]
    fn the_debug_form_shows_neither_the_secret_nor_credentials() {
        let config = WebhookConfig::from_settings(&settings(
            Some("https://u:p@shop.example/h?k=v"),
            Some("very-secret-value"),
        ))
        .unwrap()
        .unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("very-secret-value"), "{shown}");
        assert!(!shown.contains("u:p") && !shown.contains("k=v"), "{shown}");
    }
}

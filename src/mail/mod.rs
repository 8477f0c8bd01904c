//! Email follow-up: a customer who left before reading a staff reply gets an email with the
//! unread replies and a link back, once the conversation has been quiet for `--email-after`.
//!
//! Where it sits in the flow: nothing on the message path knows of it. The mail worker
//! ([`worker`]) is a thread of its own with its own database connection and SMTP transport (like
//! the webhook worker): every `--email-scan-interval` it reads the recently active support
//! conversations (`db/email_outbox.rs`, an index read of `conversations`), asks the chat server
//! which of their customers have a socket open (`chat::messages::OnlineAmong`, no cost per
//! message), records each email in the `email_outbox` table before sending it, sends it
//! ([`message`] composes it) and marks it sent; [`policy`] says what a due email becomes
//! (sent, cancelled, postponed) and how long a failing one waits.
//!
//! Without `--smtp-url` nothing is emailed and nothing is recorded.

pub mod message;
pub mod policy;
pub mod worker;

use crate::config::Settings;
use lettre::message::Mailbox;
use lettre::SmtpTransport;
use serde::Serialize;
use std::fmt;
use std::time::Duration;

pub use worker::MailWorker;

/// How and when emails are sent: `--smtp-url` and the settings around it.
#[derive(Clone)]
pub struct MailConfig {
    /// The SMTP server (may hold a password: never logged as such).
    pub smtp_url: String,
    /// The sender.
    pub from: Mailbox,
    /// How long the conversation stays quiet, the replies unread, before the email.
    pub email_after: Duration,
    /// How often the worker looks.
    pub scan_every: Duration,
    /// The server's address as customers reach it, without a trailing slash.
    pub public_url: String,
}

impl fmt::Debug for MailConfig {
    /// Without the SMTP password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailConfig")
            .field("smtp_url", &redacted(&self.smtp_url))
            .field("from", &self.from.to_string())
            .field("email_after", &self.email_after)
            .field("scan_every", &self.scan_every)
            .field("public_url", &self.public_url)
            .finish()
    }
}

impl MailConfig {
    /// The mail settings, checked: `None` without `--smtp-url` (nothing emailed). A URL
    /// without `--mail-from`, or either of them unusable, is refused with a message saying
    /// what to fix (the server does not start).
    pub fn from_settings(settings: &Settings) -> Result<Option<MailConfig>, String> {
        let url = settings.smtp_url.as_deref().map(str::trim).unwrap_or("");
        if url.is_empty() {
            return Ok(None);
        }
        SmtpTransport::from_url(url).map_err(|e| {
            format!(
                "--smtp-url (CHAT_SMTP_URL) {} is not usable: {e}; use smtp://host:port or \
                 smtps://user:password@host",
                redacted(url)
            )
        })?;
        let from = settings.mail_from.as_deref().map(str::trim).unwrap_or("");
        if from.is_empty() {
            return Err(format!(
                "--smtp-url (CHAT_SMTP_URL) is {} but --mail-from (CHAT_MAIL_FROM) is not set: \
                 emails need a sender, e.g. \"Shop support <support@shop.example>\"",
                redacted(url)
            ));
        }
        let from: Mailbox = from.parse().map_err(|e| {
            format!("--mail-from (CHAT_MAIL_FROM) {from:?} is not an email address: {e}")
        })?;
        let public_url = match settings.public_url.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(format!(
                        "--public-url (CHAT_PUBLIC_URL) {url:?}: use an http:// or https:// URL"
                    ));
                }
                url.trim_end_matches('/').to_owned()
            }
            _ => format!("http://{}", settings.bind),
        };
        Ok(Some(MailConfig {
            smtp_url: url.to_owned(),
            from,
            email_after: settings.email_after,
            scan_every: settings.email_scan_interval.max(Duration::from_millis(50)),
            public_url,
        }))
    }
}

/// What `GET /api/admin/settings` tells the console of the emails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmailSummary {
    /// Whether emails are sent (`--smtp-url` set).
    pub enabled: bool,
    /// `--email-after`, in seconds.
    pub email_after_secs: u64,
    /// `--mail-from`, when emails are on.
    pub mail_from: Option<String>,
}

impl EmailSummary {
    /// The summary of `config` (none: emails off) with the delay of `settings`.
    pub fn new(config: Option<&MailConfig>, settings: &Settings) -> EmailSummary {
        EmailSummary {
            enabled: config.is_some(),
            email_after_secs: settings.email_after.as_secs(),
            mail_from: config.map(|c| c.from.to_string()),
        }
    }
}

/// The SMTP URL as the log may show it: scheme, host and port, without user or password.
pub fn redacted(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("?", url));
    let host_part = rest.rsplit('@').next().unwrap_or(rest);
    let host = host_part.split(['/', '?']).next().unwrap_or("");
    format!("{scheme}://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: Option<&str>, from: Option<&str>) -> Settings {
        let mut s = Settings::defaults();
        s.smtp_url = url.map(str::to_owned);
        s.mail_from = from.map(str::to_owned);
        s
    }

    #[test]
    fn without_an_smtp_url_nothing_is_emailed() {
        assert!(
            MailConfig::from_settings(&settings(None, Some("a@b.example")))
                .unwrap()
                .is_none()
        );
        let summary = EmailSummary::new(None, &Settings::defaults());
        assert_eq!(
            summary,
            EmailSummary {
                enabled: false,
                email_after_secs: 300,
                mail_from: None
            }
        );
    }

    #[test]
    fn an_smtp_url_without_a_sender_is_refused_with_a_clear_message() {
        let error =
            MailConfig::from_settings(&settings(Some("smtps://user:secret-pw@mail.example"), None))
                .unwrap_err();
        assert!(error.contains("--mail-from (CHAT_MAIL_FROM)"), "{error}");
        assert!(error.contains("smtps://mail.example"), "{error}");
        assert!(!error.contains("secret-pw"), "{error}");
        let error = MailConfig::from_settings(&settings(
            Some("smtp://127.0.0.1:2525"),
            Some("not an address"),
        ))
        .unwrap_err();
        assert!(error.contains("--mail-from"), "{error}");
        let error =
            MailConfig::from_settings(&settings(Some("ftp://x"), Some("a@b.example"))).unwrap_err();
        assert!(error.contains("--smtp-url"), "{error}");
    }

    #[test]
    fn the_link_back_defaults_to_the_bind_address() {
        let config = MailConfig::from_settings(&settings(
            Some("smtp://127.0.0.1:2525"),
            Some("Shop <support@shop.example>"),
        ))
        .unwrap()
        .unwrap();
        assert_eq!(config.public_url, "http://127.0.0.1:8080");
        assert_eq!(config.email_after, Duration::from_secs(300));
        let mut s = settings(Some("smtp://127.0.0.1:2525"), Some("support@shop.example"));
        s.public_url = Some("https://chat.shop.example/".into());
        let config = MailConfig::from_settings(&s).unwrap().unwrap();
        assert_eq!(config.public_url, "https://chat.shop.example");
        let summary = EmailSummary::new(Some(&config), &s);
        assert!(summary.enabled);
        assert_eq!(summary.mail_from.as_deref(), Some("support@shop.example"));
        assert!(!format!("{config:?}").contains("secret"));
    }
}

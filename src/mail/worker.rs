//! The mail worker: one thread with its own database connection and SMTP transport, so no
//! actor and no async worker ever waits on a mail server.
//!
//! A round, every `--email-scan-interval`: read the conversations gone quiet for
//! `--email-after` with unread staff replies that no email covers ([`outbox::candidates`]);
//! ask the chat server which of their customers have a socket open (`ListOnline`); record an
//! email for each of the others (`pending`, before anything is sent); then take every due
//! email in turn: claim it, read the customer's cursor and address again (read meanwhile:
//! cancelled; connected now: postponed), compose it from the replies still unread, send it,
//! mark it sent. An SMTP failure is retried with backoff ([`policy::retry_wait`]); a permanent
//! refusal (5xx) cancels it.
//!
//! At least once, never twice per reply: each reply is in one row only (`from_seq`, the unique
//! `(room, up_to_seq)`), and a row is sent only while `pending`. The one way to get an email
//! twice is a crash (or a lost connection to the database) between the SMTP server taking it
//! and the row being marked `sent`: the claim then runs out and the email is sent again, once.
//! A restart between the reply and the email loses nothing: the next scan finds the
//! conversation, since the scan reads the database, not the memory of this process.
//!
//! Several servers on one database: each scans, the unique key makes one row per email, and
//! the claim gives it to one worker. "Connected" is asked of this server's chat server only.

use super::message::{build, compose};
use super::policy::{decide, retry_wait, scan_window, Customer, Decision, Failure};
use super::{redacted, MailConfig};
use crate::chat::messages::ListOnline;
use crate::db::connection::{DbConnectionManager, OwnConnection};
use crate::db::email_outbox::{self as outbox, Candidate, EmailRow};
use crate::db::{rooms, users, StorageError};
use crate::domain::{now_millis, UserId};
use actix::Recipient;
use lettre::{SmtpTransport, Transport};
use std::collections::HashSet;
use std::future::Future;
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

/// Conversations in one page of a scan, and due emails taken in one round (more wait for the
/// next round).
const PER_ROUND: i64 = 100;
/// Pages one scan reads at most: the conversations past them wait for the next scan.
const MAX_PAGES: usize = 50;
/// Longest wait for the SMTP server (connecting, each reply).
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest wait for the chat server's answer to "who is connected".
const ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// The running worker; [`MailWorker::stop`] stops the thread, dropping it too (without
/// waiting).
pub struct MailWorker {
    /// Dropped to stop the thread (it waits on the receiver between rounds, and looks at it
    /// between emails); nothing is ever sent on it.
    stop: mpsc::Sender<()>,
    /// Disconnected when the thread ends.
    ended: mpsc::Receiver<()>,
}

impl MailWorker {
    /// Starts the worker's thread. `online` is the chat server's `ListOnline`.
    pub fn start(
        config: MailConfig,
        manager: DbConnectionManager,
        online: Recipient<ListOnline>,
    ) -> std::io::Result<MailWorker> {
        let transport = SmtpTransport::from_url(&config.smtp_url)
            .map_err(|e| std::io::Error::other(e.to_string()))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        let (stop, stopped) = mpsc::channel();
        let (ending, ended) = mpsc::channel::<()>();
        let mut mailer = Mailer {
            config,
            transport,
            conn: OwnConnection::new(manager),
            online,
            database_down: false,
        };
        std::thread::Builder::new()
            .name("mail".into())
            .spawn(move || {
                let _ending = ending;
                mailer.run(&stopped);
            })?;
        Ok(MailWorker { stop, ended })
    }

    /// Tells the thread to stop after the email in flight and waits for it, at most `within`
    /// (a blocking call: not on an async worker). Answers whether it ended in time.
    pub fn stop(self, within: Duration) -> bool {
        let MailWorker { stop, ended } = self;
        // A dropped sender is a lasting signal: every look at the receiver sees it.
        drop(stop);
        matches!(
            ended.recv_timeout(within),
            Err(mpsc::RecvTimeoutError::Disconnected)
        )
    }
}

/// The thread's state.
struct Mailer {
    config: MailConfig,
    transport: SmtpTransport,
    conn: OwnConnection,
    online: Recipient<ListOnline>,
    /// Whether the database is failing (logged once per outage).
    database_down: bool,
}

impl Mailer {
    fn run(&mut self, stopped: &mpsc::Receiver<()>) {
        log::info!(
            "mail: unread staff replies are emailed after {} through {} (from {})",
            humantime::format_duration(self.config.email_after),
            redacted(&self.config.smtp_url),
            self.config.from,
        );
        loop {
            match self.round(stopped) {
                Ok(()) => {
                    if std::mem::take(&mut self.database_down) {
                        log::info!("mail: the database answers again");
                    }
                }
                Err(e) => {
                    if !std::mem::replace(&mut self.database_down, true) {
                        log::error!("mail: the email outbox cannot be read: {e}");
                    }
                    crate::metrics::database_error("mail");
                    self.conn.reset();
                }
            }
            if let Err(mpsc::RecvTimeoutError::Disconnected) =
                stopped.recv_timeout(self.config.scan_every)
            {
                return;
            }
        }
    }

    /// One scan and the due emails.
    fn round(&mut self, stopped: &mpsc::Receiver<()>) -> Result<(), StorageError> {
        let now = now_millis();
        let (since, quiet_before) = scan_window(now, self.config.email_after);
        // Page by room: a page of connected customers (skipped, and found again by every
        // scan) must not hide the conversations after it.
        let mut after = String::new();
        for _ in 0..MAX_PAGES {
            let page =
                outbox::candidates(self.conn.get()?, since, quiet_before, &after, PER_ROUND)?;
            let Some(online) = self.ask_online(page.iter().map(|c| c.customer_id)) else {
                // No answer (the chat server is stopping): nobody is emailed without knowing.
                return Ok(());
            };
            for candidate in &page {
                if !online.contains(&UserId(candidate.customer_id)) {
                    self.record(candidate, now)?;
                }
            }
            match page.last() {
                Some(last) if page.len() as i64 == PER_ROUND => after.clone_from(&last.room),
                _ => break,
            }
        }
        let due = outbox::due(self.conn.get()?, now, PER_ROUND)?;
        let Some(online) = self.ask_online(due.iter().map(|e| e.customer_id)) else {
            return Ok(());
        };
        for email in &due {
            if let Err(mpsc::TryRecvError::Disconnected) = stopped.try_recv() {
                break;
            }
            let online = online.contains(&UserId(email.customer_id));
            self.attempt(email, online)?;
        }
        Ok(())
    }

    /// Records the email of a conversation (before anything is sent).
    fn record(&mut self, candidate: &Candidate, now: i64) -> Result<(), StorageError> {
        if outbox::enqueue(self.conn.get()?, candidate, now)? {
            log::debug!(
                "mail: {} gets an email of its replies up to seq {}",
                candidate.room,
                candidate.reply_seq
            );
        }
        Ok(())
    }

    /// Which of `users` have a socket open on this server; none when the chat server does not
    /// answer.
    fn ask_online(&self, users: impl Iterator<Item = i64>) -> Option<HashSet<UserId>> {
        let users: Vec<UserId> = users.map(UserId).collect();
        if users.is_empty() {
            return Some(HashSet::new());
        }
        block_on(self.online.send(ListOnline { users }), ASK_TIMEOUT)?.ok()
    }

    /// One attempt at one due email, if this worker gets to claim it.
    fn attempt(&mut self, email: &EmailRow, online: bool) -> Result<(), StorageError> {
        let claim_until = now_millis() + 2 * SMTP_TIMEOUT.as_millis() as i64 + 1000;
        if !outbox::claim(self.conn.get()?, email, claim_until)? {
            return Ok(());
        }
        let attempts = email.attempts.saturating_add(1).max(1) as u32;
        let customer_id = UserId(email.customer_id);
        let account = users::find_by_id(self.conn.get()?, customer_id)?
            .filter(|row| row.merged_into.is_none());
        let address = account
            .as_ref()
            .and_then(|row| row.email.clone())
            .filter(|e| !e.trim().is_empty());
        let customer = Customer {
            exists: account.is_some(),
            has_email: address.is_some(),
            read_seq: rooms::read_cursor(self.conn.get()?, customer_id, &email.room)?,
            online,
        };
        let after = match decide(email.from_seq, email.up_to_seq, customer) {
            Decision::Cancel(why) => {
                log::debug!("mail: the email of {} is cancelled: {why}", email.room);
                return outbox::cancel(self.conn.get()?, email.id, why);
            }
            Decision::Postpone => {
                let at = now_millis() + self.config.scan_every.as_millis() as i64;
                return outbox::postpone(self.conn.get()?, email.id, at);
            }
            Decision::Send { after } => after,
        };
        let replies = outbox::replies(self.conn.get()?, &email.room, after, email.up_to_seq)?;
        let (Some(row), Some(address), false) = (account, address, replies.is_empty()) else {
            return outbox::cancel(self.conn.get()?, email.id, "the replies were deleted");
        };
        let composed = compose(&row.username, &replies, &self.config.public_url);
        let message = match build(&self.config.from, &address, &composed) {
            Ok(message) => message,
            Err(why) => {
                log::warn!("mail: the email of {} is not sent: {why}", email.room);
                return outbox::cancel(self.conn.get()?, email.id, &why);
            }
        };
        let (failure, error) = match self.transport.send(&message) {
            Ok(_) => {
                return outbox::mark_sent(self.conn.get()?, email.id, now_millis());
            }
            Err(e) if e.is_permanent() => (Failure::Permanent, e.to_string()),
            Err(e) => (Failure::Transient, e.to_string()),
        };
        match failure {
            Failure::Permanent => {
                log::warn!(
                    "mail: the SMTP server refused the email of {}: {error}",
                    email.room
                );
                outbox::cancel(self.conn.get()?, email.id, &error)
            }
            Failure::Transient => {
                let wait = retry_wait(self.config.scan_every, attempts);
                let line = format!(
                    "mail: the email of {} is not sent (attempt {attempts}: {error}), next \
                     attempt in {}",
                    email.room,
                    humantime::format_duration(wait)
                );
                if attempts == 1 {
                    log::warn!("{line}");
                } else {
                    log::debug!("{line}");
                }
                let at = now_millis() + wait.as_millis() as i64;
                outbox::retry_at(self.conn.get()?, email.id, at, &error)
            }
        }
    }
}

/// Wakes the worker's thread when the future it waits on can go on.
struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Waits on this (non-async) thread for `future`, at most `within`. The chat server's answer
/// is the one future the worker waits on; it needs no runtime, only a waker.
fn block_on<F: Future>(future: F, within: Duration) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let deadline = Instant::now() + within;
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Some(output);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        std::thread::park_timeout(left);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_on_answers_a_ready_future_and_gives_up_on_a_pending_one() {
        assert_eq!(block_on(async { 7 }, Duration::from_millis(10)), Some(7));
        let never = std::future::pending::<()>();
        let started = Instant::now();
        assert_eq!(block_on(never, Duration::from_millis(30)), None);
        assert!(started.elapsed() >= Duration::from_millis(30));
    }
}

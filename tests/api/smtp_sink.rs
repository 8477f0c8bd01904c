//! A real SMTP server for the email stories: the SMTP protocol of the `mailin` crate (its
//! session state machine and replies) over a plain `TcpListener` on 127.0.0.1, keeping every
//! email it is given. It can be started on a port chosen beforehand (the stories where the mail
//! server is down first) and stopped (dropped).

use mailin::{Action, Handler, Response, SessionBuilder};
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// One email as the SMTP server took it.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The envelope's recipients.
    pub to: Vec<String>,
    /// The message as sent (headers and body).
    pub data: String,
}

impl Mail {
    /// The body: what follows the headers.
    pub fn body(&self) -> &str {
        self.data
            .split_once("\r\n\r\n")
            .map_or(self.data.as_str(), |(_, body)| body)
    }

    /// The value of header `name` (first line only).
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }
}

/// What every connection's handler shares.
#[derive(Clone)]
struct Inbox {
    mails: Arc<Mutex<Vec<Mail>>>,
    count: Arc<watch::Sender<usize>>,
}

/// One connection's handler: collects the current email.
struct Collector {
    inbox: Inbox,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Collector {
    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.to = to.to_vec();
        self.data.clear();
        mailin::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let mail = Mail {
            to: std::mem::take(&mut self.to),
            data: String::from_utf8_lossy(&std::mem::take(&mut self.data)).into_owned(),
        };
        let mut mails = self.inbox.mails.lock().unwrap();
        mails.push(mail);
        self.inbox.count.send_replace(mails.len());
        mailin::response::OK
    }
}

/// A running SMTP server.
pub struct SmtpSink {
    /// Where it listens.
    pub address: SocketAddr,
    inbox: Inbox,
    count: watch::Receiver<usize>,
    stop: Arc<AtomicBool>,
}

impl SmtpSink {
    /// A free port on 127.0.0.1, for a server started later (nothing listens there meanwhile).
    pub fn free_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    /// Starts a server on a free port.
    pub fn start() -> SmtpSink {
        SmtpSink::start_on(0)
    }

    /// Starts a server on `port` of 127.0.0.1.
    pub fn start_on(port: u16) -> SmtpSink {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("the SMTP port");
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap();
        let (count_tx, count) = watch::channel(0);
        let inbox = Inbox {
            mails: Arc::default(),
            count: Arc::new(count_tx),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let (accepting, stopping) = (inbox.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, peer)) => {
                        let inbox = accepting.clone();
                        std::thread::spawn(move || serve(stream, peer.ip(), inbox));
                    }
                    // The stop flag is looked at between accepts.
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        SmtpSink {
            address,
            inbox,
            count,
            stop,
        }
    }

    /// `smtp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.address)
    }

    /// Every email taken so far.
    pub fn mails(&self) -> Vec<Mail> {
        self.inbox.mails.lock().unwrap().clone()
    }

    /// Waits until `n` emails in all have come (at most `within`), and returns them all.
    pub async fn wait_for(&mut self, n: usize, within: Duration) -> Vec<Mail> {
        let arrived = tokio::time::timeout(within, self.count.wait_for(|count| *count >= n))
            .await
            .is_ok_and(|seen| seen.is_ok());
        assert!(arrived, "{n} emails expected, got {:?}", self.mails());
        self.mails()
    }
}

impl Drop for SmtpSink {
    /// Stops listening (connections in progress finish).
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// One SMTP session on `stream`.
fn serve(stream: TcpStream, peer: IpAddr, inbox: Inbox) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let handler = Collector {
        inbox,
        to: Vec::new(),
        data: Vec::new(),
    };
    let mut session = SessionBuilder::new("sink.test").build(peer, handler);
    if session.greeting().write_to(&mut writer).is_err() {
        return;
    }
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let response = session.process(&line);
        match response.action {
            Action::Reply => {
                if response.write_to(&mut writer).is_err() || writer.flush().is_err() {
                    return;
                }
            }
            Action::Close => {
                let _ = response.write_to(&mut writer);
                return;
            }
            Action::UpgradeTls => return,
            Action::NoReply => {}
        }
    }
}

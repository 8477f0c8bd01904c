//! The store's backend as the webhook stories see it: a real HTTP server on a free port, on a
//! thread of its own, that records every request (headers, exact body) and answers each with
//! the status the story decides.

use crate::helpers::WAIT;
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    /// The exact bytes.
    pub body: Vec<u8>,
    /// The body, parsed.
    pub json: Value,
    /// The status it was answered with.
    pub status: u16,
}

impl Received {
    pub fn event(&self) -> &str {
        self.json["event"].as_str().unwrap_or_default()
    }

    pub fn room(&self) -> &str {
        self.json["conversation"]["room"]
            .as_str()
            .unwrap_or_default()
    }

    pub fn text(&self) -> &str {
        self.json["message"]["text"].as_str().unwrap_or_default()
    }
}

/// A port of the store's backend while it is down: bound, so nobody else takes it between the
/// story's steps, but not listening, so every connection to it is refused.
pub struct DownPort(tokio::net::TcpSocket);

impl DownPort {
    /// A free port on 127.0.0.1, kept.
    pub fn new() -> DownPort {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .bind("127.0.0.1:0".parse().unwrap())
            .expect("a free port");
        DownPort(socket)
    }

    /// `http://127.0.0.1:PORT/chat-events`.
    pub fn url(&self) -> String {
        let address = self.0.local_addr().expect("bound");
        format!("http://{address}/chat-events")
    }
}

/// Decides the status of each request (and may take its time: it is called on the request's
/// own thread, holding no lock).
pub type Answers = Arc<dyn Fn(&Received) -> u16 + Send + Sync>;

/// The store's backend, as a test sees it: an HTTP server (a thread per connection) that
/// records every request and answers as the story says.
pub struct Receiver {
    address: SocketAddr,
    /// Requests read, answered or not yet.
    arrived: Arc<AtomicUsize>,
    /// Requests answered.
    got: Arc<Mutex<Vec<Received>>>,
    answers: Arc<Mutex<Answers>>,
}

impl Receiver {
    /// A receiver answering 200 to everything.
    pub fn start() -> Receiver {
        Receiver::answering(|_| 200)
    }

    /// A receiver answering as `answers` says.
    pub fn answering(answers: impl Fn(&Received) -> u16 + Send + Sync + 'static) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        Receiver::serve(listener, Arc::new(answers))
    }

    /// A receiver on the port a story kept while "the store was down".
    pub fn start_on(port: DownPort) -> Receiver {
        let listener = port.0.listen(128).expect("listen on the kept port");
        let listener = listener.into_std().expect("a std listener");
        listener.set_nonblocking(false).expect("blocking accepts");
        Receiver::serve(listener, Arc::new(|_| 200))
    }

    fn serve(listener: TcpListener, answers: Answers) -> Receiver {
        let address = listener.local_addr().unwrap();
        let arrived = Arc::new(AtomicUsize::new(0));
        let got = Arc::new(Mutex::new(Vec::new()));
        let answers = Arc::new(Mutex::new(answers));
        let (count, keep, decide) = (arrived.clone(), got.clone(), answers.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                // As many requests on a connection as the client sends.
                let (count, keep, decide) = (count.clone(), keep.clone(), decide.clone());
                std::thread::spawn(move || handle(stream, &count, &keep, &decide));
            }
        });
        Receiver {
            address,
            arrived,
            got,
            answers,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/chat-events", self.address)
    }

    /// Requests read so far, including one still waiting for its answer.
    pub fn arrived(&self) -> usize {
        self.arrived.load(Ordering::SeqCst)
    }

    /// Changes how it answers from now on.
    pub fn answer(&self, answers: impl Fn(&Received) -> u16 + Send + Sync + 'static) {
        *self.answers.lock().unwrap() = Arc::new(answers);
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (up to `WAIT`) until `n` requests came that `which` picks; returns all of them.
    pub async fn wait_for(&self, n: usize, which: impl Fn(&Received) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + WAIT;
        loop {
            let got: Vec<Received> = self.received().into_iter().filter(&which).collect();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} requests came: {:#?}",
                got.len(),
                self.received()
                    .iter()
                    .map(|r| (r.status, r.json.clone()))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The requests delivered (answered 2xx), in the order they came.
    pub fn delivered(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| (200..300).contains(&r.status))
            .collect()
    }
}

/// Reads requests from one connection and answers each.
fn handle(
    stream: TcpStream,
    arrived: &AtomicUsize,
    got: &Mutex<Vec<Received>>,
    answers: &Mutex<Answers>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        assert!(
            request_line.starts_with("POST /chat-events "),
            "{request_line}"
        );
        let mut headers = HashMap::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
            }
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|l| l.parse().ok())
            .expect("a Content-Length");
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let mut received = Received {
            json: serde_json::from_slice(&body).expect("a JSON body"),
            headers,
            body,
            status: 0,
        };
        arrived.fetch_add(1, Ordering::SeqCst);
        let answer = answers.lock().unwrap().clone();
        received.status = answer(&received);
        got.lock().unwrap().push(received.clone());
        let response = format!(
            "HTTP/1.1 {} Whatever\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok",
            received.status
        );
        writer.write_all(response.as_bytes())?;
    }
}

//! A store's own site for the widget stories: a tiny HTTP server on another port (so another
//! origin than the chat server's), serving the pages the story gives it, each with the
//! `<script src=".../widget.js">` tag a store adds.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A page: its HTML and the Content-Security-Policy it is sent with, if any.
type Page = (String, Option<String>);

/// The store's site, on 127.0.0.1 (also reachable as localhost) on a port of its own.
pub struct Store {
    /// Its port.
    pub port: u16,
    pages: Arc<Mutex<HashMap<String, Page>>>,
    stop: Arc<AtomicBool>,
}

impl Store {
    /// Starts serving (an empty site until pages are given).
    pub fn start() -> Store {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port for the store");
        let port = listener.local_addr().expect("address").port();
        let pages: Arc<Mutex<HashMap<String, Page>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (served, stopped) = (pages.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let pages = served.clone();
                    std::thread::spawn(move || answer(stream, &pages));
                }
            }
        });
        Store { port, pages, stop }
    }

    /// Serves `html` at `path`.
    pub fn page(&self, path: &str, html: String) {
        self.pages
            .lock()
            .expect("pages")
            .insert(path.to_owned(), (html, None));
    }

    /// Serves `html` at `path` with this Content-Security-Policy (a shop with a policy of its own).
    pub fn page_with_policy(&self, path: &str, html: String, policy: &str) {
        self.pages
            .lock()
            .expect("pages")
            .insert(path.to_owned(), (html, Some(policy.to_owned())));
    }

    /// `http://<host>:<port><path>`.
    pub fn url(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.port)
    }

    /// The store's origin as the stories list it in --embed-origins.
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn answer(mut stream: TcpStream, pages: &Mutex<HashMap<String, Page>>) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // The rest of the head.
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("/");
    let path = target.split('?').next().unwrap_or("/");
    let page = pages.lock().expect("pages").get(path).cloned();
    let (status, body, policy) = match page {
        Some((html, policy)) => ("200 OK", html, policy),
        None => ("404 Not Found", "<h1>Not found</h1>".to_owned(), None),
    };
    let policy = policy.map_or(String::new(), |p| {
        format!("Content-Security-Policy: {p}\r\n")
    });
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         {policy}Cache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// A page of the store: a heading, some products, and the widget's script tag with these
/// `data-` attributes (already written as ` name="value"` pairs). Its own styles are
/// deliberately loud, to show that none of them reach the widget.
pub fn store_page(chat_base: &str, heading: &str, attributes: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Acme Outdoor</title>
<style>
  body {{ margin: 0; font-family: Georgia, serif; background: #f6f1e7; color: #2b2118; }}
  header {{ background: #2b2118; color: #f6f1e7; padding: 18px 32px; font-size: 22px; }}
  main {{ padding: 24px 32px; display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 20px; }}
  .product {{ background: #fff; border-radius: 8px; padding: 16px; box-shadow: 0 1px 3px rgba(0,0,0,.15); }}
  .product b {{ display: block; margin-bottom: 6px; }}
  button, iframe, div {{ font-size: 30px !important; }}
  button {{ background: red !important; border: 5px dashed lime !important; }}
</style></head>
<body>
<header>Acme Outdoor · {heading}</header>
<main>
  <div class="product"><b>Trail tent</b>2-person, 1.9 kg<br>€249</div>
  <div class="product"><b>Down jacket</b>800 fill<br>€189</div>
  <div class="product"><b>Camp stove</b>Titanium<br>€79</div>
  <div class="product"><b>Headlamp</b>400 lumen<br>€39</div>
</main>
<p><a id="next-page" href="/other">More products</a></p>
<script src="{chat_base}/widget.js" defer{attributes}></script>
</body></html>"#
    )
}

//! A chromedriver per test and headless Chromium windows driven through it.

use crate::helpers::{TestApp, WAIT};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The chromedriver for the story named `$test`; without one (see [`Driver::start_or_skip`]),
/// the story returns at once.
macro_rules! driver_or_skip {
    ($test:expr) => {
        match $crate::driver::Driver::start_or_skip($test).await {
            Some(driver) => driver,
            None => return,
        }
    };
}
pub(crate) use driver_or_skip;

/// A running chromedriver.
pub struct Driver {
    child: Child,
    url: String,
    profiles: Vec<tempfile::TempDir>,
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| PathBuf::from(dir).join(name))
        .find(|p| p.is_file())
}

impl Driver {
    /// Starts chromedriver, or says loudly that the test is skipped when there is none (a
    /// failure when CHAT_TEST_REQUIRE_BROWSER=1).
    pub async fn start_or_skip(test: &str) -> Option<Driver> {
        let binary = std::env::var_os("CHROMEDRIVER")
            .map(PathBuf::from)
            .or_else(|| find_on_path("chromedriver"));
        let Some(binary) = binary else {
            assert!(
                std::env::var("CHAT_TEST_REQUIRE_BROWSER").as_deref() != Ok("1"),
                "{test}: CHAT_TEST_REQUIRE_BROWSER=1 but no chromedriver on PATH"
            );
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED in the browser: {test} (install chromium and chromium-driver to run it)"
            );
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        // A process group of its own: the Chromium processes it starts belong to it, and all
        // of them are killed with it (a story that fails, or forgets `close`, leaves none).
        let mut command = Command::new(binary);
        command
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().expect("start chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while awc::Client::new()
            .get(format!("{url}/status"))
            .send()
            .await
            .is_err()
        {
            assert!(started.elapsed() < WAIT, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Some(Driver {
            child,
            url,
            profiles: Vec::new(),
        })
    }

    /// A new headless Chromium window of this size, with a profile of its own.
    pub async fn browser(&mut self, width: u32, height: u32) -> Browser {
        self.browser_with(width, height, &[]).await
    }

    /// [`Driver::browser`] whose reader's locale is `locale` (e.g. "de-DE"): the language of
    /// the browser (`--lang`, Accept-Language) and the default locale of its `Intl` (through
    /// the DevTools protocol: headless Chromium takes it from the environment, not `--lang`).
    pub async fn browser_in_locale(&mut self, width: u32, height: u32, locale: &str) -> Browser {
        let browser = self
            .browser_with(width, height, &[&format!("--lang={locale}")])
            .await;
        let session = browser
            .client
            .session_id()
            .await
            .expect("a session")
            .expect("a session id");
        let status = awc::Client::new()
            .post(format!("{}/session/{session}/goog/cdp/execute", self.url))
            .send_json(&json!({"cmd": "Emulation.setLocaleOverride", "params": {"locale": locale}}))
            .await
            .expect("chromedriver answers")
            .status();
        assert!(status.is_success(), "locale override: {status}");
        browser
    }

    /// [`Driver::browser`], with more Chromium switches.
    async fn browser_with(&mut self, width: u32, height: u32, extra: &[&str]) -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        if width < 500 {
            args.push("--force-device-scale-factor=1".to_owned());
        }
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let mut options = json!({ "args": args });
        if let Some(chromium) = find_on_path("chromium") {
            options["binary"] = json!(chromium);
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), options);
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a Chromium session");
        client
            .set_window_size(width, height)
            .await
            .expect("window size");
        self.profiles.push(profile);
        Browser { client }
    }
}

impl Drop for Driver {
    /// Kills chromedriver and every browser it started (its process group).
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser window.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
}

/// The WebDriver code of the Enter key.
pub const ENTER: &str = "\u{E007}";

impl Browser {
    /// Opens a page of the app.
    pub async fn open(&self, app: &TestApp, path: &str) {
        self.client
            .goto(&format!("{}{path}", app.base))
            .await
            .expect("page loads");
    }

    /// Waits for a visible element.
    pub async fn find(&self, css: &str) -> Element {
        let started = Instant::now();
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                if element.is_displayed().await.unwrap_or(false) {
                    return element;
                }
            }
            assert!(started.elapsed() < WAIT, "no visible {css}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Types into an element.
    pub async fn type_into(&self, css: &str, text: &str) {
        self.find(css).await.send_keys(text).await.expect("typing");
    }

    /// Clicks an element.
    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("click");
    }

    /// Runs a script in the page and returns its value.
    pub async fn eval(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .expect("script runs")
    }

    /// Waits until a script returns true.
    pub async fn wait_until(&self, what: &str, script: &str) {
        let started = Instant::now();
        loop {
            if self.client.execute(script, vec![]).await.ok() == Some(json!(true)) {
                return;
            }
            assert!(started.elapsed() < WAIT, "timed out waiting until {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until some element matching `css` has exactly this text.
    pub async fn wait_for_text(&self, css: &str, text: &str) {
        let script = format!(
            "return [...document.querySelectorAll({css})].some(e => e.textContent.trim() === {text});",
            css = json!(css),
            text = json!(text.trim())
        );
        self.wait_until(&format!("{css} shows {text:?}"), &script)
            .await;
    }

    /// Saves a screenshot as target/screenshots/<name>.png.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
            .join("screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// Ends the session.
    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

//! A minimal WebDriver client for Debian's Chromium (ChromeDriver), Firefox
//! ESR (geckodriver) and WebKitGTK (WebKitWebDriver), written against the
//! W3C WebDriver protocol over plain HTTP (ureq), which keeps the test
//! build small. One driver process per engine serves the whole test
//! binary (restarted once should it stop starting sessions); every
//! [`Browser`] is a new session with a new, empty profile,
//! i.e. a first-time visitor.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
pub const TAB: &str = "\u{E004}";
pub const SHIFT: &str = "\u{E008}";
pub const ENTER: &str = "\u{E007}";
pub const ESCAPE: &str = "\u{E00C}";
pub const SPACE: &str = " ";

struct Driver {
    url: String,
    child: Child,
}

/// The browser engines the tests drive. [`Browser::new`] gives the one
/// `CRUMB_E2E_ENGINE` names (`chromium`, the default, `firefox` or
/// `webkit`): `cargo xtask test` runs the end-to-end suite in Chromium,
/// then again in WebKitGTK (WebKit, Safari's engine) and Firefox ESR
/// (Gecko), but for the tests that need the Chrome DevTools Protocol (the
/// network log of every request and answer, scripts run before every
/// page, phone viewports, print, GPC), which run in Chromium alone
/// (`CHROMIUM_ONLY` in xtask/src/main.rs). engines.rs names its engines itself, so the
/// Chromium pass already runs a visitor's main paths in each engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Chromium,
    Firefox,
    WebKit,
}

impl Engine {
    /// The engine `CRUMB_E2E_ENGINE` names; Chromium when it is unset.
    pub fn from_env() -> Engine {
        match std::env::var("CRUMB_E2E_ENGINE").as_deref() {
            Err(_) | Ok("" | "chromium") => Engine::Chromium,
            Ok("firefox") => Engine::Firefox,
            Ok("webkit") => Engine::WebKit,
            Ok(other) => panic!("CRUMB_E2E_ENGINE={other}: use chromium, firefox or webkit"),
        }
    }
}

/// Each engine's driver process, started on first use and restarted when
/// it stops answering (see [`Browser::session`]).
static DRIVERS: [Mutex<Option<Driver>>; 3] = [const { Mutex::new(None) }; 3];
/// Browser sessions run one at a time: a browser is heavy for a two-core
/// CI machine, and timing-sensitive waits stay reliable.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The `proxy` capability that sends Firefox's requests for other hosts
/// than this machine to [`crate::trap`] (WebKitGTK's MiniBrowser is told
/// on its command line).
fn trap_proxy() -> Value {
    let trap = crate::trap::address();
    json!({
        "proxyType": "manual",
        "httpProxy": trap,
        "sslProxy": trap,
        "noProxy": ["127.0.0.1", "localhost"],
    })
}

/// The environment variable `name`, else `default`.
fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.into())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The address of `engine`'s driver, started if it is not running yet.
/// With `restart`, a running one is stopped and a new one started.
fn driver_url(engine: Engine, restart: bool) -> String {
    let mut slot = DRIVERS[engine as usize]
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if restart && let Some(mut old) = slot.take() {
        drop(old.child.kill());
        drop(old.child.wait());
    }
    slot.get_or_insert_with(|| start_driver(engine)).url.clone()
}

fn start_driver(engine: Engine) -> Driver {
    let port = free_port();
    let (path, args, install) = match engine {
        Engine::Chromium => (
            env_or("CHROMEDRIVER", "/usr/bin/chromedriver"),
            vec![format!("--port={port}")],
            "install chromium and chromium-driver",
        ),
        Engine::Firefox => (
            geckodriver(),
            vec![format!("--port={port}")],
            "install firefox-esr, and geckodriver (`cargo xtask test` puts it in target/tools/bin)",
        ),
        Engine::WebKit => (
            env_or("WEBKITWEBDRIVER", "/usr/bin/WebKitWebDriver"),
            vec![format!("--port={port}")],
            "install webkit2gtk-driver and xvfb",
        ),
    };
    let mut command = Command::new("setpriv");
    command
        .args(["--pdeathsig", "TERM", "--"])
        .arg(&path)
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // WebKitGTK draws on a display even when nobody looks.
    if engine == Engine::WebKit && std::env::var_os("DISPLAY").is_none() {
        command.env("DISPLAY", virtual_display());
    }
    let child =
        spawn_for_life(command).unwrap_or_else(|e| panic!("cannot start {path} ({e}); {install}"));
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while ureq::get(&format!("{url}/status")).call().is_err() {
        assert!(Instant::now() < deadline, "{path} did not start; {install}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver { url, child }
}

/// geckodriver: `$GECKODRIVER`, else the copy `cargo xtask test` installs
/// into target/tools (it is on crates.io, not in Debian), else the PATH's.
fn geckodriver() -> String {
    if let Ok(path) = std::env::var("GECKODRIVER") {
        return path;
    }
    let tools = crate::site::workspace().join("target/tools/bin/geckodriver");
    if tools.is_file() {
        return tools.display().to_string();
    }
    "geckodriver".into()
}

/// An X display for WebKitGTK where the environment has none: Xvfb on the
/// first free display number from 90 on, started once and ended with the
/// test binary.
fn virtual_display() -> String {
    static XVFB: OnceLock<(String, Child)> = OnceLock::new();
    XVFB.get_or_init(|| {
        let socket = |n: u32| PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
        let n = (90..200)
            .find(|n| !socket(*n).exists() && !Path::new(&format!("/tmp/.X{n}-lock")).exists())
            .expect("a free X display number");
        let mut command = Command::new("setpriv");
        command
            .args(["--pdeathsig", "TERM", "--", "Xvfb"])
            .arg(format!(":{n}"))
            .args(["-nolisten", "tcp", "-screen", "0", "1600x1200x24"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = spawn_for_life(command)
            .unwrap_or_else(|e| panic!("cannot start Xvfb ({e}); install xvfb"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while !socket(n).exists() {
            assert!(Instant::now() < deadline, "Xvfb did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        (format!(":{n}"), child)
    })
    .0
    .clone()
}

/// Starts `command` so that it ends with this process: the test harness
/// and the benches exit without running destructors, and each run used to
/// leave a ChromeDriver behind. `setpriv --pdeathsig` asks the kernel to
/// signal the child when the thread that started it ends, so it is started
/// from a thread that lives as long as the process (a test's own thread
/// ends with the test).
fn spawn_for_life(mut command: Command) -> std::io::Result<Child> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("driver-parent".into())
        .spawn(move || {
            drop(tx.send(command.spawn()));
            loop {
                std::thread::park();
            }
        })?;
    rx.recv().expect("the spawning thread answers")
}

fn send(method: &str, url: &str, body: Option<Value>) -> Value {
    try_send(method, url, body).unwrap_or_else(|e| panic!("{e}"))
}

/// One WebDriver command: its answer's `value`, or why it failed.
fn try_send(method: &str, url: &str, body: Option<Value>) -> Result<Value, String> {
    let req = ureq::request(method, url).timeout(Duration::from_secs(60));
    let result = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    let resp = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(code, r)) => {
            return Err(format!(
                "WebDriver {method} {url} failed ({code}): {}",
                r.into_string().unwrap_or_default()
            ));
        }
        Err(e) => return Err(format!("WebDriver {method} {url} failed: {e}")),
    };
    let v: Value = resp.into_json().map_err(|e| e.to_string())?;
    Ok(v["value"].clone())
}

pub struct Browser {
    engine: Engine,
    /// The address of the driver that holds this session.
    driver: String,
    session: String,
    /// Chromium's network log as read so far: ChromeDriver hands each
    /// entry out once, and [`Browser::settled`] reads it too.
    network: RefCell<NetworkLog>,
    /// Chromium's profile folder, removed with the browser (geckodriver
    /// and WebKitWebDriver make and remove their own).
    _profile: Option<tempfile::TempDir>,
    _turn: MutexGuard<'static, ()>,
}

impl Browser {
    /// A fresh browser (empty profile) at the given window size, of the
    /// engine `CRUMB_E2E_ENGINE` names (see [`Engine`]): headless Chromium
    /// unless told otherwise.
    pub fn new(width: u32, height: u32) -> Browser {
        Browser::of(Engine::from_env(), width, height)
    }

    /// A fresh Chromium whose visitor has switched on Global Privacy
    /// Control: it sends `Sec-GPC: 1` with every request and says
    /// `navigator.globalPrivacyControl === true`. That is Chromium's own
    /// GPC feature, forced on as a setting would, where the build has it;
    /// Debian's Chromium 148 has neither the header nor the property, and
    /// then the browser is made to send and say both, as Firefox and
    /// Brave do with GPC on. In Firefox (`CRUMB_E2E_ENGINE=firefox`), its
    /// own setting ([`Browser::firefox_with_gpc`]); WebKit has no GPC.
    pub fn with_gpc(width: u32, height: u32) -> Browser {
        match Engine::from_env() {
            Engine::Chromium => {}
            Engine::Firefox => return Browser::firefox_with_gpc(width, height),
            Engine::WebKit => panic!("WebKit has no Global Privacy Control (Safari sends none)"),
        }
        let browser = Browser::with_flags(
            width,
            height,
            &["--enable-features=GlobalPrivacyControl,GlobalPrivacyControlForce"],
        );
        browser.goto("about:blank");
        if browser.js("return navigator.globalPrivacyControl") != json!(true) {
            browser.cdp("Network.enable", json!({}));
            browser.cdp(
                "Network.setExtraHTTPHeaders",
                json!({"headers": {"Sec-GPC": "1"}}),
            );
            browser.before_every_page(
                "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl',
                   { get: () => true, configurable: true, enumerable: true });",
            );
        }
        browser
    }

    /// A fresh Chromium started with extra command-line `flags`. A
    /// `--host-resolver-rules=` flag adds its rules to the vendors' (Chromium
    /// reads only the last such flag).
    pub fn with_flags(width: u32, height: u32, flags: &[&str]) -> Browser {
        const RULES: &str = "--host-resolver-rules=";
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let profile = tempfile::TempDir::new().unwrap();
        let mut rules: Vec<String> = crate::VENDOR_HOSTS
            .iter()
            .flat_map(|h| {
                [
                    format!("MAP {h} 127.0.0.1:9"),
                    format!("MAP *.{h} 127.0.0.1:9"),
                ]
            })
            .collect();
        rules.extend(
            flags
                .iter()
                .filter_map(|f| f.strip_prefix(RULES))
                .map(str::to_owned),
        );
        let flags = flags.iter().filter(|f| !f.starts_with(RULES));
        let args = vec![
            "--headless".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            format!("--user-data-dir={}", profile.path().display()),
            format!("--window-size={width},{height}"),
            format!("--host-resolver-rules={}", rules.join(", ")),
        ];
        let args: Vec<String> = args
            .into_iter()
            .chain(flags.map(|f| f.to_string()))
            .collect();
        let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": binary, "args": args},
            "goog:loggingPrefs": {"performance": "ALL"},
        }}});
        Browser::session(Engine::Chromium, caps, Some(profile), turn)
    }

    /// A fresh browser of `engine` (empty profile) at the given window
    /// size: headless Chromium, headless Firefox ESR, or WebKitGTK's
    /// MiniBrowser.
    pub fn of(engine: Engine, width: u32, height: u32) -> Browser {
        match engine {
            Engine::Chromium => Browser::with_flags(width, height, &[]),
            Engine::Firefox => Browser::firefox(width, height, json!({})),
            Engine::WebKit => {
                let caps = json!({"capabilities": {"alwaysMatch": {
                    "browserName": "MiniBrowser",
                    "webkitgtk:browserOptions": {
                        "binary": env_or(
                            "MINIBROWSER",
                            "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser",
                        ),
                        // MiniBrowser leaves the session's `proxy`
                        // capability aside, so it is told on its
                        // command line.
                        "args": [
                            "--automation",
                            format!("--proxy=http://{}", crate::trap::address()),
                            "--ignore-host=127.0.0.1",
                            "--ignore-host=localhost",
                        ],
                    },
                }}});
                Browser::sized(Engine::WebKit, caps, width, height)
            }
        }
    }

    /// A fresh headless Firefox ESR with these preferences set.
    fn firefox(width: u32, height: u32, prefs: Value) -> Browser {
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "firefox",
            "proxy": trap_proxy(),
            "moz:firefoxOptions": {
                "binary": env_or("FIREFOX", "/usr/bin/firefox-esr"),
                "args": ["-headless"],
                "prefs": prefs,
            },
        }}});
        Browser::sized(Engine::Firefox, caps, width, height)
    }

    /// A fresh Firefox whose visitor has switched on Global Privacy Control
    /// in its settings: Firefox's own signal, `Sec-GPC: 1` on every request
    /// and `navigator.globalPrivacyControl === true`, where
    /// [`Browser::with_gpc`] has to make Chromium send and say them.
    pub fn firefox_with_gpc(width: u32, height: u32) -> Browser {
        Browser::firefox(
            width,
            height,
            json!({
                "privacy.globalprivacycontrol.enabled": true,
                "privacy.globalprivacycontrol.functionality.enabled": true,
            }),
        )
    }

    /// A new session of a driver that makes its own profile, then its
    /// window sized.
    fn sized(engine: Engine, caps: Value, width: u32, height: u32) -> Browser {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let browser = Browser::session(engine, caps, None, turn);
        send(
            "POST",
            &browser.url("/window/rect"),
            Some(json!({"width": width, "height": height})),
        );
        browser
    }

    fn session(
        engine: Engine,
        caps: Value,
        profile: Option<tempfile::TempDir>,
        turn: MutexGuard<'static, ()>,
    ) -> Browser {
        // A driver now and then stops answering new sessions (WebKitWebDriver
        // once timed out on `POST /session` in CI, with every earlier test
        // passed), so a failed start gets one more try on a fresh driver.
        let mut driver = driver_url(engine, false);
        let v = try_send("POST", &format!("{driver}/session"), Some(caps.clone()))
            .or_else(|first| {
                eprintln!("{first}; restarting the {engine:?} driver");
                driver = driver_url(engine, true);
                try_send("POST", &format!("{driver}/session"), Some(caps))
            })
            .unwrap_or_else(|e| panic!("{e}"));
        let session = v["sessionId"].as_str().expect("a session id").to_owned();
        // What an earlier browser sent the proxy is not this one's, nor
        // what an earlier test had it refuse.
        crate::trap::take();
        crate::trap::refuse_paths(None);
        Browser {
            engine,
            driver,
            session,
            network: RefCell::default(),
            _profile: profile,
            _turn: turn,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/session/{}{path}", self.driver, self.session)
    }

    pub fn goto(&self, url: &str) {
        self.leave_document();
        send("POST", &self.url("/url"), Some(json!({"url": url})));
    }

    /// Goes back in the tab's history, as the browser's back button does.
    pub fn back(&self) {
        self.leave_document();
        send("POST", &self.url("/back"), Some(json!({})));
    }

    /// Forgets the requests the page being left still has in flight: they
    /// are not the next page's. A consent POST is sent with `keepalive` so
    /// that it outlives its page, and once the page is gone Chromium does
    /// not always log its end, which would leave [`Browser::settled`]
    /// waiting on the next page for a request that finished long before.
    fn leave_document(&self) {
        if self.engine == Engine::Chromium {
            self.read_network();
            self.network.borrow_mut().in_flight.clear();
        }
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page.
    pub fn js(&self, script: &str) -> Value {
        send(
            "POST",
            &self.url("/execute/sync"),
            Some(json!({"script": script, "args": []})),
        )
    }

    /// Polls `expr` (a JS expression) until it is truthy, for at most
    /// [`crate::PATIENCE`].
    pub fn wait(&self, expr: &str) {
        let deadline = Instant::now() + crate::PATIENCE;
        let script = format!("return !!({expr});");
        while self.js(&script) != Value::Bool(true) {
            assert!(Instant::now() < deadline, "timed out waiting for: {expr}");
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn element(&self, css: &str) -> String {
        let v = send(
            "POST",
            &self.url("/element"),
            Some(json!({"using": "css selector", "value": css})),
        );
        v[ELEMENT_KEY].as_str().expect("an element").to_owned()
    }

    /// Scrolls the element to the middle of its scroller (as a visitor
    /// would before clicking something the fixed banner covers), then clicks.
    pub fn click(&self, css: &str) {
        let id = self.element(css);
        send(
            "POST",
            &self.url("/execute/sync"),
            Some(json!({
                "script": "arguments[0].scrollIntoView({block: 'center'});",
                "args": [{ELEMENT_KEY: id}],
            })),
        );
        send(
            "POST",
            &self.url(&format!("/element/{id}/click")),
            Some(json!({})),
        );
    }

    /// Presses keys one after another (each down then up); `SHIFT` held
    /// around the next key when given as a pair via [`Browser::shift_tab`].
    pub fn press(&self, keys: &[&str]) {
        let actions: Vec<Value> = keys
            .iter()
            .flat_map(|k| {
                [
                    json!({"type": "keyDown", "value": k}),
                    json!({"type": "keyUp", "value": k}),
                ]
            })
            .collect();
        self.key_actions(actions);
    }

    pub fn shift_tab(&self) {
        self.key_actions(vec![
            json!({"type": "keyDown", "value": SHIFT}),
            json!({"type": "keyDown", "value": TAB}),
            json!({"type": "keyUp", "value": TAB}),
            json!({"type": "keyUp", "value": SHIFT}),
        ]);
    }

    fn key_actions(&self, actions: Vec<Value>) {
        send(
            "POST",
            &self.url("/actions"),
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        );
        send("DELETE", &self.url("/actions"), None);
    }

    pub fn screenshot(&self, path: &std::path::Path) {
        let v = send("GET", &self.url("/screenshot"), None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap();
        std::fs::write(path, png).unwrap();
    }

    /// The URLs the page requested since the last call to this or
    /// [`Browser::responses`] (from Chromium's network log), including ones
    /// that failed. In Firefox and WebKitGTK, only those for other hosts
    /// than this machine, as the proxy they go through noted them
    /// ([`crate::trap`]; for `https`, the host alone).
    pub fn requests(&self) -> Vec<String> {
        if self.engine != Engine::Chromium {
            return crate::trap::take();
        }
        self.read_network();
        std::mem::take(&mut self.network.borrow_mut().unread)
            .iter()
            .filter(|m| m["method"] == "Network.requestWillBeSent")
            .filter_map(|m| m["params"]["request"]["url"].as_str().map(str::to_owned))
            .collect()
    }

    /// Waits (at most [`crate::PATIENCE`]) until a request whose URL
    /// contains `part` has been made, and returns what
    /// [`Browser::requests`] gave meanwhile. (A request through Firefox's
    /// or WebKitGTK's proxy reaches it a moment after the page asked for
    /// it.)
    pub fn wait_for_request(&self, part: &str) -> Vec<String> {
        let deadline = Instant::now() + crate::PATIENCE;
        let mut seen = Vec::new();
        loop {
            seen.extend(self.requests());
            if seen.iter().any(|u| u.contains(part)) {
                return seen;
            }
            assert!(Instant::now() < deadline, "no request for {part}: {seen:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Requests to any vendor host among `urls`.
    pub fn vendor_requests(urls: &[String]) -> Vec<String> {
        urls.iter()
            .filter(|u| crate::VENDOR_HOSTS.iter().any(|h| u.contains(h)))
            .cloned()
            .collect()
    }

    /// Stops a test that needs Chromium's DevTools Protocol in another
    /// engine, saying what to do.
    fn chromium_only(&self) {
        assert!(
            self.engine == Engine::Chromium,
            "this needs Chromium's DevTools Protocol, which {:?} lacks: list the test in \
             CHROMIUM_ONLY (xtask/src/main.rs)",
            self.engine
        );
    }

    /// Sends a Chrome DevTools Protocol command, which ChromeDriver passes
    /// through.
    fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.chromium_only();
        send(
            "POST",
            &self.url("/goog/cdp/execute"),
            Some(json!({"cmd": cmd, "params": params})),
        )
    }

    /// The URLs the page has fetched so far (its Resource Timing entries:
    /// every engine has them, for the page's own origin and others).
    pub fn fetched(&self) -> Vec<String> {
        let urls = self.js("return performance.getEntriesByType('resource').map(e => e.name)");
        serde_json::from_value(urls).unwrap()
    }

    /// Runs `source` in every page before the page's own scripts.
    pub fn before_every_page(&self, source: &str) {
        self.cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": source}),
        );
    }

    /// Emulates a phone-sized viewport (Chromium windows cannot be made
    /// narrower than about 500 px; Firefox's not below 500 and WebKitGTK's
    /// not below 447 px of viewport).
    pub fn phone_viewport(&self, width: u32, height: u32) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 2, "mobile": true}),
        );
    }

    /// Renders in forced colors (Windows' contrast themes), as Chromium's
    /// DevTools emulate them: the page's colours give way to the system's.
    pub fn forced_colors(&self) {
        self.cdp(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "forced-colors", "value": "active"}]}),
        );
    }

    /// Renders for print, as Chromium's DevTools emulate it (what the
    /// page looks like on paper, or in a PDF).
    pub fn print_media(&self) {
        self.cdp("Emulation.setEmulatedMedia", json!({"media": "print"}));
    }

    /// Opens a new tab (same profile: same cookies, same site) and returns
    /// its handle; the session stays in the current tab.
    pub fn new_tab(&self) -> String {
        let v = send(
            "POST",
            &self.url("/window/new"),
            Some(json!({"type": "tab"})),
        );
        v["handle"].as_str().expect("a window handle").to_owned()
    }

    /// The current tab's handle.
    pub fn tab(&self) -> String {
        send("GET", &self.url("/window"), None)
            .as_str()
            .expect("a window handle")
            .to_owned()
    }

    pub fn switch_to(&self, handle: &str) {
        send(
            "POST",
            &self.url("/window"),
            Some(json!({"handle": handle})),
        );
    }

    /// The responses since the last call to this or [`Browser::requests`]
    /// (from Chromium's network log): URL and raw headers, lower-cased
    /// names, `Set-Cookie` included.
    pub fn responses(&self) -> Vec<(String, Vec<(String, String)>)> {
        self.read_network();
        let messages = std::mem::take(&mut self.network.borrow_mut().unread);
        let url_of = |id: &Value| {
            messages
                .iter()
                .find(|m| {
                    m["method"] == "Network.requestWillBeSent" && m["params"]["requestId"] == *id
                })
                .and_then(|m| m["params"]["request"]["url"].as_str())
                .unwrap_or_default()
                .to_owned()
        };
        messages
            .iter()
            .filter(|m| m["method"] == "Network.responseReceivedExtraInfo")
            .map(|m| {
                let headers = m["params"]["headers"]
                    .as_object()
                    .map(|h| {
                        h.iter()
                            .map(|(k, v)| {
                                (
                                    k.to_ascii_lowercase(),
                                    v.as_str().unwrap_or_default().into(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                (url_of(&m["params"]["requestId"]), headers)
            })
            .collect()
    }

    /// Moves what ChromeDriver has of the network log into `self.network`,
    /// keeping count of the requests still in flight. Returns how many
    /// entries were new.
    fn read_network(&self) -> usize {
        self.chromium_only();
        let v = send(
            "POST",
            &self.url("/se/log"),
            Some(json!({"type": "performance"})),
        );
        let mut log = self.network.borrow_mut();
        let mut new = 0;
        for entry in v.as_array().unwrap() {
            let Some(m) = entry["message"]
                .as_str()
                .and_then(|m| serde_json::from_str::<Value>(m).ok())
            else {
                continue;
            };
            let m = m["message"].clone();
            if let Some(id) = m["params"]["requestId"].as_str() {
                match m["method"].as_str().unwrap_or_default() {
                    // Only the web's requests: the new tab Chromium opens
                    // with (`chrome://new-tab-page...`) never finishes.
                    "Network.requestWillBeSent" => {
                        let url = m["params"]["request"]["url"].as_str().unwrap_or_default();
                        if url.starts_with("http") {
                            log.in_flight.insert(id.to_owned(), url.to_owned());
                        }
                    }
                    "Network.loadingFinished" | "Network.loadingFailed" => {
                        log.in_flight.remove(id);
                    }
                    _ => {}
                }
            }
            log.unread.push(m);
            new += 1;
        }
        new
    }

    /// Waits until the page is quiet: none of its requests in flight (the
    /// consent POST, a released script's fetch, the dialog's texts) and its
    /// event loop past two animation frames and the tasks queued from
    /// them (where crumb.js runs what a choice sets off), twice in a row
    /// with nothing new in the network log between. What the page has not
    /// done by then, it was not going to do: assertions that something
    /// did *not* happen come after this.
    ///
    /// Firefox and WebKitGTK have no such log: there only the event loop's
    /// turns are waited for (Chromium's pass has the whole check).
    pub fn settled(&self) {
        const TURNS: &str = "const done = arguments[arguments.length - 1];
            const turn = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
            turn().then(turn).then(() => done(true));";
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut quiet_rounds = 0;
        while quiet_rounds < 2 {
            send(
                "POST",
                &self.url("/execute/async"),
                Some(json!({"script": TURNS, "args": []})),
            );
            let new = match self.engine {
                Engine::Chromium => self.read_network(),
                _ => 0,
            };
            let log = self.network.borrow();
            quiet_rounds = if new == 0 && log.in_flight.is_empty() {
                quiet_rounds + 1
            } else {
                0
            };
            assert!(
                Instant::now() < deadline,
                "the page did not settle; requests in flight: {:?}",
                log.in_flight.values()
            );
        }
    }

    /// The page's cookies as WebDriver reports them (name, value, expiry in
    /// seconds since 1970, ...).
    pub fn cookies(&self) -> Vec<Value> {
        send("GET", &self.url("/cookie"), None)
            .as_array()
            .unwrap()
            .clone()
    }

    /// The names of the cookies the page sees.
    pub fn cookie_names(&self) -> Vec<String> {
        let v = send("GET", &self.url("/cookie"), None);
        v.as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["name"].as_str().map(str::to_owned))
            .collect()
    }
}

/// The part of Chromium's network log a [`Browser`] has read.
#[derive(Default)]
struct NetworkLog {
    /// Entries not yet handed out by [`Browser::requests`] or
    /// [`Browser::responses`].
    unread: Vec<Value>,
    /// Requests sent and neither finished nor failed yet, by id: their URLs.
    in_flight: HashMap<String, String>,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = ureq::delete(&self.url("")).call();
    }
}

//! Where Firefox and WebKitGTK send every request for another host than
//! this machine: a proxy that forwards nothing and notes what was asked
//! for. Chromium's network log shows the requests a page made (vendors'
//! hosts resolve to a closed local port there, see [`crate::VENDOR_HOSTS`]);
//! the other engines have no such log through WebDriver, but both take a
//! proxy from the session's `proxy` capability. So a test that checks
//! that nothing reached a vendor checks it in every engine: an attempt
//! shows up here as the address asked for (`https://host/` for a
//! `CONNECT`, whose path the proxy never sees), and nothing leaves the
//! machine.
//!
//! Plain `http` requests for a host under `crumb.test` (`www.crumb.test:
//! PORT`, the name a test gives a site's host) are the exception: the
//! proxy passes them to this machine's PORT, so a test can put Crumb and
//! its pages on hosts of one registrable domain in every engine (Chromium
//! sends them here when a test starts it so), and, as a proxy in front of
//! Crumb would, refuse the requests whose path names something
//! ([`refuse_paths`]). Those requests are noted too, with their whole
//! address.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The proxy's address, `127.0.0.1:PORT`; started on first use and kept
/// for the test binary's life (browsers run one at a time, so one log
/// serves them all).
pub fn address() -> &'static str {
    static ADDRESS: OnceLock<String> = OnceLock::new();
    ADDRESS.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port for the proxy");
        let address = listener.local_addr().unwrap().to_string();
        std::thread::Builder::new()
            .name("trap-proxy".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    std::thread::spawn(move || handle(stream));
                }
            })
            .expect("the proxy's thread");
        address
    })
}

/// What reached the proxy since the last call, oldest first.
pub fn take() -> Vec<String> {
    std::mem::take(&mut *SEEN.lock().unwrap_or_else(|p| p.into_inner()))
}

static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Adds `url` to what [`take`] gives.
fn note(url: String) {
    SEEN.lock().unwrap_or_else(|p| p.into_inner()).push(url);
}

/// How the proxy refuses a request.
#[derive(Clone, Copy, Debug)]
pub enum Refusal {
    /// The connection closes with no answer, as when a server is down.
    Unanswered,
    /// An HTML page with this status, as a rate limit (429) or a firewall
    /// (403) in front of a server answers.
    Answered(u16),
    /// The request reaches the server, but its answer is lost on the way
    /// back (the connection closes); once, then requests pass again.
    AnswerLost,
}

/// Requests for `crumb.test` hosts whose path has `part` in it are
/// refused from now on, as `Refusal` says; `None` lets them all through
/// again.
pub fn refuse_paths(refused: Option<(&str, Refusal)>) {
    *REFUSED.lock().unwrap_or_else(|p| p.into_inner()) =
        refused.map(|(part, how)| (part.to_owned(), how));
}

static REFUSED: Mutex<Option<(String, Refusal)>> = Mutex::new(None);

/// Notes the request a connection makes and answers that the proxy
/// cannot reach it, but for `crumb.test` hosts, whose requests it passes
/// on ([`forward`]) unless told to refuse them.
fn handle(mut stream: TcpStream) {
    drop(stream.set_read_timeout(Some(Duration::from_secs(5))));
    let mut reader = BufReader::new(stream.try_clone().expect("a second handle"));
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    // `CONNECT host:443 HTTP/1.1`, or `GET http://host/path HTTP/1.1`.
    let mut words = line.split_whitespace();
    let (Some(method), Some(target)) = (words.next(), words.next()) else {
        return;
    };
    if let Some(rest) = target.strip_prefix("http://")
        && let Some((authority, path)) = rest.split_once('/')
        && let Some((host, port)) = authority.split_once(':')
        && host.ends_with(".crumb.test")
    {
        note(format!("http://{authority}/{path}"));
        let refused = REFUSED.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match refused {
            Some((part, Refusal::Unanswered)) if path.contains(&part) => return,
            Some((part, Refusal::Answered(status))) if path.contains(&part) => {
                let page = "<h1>Refused</h1>";
                drop(write!(
                    stream,
                    "HTTP/1.1 {status} Refused\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                    page.len()
                ));
                return;
            }
            Some((part, Refusal::AnswerLost)) if path.contains(&part) => {
                refuse_paths(None);
                forward(reader, std::io::sink(), method, &format!("/{path}"), port);
                return;
            }
            _ => {}
        }
        forward(reader, stream, method, &format!("/{path}"), port);
        return;
    }
    let url = match method {
        "CONNECT" => format!("https://{}/", target.trim_end_matches(":443")),
        _ => target.to_owned(),
    };
    note(url);
    drop(
        stream.write_all(
            b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        ),
    );
}

/// Passes one request (its line read already) to this machine's `port`,
/// asking the server to close the connection after its answer, and the
/// answer to `client` as it comes.
fn forward(
    mut reader: BufReader<TcpStream>,
    mut client: impl Write,
    method: &str,
    path: &str,
    port: &str,
) {
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() || line.trim_end().is_empty() {
            break;
        }
        let name = line.split(':').next().unwrap_or("").to_ascii_lowercase();
        if name == "content-length" {
            length = line[15..].trim().parse().unwrap_or(0);
        }
        if name != "connection" && name != "proxy-connection" && name != "keep-alive" {
            head.push_str(&line);
        }
    }
    head.push_str("connection: close\r\n\r\n");
    let mut body = vec![0; length];
    if std::io::Read::read_exact(&mut reader, &mut body).is_err() {
        return;
    }
    let Ok(mut server) = TcpStream::connect(format!("127.0.0.1:{port}")) else {
        return;
    };
    if server.write_all(head.as_bytes()).is_err() || server.write_all(&body).is_err() {
        return;
    }
    drop(std::io::copy(&mut server, &mut client));
}

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
//! maps them itself), and, as a proxy in front of Crumb would, refuse the
//! requests whose path names something ([`refuse_paths`]).

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
                    std::thread::spawn(move || refuse(stream));
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

/// Requests for `crumb.test` hosts whose path has this in it are refused
/// from now on: the connection closes with no answer, as when a server is
/// down. `None` lets them all through again.
pub fn refuse_paths(part: Option<&str>) {
    *REFUSED.lock().unwrap_or_else(|p| p.into_inner()) = part.map(str::to_owned);
}

static REFUSED: Mutex<Option<String>> = Mutex::new(None);

/// Notes the request a connection makes and answers that the proxy
/// cannot reach it, but for `crumb.test` hosts (see [`forward`]).
fn refuse(mut stream: TcpStream) {
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
        let refused = REFUSED.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if refused.is_some_and(|part| path.contains(&part)) {
            return;
        }
        forward(reader, stream, method, &format!("/{path}"), port);
        return;
    }
    let url = match method {
        "CONNECT" => format!("https://{}/", target.trim_end_matches(":443")),
        _ => target.to_owned(),
    };
    SEEN.lock().unwrap_or_else(|p| p.into_inner()).push(url);
    drop(
        stream.write_all(
            b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        ),
    );
}

/// Passes one request (its line read already) to this machine's `port`,
/// asking the server to close the connection after its answer, and the
/// answer back as it comes.
fn forward(
    mut reader: BufReader<TcpStream>,
    mut client: TcpStream,
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

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

/// Notes the request a connection makes and answers that the proxy
/// cannot reach it.
fn refuse(mut stream: TcpStream) {
    drop(stream.set_read_timeout(Some(Duration::from_secs(5))));
    let mut line = String::new();
    if BufReader::new(&stream).read_line(&mut line).is_err() {
        return;
    }
    // `CONNECT host:443 HTTP/1.1`, or `GET http://host/path HTTP/1.1`.
    let mut words = line.split_whitespace();
    let (Some(method), Some(target)) = (words.next(), words.next()) else {
        return;
    };
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

//! An open-loop load generator for the server bench. Requests leave at a
//! constant rate whatever the answers' timing: each keep-alive connection
//! has a sender that writes its share of the requests at their due times
//! (HTTP/1.1 pipelining, so a slow answer does not hold the next request
//! back) and a receiver that reads the answers in order. A latency runs
//! from when its request was *due*, not from when it could be sent, so
//! every queue on the way (the client's socket, the server's accept queue,
//! its workers, the writer thread) is counted: no coordinated omission,
//! unlike a closed loop (wrk) that waits for each answer before it asks
//! again.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::json;

/// One open-loop run's figures.
#[derive(Debug, Clone, Default)]
pub struct OpenLoop {
    pub offered_per_s: f64,
    pub connections: usize,
    pub sent: u64,
    /// Answers with the expected status.
    pub ok: u64,
    /// Answers with another status.
    pub bad: u64,
    /// Requests that got no answer (connection closed or timed out).
    pub lost: u64,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl OpenLoop {
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.seconds
    }

    pub fn json(&self) -> serde_json::Value {
        let r = |x: f64| super::server::round(x, 3);
        json!({
            "offered_per_s": r(self.offered_per_s),
            "connections": self.connections,
            "sent": self.sent,
            "ok": self.ok,
            "bad": self.bad,
            "lost": self.lost,
            "seconds": r(self.seconds),
            "rate_per_s": r(self.rate()),
            "p50_ms": r(self.p50_ms),
            "p99_ms": r(self.p99_ms),
            "p999_ms": r(self.p999_ms),
            "max_ms": r(self.max_ms),
        })
    }
}

/// One connection's tally: latencies in microseconds of the expected
/// answers, and the counts of the others.
#[derive(Default)]
struct Tally {
    micros: Vec<u64>,
    bad: u64,
    lost: u64,
    sent: u64,
}

/// Reads one HTTP/1.1 answer; its status.
fn read_answer(r: &mut BufReader<TcpStream>) -> anyhow::Result<u16> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("not an HTTP status line: {line:?}"))?;
    let mut length = 0usize;
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            anyhow::bail!("connection closed in the headers");
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse()?;
        }
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body)?;
    Ok(status)
}

/// Sends `rate` requests per second for `seconds` over `connections`
/// connections to `addr` (`POST path` with `bodies` in rotation, or `GET
/// path` when there are none) and measures each answer from its request's
/// due time.
pub fn run(
    addr: &str,
    path: &str,
    bodies: &[String],
    expect: u16,
    rate: f64,
    seconds: f64,
    connections: usize,
) -> anyhow::Result<OpenLoop> {
    let requests: Vec<Vec<u8>> = if bodies.is_empty() {
        vec![format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes()]
    } else {
        bodies
            .iter()
            .map(|b| {
                let headers: String = super::server::HEADERS
                    .iter()
                    .map(|(name, value)| format!("{name}: {value}\r\n"))
                    .collect();
                format!(
                    "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
                     {headers}Content-Length: {}\r\n\r\n{b}",
                    b.len()
                )
                .into_bytes()
            })
            .collect()
    };
    let interval = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now() + Duration::from_millis(100);
    let end = start + Duration::from_secs_f64(seconds);
    let mut threads = Vec::new();
    for c in 0..connections {
        let stream = TcpStream::connect(addr).context("connecting")?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut writer = stream.try_clone()?;
        let mut reader = BufReader::new(stream);
        let requests = requests.clone();
        let (due_tx, due_rx) = mpsc::channel::<Instant>();
        let sender = std::thread::spawn(move || {
            let mut sent = 0u64;
            // Request i of this connection is due at
            // start + (i * connections + c) * interval.
            for i in 0u32.. {
                let Some(offset) = interval.checked_mul(i * connections as u32 + c as u32) else {
                    break;
                };
                let due = start + offset;
                if due >= end {
                    break;
                }
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let request = &requests[(i as usize * connections + c) % requests.len()];
                if writer.write_all(request).is_err() {
                    break;
                }
                sent += 1;
                if due_tx.send(due).is_err() {
                    break;
                }
            }
            sent
        });
        let receiver = std::thread::spawn(move || {
            let mut t = Tally::default();
            for due in due_rx {
                match read_answer(&mut reader) {
                    Ok(status) if status == expect => {
                        t.micros.push(due.elapsed().as_micros() as u64);
                    }
                    Ok(_) => t.bad += 1,
                    Err(_) => t.lost += 1,
                }
            }
            t
        });
        threads.push((sender, receiver));
    }
    let mut all = Tally::default();
    for (sender, receiver) in threads {
        let sent = sender
            .join()
            .map_err(|_| anyhow::anyhow!("sender panicked"))?;
        let t = receiver
            .join()
            .map_err(|_| anyhow::anyhow!("receiver panicked"))?;
        all.sent += sent;
        all.micros.extend(t.micros);
        all.bad += t.bad;
        all.lost += t.lost;
    }
    all.micros.sort_unstable();
    let at = |q: f64| -> f64 {
        if all.micros.is_empty() {
            return f64::NAN;
        }
        let i = ((all.micros.len() as f64 * q).ceil() as usize).clamp(1, all.micros.len()) - 1;
        all.micros[i] as f64 / 1000.0
    };
    Ok(OpenLoop {
        offered_per_s: rate,
        connections,
        sent: all.sent,
        ok: all.micros.len() as u64,
        bad: all.bad,
        lost: all.lost,
        seconds,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        p999_ms: at(0.999),
        max_ms: at(1.0),
    })
}

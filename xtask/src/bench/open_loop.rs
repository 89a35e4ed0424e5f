//! An open-loop load generator for the server bench. Requests leave at a
//! constant rate whatever the answers' timing: one sender thread writes
//! each request at its due time on its keep-alive connection (HTTP/1.1
//! pipelining, so a slow answer does not hold the next request back), and
//! one receiver thread reads every connection's answers in order (tokio on
//! one thread: epoll, no thread per connection). A latency runs from when
//! its request was *due*, not from when it could be sent, so every queue on
//! the way (the client's socket, the server's accept queue, its workers,
//! the writer thread) is counted: no coordinated omission, unlike a closed
//! loop (wrk) that waits for each answer before it asks again. Two threads
//! in all keep the generator's own CPU time small: it shares the machine
//! with the server it measures (an earlier version with two threads per
//! connection woke three threads per request).

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::tcp::OwnedReadHalf;

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

/// One connection as both threads see it: the due times of the requests
/// written and not yet answered, oldest first.
#[derive(Default)]
struct Pending(Mutex<VecDeque<Instant>>);

/// Reads one HTTP/1.1 answer; its status.
async fn read_answer(r: &mut BufReader<OwnedReadHalf>) -> anyhow::Result<u16> {
    let mut line = String::new();
    r.read_line(&mut line).await?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("not an HTTP status line: {line:?}"))?;
    let mut length = 0usize;
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
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
    r.read_exact(&mut body).await?;
    Ok(status)
}

/// Reads `expected` answers from one connection.
async fn receive(
    mut reader: BufReader<OwnedReadHalf>,
    pending: Arc<Pending>,
    expected: u64,
    expect: u16,
) -> Tally {
    let mut t = Tally::default();
    for n in 0..expected {
        let answer = tokio::time::timeout(Duration::from_secs(10), read_answer(&mut reader)).await;
        // The sender notes a due time before it writes the request, so an
        // answer always finds its request's.
        let due = pending.0.lock().unwrap().pop_front();
        match (answer, due) {
            (Ok(Ok(status)), Some(due)) if status == expect => {
                t.micros.push(due.elapsed().as_micros() as u64);
            }
            (Ok(Ok(_)), Some(_)) => t.bad += 1,
            _ => {
                t.lost += expected - n;
                break;
            }
        }
    }
    t
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
    // Request k is due at start + k * interval, on connection
    // k % connections.
    let interval = Duration::from_secs_f64(1.0 / rate);
    let total = (seconds * rate).floor() as u64;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut writers = Vec::new();
    let mut receivers = Vec::new();
    let mut pendings = Vec::new();
    for c in 0..connections as u64 {
        let stream = std::net::TcpStream::connect(addr).context("connecting")?;
        stream.set_nodelay(true)?;
        // The sender's clone shares the socket's non-blocking flag, so it
        // retries a write the socket's buffer cannot take yet.
        stream.set_nonblocking(true)?;
        writers.push(stream.try_clone()?);
        let (read, write) = {
            let _guard = runtime.enter();
            tokio::net::TcpStream::from_std(stream)?.into_split()
        };
        let pending = Arc::new(Pending::default());
        pendings.push(pending.clone());
        let expected = (total + connections as u64 - 1 - c) / connections as u64;
        receivers.push(runtime.spawn(async move {
            let tally = receive(BufReader::new(read), pending, expected, expect).await;
            // Dropping tokio's write half shuts the socket's sending side,
            // so it lives until every answer is read.
            drop(write);
            tally
        }));
    }
    let start = Instant::now() + Duration::from_millis(100);
    let sender = std::thread::spawn(move || {
        let mut sent = vec![0u64; writers.len()];
        for k in 0..total {
            let c = (k % writers.len() as u64) as usize;
            let due = start + interval.mul_f64(k as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let request = &requests[(k % requests.len() as u64) as usize];
            pendings[c].0.lock().unwrap().push_back(due);
            if write_all(&mut writers[c], request).is_err() {
                pendings[c].0.lock().unwrap().pop_back();
                continue;
            }
            sent[c] += 1;
        }
        sent
    });
    let tallies: Vec<Tally> = runtime.block_on(async {
        let mut tallies = Vec::new();
        for r in receivers {
            tallies.push(r.await.unwrap_or_default());
        }
        tallies
    });
    let sent = sender
        .join()
        .map_err(|_| anyhow::anyhow!("sender panicked"))?;
    let mut all = Tally::default();
    for t in tallies {
        all.micros.extend(t.micros);
        all.bad += t.bad;
        all.lost += t.lost;
    }
    all.sent = sent.iter().sum();
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

/// Writes all of `bytes` to a non-blocking socket, waiting briefly while
/// its send buffer is full.
fn write_all(stream: &mut std::net::TcpStream, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        match stream.write(bytes) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_micros(50));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

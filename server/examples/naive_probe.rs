//! Issue 16's reference design, built here so `cargo xtask bench server`
//! can measure it on the same machine as Crumb: a deliberately naive
//! durable-write server with actix-web, one SQLite writer thread with group
//! commit, WAL with `synchronous=FULL`, and a SHA-256 chain over a record
//! smaller than Crumb's. It validates nothing, keeps no idempotency keys,
//! signs no receipts and answers with the id and seq only. Its ratio of
//! durable writes to its own no-op endpoint is the bar the issue set Crumb
//! against; it is not a server to run.
//!
//! `naive_probe DB_FILE` prints `listening on http://ADDR/` and serves
//! `POST /v1/sites/demo/consents` (201) and `GET /healthz` (200).

use std::collections::BTreeMap;
use std::sync::mpsc;

use actix_web::{App, HttpResponse, HttpServer, web};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

/// The choice as the widget sends it, parsed and written back as JSON.
#[derive(serde::Deserialize, serde::Serialize)]
struct Choice {
    revision: u32,
    language: String,
    text_hash: String,
    method: String,
    categories: BTreeMap<String, bool>,
    services: BTreeMap<String, bool>,
}

struct Job {
    id: String,
    body: String,
    reply: oneshot::Sender<u64>,
}

async fn consent(
    queue: web::Data<mpsc::SyncSender<Job>>,
    choice: web::Json<Choice>,
) -> HttpResponse {
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).expect("the OS has randomness");
    let id: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let body = serde_json::to_string(&choice.0).expect("a choice serialises");
    let (reply, stored) = oneshot::channel();
    let job = Job {
        id: id.clone(),
        body,
        reply,
    };
    if queue.send(job).is_err() {
        return HttpResponse::ServiceUnavailable().finish();
    }
    match stored.await {
        Ok(seq) => HttpResponse::Created().json(serde_json::json!({"consent_id": id, "seq": seq})),
        Err(_) => HttpResponse::ServiceUnavailable().finish(),
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().body("ok")
}

/// Group commit: every job queued while the last commit ran goes into the
/// next transaction; the replies go out after its commit.
fn writer(path: String, queue: mpsc::Receiver<Job>) -> rusqlite::Result<()> {
    let mut db = rusqlite::Connection::open(path)?;
    db.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
         CREATE TABLE IF NOT EXISTS records(seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,
           prev_hash BLOB NOT NULL, hash BLOB NOT NULL, body TEXT NOT NULL);",
    )?;
    let mut seq = 0u64;
    let mut prev = [0u8; 32];
    let mut batch = Vec::new();
    while let Ok(first) = queue.recv() {
        batch.push(first);
        while batch.len() < 1024 {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let tx = db.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO records(seq, id, prev_hash, hash, body) VALUES (?, ?, ?, ?, ?)",
            )?;
            for job in &batch {
                seq += 1;
                let hash: [u8; 32] = Sha256::new()
                    .chain_update(prev)
                    .chain_update(seq.to_be_bytes())
                    .chain_update(job.id.as_bytes())
                    .chain_update(job.body.as_bytes())
                    .finalize()
                    .into();
                insert.execute(rusqlite::params![
                    seq as i64,
                    job.id,
                    &prev[..],
                    &hash[..],
                    job.body
                ])?;
                prev = hash;
            }
        }
        tx.commit()?;
        let first = seq + 1 - batch.len() as u64;
        for (i, job) in batch.drain(..).enumerate() {
            let _ = job.reply.send(first + i as u64);
        }
    }
    Ok(())
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: naive_probe DB_FILE");
        std::process::exit(2);
    };
    let (queue, jobs) = mpsc::sync_channel(8192);
    std::thread::spawn(move || {
        if let Err(e) = writer(path, jobs) {
            eprintln!("naive_probe: the writer stopped: {e}");
            std::process::exit(1);
        }
    });
    let queue = web::Data::new(queue);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(queue.clone())
            .route("/v1/sites/demo/consents", web::post().to(consent))
            .route("/healthz", web::get().to(healthz))
    })
    .bind("127.0.0.1:0")?;
    println!("listening on http://{}/", server.addrs()[0]);
    server.run().await
}

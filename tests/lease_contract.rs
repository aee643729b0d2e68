//! The lease contract on real loopback sockets: a connection is lent again
//! only when its borrower released it, so no borrower ever reads a byte
//! meant for another, and the natural ways to do I/O over a lease keep
//! their reuse.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod reliability;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reliability::rng::Rng;
use reliability::tagged_server::{self, TaggedServer};
use reliability::{multi_thread, poll_once};
use timewait::pool::{Pool, Pooled, TcpConnector};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_util::codec::{Framed, LinesCodec};

type TcpPool = Pool<SocketAddr, TcpConnector, TcpStream>;
type Lease = Pooled<SocketAddr, TcpStream>;

/// Bounds that only a failure reaches.
const WITHIN: Duration = Duration::from_secs(30);

fn pool() -> TcpPool {
    reliability::quit_pool_builder()
        .max_open_per_key(32)
        .max_idle_per_key(32)
        .build()
        .unwrap()
}

/// Reads one whole answer through `&mut *lease` and checks it is `id`'s.
async fn read_answer(lease: &mut Lease, id: u64) {
    let mut got = vec![0; tagged_server::answer(id).len()];
    (**lease).read_exact(&mut got).await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&tagged_server::answer(id)),
        "request {id} read another request's bytes"
    );
}

// ---------------------------------------------------------------------------
// The three ways the guessing guard lost reuse or leaked an answer

#[tokio::test]
async fn a_cancelled_read_through_deref_never_hands_its_answer_to_the_next_borrower() {
    // The read times out long before the answer comes; the lease is dropped
    // by the timeout's early return. Were the connection lent again, the
    // next borrower would read request 1's answer.
    let server = TaggedServer::start().await;
    let pool = pool();
    let mut first = pool.get(server.addr()).await.unwrap();
    let first_port = first.local_addr().unwrap();
    (*first)
        .write_all(&tagged_server::request(1, 1, 300_000))
        .await
        .unwrap();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_millis(20), (*first).read(&mut byte)).await;
    drop(first);
    eprintln!(
        "the first read {}",
        if read.is_err() {
            "timed out"
        } else {
            "finished"
        }
    );

    let mut next = pool.get(server.addr()).await.unwrap();
    assert!(
        !next.is_reused(),
        "the connection of a cancelled read was lent"
    );
    assert_ne!(next.local_addr().unwrap(), first_port);
    (*next)
        .write_all(&tagged_server::request(2, 1, 0))
        .await
        .unwrap();
    read_answer(&mut next, 2).await;
    next.release();
    assert_eq!(pool.stats().total.activity.reasons.unreleased, 1);
}

#[tokio::test]
async fn a_partial_read_through_the_lease_never_hands_the_rest_to_the_next_borrower() {
    // The answer comes in two parts; the borrower reads the first and
    // returns early (an `?` on a parse error, say).
    let server = TaggedServer::start().await;
    let pool = pool();
    let mut first = pool.get(server.addr()).await.unwrap();
    first
        .write_all(&tagged_server::request(1, 2, 50_000))
        .await
        .unwrap();
    let mut part = [0u8; 64];
    let n = first.read(&mut part).await.unwrap();
    assert!(
        n > 0 && n < tagged_server::answer(1).len(),
        "read {n} bytes"
    );
    drop(first);

    let mut next = pool.get(server.addr()).await.unwrap();
    assert!(!next.is_reused(), "a half-read connection was lent");
    next.write_all(&tagged_server::request(2, 1, 0))
        .await
        .unwrap();
    read_answer(&mut next, 2).await;
    next.release();
}

// ---------------------------------------------------------------------------
// The natural patterns keep their reuse

const LEASES: usize = 200;

/// Runs `LEASES` exchanges, one lease each, through `exchange`, which must
/// release its lease once the answer is read, and checks that at least 90%
/// of the leases were served by a reused connection.
async fn keeps_reuse<F, Fut>(name: &str, exchange: F)
where
    F: Fn(Lease, String) -> Fut,
    Fut: Future<Output = ()>,
{
    let server = reliability::quit_echo_server().await;
    let pool = pool();
    for i in 0..LEASES {
        let lease = pool.get(server.local_addr()).await.unwrap();
        exchange(lease, format!("{name} {i}")).await;
    }
    let activity = pool.stats().total.activity;
    let share = activity.reuses as f64 / LEASES as f64;
    eprintln!(
        "{name}: {} connects, {} reuses of {LEASES} leases ({:.1}%), {} unreleased",
        activity.connects,
        activity.reuses,
        share * 100.0,
        activity.reasons.unreleased
    );
    assert_eq!(activity.reasons.unreleased, 0, "{name}: {activity:?}");
    assert!(share >= 0.9, "{name}: {share}");
}

/// Writes `line` and its newline to `write`.
async fn send_line<W: tokio::io::AsyncWrite + Unpin>(write: &mut W, line: &str) {
    write
        .write_all(format!("{line}\n").as_bytes())
        .await
        .unwrap();
}

/// Reads one line through a `BufReader` over `read`, as a newcomer would,
/// and checks it is `line`'s echo.
async fn read_echo<R: tokio::io::AsyncRead + Unpin>(read: R, line: &str) {
    let mut answer = String::new();
    BufReader::new(read).read_line(&mut answer).await.unwrap();
    assert_eq!(answer.trim_end(), line);
}

#[tokio::test]
async fn a_bufreader_over_the_deref_then_release_keeps_reuse() {
    keeps_reuse("bufreader", |mut lease, line| async move {
        send_line(&mut lease, &line).await;
        read_echo(&mut *lease, &line).await;
        lease.release();
    })
    .await;
}

#[tokio::test]
async fn a_framed_codec_over_the_deref_then_release_keeps_reuse() {
    keeps_reuse("framed", |mut lease, line| async move {
        let mut framed = Framed::new(&mut *lease, LinesCodec::new());
        framed.send(line.as_str()).await.unwrap();
        let answer = framed.next().await.unwrap().unwrap();
        assert_eq!(answer, line);
        // Nothing is left in the codec's buffers: the exchange is complete.
        let parts = framed.into_parts();
        assert!(parts.read_buf.is_empty() && parts.write_buf.is_empty());
        lease.release();
    })
    .await;
}

#[tokio::test]
async fn split_halves_then_release_keep_reuse() {
    keeps_reuse("split", |mut lease, line| async move {
        let (read, mut write) = lease.split();
        send_line(&mut write, &line).await;
        read_echo(read, &line).await;
        lease.release();
    })
    .await;
}

#[tokio::test]
async fn a_bufreader_over_the_lease_itself_then_release_keeps_reuse() {
    keeps_reuse("lease-bufreader", |mut lease, line| async move {
        send_line(&mut lease, &line).await;
        read_echo(&mut lease, &line).await;
        lease.release();
    })
    .await;
}

// ---------------------------------------------------------------------------
// The invariant, under every way a borrower can end a lease

const TOTAL_LEASES: u64 = 10_000;
const TASKS: usize = 16;

/// How the borrowers ended their leases.
#[derive(Debug, Default)]
struct Endings {
    released_through_lease: AtomicU64,
    released_through_deref: AtomicU64,
    released_after_split: AtomicU64,
    released_unused: AtomicU64,
    partial_read_dropped: AtomicU64,
    read_timed_out: AtomicU64,
    written_then_dropped: AtomicU64,
    cancelled_at_a_poll: AtomicU64,
    /// Bytes a borrower read that were not its own answer's: must stay 0.
    foreign_bytes: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Reads `want` bytes of `id`'s answer through `read`, counting every byte
/// that is not the expected one.
async fn read_own<R: tokio::io::AsyncRead + Unpin>(
    read: &mut R,
    id: u64,
    want: usize,
    endings: &Endings,
) -> std::io::Result<()> {
    let expected = tagged_server::answer(id);
    let mut got = vec![0; want];
    read.read_exact(&mut got).await?;
    let foreign = got
        .iter()
        .zip(&expected)
        .filter(|(got, want)| got != want)
        .count();
    if foreign > 0 {
        eprintln!(
            "request {id} read {:?}, expected {:?}",
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&expected[..want])
        );
        endings
            .foreign_bytes
            .fetch_add(foreign as u64, Ordering::Relaxed);
    }
    Ok(())
}

/// One lease, ended in a way `rng` picks.
async fn one_lease(rng: &mut Rng, pool: &TcpPool, server: SocketAddr, id: u64, endings: &Endings) {
    let mut lease = pool.get(server).await.unwrap();
    let full = tagged_server::answer(id).len();
    let parts = 1 + rng.below(3);
    let pause_us = rng.below(300);
    let request = tagged_server::request(id, parts, pause_us);
    match rng.below(8) {
        0 => {
            lease.write_all(&request).await.unwrap();
            read_own(&mut lease, id, full, endings).await.unwrap();
            lease.release();
            bump(&endings.released_through_lease);
        }
        1 => {
            (*lease).write_all(&request).await.unwrap();
            let mut reader = BufReader::new(&mut *lease);
            read_own(&mut reader, id, full, endings).await.unwrap();
            assert!(reader.buffer().is_empty(), "one request, one answer");
            drop(reader);
            lease.release();
            bump(&endings.released_through_deref);
        }
        2 => {
            let (mut read, mut write) = lease.split();
            write.write_all(&request).await.unwrap();
            read_own(&mut read, id, full, endings).await.unwrap();
            lease.release();
            bump(&endings.released_after_split);
        }
        3 => {
            lease.release();
            bump(&endings.released_unused);
        }
        4 => {
            // Some of the answer, then an early return.
            lease.write_all(&request).await.unwrap();
            let some = 1 + rng.index(full - 1);
            read_own(&mut lease, id, some, endings).await.unwrap();
            bump(&endings.partial_read_dropped);
        }
        5 => {
            // A read through the deref cut short by a timeout.
            (*lease).write_all(&request).await.unwrap();
            let wait = Duration::from_micros(rng.below(400));
            let read = read_own(&mut *lease, id, full, endings);
            if tokio::time::timeout(wait, read).await.is_err() {
                bump(&endings.read_timed_out);
            }
        }
        6 => {
            lease.write_all(&request).await.unwrap();
            bump(&endings.written_then_dropped);
        }
        _ => {
            // The whole exchange as one future, polled once and dropped
            // wherever that left it.
            let exchange = async {
                lease.write_all(&request).await?;
                read_own(&mut lease, id, full, endings).await
            };
            let mut exchange = std::pin::pin!(exchange);
            if poll_once(&mut exchange).await.is_none() {
                bump(&endings.cancelled_at_a_poll);
            }
        }
    }
}

#[test]
fn ten_thousand_leases_ended_every_way_never_read_another_borrowers_bytes() {
    multi_thread().block_on(async {
        let server = TaggedServer::start().await;
        let pool = pool();
        let endings = Arc::new(Endings::default());
        let next_id = Arc::new(AtomicU64::new(1));
        let mut rng = Rng::from_env("ten_thousand_leases");
        let mut tasks = JoinSet::new();
        for _ in 0..TASKS {
            let (pool, endings, next_id, mut rng) =
                (pool.clone(), endings.clone(), next_id.clone(), rng.fork());
            let server = server.addr();
            tasks.spawn(async move {
                loop {
                    let id = next_id.fetch_add(1, Ordering::Relaxed);
                    if id > TOTAL_LEASES {
                        return;
                    }
                    one_lease(&mut rng, &pool, server, id, &endings).await;
                }
            });
        }
        tokio::time::timeout(Duration::from_secs(120), async {
            while let Some(done) = tasks.join_next().await {
                done.unwrap();
            }
        })
        .await
        .expect("the leases finish");
        let activity = pool.stats().total.activity;
        eprintln!("{endings:#?}");
        eprintln!(
            "{TOTAL_LEASES} leases: {} connects, {} reuses, {} released, retired by reason {:?}",
            activity.connects, activity.reuses, activity.released, activity.reasons
        );
        assert_eq!(
            endings.foreign_bytes.load(Ordering::Relaxed),
            0,
            "{endings:?}"
        );
        assert_eq!(activity.connects + activity.reuses, TOTAL_LEASES);
        // Every way of ending ran, and the releases were reused.
        for count in [
            &endings.released_through_lease,
            &endings.released_through_deref,
            &endings.released_after_split,
            &endings.partial_read_dropped,
            &endings.written_then_dropped,
        ] {
            assert!(count.load(Ordering::Relaxed) > 0, "{endings:?}");
        }
        assert!(activity.reuses > 0, "{activity:?}");
        let report = pool.shutdown(WITHIN).await;
        assert!(report.completed, "{report:?}");
    });
}

//! The `retire` and `budget_wait` spans, and the warnings that say why reuse
//! is lost or a checkout waits, appear with their fields, as a subscriber
//! sees them. In-memory connections, paused time.

mod support;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{Connector, Server, TestConn, settle};
use timewait_core::budget::{PortBudget, PortRange, TwReuse};
use timewait_pool::{ClosePolicy, FarewellMessage, Pool, PoolBuilder};
use tokio::time::advance;
use tokio_test::{assert_pending, task};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::DefaultGuard;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::{Layer, Registry};

type TestPool = Pool<&'static str, Connector, TestConn>;

/// A span as the subscriber saw it: its name and its fields, as recorded
/// when it was made and later.
#[derive(Debug, Clone, Default)]
struct SeenSpan {
    name: &'static str,
    fields: HashMap<&'static str, String>,
}

impl Visit for SeenSpan {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.fields.insert(field.name(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.fields.insert(field.name(), value.to_owned());
    }
}

/// A layer that keeps every span it is told of, by id, and every warning.
#[derive(Clone, Default)]
struct Capture {
    spans: Arc<Mutex<Vec<(Id, SeenSpan)>>>,
    warnings: Arc<Mutex<Vec<SeenSpan>>>,
}

impl Capture {
    /// Installs the layer as this thread's subscriber (the runtime of a
    /// `#[tokio::test]` runs every task on this thread), one test at a
    /// time: tracing caches each callsite's interest for all threads, and a
    /// subscriber another test drops meanwhile makes it rebuild that cache,
    /// during which an event can be missed.
    fn install(&self) -> (std::sync::MutexGuard<'static, ()>, DefaultGuard) {
        static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
        let turn = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let subscriber = tracing::subscriber::set_default(Registry::default().with(self.clone()));
        (turn, subscriber)
    }

    fn warnings(&self) -> Vec<SeenSpan> {
        self.warnings.lock().unwrap().clone()
    }

    fn named(&self, name: &str) -> Vec<SeenSpan> {
        let spans = self.spans.lock().unwrap();
        spans
            .iter()
            .filter(|(_, s)| s.name == name)
            .map(|(_, s)| s.clone())
            .collect()
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut seen = SeenSpan {
            name: attrs.metadata().name(),
            ..SeenSpan::default()
        };
        attrs.record(&mut seen);
        self.spans.lock().unwrap().push((id.clone(), seen));
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if *event.metadata().level() != tracing::Level::WARN {
            return;
        }
        let mut seen = SeenSpan {
            name: event.metadata().name(),
            ..SeenSpan::default()
        };
        event.record(&mut seen);
        self.warnings.lock().unwrap().push(seen);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut spans = self.spans.lock().unwrap();
        // Ids are reused once a span closes: the newest span with it is this one.
        if let Some((_, seen)) = spans.iter_mut().rev().find(|(i, _)| i == id) {
            values.record(seen);
        }
    }
}

fn builder() -> PoolBuilder<&'static str, TestConn> {
    PoolBuilder::new().farewell(FarewellMessage::new(&b"QUIT\n"[..]))
}

#[tokio::test(start_paused = true)]
async fn each_retirement_has_a_retire_span_with_its_key_policy_and_closer() {
    let capture = Capture::default();
    let _subscriber = capture.install();
    let config = builder()
        .max_uses(1)
        .close_policy_for("local", ClosePolicy::Local)
        .build()
        .unwrap();
    let pool = TestPool::new(config, Connector::new(Server::Echo));
    // Retired in the background: the server closes after the farewell.
    pool.get("peer").await.unwrap().release();
    // Retired at once, by a local close.
    pool.get("local").await.unwrap().release();
    settle().await;
    assert_eq!(pool.stats().retiring, 0);

    let mut retires = capture.named("retire");
    retires.sort_by_key(|s| s.fields.get("key").cloned());
    let fields: Vec<_> = retires
        .iter()
        .map(|s| {
            let field = |name| s.fields.get(name).map(String::as_str);
            (field("key"), field("policy"), field("closer"))
        })
        .collect();
    assert_eq!(
        fields,
        [
            (Some("\"local\""), Some("local"), Some("local")),
            (Some("\"peer\""), Some("peer-first"), Some("peer")),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_checkout_that_waits_for_the_port_budget_has_a_budget_wait_span() {
    let capture = Capture::default();
    let _subscriber = capture.install();
    let config = builder()
        .close_policy(ClosePolicy::Local)
        .max_uses(1)
        .port_budget(PortBudget::new(PortRange::new(40000, 40001).unwrap()))
        .tw_reuse(TwReuse::Disabled)
        .checkout_timeout(None)
        .build()
        .unwrap();
    let pool = TestPool::new(config, Connector::new(Server::Echo));
    pool.get("k").await.unwrap().release();
    pool.get("k").await.unwrap().release();
    assert!(capture.named("budget_wait").is_empty(), "no wait yet");
    assert!(capture.warnings().is_empty(), "no wait yet");

    let mut third = task::spawn(pool.get("k"));
    assert_pending!(third.poll());
    // The warning comes as the wait begins, before any time passes, and
    // says what the checkout waits for.
    let warnings = capture.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let warning = &warnings[0].fields;
    assert_eq!(warning.get("key").map(String::as_str), Some("\"k\""));
    assert_eq!(
        warning.get("ports_in_time_wait").map(String::as_str),
        Some("2")
    );
    assert_eq!(warning.get("usable_ports").map(String::as_str), Some("2"));
    assert_eq!(
        warning.get("next_port_free_in").map(String::as_str),
        Some("60s")
    );
    assert!(
        warning["message"].contains("waiting for one to free"),
        "{warning:?}"
    );
    advance(Duration::from_secs(60)).await;
    third.await.unwrap().release();
    assert_eq!(capture.warnings().len(), 1, "one warning per wait");
    let activity = pool.stats().total.activity;
    assert_eq!(
        activity.budget_wait_time,
        Duration::from_secs(60),
        "{activity:?}"
    );

    let waits = capture.named("budget_wait");
    assert_eq!(waits.len(), 1, "{waits:?}");
    let wait = &waits[0];
    assert_eq!(wait.fields.get("key").map(String::as_str), Some("\"k\""));
    assert_eq!(wait.fields.get("wait").map(String::as_str), Some("60s"));
    assert!(wait.fields.contains_key("destination"), "{wait:?}");
}

#[tokio::test(start_paused = true)]
async fn a_checkout_timeout_ends_a_wait_for_ports_at_its_instant() {
    // This test reaches the budget warning's callsite too. Without a
    // subscriber of its own, tracing could register that callsite from this
    // thread as of no interest (it asks only the current thread's
    // subscriber while one dispatcher is registered) and silence the
    // warning for the test above, which runs in parallel.
    let _subscriber = Capture::default().install();
    let config = builder()
        .close_policy(ClosePolicy::Local)
        .max_uses(1)
        .port_budget(PortBudget::new(PortRange::new(40000, 40000).unwrap()))
        .tw_reuse(TwReuse::Disabled)
        .checkout_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let pool = TestPool::new(config, Connector::new(Server::Echo));
    pool.get("k").await.unwrap().release();
    let start = tokio::time::Instant::now();
    let error = pool.get("k").await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_secs(30));
    assert!(
        matches!(
            error,
            timewait_pool::Error::Timeout {
                waiting_for: timewait_pool::WaitingFor::Ports,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(pool.stats().total.activity.timeouts, 1);
}

#[tokio::test(start_paused = true)]
async fn most_leases_of_a_key_ending_unreleased_warns_once_naming_the_key() {
    let capture = Capture::default();
    let _subscriber = capture.install();
    let config = builder().close_policy(ClosePolicy::Local).build().unwrap();
    let pool = TestPool::new(config, Connector::new(Server::Echo));
    // A key whose borrowers release: no warning.
    for _ in 0..100 {
        pool.get("careful").await.unwrap().release();
    }
    // A key whose borrowers drop: one warning for many leases.
    for _ in 0..100 {
        drop(pool.get("careless").await.unwrap());
    }
    let warnings = capture.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let warning = &warnings[0].fields;
    assert_eq!(warning.get("key").map(String::as_str), Some("\"careless\""));
    assert!(
        warning["message"].contains("Pooled::release()"),
        "{warning:?}"
    );
    let reasons = pool.stats().key(&"careless").unwrap().activity.reasons;
    assert_eq!(reasons.unreleased, 100);
}

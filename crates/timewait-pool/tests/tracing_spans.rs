//! The `retire` and `budget_wait` spans appear with their fields, as a
//! subscriber sees them. In-memory connections, paused time.

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
use tower::ServiceExt;
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

/// A layer that keeps every span it is told of, by id.
#[derive(Clone, Default)]
struct Capture {
    spans: Arc<Mutex<Vec<(Id, SeenSpan)>>>,
}

impl Capture {
    /// Installs the layer as this thread's subscriber (the runtime of a
    /// `#[tokio::test]` runs every task on this thread).
    fn install(&self) -> DefaultGuard {
        tracing::subscriber::set_default(Registry::default().with(self.clone()))
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

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut spans = self.spans.lock().unwrap();
        // Ids are reused once a span closes: the newest span with it is this one.
        if let Some((_, seen)) = spans.iter_mut().rev().find(|(i, _)| i == id) {
            values.record(seen);
        }
    }
}

fn builder() -> PoolBuilder<&'static str, TestConn> {
    TestPool::builder().farewell(FarewellMessage::new(&b"QUIT\n"[..]))
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
    drop(pool.clone().oneshot("peer").await.unwrap());
    // Retired at once, by a local close.
    drop(pool.clone().oneshot("local").await.unwrap());
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
        .build()
        .unwrap();
    let pool = TestPool::new(config, Connector::new(Server::Echo));
    drop(pool.clone().oneshot("k").await.unwrap());
    drop(pool.clone().oneshot("k").await.unwrap());
    assert!(capture.named("budget_wait").is_empty(), "no wait yet");

    let mut third = task::spawn(pool.clone().oneshot("k"));
    assert_pending!(third.poll());
    advance(Duration::from_secs(60)).await;
    drop(third.await.unwrap());

    let waits = capture.named("budget_wait");
    assert_eq!(waits.len(), 1, "{waits:?}");
    let wait = &waits[0];
    assert_eq!(wait.fields.get("key").map(String::as_str), Some("\"k\""));
    assert_eq!(wait.fields.get("wait").map(String::as_str), Some("60s"));
    assert!(wait.fields.contains_key("destination"), "{wait:?}");
}

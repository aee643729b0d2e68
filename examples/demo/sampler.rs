//! TIME_WAIT over time: a task that asks the kernel, every few tens of
//! milliseconds, how many TIME_WAIT entries a server's connections hold on
//! each side.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use timewait_echo::{TimeWaitSides, time_wait_sides};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How often the census is taken while a scenario runs.
const EVERY: Duration = Duration::from_millis(50);

/// One census: seconds since the demo started, and the counts by side.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    pub(crate) at: f64,
    pub(crate) sides: TimeWaitSides,
}

/// Samples taken until stopped, or the census error that ended them.
#[derive(Debug, Default)]
pub(crate) struct Samples {
    pub(crate) points: Vec<Sample>,
    pub(crate) error: Option<String>,
}

/// A running sampler of one server's TIME_WAIT entries.
#[derive(Debug)]
pub(crate) struct Sampler {
    stop: Arc<AtomicBool>,
    task: JoinHandle<Samples>,
    origin: Instant,
}

impl Sampler {
    /// Starts sampling `server`'s connections, timed from `origin`.
    pub(crate) fn start(server: SocketAddr, origin: Instant) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let task = tokio::spawn(async move {
            let mut samples = Samples::default();
            let mut ticks = tokio::time::interval(EVERY);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !stopped.load(Ordering::Relaxed) {
                ticks.tick().await;
                match time_wait_sides(server) {
                    Ok(sides) => samples.points.push(Sample {
                        at: origin.elapsed().as_secs_f64(),
                        sides,
                    }),
                    Err(error) => {
                        samples.error = Some(format!("census of {server} failed: {error}"));
                        break;
                    }
                }
            }
            samples
        });
        Sampler { stop, task, origin }
    }

    /// Stops sampling and returns the samples, ending with `last` (the
    /// settled count).
    pub(crate) async fn finish(self, last: TimeWaitSides) -> Samples {
        self.stop.store(true, Ordering::Relaxed);
        let mut samples = match self.task.await {
            Ok(samples) => samples,
            Err(error) => Samples {
                points: Vec::new(),
                error: Some(format!("the sampling task failed: {error}")),
            },
        };
        samples.points.push(Sample {
            at: self.origin.elapsed().as_secs_f64(),
            sides: last,
        });
        samples
    }
}

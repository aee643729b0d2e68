//! `plan`'s arithmetic: the seed's figures exactly, and properties over any
//! input (no panic, no overflow, monotone, fixes that fit and are minimal).
//! `PROPTEST_CASES` sets the number of cases.

use proptest::prelude::*;
use timewait_cli::cli::{ClosePolicy, parse_port_range};
use timewait_cli::plan::input::Settings;
use timewait_cli::plan::{Plan, PlanInput, Provenance, Sourced, render};
use timewait_cli::slab::EntrySize;
use timewait_core::budget::{PortRange, ReservedPorts, TwReuse};

fn seed(rate: u64) -> PlanInput {
    PlanInput::linux_defaults(rate)
}

#[test]
fn the_seed_28_232_ports_over_60_s_sustain_about_470_connections_per_second() {
    let plan = Plan::compute(&seed(1000));
    assert_eq!(plan.usable_ports, 28_232);
    assert_eq!(plan.capacity, 28_232);
    assert_eq!(format!("{:.2}", plan.sustained_rate), "470.53");
    assert_eq!(plan.ports_needed, 60_000);
    assert_eq!(plan.client_time_wait_per_destination, 60_000);
    assert_eq!(plan.server_time_wait_per_destination, 0);
    assert!(plan.connect_fails);
    assert_eq!(
        plan.seconds_until_failure.map(|s| format!("{s:.3}")),
        Some("28.232".into())
    );
    assert_eq!(plan.fixes.requests_per_connection, Some(3));
    assert_eq!(plan.fixes.source_ips, Some(3));
    assert_eq!(plan.fixes.peer_first_server_time_wait, 60_000);
    let range = plan.fixes.port_range.expect("a range that fits");
    assert_eq!((range.low, range.high, range.usable), (5536, 65535, 60_000));
    assert_eq!(plan.fixes.tw_reuse_ports_needed, 1000);
    assert!(plan.fixes.tw_reuse_fits);
}

#[test]
fn four_hundred_seventy_a_second_fit_and_four_hundred_seventy_one_do_not() {
    let fits = Plan::compute(&seed(470));
    assert_eq!(fits.ports_needed, 28_200);
    assert!(!fits.connect_fails);
    let fails = Plan::compute(&seed(471));
    assert_eq!(fails.ports_needed, 28_260);
    assert!(fails.connect_fails);
}

#[test]
fn peer_first_moves_every_entry_to_the_server_and_abort_leaves_none() {
    let mut input = seed(1000);
    input.close_policy = ClosePolicy::PeerFirst;
    let plan = Plan::compute(&input);
    assert_eq!(plan.client_time_wait_total, 0);
    assert_eq!(plan.server_time_wait_per_destination, 60_000);
    assert_eq!(plan.ports_needed, 0);
    assert!(!plan.connect_fails && !plan.server_buckets_overflow);
    // 3,000 a second put 180,000 entries on the server, past 131,072.
    let busy = Plan::compute(&PlanInput {
        rate: 3000,
        ..input.clone()
    });
    assert!(busy.server_buckets_overflow && !busy.buckets_overflow);
    input.close_policy = ClosePolicy::Abort;
    let plan = Plan::compute(&input);
    assert_eq!(
        (
            plan.client_time_wait_total,
            plan.server_time_wait_per_destination
        ),
        (0, 0)
    );
}

#[test]
fn a_pool_of_three_requests_per_connection_or_three_source_ips_fit_the_seed() {
    let mut input = seed(1000);
    input.requests_per_connection = 3;
    let plan = Plan::compute(&input);
    assert_eq!(plan.ports_needed, 20_000);
    assert!(!plan.connect_fails);
    let mut input = seed(1000);
    input.source_ips = 3;
    let plan = Plan::compute(&input);
    assert_eq!(plan.capacity, 84_696);
    assert!(!plan.connect_fails);
}

#[test]
fn tw_reuse_one_holds_a_port_about_a_second_and_two_only_toward_loopback() {
    let mut input = seed(1000);
    input.tw_reuse = TwReuse::Enabled;
    let plan = Plan::compute(&input);
    assert!(plan.tw_reuse_applies && !plan.connect_fails);
    assert_eq!(plan.ports_needed, 1000);
    // The entries still exist for 60 s: memory and buckets count them all.
    assert_eq!(plan.client_time_wait_total, 60_000);
    input.tw_reuse = TwReuse::LoopbackOnly;
    assert!(Plan::compute(&input).connect_fails);
    input.loopback = true;
    assert!(!Plan::compute(&input).connect_fails);
}

#[test]
fn past_max_tw_buckets_the_kernel_destroys_entries_and_connect_stops_failing() {
    let mut input = seed(1000);
    input.max_tw_buckets = 10_000;
    let plan = Plan::compute(&input);
    assert!(plan.buckets_overflow);
    assert_eq!(plan.ports_held, 10_000);
    assert!(!plan.connect_fails);
    assert!(plan.ports_needed > plan.capacity);
}

#[test]
fn the_entry_size_measured_gives_the_memory() {
    let mut input = seed(1000);
    input.tw_entry_bytes = Some(256);
    input.destinations = 4;
    let plan = Plan::compute(&input);
    assert_eq!(plan.client_time_wait_total, 240_000);
    assert_eq!(plan.client_memory_bytes, Some(240_000 * 256));
    assert!(plan.buckets_overflow);
}

/// Settings as `resolve` would make them, all from flags.
fn settings(input: &PlanInput) -> Settings {
    let flag = |value| Sourced {
        value,
        from: Provenance::Flag,
    };
    Settings {
        port_range: flag(input.port_range.to_string()),
        reserved_ports: flag(String::new()),
        tw_reuse: Sourced {
            value: input.tw_reuse.value(),
            from: Provenance::Flag,
        },
        max_tw_buckets: Sourced {
            value: input.max_tw_buckets,
            from: Provenance::Flag,
        },
        time_wait_secs: Sourced {
            value: input.time_wait_secs,
            from: Provenance::Flag,
        },
        tw_entry: EntrySize {
            bytes: input.tw_entry_bytes,
            from: "a test".into(),
        },
    }
}

fn any_range() -> impl Strategy<Value = PortRange> {
    (1u16..=u16::MAX, 1u16..=u16::MAX)
        .prop_map(|(a, b)| PortRange::new(a.min(b), a.max(b)).expect("ordered, non-zero"))
}

fn any_reserved() -> impl Strategy<Value = ReservedPorts> {
    prop::collection::vec(any_range(), 0..4).prop_map(|ranges| ranges.into_iter().collect())
}

fn any_input() -> impl Strategy<Value = PlanInput> {
    (
        (any::<u64>(), 1..=u64::MAX, 1..=u64::MAX, 1..=u64::MAX),
        prop_oneof![
            Just(ClosePolicy::Local),
            Just(ClosePolicy::PeerFirst),
            Just(ClosePolicy::Abort)
        ],
        (any_range(), any_reserved()),
        (
            prop_oneof![
                Just(TwReuse::Disabled),
                Just(TwReuse::Enabled),
                Just(TwReuse::LoopbackOnly)
            ],
            any::<bool>(),
        ),
        (any::<u64>(), 1..=u64::MAX, any::<Option<u64>>()),
    )
        .prop_map(
            |(
                (rate, destinations, source_ips, rpc),
                close_policy,
                (port_range, reserved_ports),
                (tw_reuse, loopback),
                (max_tw_buckets, time_wait_secs, tw_entry_bytes),
            )| PlanInput {
                rate,
                destinations,
                source_ips,
                requests_per_connection: rpc,
                close_policy,
                port_range,
                reserved_ports,
                tw_reuse,
                loopback,
                max_tw_buckets,
                time_wait_secs,
                tw_entry_bytes,
            },
        )
}

/// Inputs of realistic size, where the fixes' figures can be checked by
/// computing the plan again with them.
fn modest_input() -> impl Strategy<Value = PlanInput> {
    (0u64..2_000_000, 1u64..16, 1u64..100, 1u64..600, any_range()).prop_map(
        |(rate, source_ips, rpc, time_wait_secs, port_range)| PlanInput {
            rate,
            source_ips,
            requests_per_connection: rpc,
            time_wait_secs,
            port_range,
            tw_reuse: TwReuse::Disabled,
            max_tw_buckets: u64::MAX,
            ..PlanInput::linux_defaults(0)
        },
    )
}

proptest! {
    #[test]
    fn any_input_computes_and_renders_without_panic(input in any_input()) {
        let plan = Plan::compute(&input);
        prop_assert!(plan.ports_held <= plan.ports_needed);
        prop_assert!(plan.capacity >= u64::from(plan.usable_ports));
        prop_assert!(plan.sustained_rate.is_finite() && plan.sustained_rate >= 0.0);
        prop_assert_eq!(plan.connect_fails, plan.ports_held > plan.capacity);
        let json = serde_json::to_string(&plan);
        prop_assert!(json.is_ok());
        let mut text = Vec::new();
        prop_assert!(render::text(&mut text, &input, &settings(&input), &plan).is_ok());
    }

    #[test]
    fn more_rate_never_needs_fewer_ports_nor_turns_a_failure_into_a_fit(
        input in any_input(), more in any::<u64>()
    ) {
        let before = Plan::compute(&input);
        let higher = PlanInput { rate: input.rate.saturating_add(more), ..input.clone() };
        let after = Plan::compute(&higher);
        prop_assert!(after.ports_needed >= before.ports_needed);
        prop_assert!(after.time_wait_total >= before.time_wait_total);
        prop_assert!(!before.connect_fails || after.connect_fails);
    }

    #[test]
    fn more_source_ips_or_requests_per_connection_never_turn_a_fit_into_a_failure(
        input in any_input(), ips in 0u64..1000, rpc in 0u64..1000
    ) {
        let before = Plan::compute(&input);
        let more_ips = PlanInput { source_ips: input.source_ips.saturating_add(ips), ..input.clone() };
        let after = Plan::compute(&more_ips);
        prop_assert!(after.capacity >= before.capacity);
        prop_assert!(before.connect_fails || !after.connect_fails);
        let more_rpc = PlanInput {
            requests_per_connection: input.requests_per_connection.saturating_add(rpc),
            ..input.clone()
        };
        let after = Plan::compute(&more_rpc);
        prop_assert!(after.ports_needed <= before.ports_needed);
        prop_assert!(before.connect_fails || !after.connect_fails);
    }

    #[test]
    fn a_longer_time_wait_never_needs_fewer_ports(input in any_input(), more in any::<u64>()) {
        let before = Plan::compute(&input);
        let longer = PlanInput {
            time_wait_secs: input.time_wait_secs.saturating_add(more),
            ..input.clone()
        };
        let after = Plan::compute(&longer);
        prop_assert!(after.ports_needed >= before.ports_needed);
        prop_assert!(after.sustained_rate <= before.sustained_rate);
    }

    #[test]
    fn each_fix_fits_and_one_less_does_not(input in modest_input()) {
        let plan = Plan::compute(&input);
        if let Some(rpc) = plan.fixes.requests_per_connection {
            let with = Plan::compute(&PlanInput { requests_per_connection: rpc, ..input.clone() });
            prop_assert!(!with.connect_fails, "{rpc} requests per connection");
            if rpc > 1 {
                let less = Plan::compute(&PlanInput { requests_per_connection: rpc - 1, ..input.clone() });
                prop_assert!(less.connect_fails, "{} requests per connection", rpc - 1);
            }
        }
        if let Some(ips) = plan.fixes.source_ips {
            let with = Plan::compute(&PlanInput { source_ips: ips, ..input.clone() });
            prop_assert!(!with.connect_fails, "{ips} source IPs");
            if ips > 1 {
                let less = Plan::compute(&PlanInput { source_ips: ips - 1, ..input.clone() });
                prop_assert!(less.connect_fails, "{} source IPs", ips - 1);
            }
        }
        if let Some(fix) = plan.fixes.port_range {
            let range = PortRange::new(fix.low, fix.high).expect("a valid range");
            let with = Plan::compute(&PlanInput { port_range: range, ..input.clone() });
            prop_assert!(!with.connect_fails, "{range}");
        }
    }

    #[test]
    fn a_port_range_flag_round_trips(range in any_range()) {
        prop_assert_eq!(parse_port_range(&range.to_string()), Ok(range));
    }
}

//! Numbers as operators read them: thousands separated, bytes and seconds
//! in a readable unit.

/// `n` with commas every three digits.
///
/// ```
/// use timewait_cli::fmt::thousands;
///
/// assert_eq!(thousands(28_232), "28,232");
/// assert_eq!(thousands(999), "999");
/// assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
/// ```
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A byte count in B, KiB, MiB or GiB, one decimal.
///
/// ```
/// use timewait_cli::fmt::bytes;
///
/// assert_eq!(bytes(512), "512 B");
/// assert_eq!(bytes(15_360_000), "14.6 MiB");
/// ```
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A rate with one decimal under 10,000 (none when it is a whole number),
/// none above.
///
/// ```
/// use timewait_cli::fmt::rate;
///
/// assert_eq!(rate(470.533), "470.5");
/// assert_eq!(rate(1000.0), "1,000");
/// assert_eq!(rate(28_232.0), "28,232");
/// ```
pub fn rate(per_second: f64) -> String {
    if per_second < 10_000.0 && (per_second - per_second.round()).abs() >= 0.05 {
        format!("{per_second:.1}")
    } else {
        thousands(per_second.round() as u64)
    }
}

/// Seconds as `12.3 s`, `4 min 10 s`, or `3 h 20 min`.
///
/// ```
/// use timewait_cli::fmt::seconds;
///
/// assert_eq!(seconds(28.232), "28.2 s");
/// assert_eq!(seconds(250.0), "4 min 10 s");
/// ```
pub fn seconds(s: f64) -> String {
    if !s.is_finite() {
        return "∞".to_owned();
    }
    if s < 100.0 {
        return format!("{s:.1} s");
    }
    let whole = s.round() as u64;
    if whole < 3600 {
        format!("{} min {} s", whole / 60, whole % 60)
    } else {
        format!("{} h {} min", whole / 3600, whole % 3600 / 60)
    }
}

//! Feeding a decoder the way a socket does: in pieces, cut anywhere.

use bytes::BytesMut;
use proptest::test_runner::Config;
use tokio_util::codec::Decoder;

/// 256 cases on a developer's machine, or as many as `PROPTEST_CASES` asks
/// (CI asks for more).
pub(crate) fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256);
    Config::with_cases(cases)
}

/// Feeds `input` to `codec` cut at `cuts` (positions, any order, any value:
/// taken modulo the input's length), decoding all it can after each piece,
/// as `Framed` does. Returns the items, and what was left undecoded, or the
/// first error.
pub(crate) fn decode_in_pieces<D: Decoder>(
    codec: &mut D,
    input: &[u8],
    cuts: &[usize],
) -> Result<(Vec<D::Item>, BytesMut), D::Error> {
    let mut cuts: Vec<usize> = cuts
        .iter()
        .map(|c| if input.is_empty() { 0 } else { c % input.len() })
        .collect();
    cuts.push(input.len());
    cuts.sort_unstable();
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    let mut from = 0;
    for cut in cuts {
        buf.extend_from_slice(&input[from..cut]);
        from = cut;
        // Each item takes at least one byte: bounded by the input's length.
        for _ in 0..=input.len() {
            let before = buf.len();
            match codec.decode(&mut buf)? {
                Some(item) => {
                    assert!(buf.len() < before, "an item decoded from no bytes");
                    items.push(item);
                }
                None => break,
            }
        }
    }
    Ok((items, buf))
}

//! Feeding a decoder the way a socket does: in pieces, cut anywhere; and
//! the checks every codec's tests make that way.

use std::fmt::Debug;

use bytes::BytesMut;
use proptest::prelude::{TestCaseError, prop_assert, prop_assert_eq};
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

/// Asserts that a new `D` decodes nothing from any proper prefix of
/// `input`, and consumes none of it.
pub(crate) fn assert_waits_at_every_cut<D>(input: &[u8])
where
    D: Decoder + Default,
    D::Item: Debug,
    D::Error: Debug,
{
    for cut in 0..input.len() {
        let mut buf = BytesMut::from(&input[..cut]);
        let decoded = D::default().decode(&mut buf).unwrap();
        assert!(decoded.is_none(), "cut at {cut}: {decoded:?}");
        assert_eq!(buf.len(), cut);
    }
}

/// Asserts that `input` cut at `cuts` decodes to `expected`, with nothing
/// left over.
pub(crate) fn assert_decodes_in_pieces<D>(
    input: &[u8],
    cuts: &[usize],
    expected: &[D::Item],
) -> Result<(), TestCaseError>
where
    D: Decoder + Default,
    D::Item: Debug + PartialEq,
    D::Error: Debug,
{
    let (decoded, rest) = decode_in_pieces(&mut D::default(), input, cuts).unwrap();
    prop_assert_eq!(decoded.as_slice(), expected);
    prop_assert!(rest.is_empty());
    Ok(())
}

/// Overwrites `input` with `flips`: each byte at its position modulo the
/// length.
pub(crate) fn corrupt(input: &mut [u8], flips: &[(usize, u8)]) {
    let len = input.len();
    for &(at, byte) in flips {
        input[at % len] = byte;
    }
}

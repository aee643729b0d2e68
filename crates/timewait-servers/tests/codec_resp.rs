//! The RESP2 codec: commands encode as arrays of bulk strings; every kind
//! of reply decodes, whole or in pieces cut anywhere; garbage is an error,
//! never a panic.
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod support;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use support::codec::{
    assert_decodes_in_pieces, assert_waits_at_every_cut, config, corrupt, decode_in_pieces,
};
use timewait_servers::codec::{CodecError, Resp, RespCommand, RespValue};
use tokio_util::codec::{Decoder, Encoder};

fn decode_one(input: &[u8]) -> Result<Option<RespValue>, CodecError> {
    Resp::default().decode(&mut BytesMut::from(input))
}

fn bulk(s: &str) -> RespValue {
    RespValue::Bulk(Some(Bytes::copy_from_slice(s.as_bytes())))
}

#[test]
fn commands_are_arrays_of_bulk_strings() {
    let mut out = BytesMut::new();
    let command = RespCommand::new(["SET", "k"]).arg(b"a\r\nb");
    Resp::default().encode(command, &mut out).unwrap();
    assert_eq!(&out[..], b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n");
    let empty = Resp::default().encode(RespCommand::default(), &mut out);
    assert!(matches!(empty, Err(CodecError::Malformed { .. })));
}

#[test]
fn every_kind_of_reply_decodes() {
    let input = b"*5\r\n+OK\r\n-ERR no\r\n:-7\r\n$-1\r\n*2\r\n$3\r\na\r\n\r\n*-1\r\n";
    let expected = RespValue::Array(Some(vec![
        RespValue::Simple("OK".into()),
        RespValue::Error("ERR no".into()),
        RespValue::Integer(-7),
        RespValue::Bulk(None),
        RespValue::Array(Some(vec![bulk("a\r\n"), RespValue::Array(None)])),
    ]));
    assert_eq!(decode_one(input).unwrap(), Some(expected));
    assert_eq!(decode_one(b"$0\r\n\r\n").unwrap(), Some(bulk("")));
    assert_eq!(
        decode_one(b"*0\r\n").unwrap(),
        Some(RespValue::Array(Some(vec![])))
    );
}

#[test]
fn a_partial_reply_waits_at_every_cut_and_consumes_nothing() {
    let input = b"*2\r\n$5\r\nhello\r\n:42\r\n";
    assert_waits_at_every_cut::<Resp>(input);
}

#[test]
fn garbage_is_a_typed_error() {
    for input in [
        &b"?what\r\n"[..],
        b":12x\r\n",
        b"$-2\r\n",
        b"*-5\r\n",
        b"$3\r\nabcX\r\n",
        b"+a\rb\r\n",
        b":99999999999999999999\r\n",
    ] {
        let err = decode_one(input).unwrap_err();
        assert!(
            matches!(err, CodecError::Malformed { .. }),
            "{input:?}: {err}"
        );
    }
}

#[test]
fn announced_lengths_and_nesting_are_bounded() {
    let huge = Resp::default()
        .max_bulk(10)
        .decode(&mut BytesMut::from(&b"$11\r\n"[..]));
    assert!(matches!(
        huge,
        Err(CodecError::TooLarge {
            what: "bulk string",
            ..
        })
    ));
    let deep = b"*1\r\n".repeat(100);
    assert!(matches!(
        decode_one(&deep),
        Err(CodecError::TooLarge { .. })
    ));
    let endless_line = vec![b'+'; 100_000];
    assert!(matches!(
        decode_one(&endless_line),
        Err(CodecError::TooLarge { .. })
    ));
    // A million-element array announced in 12 bytes allocates nothing big.
    assert_eq!(decode_one(b"*1000000\r\n:1\r\n").unwrap(), None);
}

fn value() -> impl Strategy<Value = RespValue> {
    let line = proptest::collection::vec(
        any::<u8>().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n'),
        0..20,
    )
    .prop_map(Bytes::from);
    let leaf = prop_oneof![
        line.clone().prop_map(RespValue::Simple),
        line.prop_map(RespValue::Error),
        any::<i64>().prop_map(RespValue::Integer),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from))
            .prop_map(RespValue::Bulk),
        Just(RespValue::Array(None)),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        proptest::collection::vec(inner, 0..6).prop_map(|v| RespValue::Array(Some(v)))
    })
}

proptest! {
    #![proptest_config(config())]

    /// Replies encoded back to back decode to the same values, however the
    /// bytes are cut, with nothing left over.
    #[test]
    fn replies_survive_any_cutting(
        values in proptest::collection::vec(value(), 1..5),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut input = BytesMut::new();
        for v in &values {
            v.encode(&mut input);
        }
        assert_decodes_in_pieces::<Resp>(&input, &cuts, &values)?;
    }

    /// Arbitrary bytes, cut anywhere: values or an error, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(
        input in proptest::collection::vec(any::<u8>(), 0..256),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let _ = decode_in_pieces(&mut Resp::default(), &input, &cuts);
    }

    /// A valid reply with bytes overwritten: never a panic.
    #[test]
    fn corrupted_replies_never_panic(
        v in value(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
    ) {
        let mut input = BytesMut::new();
        v.encode(&mut input);
        corrupt(&mut input, &flips);
        let _ = decode_in_pieces(&mut Resp::default(), &input, &[]);
    }
}

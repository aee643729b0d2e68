//! The memcache text codec: requests encode as memcached reads them, keys
//! are checked; every response decodes, whole or in pieces cut anywhere;
//! garbage is an error, never a panic.
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod support;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use support::codec::{
    assert_decodes_in_pieces, assert_waits_at_every_cut, config, corrupt, decode_in_pieces,
};
use timewait_servers::codec::{
    CodecError, Memcache, MemcacheRequest, MemcacheResponse, MemcacheValue,
};
use tokio_util::codec::{Decoder, Encoder};

fn encode(request: MemcacheRequest) -> Result<BytesMut, CodecError> {
    let mut out = BytesMut::new();
    Memcache::default().encode(request, &mut out)?;
    Ok(out)
}

fn decode_one(input: &[u8]) -> Result<Option<MemcacheResponse>, CodecError> {
    Memcache::default().decode(&mut BytesMut::from(input))
}

#[test]
fn requests_encode_as_memcached_reads_them() {
    let set = MemcacheRequest::Set {
        key: "k".into(),
        flags: 3,
        exptime: 60,
        data: "a\r\nb".into(),
    };
    assert_eq!(&encode(set).unwrap()[..], b"set k 3 60 4\r\na\r\nb\r\n");
    let get = MemcacheRequest::Get(vec!["a".into(), "b".into()]);
    assert_eq!(&encode(get).unwrap()[..], b"get a b\r\n");
    assert_eq!(
        &encode(MemcacheRequest::Delete("a".into())).unwrap()[..],
        b"delete a\r\n"
    );
    assert_eq!(
        &encode(MemcacheRequest::Version).unwrap()[..],
        b"version\r\n"
    );
    assert_eq!(&encode(MemcacheRequest::Quit).unwrap()[..], b"quit\r\n");
}

#[test]
fn bad_keys_are_refused_before_anything_is_sent() {
    for key in [&b""[..], b"a b", b"a\r\nflush_all", &[b'k'; 251]] {
        let err = encode(MemcacheRequest::Delete(Bytes::copy_from_slice(key))).unwrap_err();
        assert!(matches!(err, CodecError::Malformed { .. }), "{key:?}");
    }
    assert!(encode(MemcacheRequest::Get(vec![])).is_err());
}

#[test]
fn every_response_decodes() {
    let cases: &[(&[u8], MemcacheResponse)] = &[
        (b"STORED\r\n", MemcacheResponse::Stored),
        (b"NOT_STORED\r\n", MemcacheResponse::NotStored),
        (b"EXISTS\r\n", MemcacheResponse::Exists),
        (b"NOT_FOUND\r\n", MemcacheResponse::NotFound),
        (b"DELETED\r\n", MemcacheResponse::Deleted),
        (b"TOUCHED\r\n", MemcacheResponse::Touched),
        (b"OK\r\n", MemcacheResponse::Ok),
        (b"ERROR\r\n", MemcacheResponse::Error),
        (b"42\r\n", MemcacheResponse::Number(42)),
        (
            b"VERSION 1.6.18\r\n",
            MemcacheResponse::Version("1.6.18".into()),
        ),
        (
            b"CLIENT_ERROR bad data chunk\r\n",
            MemcacheResponse::ClientError("bad data chunk".into()),
        ),
        (
            b"SERVER_ERROR out of memory\r\n",
            MemcacheResponse::ServerError("out of memory".into()),
        ),
        (b"END\r\n", MemcacheResponse::Values(vec![])),
        (
            b"VALUE a 1 3\r\nx\r\n\r\nVALUE b 0 0 99\r\n\r\nEND\r\n",
            MemcacheResponse::Values(vec![
                MemcacheValue {
                    key: "a".into(),
                    flags: 1,
                    data: "x\r\n".into(),
                    cas: None,
                },
                MemcacheValue {
                    key: "b".into(),
                    flags: 0,
                    data: "".into(),
                    cas: Some(99),
                },
            ]),
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(
            decode_one(input).unwrap().as_ref(),
            Some(expected),
            "{input:?}"
        );
    }
}

#[test]
fn a_partial_get_answer_waits_at_every_cut() {
    let input = b"VALUE a 1 3\r\nx\r\n\r\nEND\r\n";
    assert_waits_at_every_cut::<Memcache>(input);
}

#[test]
fn garbage_is_a_typed_error() {
    for input in [
        &b"HELLO\r\n"[..],
        b"STORED extra\r\n",
        b"VALUE a x 3\r\n",
        b"VALUE a 1\r\n",
        b"VALUE a 99999999999 1\r\nx\r\nEND\r\n",
        b"VALUE a 0 1\r\nxy\r\nEND\r\n",
        b"VALUE a 0 1 c\r\n",
        b"99999999999999999999999\r\n",
    ] {
        assert!(decode_one(input).is_err(), "{input:?}");
    }
    let endless = vec![b'V'; 10_000];
    assert!(matches!(
        decode_one(&endless),
        Err(CodecError::TooLarge { .. })
    ));
    let huge = decode_one(b"VALUE a 0 999999999\r\n");
    assert!(matches!(
        huge,
        Err(CodecError::TooLarge { what: "value", .. })
    ));
}

/// How memcached writes a response, as a model for the decoder.
fn write(response: &MemcacheResponse, out: &mut Vec<u8>) {
    let line = |out: &mut Vec<u8>, s: &[u8]| {
        out.extend_from_slice(s);
        out.extend_from_slice(b"\r\n");
    };
    let with = |word: &str, rest: &[u8]| [word.as_bytes(), b" ", rest].concat();
    match response {
        MemcacheResponse::Values(items) => {
            for item in items {
                let mut header = b"VALUE ".to_vec();
                header.extend_from_slice(&item.key);
                header.extend_from_slice(format!(" {} {}", item.flags, item.data.len()).as_bytes());
                if let Some(cas) = item.cas {
                    header.extend_from_slice(format!(" {cas}").as_bytes());
                }
                line(out, &header);
                line(out, &item.data);
            }
            line(out, b"END");
        }
        MemcacheResponse::Stored => line(out, b"STORED"),
        MemcacheResponse::NotFound => line(out, b"NOT_FOUND"),
        MemcacheResponse::Deleted => line(out, b"DELETED"),
        MemcacheResponse::Number(n) => line(out, n.to_string().as_bytes()),
        MemcacheResponse::Version(v) => line(out, &with("VERSION", v)),
        MemcacheResponse::ClientError(m) => line(out, &with("CLIENT_ERROR", m)),
        MemcacheResponse::ServerError(m) => line(out, &with("SERVER_ERROR", m)),
        _ => line(out, b"ERROR"),
    }
}

fn response() -> impl Strategy<Value = MemcacheResponse> {
    let key = proptest::collection::vec(0x21u8..0x7f, 1..20).prop_map(Bytes::from);
    let text = proptest::collection::vec(0x20u8..0x7f, 1..20).prop_map(Bytes::from);
    let data = proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from);
    let item = (key, any::<u32>(), data, proptest::option::of(any::<u64>())).prop_map(
        |(key, flags, data, cas)| MemcacheValue {
            key,
            flags,
            data,
            cas,
        },
    );
    prop_oneof![
        proptest::collection::vec(item, 0..4).prop_map(MemcacheResponse::Values),
        Just(MemcacheResponse::Stored),
        Just(MemcacheResponse::NotFound),
        Just(MemcacheResponse::Deleted),
        Just(MemcacheResponse::Error),
        any::<u64>().prop_map(MemcacheResponse::Number),
        text.clone().prop_map(MemcacheResponse::Version),
        text.clone().prop_map(MemcacheResponse::ClientError),
        text.prop_map(MemcacheResponse::ServerError),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Responses written back to back decode to the same, however the bytes
    /// are cut, with nothing left over.
    #[test]
    fn responses_survive_any_cutting(
        responses in proptest::collection::vec(response(), 1..5),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut input = Vec::new();
        for r in &responses {
            write(r, &mut input);
        }
        assert_decodes_in_pieces::<Memcache>(&input, &cuts, &responses)?;
    }

    /// Arbitrary bytes, cut anywhere: responses or an error, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(
        input in proptest::collection::vec(any::<u8>(), 0..256),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let _ = decode_in_pieces(&mut Memcache::default(), &input, &cuts);
    }

    /// A valid response with bytes overwritten: never a panic.
    #[test]
    fn corrupted_responses_never_panic(
        r in response(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
    ) {
        let mut input = Vec::new();
        write(&r, &mut input);
        corrupt(&mut input, &flips);
        let _ = decode_in_pieces(&mut Memcache::default(), &input, &[]);
    }
}

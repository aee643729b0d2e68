//! The PostgreSQL codec: the startup (no type byte), simple queries and
//! `Terminate` encode as the protocol says; every backend message of a
//! startup and a query decodes, whole or in pieces cut anywhere; garbage is
//! an error, never a panic.
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod support;

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;
use support::codec::{
    assert_decodes_in_pieces, assert_waits_at_every_cut, config, corrupt, decode_in_pieces,
};
use timewait_servers::codec::{CodecError, PgBackend, PgCodec, PgField, PgFrontend, PgNotice};
use tokio_util::codec::{Decoder, Encoder};

fn encode(message: PgFrontend) -> Result<BytesMut, CodecError> {
    let mut out = BytesMut::new();
    PgCodec::default().encode(message, &mut out)?;
    Ok(out)
}

fn decode_one(input: &[u8]) -> Result<Option<PgBackend>, CodecError> {
    PgCodec::default().decode(&mut BytesMut::from(input))
}

#[test]
fn the_startup_has_no_type_byte_and_counts_its_own_length() {
    let out = encode(PgFrontend::startup("u", "d")).unwrap();
    let body = b"\x00\x03\x00\x00user\0u\0database\0d\0\0";
    let mut expected = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    expected.extend_from_slice(body);
    assert_eq!(&out[..], &expected[..]);
}

#[test]
fn queries_and_terminate_are_typed_messages() {
    assert_eq!(
        &encode(PgFrontend::Query("SELECT 1".into())).unwrap()[..],
        b"Q\0\0\0\x0dSELECT 1\0"
    );
    assert_eq!(&encode(PgFrontend::Terminate).unwrap()[..], b"X\0\0\0\x04");
    let nul = encode(PgFrontend::Query("a\0b".into()));
    assert!(matches!(nul, Err(CodecError::Malformed { .. })));
}

#[test]
fn a_partial_message_waits_at_every_cut() {
    let input = b"C\0\0\0\x0dSELECT 1\0";
    assert_waits_at_every_cut::<PgCodec>(input);
    assert_eq!(
        decode_one(input).unwrap(),
        Some(PgBackend::CommandComplete("SELECT 1".into()))
    );
}

#[test]
fn garbage_is_a_typed_error() {
    for input in [
        &b"Z\0\0\0\x03"[..],                  // a length shorter than itself
        b"Z\0\0\0\x04",                       // ReadyForQuery without its status
        b"Z\0\0\0\x06II",                     // ... with a byte too many
        b"K\0\0\0\x08\0\0\0\x01",             // BackendKeyData cut short
        b"C\0\0\0\x05x",                      // a string without its NUL
        b"D\0\0\0\x06\xff\xff",               // a negative column count
        b"D\0\0\0\x0a\0\x01\xff\xff\xff\xfe", // a column length of -2
        b"D\0\0\0\x0a\0\x01\0\0\0\x09",       // a column longer than the message
        b"E\0\0\0\x06Sx",                     // fields without their terminator
    ] {
        let err = decode_one(input).unwrap_err();
        assert!(
            matches!(err, CodecError::Malformed { .. }),
            "{input:?}: {err}"
        );
    }
    let huge = PgCodec::default()
        .max_message(100)
        .decode(&mut BytesMut::from(&b"D\x7f\xff\xff\xff"[..]));
    assert!(matches!(huge, Err(CodecError::TooLarge { .. })));
}

#[test]
fn unknown_messages_come_out_as_they_came() {
    assert_eq!(
        decode_one(b"v\0\0\0\x06ab").unwrap(),
        Some(PgBackend::Other {
            tag: b'v',
            body: "ab".into()
        })
    );
}

/// How a backend writes a message, as a model for the decoder.
fn write(message: &PgBackend, out: &mut BytesMut) {
    let mut body = BytesMut::new();
    let cstr = |b: &mut BytesMut, s: &str| {
        b.put_slice(s.as_bytes());
        b.put_u8(0);
    };
    let tag = match message {
        PgBackend::AuthenticationOk => {
            body.put_i32(0);
            b'R'
        }
        PgBackend::Authentication { code, data } => {
            body.put_i32(*code);
            body.put_slice(data);
            b'R'
        }
        PgBackend::ParameterStatus { name, value } => {
            cstr(&mut body, name);
            cstr(&mut body, value);
            b'S'
        }
        PgBackend::BackendKeyData { pid, secret } => {
            body.put_i32(*pid);
            body.put_i32(*secret);
            b'K'
        }
        PgBackend::ReadyForQuery(status) => {
            body.put_u8(*status);
            b'Z'
        }
        PgBackend::RowDescription(fields) => {
            body.put_i16(fields.len() as i16);
            for f in fields {
                cstr(&mut body, &f.name);
                body.put_u32(f.table_oid);
                body.put_i16(f.column);
                body.put_u32(f.type_oid);
                body.put_i16(f.type_size);
                body.put_i32(f.type_modifier);
                body.put_i16(f.format);
            }
            b'T'
        }
        PgBackend::DataRow(values) => {
            body.put_i16(values.len() as i16);
            for v in values {
                match v {
                    None => body.put_i32(-1),
                    Some(v) => {
                        body.put_i32(v.len() as i32);
                        body.put_slice(v);
                    }
                }
            }
            b'D'
        }
        PgBackend::CommandComplete(tag) => {
            cstr(&mut body, tag);
            b'C'
        }
        PgBackend::EmptyQueryResponse => b'I',
        PgBackend::ErrorResponse(n) | PgBackend::NoticeResponse(n) => {
            for (code, text) in &n.fields {
                body.put_u8(*code);
                cstr(&mut body, text);
            }
            body.put_u8(0);
            if matches!(message, PgBackend::ErrorResponse(_)) {
                b'E'
            } else {
                b'N'
            }
        }
        PgBackend::Other { tag, body: b } => {
            body.put_slice(b);
            *tag
        }
        other => unreachable!("{other:?}"),
    };
    out.put_u8(tag);
    out.put_u32(body.len() as u32 + 4);
    out.put_slice(&body);
}

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 _.:-]{0,12}"
}

fn notice() -> impl Strategy<Value = PgNotice> {
    proptest::collection::vec((1u8..=255, text()), 0..4).prop_map(|fields| PgNotice { fields })
}

fn message() -> impl Strategy<Value = PgBackend> {
    let field = (text(), any::<(u32, i16, u32, i16, i32, i16)>()).prop_map(
        |(name, (table_oid, column, type_oid, type_size, type_modifier, format))| PgField {
            name,
            table_oid,
            column,
            type_oid,
            type_size,
            type_modifier,
            format,
        },
    );
    let bytes = proptest::collection::vec(any::<u8>(), 0..20).prop_map(Bytes::from);
    prop_oneof![
        Just(PgBackend::AuthenticationOk),
        (1i32.., bytes.clone()).prop_map(|(code, data)| PgBackend::Authentication { code, data }),
        (text(), text()).prop_map(|(name, value)| PgBackend::ParameterStatus { name, value }),
        any::<(i32, i32)>().prop_map(|(pid, secret)| PgBackend::BackendKeyData { pid, secret }),
        prop_oneof![Just(b'I'), Just(b'T'), Just(b'E')].prop_map(PgBackend::ReadyForQuery),
        proptest::collection::vec(field, 0..4).prop_map(PgBackend::RowDescription),
        proptest::collection::vec(proptest::option::of(bytes.clone()), 0..5)
            .prop_map(PgBackend::DataRow),
        text().prop_map(PgBackend::CommandComplete),
        Just(PgBackend::EmptyQueryResponse),
        notice().prop_map(PgBackend::ErrorResponse),
        notice().prop_map(PgBackend::NoticeResponse),
        (prop_oneof![Just(b'v'), Just(b'A'), Just(b'1')], bytes)
            .prop_map(|(tag, body)| PgBackend::Other { tag, body }),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Backend messages written back to back decode to the same, however
    /// the bytes are cut, with nothing left over.
    #[test]
    fn messages_survive_any_cutting(
        messages in proptest::collection::vec(message(), 1..6),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut input = BytesMut::new();
        for m in &messages {
            write(m, &mut input);
        }
        assert_decodes_in_pieces::<PgCodec>(&input, &cuts, &messages)?;
    }

    /// Arbitrary bytes, cut anywhere: messages or an error, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(
        input in proptest::collection::vec(any::<u8>(), 0..256),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let _ = decode_in_pieces(&mut PgCodec::default(), &input, &cuts);
    }

    /// A valid message with bytes overwritten (often its length or counts):
    /// never a panic.
    #[test]
    fn corrupted_messages_never_panic(
        m in message(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
    ) {
        let mut input = BytesMut::new();
        write(&m, &mut input);
        corrupt(&mut input, &flips);
        let _ = decode_in_pieces(&mut PgCodec::default(), &input, &[]);
    }
}

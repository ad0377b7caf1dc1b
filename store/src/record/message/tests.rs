use super::*;
use bytes::Bytes;
use proptest::prelude::*;
use raftmq_model::TopicName;

/// A topic that passes today's rule.
fn legal(name: &str) -> TopicName {
    name.parse().expect("legal topic")
}

/// A topic as the codec may meet it in the log: any string, checked or not.
fn stored(name: impl Into<String>) -> TopicName {
    TopicName::from_stored(name.into())
}

fn sample() -> Message {
    Message {
        topic: legal("orders"),
        queue_id: 3,
        tag: Some("TagA".into()),
        keys: vec!["k1".into(), "ключ".into()],
        properties: vec![
            ("color".into(), "red".into()),
            ("size".into(), "".into()),
            ("color".into(), "blue".into()),
        ],
        body: Bytes::from_static(b"hello world"),
        message_type: MessageType::Fifo,
        flags: FLAG_BODY_GZIP | 0x8000_0000,
        born_timestamp_ms: 1_700_000_000_000,
        store_timestamp_ms: 1_700_000_000_123,
        delivery_timestamp_ms: Some(1_700_000_060_000),
        born_host: "10.0.0.1:50000".into(),
        store_host: "10.0.0.2:8081".into(),
        message_id: "01ABCDEF".into(),
        message_group: Some("group-7".into()),
        trace_context: Some("00-abc-def-01".into()),
        reconsume_count: 2,
    }
}

/// Every field at its zero value, the topic empty: the smallest record.
fn minimal() -> Message {
    Message::new(stored(""))
}

// ---------------------------------------------------------------- layout

#[test]
fn minimal_record_is_min_len() {
    let bytes = minimal().encode_to_bytes().unwrap();
    assert_eq!(bytes.len(), MIN_RECORD_LEN);
    assert_eq!(MIN_RECORD_LEN, 60);
    assert_eq!(peek_len(&bytes), Ok(MIN_RECORD_LEN));
    let view = MessageView::decode(&bytes).unwrap();
    assert_eq!(view.to_message(), minimal());
}

#[test]
fn fixed_part_layout() {
    let m = sample();
    let b = m.encode_to_bytes().unwrap();
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    let i64_at = |o: usize| i64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    assert_eq!(u32_at(0) as usize, b.len());
    assert_eq!(b[4], 2);
    assert_eq!(b[5], 0b1111);
    assert_eq!(&b[6..8], &[0, 0]);
    assert_eq!(u32_at(FLAGS_OFFSET), m.flags);
    assert_eq!(u32_at(QUEUE_ID_OFFSET), 3);
    assert_eq!(u32_at(RECONSUME_COUNT_OFFSET), 2);
    assert_eq!(i64_at(BORN_TIMESTAMP_OFFSET), m.born_timestamp_ms);
    assert_eq!(i64_at(STORE_TIMESTAMP_OFFSET), m.store_timestamp_ms);
    assert_eq!(i64_at(DELIVERY_TIMESTAMP_OFFSET), 1_700_000_060_000);
    // variable part starts with the topic
    assert_eq!(&b[FIXED_LEN..FIXED_LEN + 2], &6u16.to_le_bytes());
    assert_eq!(&b[FIXED_LEN + 2..FIXED_LEN + 8], b"orders");
    // ...and ends with the body
    assert!(b.ends_with(b"hello world"));
}

#[test]
fn exact_bytes_of_a_small_record() {
    let m = Message {
        topic: legal("t"),
        tag: Some("g".into()),
        keys: vec!["k".into()],
        properties: vec![("a".into(), "b".into())],
        body: Bytes::from_static(b"xy"),
        message_type: MessageType::Normal,
        queue_id: 1,
        ..minimal()
    };
    let mut want = Vec::new();
    want.extend_from_slice(&77u32.to_le_bytes());
    want.extend_from_slice(&[1, 0b0001, 0, 0]);
    want.extend_from_slice(&0u32.to_le_bytes()); // flags
    want.extend_from_slice(&1u32.to_le_bytes()); // queue id
    want.extend_from_slice(&0u32.to_le_bytes()); // reconsume
    want.extend_from_slice(&[0; 24]); // timestamps
    want.extend_from_slice(&[1, 0, b't']); // topic
    want.extend_from_slice(&[1, 0, b'g']); // tag
    want.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // message id, born host, store host
    want.extend_from_slice(&[1, 0, 1, 0, b'k']); // keys
    want.extend_from_slice(&[1, 0, 1, 0, b'a', 1, 0, 0, 0, b'b']); // properties
    want.extend_from_slice(&[2, 0, 0, 0, b'x', b'y']); // body
    assert_eq!(want.len(), 77);
    assert_eq!(m.encoded_len(), Ok(77));
    assert_eq!(&m.encode_to_bytes().unwrap()[..], &want[..]);
}

#[test]
fn view_accessors() {
    let m = sample();
    let b = m.encode_to_bytes().unwrap();
    let v = MessageView::decode(&b).unwrap();
    assert_eq!(v.topic(), "orders");
    assert_eq!(v.queue_id(), 3);
    assert_eq!(v.tag(), Some("TagA"));
    assert_eq!(v.tag_hash(), tag_hash("TagA"));
    assert_eq!(v.key_count(), 2);
    assert_eq!(v.keys().len(), 2);
    assert_eq!(v.keys().collect::<Vec<_>>(), ["k1", "ключ"]);
    assert_eq!(v.property_count(), 3);
    assert_eq!(
        v.properties().collect::<Vec<_>>(),
        [("color", "red"), ("size", ""), ("color", "blue")]
    );
    assert_eq!(v.property("color"), Some("red"));
    assert_eq!(v.property("size"), Some(""));
    assert_eq!(v.property("nope"), None);
    assert_eq!(v.body(), b"hello world");
    assert_eq!(v.message_type(), MessageType::Fifo);
    assert_eq!(v.flags(), FLAG_BODY_GZIP | 0x8000_0000);
    assert!(v.is_body_gzip());
    assert!(m.is_body_gzip());
    assert_eq!(v.born_timestamp_ms(), 1_700_000_000_000);
    assert_eq!(v.store_timestamp_ms(), 1_700_000_000_123);
    assert_eq!(v.delivery_timestamp_ms(), Some(1_700_000_060_000));
    assert_eq!(v.born_host(), "10.0.0.1:50000");
    assert_eq!(v.store_host(), "10.0.0.2:8081");
    assert_eq!(v.message_id(), "01ABCDEF");
    assert_eq!(v.message_group(), Some("group-7"));
    assert_eq!(v.trace_context(), Some("00-abc-def-01"));
    assert_eq!(v.reconsume_count(), 2);
    assert_eq!(v.encoded_len(), b.len());
    assert_eq!(v.as_bytes(), &b[..]);
    assert_eq!(v.to_message(), m);
}

#[test]
fn decode_ignores_trailing_bytes() {
    let m = sample();
    let mut buf = m.encode_to_bytes().unwrap().to_vec();
    let len = buf.len();
    buf.extend_from_slice(&[0xff; 17]);
    let v = MessageView::decode(&buf).unwrap();
    assert_eq!(v.encoded_len(), len);
    assert_eq!(v.to_message(), m);
}

#[test]
fn store_timestamp_can_be_patched_in_place() {
    let m = sample();
    let mut buf = m.encode_to_bytes().unwrap().to_vec();
    buf[STORE_TIMESTAMP_OFFSET..STORE_TIMESTAMP_OFFSET + 8].copy_from_slice(&42i64.to_le_bytes());
    let v = MessageView::decode(&buf).unwrap();
    assert_eq!(v.store_timestamp_ms(), 42);
    assert_eq!(
        v.to_message(),
        Message {
            store_timestamp_ms: 42,
            ..m
        }
    );
}

#[test]
fn message_type_wire_values() {
    let all = [
        MessageType::Unspecified,
        MessageType::Normal,
        MessageType::Fifo,
        MessageType::Delay,
        MessageType::Transaction,
        MessageType::Lite,
        MessageType::Priority,
    ];
    for (i, t) in all.iter().enumerate() {
        assert_eq!(t.as_u8() as usize, i);
        assert_eq!(MessageType::from_u8(i as u8), Some(*t));
    }
    for v in 7..=255u8 {
        assert_eq!(MessageType::from_u8(v), None);
    }
    assert_eq!(MessageType::default(), MessageType::Unspecified);
}

// ---------------------------------------------------------------- errors

#[test]
fn unknown_message_type_is_rejected() {
    let mut buf = sample().encode_to_bytes().unwrap().to_vec();
    for v in [7u8, 8, 0x80, 0xff] {
        buf[MESSAGE_TYPE_OFFSET] = v;
        assert_eq!(
            MessageView::decode(&buf),
            Err(MessageCodecError::UnknownMessageType { value: v })
        );
    }
}

#[test]
fn unknown_presence_bits_are_rejected() {
    let mut buf = minimal().encode_to_bytes().unwrap().to_vec();
    for bit in 4..8 {
        buf[PRESENCE_OFFSET] = 1 << bit;
        assert_eq!(
            MessageView::decode(&buf),
            Err(MessageCodecError::UnknownPresenceBits { bits: 1 << bit })
        );
    }
    buf[PRESENCE_OFFSET] = 0xff;
    assert_eq!(
        MessageView::decode(&buf),
        Err(MessageCodecError::UnknownPresenceBits { bits: 0xf0 })
    );
}

#[test]
fn flipping_known_presence_bits_breaks_the_record() {
    // Flipping a string presence bit against the content makes the fields no
    // longer line up: the record must fail to decode (and never panic).
    let full = sample().encode_to_bytes().unwrap().to_vec();
    let bare = minimal().encode_to_bytes().unwrap().to_vec();
    for base in [&full, &bare] {
        for bit in 0..4 {
            let mut buf = base.clone();
            buf[PRESENCE_OFFSET] ^= 1 << bit;
            let res = MessageView::decode(&buf);
            if bit == 1 && base == &bare {
                // Setting the delivery bit over a stored 0 is a valid Some(0).
                assert_eq!(res.unwrap().delivery_timestamp_ms(), Some(0));
            } else {
                assert!(res.is_err(), "bit {bit}");
            }
        }
    }
}

#[test]
fn clearing_delivery_presence_with_a_timestamp_is_rejected() {
    let mut buf = sample().encode_to_bytes().unwrap().to_vec();
    buf[PRESENCE_OFFSET] &= !(1 << 1);
    assert_eq!(
        MessageView::decode(&buf),
        Err(MessageCodecError::MustBeZero {
            field: "delivery_timestamp_ms",
            offset: DELIVERY_TIMESTAMP_OFFSET,
            value: 1_700_000_060_000,
        })
    );
}

#[test]
fn delivery_timestamp_zero_is_distinct_from_absent() {
    let m = Message {
        delivery_timestamp_ms: Some(0),
        ..minimal()
    };
    let b = m.encode_to_bytes().unwrap();
    assert_eq!(
        MessageView::decode(&b).unwrap().delivery_timestamp_ms(),
        Some(0)
    );
    let none = minimal().encode_to_bytes().unwrap();
    assert_eq!(
        MessageView::decode(&none).unwrap().delivery_timestamp_ms(),
        None
    );
}

#[test]
fn nonzero_reserved_is_rejected() {
    let mut buf = minimal().encode_to_bytes().unwrap().to_vec();
    buf[RESERVED_OFFSET + 1] = 1;
    assert_eq!(
        MessageView::decode(&buf),
        Err(MessageCodecError::MustBeZero {
            field: "reserved",
            offset: RESERVED_OFFSET,
            value: 256,
        })
    );
}

#[test]
fn every_truncation_is_an_error() {
    for m in [sample(), minimal()] {
        let b = m.encode_to_bytes().unwrap();
        for cut in 0..b.len() {
            let prefix = &b[..cut];
            let err = MessageView::decode(prefix).unwrap_err();
            if cut < 4 {
                assert_eq!(
                    err,
                    MessageCodecError::Truncated {
                        field: "total_len",
                        offset: 0,
                        needed: 4,
                        available: cut,
                    }
                );
                assert!(peek_len(prefix).is_err());
            } else {
                assert_eq!(
                    err,
                    MessageCodecError::Truncated {
                        field: "record",
                        offset: 0,
                        needed: b.len(),
                        available: cut,
                    }
                );
                assert_eq!(peek_len(prefix), Ok(b.len()));
            }
            // A truncated record at the end of a batch body is an error too.
            let mut it = iter_batch(prefix);
            if cut == 0 {
                assert!(it.next().is_none());
            } else {
                assert!(it.next().unwrap().is_err());
                assert!(it.next().is_none());
            }
        }
    }
}

#[test]
fn every_shortened_total_len_is_an_error() {
    // The bytes are all there but total_len claims fewer: the fields overrun
    // the declared record.
    let b = sample().encode_to_bytes().unwrap().to_vec();
    for declared in 0..b.len() {
        let mut buf = b.clone();
        buf[..4].copy_from_slice(&(declared as u32).to_le_bytes());
        let err = MessageView::decode(&buf).unwrap_err();
        if declared < MIN_RECORD_LEN {
            assert_eq!(
                err,
                MessageCodecError::BadLength {
                    field: "total_len",
                    offset: 0,
                    len: declared,
                }
            );
        } else {
            assert!(
                matches!(err, MessageCodecError::Truncated { .. }),
                "{declared}: {err}"
            );
        }
    }
}

#[test]
fn overlong_total_len_is_a_mismatch() {
    let mut buf = sample().encode_to_bytes().unwrap().to_vec();
    let len = buf.len();
    buf.extend_from_slice(&[0; 5]);
    buf[..4].copy_from_slice(&((len + 5) as u32).to_le_bytes());
    assert_eq!(
        MessageView::decode(&buf),
        Err(MessageCodecError::LengthMismatch {
            declared: len + 5,
            consumed: len,
        })
    );
}

#[test]
fn truncated_field_names_field_and_offset() {
    // A bare fixed part whose topic claims 100 bytes in a 60-byte record.
    let mut buf = vec![0u8; MIN_RECORD_LEN];
    buf[..4].copy_from_slice(&(MIN_RECORD_LEN as u32).to_le_bytes());
    buf[FIXED_LEN..FIXED_LEN + 2].copy_from_slice(&100u16.to_le_bytes());
    assert_eq!(
        MessageView::decode(&buf),
        Err(MessageCodecError::Truncated {
            field: "topic",
            offset: FIXED_LEN,
            needed: 102,
            available: MIN_RECORD_LEN - FIXED_LEN,
        })
    );
    assert_eq!(
        MessageCodecError::Truncated {
            field: "topic",
            offset: 44,
            needed: 12,
            available: 3
        }
        .to_string(),
        "message record truncated in field `topic` at byte 44: needed 12 bytes, 3 available"
    );
}

#[test]
fn invalid_utf8_names_field_and_offset() {
    let m = Message {
        topic: legal("abc"),
        ..minimal()
    };
    let mut buf = m.encode_to_bytes().unwrap().to_vec();
    buf[FIXED_LEN + 2 + 1] = 0xff;
    assert_eq!(
        MessageView::decode(&buf),
        Err(MessageCodecError::InvalidUtf8 {
            field: "topic",
            offset: FIXED_LEN + 3,
        })
    );

    let m = Message {
        properties: vec![("k".into(), "vvvv".into())],
        ..minimal()
    };
    let mut buf = m.encode_to_bytes().unwrap().to_vec();
    let at = buf.len() - 4 - 4; // body prefix, then the value's bytes
    buf[at] = 0xc3; // a lone lead byte
    let err = MessageView::decode(&buf).unwrap_err();
    assert_eq!(
        err,
        MessageCodecError::InvalidUtf8 {
            field: "property value",
            offset: at,
        }
    );
}

#[test]
fn peek_len_checks() {
    assert!(matches!(
        peek_len(&[]),
        Err(MessageCodecError::Truncated {
            field: "total_len",
            ..
        })
    ));
    assert_eq!(
        peek_len(&59u32.to_le_bytes()),
        Err(MessageCodecError::BadLength {
            field: "total_len",
            offset: 0,
            len: 59
        })
    );
    assert_eq!(peek_len(&60u32.to_le_bytes()), Ok(60));
    assert_eq!(peek_len(&u32::MAX.to_le_bytes()), Ok(u32::MAX as usize));
}

#[test]
fn too_long_topic_is_rejected_and_nothing_written() {
    let m = Message {
        topic: stored("x".repeat(70_000)),
        ..sample()
    };
    let want = MessageCodecError::TooLong {
        field: "topic",
        len: 70_000,
        max: 65_535,
    };
    assert_eq!(m.encoded_len(), Err(want.clone()));
    let mut out = vec![1, 2, 3];
    assert_eq!(m.encode(&mut out), Err(want.clone()));
    assert_eq!(out, [1, 2, 3]);
    assert_eq!(m.encode_to_bytes(), Err(want.clone()));
    assert_eq!(encode_batch(&[sample(), m], &mut out), Err(want.clone()));
    assert_eq!(out, [1, 2, 3]);
    assert_eq!(
        want.to_string(),
        "message field `topic` is too long to encode: 70000 exceeds the maximum of 65535"
    );
}

#[test]
fn max_length_string_is_accepted() {
    let m = Message {
        tag: Some("t".repeat(65_535)),
        ..minimal()
    };
    let b = m.encode_to_bytes().unwrap();
    assert_eq!(b.len(), MIN_RECORD_LEN + 2 + 65_535);
    assert_eq!(MessageView::decode(&b).unwrap().to_message(), m);
}

#[test]
fn too_many_keys_or_too_long_key_is_rejected() {
    let m = Message {
        keys: vec![String::new(); 65_536],
        ..minimal()
    };
    assert_eq!(
        m.encoded_len(),
        Err(MessageCodecError::TooLong {
            field: "keys",
            len: 65_536,
            max: 65_535
        })
    );
    let m = Message {
        keys: vec!["k".into(), "k".repeat(65_536)],
        ..minimal()
    };
    assert!(matches!(
        m.encoded_len(),
        Err(MessageCodecError::TooLong { field: "key", .. })
    ));
    let m = Message {
        properties: vec![("k".repeat(65_536), String::new())],
        ..minimal()
    };
    assert!(matches!(
        m.encoded_len(),
        Err(MessageCodecError::TooLong {
            field: "property key",
            ..
        })
    ));
    // Property values are u32-prefixed: well past u16::MAX is fine.
    let m = Message {
        properties: vec![("k".into(), "v".repeat(70_000))],
        ..minimal()
    };
    let b = m.encode_to_bytes().unwrap();
    assert_eq!(MessageView::decode(&b).unwrap().to_message(), m);
}

// ---------------------------------------------------------------- batches

#[test]
fn batch_round_trip_with_offsets() {
    let msgs = vec![sample(), minimal(), sample(), minimal()];
    let mut out = b"prefix".to_vec();
    let pos = encode_batch(&msgs, &mut out).unwrap();
    let body = &out[6..];
    let mut expect_off = 0u32;
    for (m, &(off, len)) in msgs.iter().zip(&pos) {
        assert_eq!(off, expect_off);
        assert_eq!(len as usize, m.encoded_len().unwrap());
        expect_off += len;
    }
    assert_eq!(expect_off as usize, body.len());
    let decoded: Vec<_> = iter_batch(body).collect::<Result<_, _>>().unwrap();
    assert_eq!(decoded.len(), msgs.len());
    for ((at, v), (m, &(off, _))) in decoded.iter().zip(msgs.iter().zip(&pos)) {
        assert_eq!(*at, off as usize);
        assert_eq!(&v.to_message(), m);
    }
    assert!(encode_batch(&[], &mut out).unwrap().is_empty());
    assert_eq!(iter_batch(&[]).count(), 0);
}

#[test]
fn batch_iter_stops_after_first_error() {
    let msgs = vec![sample(), minimal(), sample()];
    let mut body = Vec::new();
    let pos = encode_batch(&msgs, &mut body).unwrap();
    // Corrupt the second record's message type.
    body[pos[1].0 as usize + MESSAGE_TYPE_OFFSET] = 99;
    let mut it = iter_batch(&body);
    assert!(matches!(it.next(), Some(Ok((0, _)))));
    assert_eq!(
        it.next(),
        Some(Err(MessageCodecError::UnknownMessageType { value: 99 }))
    );
    assert_eq!(it.offset(), pos[1].0 as usize);
    assert!(it.next().is_none());
    assert!(it.next().is_none());
}

// ---------------------------------------------------------------- tag hash

#[test]
fn tag_hash_vectors() {
    assert_eq!(tag_hash(""), 0);
    // FNV-1a 64 of "a": (0xcbf29ce484222325 ^ 0x61) * 0x100000001b3 mod 2^64.
    let by_hand = (0xcbf2_9ce4_8422_2325u64 ^ 0x61).wrapping_mul(0x0000_0100_0000_01b3);
    assert_eq!(by_hand, 0xaf63_dc4c_8601_ec8c);
    assert_eq!(tag_hash("a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(tag_hash("foobar"), 0x8594_4171_f739_67e8);
    assert_eq!(tag_hash("TagA"), 0x03aa_2efb_08df_e196);
    assert_eq!(tag_hash("order-created"), 0xf444_5ebb_83b2_e2ea);
    assert_eq!(tag_hash("日本"), 0x121d_7e35_a6d3_ce91);
    let untagged = MessageView::decode(&minimal().encode_to_bytes().unwrap())
        .unwrap()
        .tag_hash();
    assert_eq!(untagged, 0);
}

// ---------------------------------------------------------------- proptests

fn opt_string() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(".{0,12}")
}

prop_compose! {
    fn arb_header()(
        topic in ".{0,16}",
        queue_id in any::<u32>(),
        message_type in 0u8..=6,
        flags in any::<u32>(),
        born in any::<i64>(),
        store in any::<i64>(),
        delivery in proptest::option::of(any::<i64>()),
        reconsume_count in any::<u32>(),
    ) -> (String, u32, MessageType, u32, i64, i64, Option<i64>, u32) {
        let message_type = MessageType::from_u8(message_type).unwrap_or_default();
        (topic, queue_id, message_type, flags, born, store, delivery, reconsume_count)
    }
}

prop_compose! {
    fn arb_message()(
        header in arb_header(),
        tag in opt_string(),
        keys in proptest::collection::vec(".{0,8}", 0..4),
        properties in proptest::collection::vec((".{0,8}", ".{0,16}"), 0..4),
        body in proptest::collection::vec(any::<u8>(), 0..64),
        born_host in ".{0,12}",
        store_host in ".{0,12}",
        message_id in ".{0,12}",
        message_group in opt_string(),
        trace_context in opt_string(),
    ) -> Message {
        let (topic, queue_id, message_type, flags, born, store, delivery, reconsume_count) = header;
        Message {
            topic: stored(topic),
            queue_id,
            tag,
            keys,
            properties,
            body: Bytes::from(body),
            message_type,
            flags,
            born_timestamp_ms: born,
            store_timestamp_ms: store,
            delivery_timestamp_ms: delivery,
            born_host,
            store_host,
            message_id,
            message_group,
            trace_context,
            reconsume_count,
        }
    }
}

/// Decodes `buf` every way the public API allows, to check nothing panics.
fn exercise(buf: &[u8]) {
    let _ = peek_len(buf);
    if let Ok(v) = MessageView::decode(buf) {
        assert!(v.encoded_len() <= buf.len());
        assert_eq!(v.keys().count(), v.key_count());
        assert_eq!(v.properties().count(), v.property_count());
        // A view that decodes re-encodes to the same bytes.
        assert_eq!(v.to_message().encode_to_bytes().unwrap(), v.as_bytes());
    }
    for item in iter_batch(buf) {
        if item.is_err() {
            break;
        }
    }
}

proptest! {
    #[test]
    fn prop_round_trip(m in arb_message()) {
        let len = m.encoded_len().unwrap();
        let mut out = vec![0xaa; 3];
        m.encode(&mut out).unwrap();
        prop_assert_eq!(out.len(), 3 + len);
        let bytes = m.encode_to_bytes().unwrap();
        prop_assert_eq!(&bytes[..], &out[3..]);
        prop_assert_eq!(peek_len(&bytes), Ok(len));
        let v = MessageView::decode(&bytes).unwrap();
        prop_assert_eq!(v.encoded_len(), len);
        prop_assert_eq!(v.tag_hash(), m.tag.as_deref().map_or(0, tag_hash));
        prop_assert_eq!(v.to_message(), m);
    }

    #[test]
    fn prop_batch_round_trip(msgs in proptest::collection::vec(arb_message(), 0..6)) {
        let mut out = vec![7u8; 5];
        let pos = encode_batch(&msgs, &mut out).unwrap();
        prop_assert_eq!(pos.len(), msgs.len());
        let body = &out[5..];
        let decoded: Vec<_> = iter_batch(body).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(decoded.len(), msgs.len());
        let mut next = 0usize;
        for ((at, v), (m, &(off, len))) in decoded.iter().zip(msgs.iter().zip(&pos)) {
            prop_assert_eq!(*at, next);
            prop_assert_eq!(off as usize, next);
            prop_assert_eq!(len as usize, m.encoded_len().unwrap());
            prop_assert_eq!(v.encoded_len(), len as usize);
            prop_assert_eq!(&v.to_message(), m);
            next += len as usize;
        }
        prop_assert_eq!(next, body.len());
    }

    #[test]
    fn prop_random_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..256)) {
        exercise(&buf);
    }

    #[test]
    fn prop_random_bytes_with_plausible_header_never_panic(
        mut buf in proptest::collection::vec(any::<u8>(), MIN_RECORD_LEN..256),
        message_type in 0u8..=6,
        presence in 0u8..16,
    ) {
        // Make the fixed part pass so that the variable part gets parsed.
        let len = buf.len() as u32;
        buf[..4].copy_from_slice(&len.to_le_bytes());
        buf[MESSAGE_TYPE_OFFSET] = message_type;
        buf[PRESENCE_OFFSET] = presence;
        buf[RESERVED_OFFSET..RESERVED_OFFSET + 2].copy_from_slice(&[0, 0]);
        buf[DELIVERY_TIMESTAMP_OFFSET..FIXED_LEN].copy_from_slice(&[0; 8]);
        exercise(&buf);
    }

    #[test]
    fn prop_mutated_record_never_panics(
        m in arb_message(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut buf = m.encode_to_bytes().unwrap().to_vec();
        for (i, x) in flips {
            let i = i.index(buf.len());
            buf[i] ^= x;
        }
        exercise(&buf);
    }

    #[test]
    fn prop_truncations_are_errors(m in arb_message(), cut in any::<prop::sample::Index>()) {
        let bytes = m.encode_to_bytes().unwrap();
        let cut = cut.index(bytes.len());
        prop_assert!(MessageView::decode(&bytes[..cut]).is_err());
    }
}

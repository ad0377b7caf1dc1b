use proptest::prelude::*;

use super::*;

const ALPHABET: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789%|-_";

#[test]
fn every_legal_character_is_accepted() {
    for c in ALPHABET.chars() {
        let name = format!("t{c}");
        assert_eq!(TopicName::new(name.clone()).map(String::from), Ok(name));
    }
    assert!(TopicName::new(ALPHABET).is_ok());
}

#[test]
fn every_other_ascii_character_is_refused_at_its_position() {
    for b in 0u8..128 {
        let c = char::from(b);
        if ALPHABET.contains(c) {
            continue;
        }
        let e = TopicName::new(format!("ab{c}")).expect_err("illegal");
        match e {
            NameError::IllegalChar {
                of, ch, position, ..
            } => assert_eq!((of, ch, position), (NameOf::Topic, c, 3)),
            other => panic!("{c:?}: {other:?}"),
        }
    }
}

#[test]
fn lengths_0_127_128() {
    assert_eq!(
        TopicName::new(""),
        Err(NameError::Empty { of: NameOf::Topic })
    );
    assert!(TopicName::new("a".repeat(127)).is_ok());
    let e = TopicName::new("a".repeat(128)).expect_err("too long");
    assert!(matches!(e, NameError::TooLong { len: 128, .. }), "{e:?}");
    assert!(e.to_string().contains("128 characters long"), "{e}");
}

#[test]
fn the_dot_is_refused_with_the_rule() {
    let text = TopicName::new("a.b").expect_err("dot").to_string();
    assert!(text.contains("\"a.b\""), "{text}");
    assert!(text.contains("'.' at position 2"), "{text}");
    assert!(text.contains("A-Z, a-z, 0-9, %, |, _ and -"), "{text}");
}

#[test]
fn kinds_come_from_the_prefix() {
    let t = |s: &str| TopicName::new(s).expect("legal");
    assert_eq!(t("Orders").kind(), TopicKind::Normal);
    assert_eq!(t("%RETRY%g1").kind(), TopicKind::Retry { group: "g1" });
    assert_eq!(t("%DLQ%g1").kind(), TopicKind::DeadLetter { group: "g1" });
    assert_eq!(t("rmq_sys_trace").kind(), TopicKind::System);
    assert_eq!(t("RMQ_SYS_x").kind(), TopicKind::Normal);
}

#[test]
fn users_may_not_pick_reserved_prefixes_but_may_read_them() {
    for (name, prefix) in [
        ("%RETRY%g", "%RETRY%"),
        ("%DLQ%g", "%DLQ%"),
        ("rmq_sys_x", "rmq_sys_"),
    ] {
        assert!(TopicName::new(name).is_ok(), "{name} is a legal name");
        let e = TopicName::user_named(name).expect_err("reserved");
        match &e {
            NameError::Reserved { prefix: p, .. } => assert_eq!(*p, prefix),
            other => panic!("{name}: {other:?}"),
        }
        assert!(e.to_string().contains("reserved"), "{e}");
    }
    assert!(TopicName::user_named("Orders").is_ok());
    assert!(TopicName::user_named("a.b").is_err());
}

#[test]
fn retry_and_dead_letter_topics_are_named_from_the_group() {
    let g = GroupName::new("GroupA").expect("legal");
    let dlq = TopicName::dead_letter(&g).expect("short enough");
    assert_eq!(dlq, "%DLQ%GroupA");
    assert_eq!(dlq.kind(), TopicKind::DeadLetter { group: "GroupA" });
    let retry = TopicName::retry(&g).expect("short enough");
    assert_eq!(retry.kind(), TopicKind::Retry { group: "GroupA" });
    let long = GroupName::new("g".repeat(123)).expect("legal group");
    assert!(matches!(
        TopicName::dead_letter(&long),
        Err(NameError::TooLong { len: 128, .. })
    ));
}

proptest! {
    #[test]
    fn names_of_the_alphabet_are_accepted_and_kept(s in "[A-Za-z0-9%|_-]{1,127}") {
        let t = TopicName::new(s.clone()).expect("legal");
        prop_assert_eq!(t.as_str(), s.as_str());
        prop_assert_eq!(s.parse::<TopicName>(), Ok(t));
    }

    #[test]
    fn one_foreign_character_is_found(
        prefix in "[A-Za-z0-9_-]{0,60}",
        bad in "[^A-Za-z0-9%|_-]",
        suffix in "[A-Za-z0-9_-]{0,60}",
    ) {
        let name = format!("{prefix}{bad}{suffix}");
        match TopicName::new(name) {
            Err(NameError::IllegalChar { ch, position, .. }) => {
                prop_assert_eq!(Some(ch), bad.chars().next());
                prop_assert_eq!(position, prefix.len() + 1);
            }
            other => prop_assert!(false, "unexpected {:?}", other),
        }
    }
}

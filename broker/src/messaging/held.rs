//! What a sent message's type asks of the store (ADR 0012): a delay or
//! schedule holds it until its time, a transaction holds it until the
//! producer commits; the refusals upstream makes for combinations it does
//! not allow; and the topic's `message.type` under
//! `enableTopicMessageTypeCheck`.

use raftmq_model::TopicMessageType;
use raftmq_proto::rocketmq::v2;
use raftmq_store::record::message::{Message, MessageType, FLAG_HALF, FLAG_TIMER};

use super::convert::Refusal;
use crate::conf::HeldConf;

/// The 4.x delay level property: `1` to the number of `messageDelayLevel`s.
pub const PROPERTY_DELAY_LEVEL: &str = "DELAY";
/// 5.x timer properties: an absolute due time in ms since the epoch, or a
/// delay from now in seconds or ms.
pub const PROPERTY_TIMER_DELIVER_MS: &str = "TIMER_DELIVER_MS";
/// See [`PROPERTY_TIMER_DELIVER_MS`].
pub const PROPERTY_TIMER_DELAY_SEC: &str = "TIMER_DELAY_SEC";
/// See [`PROPERTY_TIMER_DELIVER_MS`].
pub const PROPERTY_TIMER_DELAY_MS: &str = "TIMER_DELAY_MS";
/// 4.x's mark of a transactional (prepared) message.
pub const PROPERTY_TRANSACTION_PREPARED: &str = "TRAN_MSG";

fn property<'a>(m: &'a Message, key: &str) -> Option<&'a str> {
    m.properties
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn illegal_delivery(why: String) -> Refusal {
    (v2::Code::IllegalDeliveryTime, why)
}

/// The due time a message asks for, ms since the epoch: v5's
/// `delivery_timestamp`, else a timer or delay-level property. None: no
/// delay asked (a level of 0 is none, as upstream).
fn due_ms(m: &Message, conf: &HeldConf, now_ms: i64) -> Result<Option<i64>, Refusal> {
    if let Some(at) = m.delivery_timestamp_ms {
        return Ok(Some(at));
    }
    let number = |key: &str, v: &str| {
        v.trim()
            .parse::<i64>()
            .map_err(|_| illegal_delivery(format!("property {key}={v:?} is not a whole number")))
    };
    if let Some(v) = property(m, PROPERTY_TIMER_DELIVER_MS) {
        return Ok(Some(number(PROPERTY_TIMER_DELIVER_MS, v)?));
    }
    if let Some(v) = property(m, PROPERTY_TIMER_DELAY_SEC) {
        let secs = number(PROPERTY_TIMER_DELAY_SEC, v)?;
        return Ok(Some(now_ms.saturating_add(secs.saturating_mul(1000))));
    }
    if let Some(v) = property(m, PROPERTY_TIMER_DELAY_MS) {
        return Ok(Some(
            now_ms.saturating_add(number(PROPERTY_TIMER_DELAY_MS, v)?),
        ));
    }
    if let Some(v) = property(m, PROPERTY_DELAY_LEVEL) {
        let levels = &conf.message_delay_level;
        let level = number(PROPERTY_DELAY_LEVEL, v)?;
        if level == 0 {
            return Ok(None);
        }
        let delay = usize::try_from(level)
            .ok()
            .and_then(|l| l.checked_sub(1))
            .and_then(|i| levels.get(i))
            .ok_or_else(|| {
                illegal_delivery(format!(
                    "delay level {level} is out of range: messageDelayLevel has levels 1 to {}",
                    levels.len()
                ))
            })?;
        let ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
        return Ok(Some(now_ms.saturating_add(ms)));
    }
    Ok(None)
}

/// Sets a sent message up for the store: a delay in the future holds it as
/// a timer (its due time in `delivery_timestamp_ms`), a transactional one
/// holds it as a half message. Returns the type it was sent as, for
/// [`check_topic_type`]; or the refusal, the message unchanged in meaning.
pub fn prepare(m: &mut Message, conf: &HeldConf, now_ms: i64) -> Result<TopicMessageType, Refusal> {
    let transactional = m.message_type == MessageType::Transaction
        || property(m, PROPERTY_TRANSACTION_PREPARED).is_some_and(|v| v == "true");
    let due = due_ms(m, conf, now_ms)?;
    if transactional {
        let conflict = if due.is_some() {
            Some("a delivery time")
        } else if m.message_group.is_some() {
            Some("a message group")
        } else {
            None
        };
        if let Some(what) = conflict {
            return Err((
                v2::Code::MessagePropertyConflictWithType,
                format!(
                    "a transactional message cannot have {what}: send it as a separate message"
                ),
            ));
        }
        m.message_type = MessageType::Transaction;
        m.flags |= FLAG_HALF;
        return Ok(TopicMessageType::Transaction);
    }
    let Some(due) = due else {
        if m.message_type == MessageType::Delay {
            return Err(illegal_delivery(
                "a DELAY message needs a delivery_timestamp".into(),
            ));
        }
        return Ok(if m.message_group.is_some() {
            TopicMessageType::Fifo
        } else {
            TopicMessageType::Normal
        });
    };
    if m.message_group.is_some() {
        return Err((
            v2::Code::MessagePropertyConflictWithType,
            "a FIFO message (with a message group) cannot have a delivery time".into(),
        ));
    }
    if !conf.timer_wheel_enable {
        return Err((
            v2::Code::Unsupported,
            "delay messages are turned off on this broker (timerWheelEnable=false)".into(),
        ));
    }
    let max_ms = i64::try_from(conf.timer_max_delay.as_millis()).unwrap_or(i64::MAX);
    if due > now_ms.saturating_add(max_ms) {
        return Err(illegal_delivery(format!(
            "the delivery time is {} s ahead, beyond timerMaxDelaySec {}",
            due.saturating_sub(now_ms) / 1000,
            conf.timer_max_delay.as_secs()
        )));
    }
    m.message_type = MessageType::Delay;
    m.delivery_timestamp_ms = Some(due);
    // A time already past is a normal delivery now: nothing to hold.
    if due > now_ms {
        m.flags |= FLAG_TIMER;
    }
    Ok(TopicMessageType::Delay)
}

/// Under `enableTopicMessageTypeCheck`, whether a message sent as `sent`
/// may go to a topic declared `declared`.
pub fn check_topic_type(
    topic: &str,
    declared: TopicMessageType,
    sent: TopicMessageType,
) -> Result<(), Refusal> {
    if declared.accepts(sent) {
        return Ok(());
    }
    let declared = match declared {
        TopicMessageType::Unspecified => "undeclared (so NORMAL)".to_owned(),
        d => d.to_string(),
    };
    Err((
        v2::Code::MessagePropertyConflictWithType,
        format!(
            "topic {topic:?} takes {declared} messages, not {sent} \
             (enableTopicMessageTypeCheck): send to a topic of that type, or change \
             it with mqadmin updateTopic -a +message.type={sent}"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn msg() -> Message {
        Message::new("T".parse().expect("legal"))
    }

    fn with_property(k: &str, v: &str) -> Message {
        let mut m = msg();
        m.properties.push((k.into(), v.into()));
        m
    }

    #[test]
    fn a_future_delivery_time_holds_the_message_and_a_past_one_does_not() {
        let conf = HeldConf::default();
        let mut m = msg();
        m.delivery_timestamp_ms = Some(NOW + 10_000);
        assert_eq!(prepare(&mut m, &conf, NOW), Ok(TopicMessageType::Delay));
        assert_eq!(m.flags & FLAG_TIMER, FLAG_TIMER);
        assert_eq!(m.message_type, MessageType::Delay);

        let mut past = msg();
        past.delivery_timestamp_ms = Some(NOW - 1);
        assert_eq!(prepare(&mut past, &conf, NOW), Ok(TopicMessageType::Delay));
        assert_eq!(past.flags & FLAG_TIMER, 0, "due already: not held");
    }

    #[test]
    fn levels_and_timer_properties_give_the_due_time() {
        let conf = HeldConf::default();
        for (k, v, due) in [
            (PROPERTY_DELAY_LEVEL, "3", NOW + 10_000),
            (PROPERTY_DELAY_LEVEL, "18", NOW + 7_200_000),
            (PROPERTY_TIMER_DELIVER_MS, "1700000005000", NOW + 5_000),
            (PROPERTY_TIMER_DELAY_SEC, "7", NOW + 7_000),
            (PROPERTY_TIMER_DELAY_MS, "250", NOW + 250),
        ] {
            let mut m = with_property(k, v);
            assert_eq!(
                prepare(&mut m, &conf, NOW),
                Ok(TopicMessageType::Delay),
                "{k}={v}"
            );
            assert_eq!(m.delivery_timestamp_ms, Some(due), "{k}={v}");
        }
        let mut none = with_property(PROPERTY_DELAY_LEVEL, "0");
        assert_eq!(prepare(&mut none, &conf, NOW), Ok(TopicMessageType::Normal));
        assert_eq!(none.flags, 0);
    }

    #[test]
    fn bad_delays_are_refused_with_the_reason() {
        let conf = HeldConf {
            timer_max_delay: Duration::from_secs(60),
            ..HeldConf::default()
        };
        let refused = |mut m: Message| prepare(&mut m, &conf, NOW).expect_err("refused");
        let (code, why) = refused(with_property(PROPERTY_DELAY_LEVEL, "19"));
        assert_eq!(code, v2::Code::IllegalDeliveryTime);
        assert!(why.contains("levels 1 to 18"), "{why}");
        let (_, why) = refused(with_property(PROPERTY_DELAY_LEVEL, "-1"));
        assert!(why.contains("out of range"), "{why}");
        let (_, why) = refused(with_property(PROPERTY_TIMER_DELAY_SEC, "soon"));
        assert!(why.contains("TIMER_DELAY_SEC=\"soon\""), "{why}");
        let mut far = msg();
        far.delivery_timestamp_ms = Some(NOW + 61_000);
        let (code, why) = refused(far);
        assert_eq!(code, v2::Code::IllegalDeliveryTime);
        assert!(why.contains("timerMaxDelaySec 60"), "{why}");
        let mut typed = msg();
        typed.message_type = MessageType::Delay;
        assert_eq!(refused(typed).0, v2::Code::IllegalDeliveryTime);
        let mut fifo = msg();
        fifo.delivery_timestamp_ms = Some(NOW + 1_000);
        fifo.message_group = Some("g".into());
        assert_eq!(refused(fifo).0, v2::Code::MessagePropertyConflictWithType);
        let off = HeldConf {
            timer_wheel_enable: false,
            ..HeldConf::default()
        };
        let mut m = msg();
        m.delivery_timestamp_ms = Some(NOW + 1_000);
        let (code, why) = prepare(&mut m, &off, NOW).expect_err("off");
        assert_eq!(code, v2::Code::Unsupported);
        assert!(why.contains("timerWheelEnable=false"), "{why}");
    }

    #[test]
    fn a_transaction_is_held_as_a_half_and_takes_no_delay_or_group() {
        let conf = HeldConf::default();
        let mut m = msg();
        m.message_type = MessageType::Transaction;
        assert_eq!(
            prepare(&mut m, &conf, NOW),
            Ok(TopicMessageType::Transaction)
        );
        assert_eq!(m.flags & FLAG_HALF, FLAG_HALF);
        let mut old_style = with_property(PROPERTY_TRANSACTION_PREPARED, "true");
        assert_eq!(
            prepare(&mut old_style, &conf, NOW),
            Ok(TopicMessageType::Transaction)
        );
        for (what, mut bad) in [
            ("a delivery time", {
                let mut b = msg();
                b.delivery_timestamp_ms = Some(NOW + 5);
                b
            }),
            ("a message group", {
                let mut b = msg();
                b.message_group = Some("g".into());
                b
            }),
        ] {
            bad.message_type = MessageType::Transaction;
            let (code, why) = prepare(&mut bad, &conf, NOW).expect_err(what);
            assert_eq!(code, v2::Code::MessagePropertyConflictWithType);
            assert!(why.contains(what), "{why}");
            assert_eq!(bad.flags, 0, "unchanged");
        }
    }

    #[test]
    fn the_type_check_names_the_topic_and_both_types() {
        use TopicMessageType::*;
        assert_eq!(check_topic_type("T", Delay, Delay), Ok(()));
        assert_eq!(check_topic_type("T", Unspecified, Normal), Ok(()));
        let (code, why) = check_topic_type("T", Unspecified, Transaction).expect_err("refused");
        assert_eq!(code, v2::Code::MessagePropertyConflictWithType);
        assert!(
            why.contains("\"T\"") && why.contains("NORMAL") && why.contains("TRANSACTION"),
            "{why}"
        );
        assert!(check_topic_type("T", Fifo, Normal).is_err());
        assert_eq!(check_topic_type("T", Mixed, Fifo), Ok(()));
    }
}

//! `mqadmin consumeMessage -t TOPIC [-g GROUP] [-o OFFSET] [-c COUNT]`:
//! reads messages of every queue of a topic through the SDK's
//! PullConsumer, from the queues' first messages (or `-o`), without
//! committing anything.

use crate::admin::{AdminError, NamesrvAddrs};
use crate::sdk::{ClientConfig, PullConsumer, ReceivedMessage};

/// Up to `count` messages, queue by queue.
pub async fn consume_message(
    namesrv: &NamesrvAddrs,
    topic: &str,
    group: &str,
    offset: Option<i64>,
    count: usize,
) -> Result<Vec<ReceivedMessage>, AdminError> {
    let mut config = ClientConfig::new(&namesrv.as_slice().join(";"))?;
    config.long_polling_timeout = std::time::Duration::ZERO;
    let mut consumer = PullConsumer::start(config, group).await?;
    let queues = consumer.queues(topic).await?;
    consumer.assign(queues.clone());
    for q in &queues {
        match offset {
            Some(o) => consumer.seek(q, o)?,
            None => consumer.seek_to_begin(q).await?,
        }
    }
    let mut out = Vec::new();
    // Each pull reads every assigned queue once; stop when a round is empty.
    for _ in 0..1024 {
        if out.len() >= count {
            break;
        }
        let got = consumer.pull(count - out.len()).await?;
        if got.is_empty() {
            break;
        }
        out.extend(got);
    }
    consumer.shutdown().await;
    out.truncate(count);
    Ok(out)
}

/// One line a message, as upstream prints them.
pub fn render_messages(msgs: &[ReceivedMessage]) -> String {
    let mut out = String::new();
    for m in msgs {
        out.push_str(&format!(
            "MSGID: {} queue: {}#{} offset: {} tag: {} keys: {:?} BODY: {}\n",
            m.message_id(),
            m.broker(),
            m.queue_id(),
            m.queue_offset(),
            m.tag().unwrap_or(""),
            m.keys(),
            String::from_utf8_lossy(m.body())
        ));
    }
    out.push_str(&format!("{} message(s)\n", msgs.len()));
    out
}

//! `mqadmin sendMessage -t TOPIC -p BODY [-c TAG] [-k KEYS]`: one message
//! through the SDK, and where it was stored, in upstream's columns.

use crate::admin::{AdminError, NamesrvAddrs};
use crate::sdk::{ClientConfig, Message, Producer, SendReceipt};

/// Sends one message; returns its receipt.
pub async fn send_message(
    namesrv: &NamesrvAddrs,
    topic: &str,
    body: &str,
    tag: Option<&str>,
    keys: Option<&str>,
) -> Result<SendReceipt, AdminError> {
    let config = ClientConfig::new(&namesrv.as_slice().join(";"))?;
    let producer = Producer::start(config, &[topic]).await?;
    let mut m = Message::new(topic, body.to_owned());
    if let Some(t) = tag {
        m = m.with_tag(t);
    }
    if let Some(k) = keys {
        m = m.with_keys(k.split_whitespace().map(str::to_owned));
    }
    let sent = producer.send(m).await;
    producer.shutdown().await;
    Ok(sent?)
}

/// Upstream's header and one row.
pub fn render_send_result(r: &SendReceipt) -> String {
    format!(
        "{:<32}  {:<4}  {:<20}  {}\n{:<32}  {:<4}  {:<20}  {}\n",
        "#Broker Name",
        "#QID",
        "#Send Result",
        "#MsgId",
        r.broker,
        r.queue_id,
        "SEND_OK",
        r.message_id
    )
}

//! The Rust SDK: producers and consumers over the RocketMQ 5 gRPC protocol
//! (`apache.rocketmq.v2.MessagingService`), the same protocol the official
//! clients speak.
//!
//! ```text
//!              QueryRoute / QueryAssignment / Telemetry / Heartbeat
//!   client ───────────────────────────────────────────────▶ nameservers (tried in order)
//!     │  routes: per broker group, every member, leader first
//!     │
//!     └── SendMessage / ReceiveMessage / Ack / Pull / offsets ──▶ broker group
//!            one channel per member; leader first, next member on UNAVAILABLE,
//!            routes re-read after a failure: failover needs no restart
//! ```
//!
//! - [`Producer`]: `send`, `send_async`, `send_batch`. Sends that are
//!   outstanding together are coalesced, per queue, into one SendMessage
//!   request (bounded by [`BatchLimits`]), with no added delay: a lone send
//!   goes at once. Retries keep the message id, so the broker drops
//!   duplicates.
//! - [`SimpleConsumer`]: `receive` (long polling), `ack`,
//!   `change_invisible_duration`.
//! - [`PushConsumer`]: a listener run on N workers; failures come back after
//!   the wait the group's retry policy says (the broker states it in the
//!   Telemetry settings), then, after the group's `retryMaxTimes + 1`
//!   deliveries, go to the dead-letter queue `%DLQ%group`.
//! - [`PullConsumer`]: queues, positions and commits under the
//!   application's control, resuming from the group's committed offsets.
//!
//! Held messages:
//!
//! - Delay (scheduled) messages: [`Message::with_delivery_time`] or
//!   [`Message::with_delivery_delay`], sent by any producer as
//!   `message_type = DELAY` with their own `delivery_timestamp` (coalesced
//!   sends keep each message's time). The broker stores them at once and
//!   releases them within tens of milliseconds of the due time; a time more
//!   than `timerMaxDelaySec` (3 days by default) ahead is refused with
//!   ILLEGAL_DELIVERY_TIME (40012).
//! - [`TransactionProducer`]: `begin()` a [`Transaction`], `send` its one
//!   message (held from consumers), then `commit()` or `rollback()`. The
//!   broker asks about transactions left open over Telemetry; the
//!   producer's [`TransactionChecker`] answers with a
//!   [`TransactionResolution`].
//!
//! Every call is bounded in time; every error is a [`ClientError`] saying
//! what to do. Each client sends `x-mq-client-id` (its own id) and the
//! language, version and protocol headers with every request, and opens a
//! Telemetry stream with its settings to each endpoint it uses.

mod backoff;
mod checker;
mod coalesce;
mod config;
mod consume;
mod convert;
mod core;
mod cork;
mod end_transaction;
mod ender;
mod error;
mod filter;
mod frames;
mod ids;
mod lanes;
mod link;
mod lookahead;
mod message;
mod producer;
mod pull_consumer;
mod push_consumer;
mod received;
mod route;
mod routes;
mod sender;
mod simple_consumer;
mod telemetry;
mod transaction;
mod wire;

pub use checker::{CheckFuture, TransactionChecker, TransactionResolution, TransactionalMessage};
pub use config::{BatchLimits, ClientConfig, Retry, NAMESRV_ADDR_ENV};
pub use error::ClientError;
pub use filter::FilterExpression;
pub use ids::message_id;
pub use message::{Message, SendReceipt};
pub use producer::{Producer, SendFuture};
pub use pull_consumer::{PullConsumer, StartPosition};
pub use push_consumer::{ConsumeResult, PushConsumer, PushConsumerBuilder};
pub use received::{MessageQueue, ReceivedMessage};
pub use simple_consumer::SimpleConsumer;
pub use transaction::{Transaction, TransactionProducer};

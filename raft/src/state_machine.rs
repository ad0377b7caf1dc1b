//! The state machine: everything derived from committed entries.
//!
//! Applying a messages entry dispatches it into the consume queues and the
//! key index, which assigns queue offsets in log order, identical on every
//! member. Membership entries are remembered for restarts. Commands (topic
//! changes, consumer offsets) are applied to the store's meta state in the
//! same order.
//!
//! A snapshot is how a member that lost its data, or fell behind what the
//! leader's log still holds, gets every retained message: the sender streams
//! its retained entries with each queue's starting offset, and the receiver
//! installs them as its log and dispatches them, ending with the same queue
//! offsets as the leader. Members otherwise catch up through the log.

use std::io;
use std::sync::Arc;

use futures_util::StreamExt;
use openraft::entry::RaftEntry;
use openraft::storage::{EntryResponder, RaftStateMachine, SnapshotMeta};
use openraft::type_config::alias::{SnapshotMetaOf, SnapshotOf};
use openraft::{EntryPayload, RaftSnapshotBuilder};
use raftmq_store::message_store::SnapshotPlan;
use raftmq_store::record::entry::EntryKind;
use raftmq_store::MessageStore;

use crate::log_store::to_io;
use crate::meta::RaftMeta;
use crate::types::{log_id, ApplyResult, DataKind, LogId, StoredMembership, TypeConfig};

/// The state machine over a store.
#[derive(Clone, Debug)]
pub struct StateMachine {
    /// Tells the member's stop when openraft let go of this (hold.rs).
    _hold: Option<crate::hold::StoreHold>,
    store: Arc<MessageStore>,
    meta: Arc<RaftMeta>,
}

/// A snapshot's data. Built on a member, it is only a marker: the retained
/// entries are read from the log when the snapshot is sent, so building one
/// costs nothing. Received, it carries the leader's plan and entries.
#[derive(Clone, Debug, Default)]
pub struct SnapshotData {
    /// What a receiving member installs.
    pub received: Option<(SnapshotPlan, bytes::Bytes)>,
}

impl StateMachine {
    /// The state machine of `store`.
    pub fn new(store: Arc<MessageStore>, meta: Arc<RaftMeta>) -> Self {
        Self {
            _hold: None,
            store,
            meta,
        }
    }

    /// The same, counted by `hold` until every copy is dropped.
    pub fn with_hold(self, hold: crate::hold::StoreHold) -> Self {
        Self {
            _hold: Some(hold),
            ..self
        }
    }

    fn applied(&self) -> Result<Option<LogId>, io::Error> {
        let next = self.store.dispatched().0;
        let Some(last) = next.checked_sub(1) else {
            return Ok(None);
        };
        let log = self.store.commitlog();
        if last >= log.bounds().start_index {
            let term = log.term_at(last).map_err(to_io)?;
            return Ok(Some(log_id(term, last)));
        }
        // Applied entries were purged: the purged id is the applied one.
        Ok(self.meta.purged().filter(|p| p.index == last))
    }

    fn snapshot_of(&self) -> Result<SnapshotOf<TypeConfig, SnapshotData>, io::Error> {
        let last = self.applied()?;
        let membership = self.meta.membership();
        Ok(SnapshotOf::<TypeConfig, SnapshotData> {
            meta: SnapshotMeta {
                last_log_id: last,
                last_membership: membership,
            },
            snapshot: SnapshotData::default(),
        })
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> Result<SnapshotOf<TypeConfig, SnapshotData>, io::Error> {
        self.snapshot_of()
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        Ok((self.applied()?, self.meta.membership()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: futures_util::Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>>
            + Unpin
            + openraft::OptionalSend,
    {
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            let (term, index) = entry.log_id_parts();
            let term = **term;
            let result = match &entry.payload {
                EntryPayload::Blank => {
                    self.store
                        .apply_entry(index, EntryKind::Blank, &[])
                        .map_err(to_io)?;
                    ApplyResult::Nothing
                }
                EntryPayload::Normal(d) => match d.kind {
                    DataKind::Messages => ApplyResult::Stored(
                        self.store
                            .apply_entry(index, EntryKind::Messages, &d.body)
                            .map_err(to_io)?,
                    ),
                    DataKind::Command => {
                        self.store
                            .apply_entry(index, EntryKind::Command, &d.body)
                            .map_err(to_io)?;
                        ApplyResult::Applied
                    }
                },
                EntryPayload::Membership(m) => {
                    self.store
                        .apply_entry(index, EntryKind::Membership, &[])
                        .map_err(to_io)?;
                    self.meta.save_membership(&StoredMembership::new(
                        Some(log_id(term, index)),
                        m.clone(),
                    ))?;
                    ApplyResult::Nothing
                }
            };
            if let Some(r) = responder {
                r.send(result);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<TypeConfig>,
        snapshot: SnapshotData,
    ) -> Result<(), io::Error> {
        if let Some(last) = meta.last_log_id {
            match &snapshot.received {
                Some((plan, records)) => {
                    let installed = self.store.install_snapshot(plan, records).map_err(to_io)?;
                    let through = installed.or(plan.start_index.checked_sub(1));
                    if through != Some(last.index) {
                        return Err(io::Error::other(format!(
                            "snapshot up to {} carried entries up to {installed:?}",
                            last.index
                        )));
                    }
                    // openraft purges the log up to the snapshot next: the
                    // entries just installed must stay.
                    self.meta.keep_through(last.index);
                }
                None => self.store.reset_dispatch(last.index + 1),
            }
        }
        self.meta.save_membership(&meta.last_membership)
    }

    /// The snapshot of everything applied so far (a marker: see
    /// [`SnapshotData`]); none before the first entry is applied, as
    /// there is nothing to hand a member then.
    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<SnapshotOf<TypeConfig, SnapshotData>>, io::Error> {
        let snapshot = self.snapshot_of()?;
        Ok(snapshot.meta.last_log_id.is_some().then_some(snapshot))
    }
}

//! Network partitions between members, for tests.
//!
//! With the `test-util` feature, [`Partition`] is a switchboard shared by the
//! members of an in-process cluster (or flipped by a broker's InjectFault
//! call) that drops RPCs between chosen pairs. Without it, `Partition` is an
//! empty type whose [`Partition::is_cut`] is always false, so a release build
//! carries no fault-injection code and every call site reads the same.

use crate::types::NodeId;

/// Pairs of members whose RPCs are dropped (each direction listed on its
/// own).
#[cfg(feature = "test-util")]
#[derive(Clone, Debug, Default)]
pub struct Partition(
    std::sync::Arc<parking_lot::Mutex<std::collections::HashSet<(NodeId, NodeId)>>>,
);

#[cfg(feature = "test-util")]
impl Partition {
    /// Drops every RPC between `node` and the others in `all`.
    pub fn isolate(&self, node: NodeId, all: &[NodeId]) {
        let mut cut = self.0.lock();
        for &other in all.iter().filter(|o| **o != node) {
            cut.insert((node, other));
            cut.insert((other, node));
        }
    }

    /// Lets every RPC through again.
    pub fn heal(&self) {
        self.0.lock().clear();
    }

    /// Whether RPCs from `from` to `to` are dropped.
    pub fn is_cut(&self, from: NodeId, to: NodeId) -> bool {
        self.0.lock().contains(&(from, to))
    }
}

/// No partition is ever in force in a build without `test-util`.
#[cfg(not(feature = "test-util"))]
#[derive(Clone, Debug, Default)]
pub struct Partition;

#[cfg(not(feature = "test-util"))]
impl Partition {
    /// Always false: nothing is cut in a build without `test-util`.
    #[inline(always)]
    pub fn is_cut(&self, _from: NodeId, _to: NodeId) -> bool {
        false
    }
}

//! `InjectFault` (`faultInjectionEnable`, tests only): flips the member's
//! network partition and store fault switches. A broker built without the
//! `failpoints` feature has none to flip and refuses the call.

// tonic handlers speak `Status`; boxing it at every conversion buys nothing.
#![allow(clippy::result_large_err)]

use raftmq_proto::admin::v1 as pb;
use raftmq_raft::RaftNode;
use tonic::Status;

/// Whether this build can inject faults at all.
pub const AVAILABLE: bool = cfg!(feature = "failpoints");

/// Applies the faults `r` asks for to `node`.
#[cfg(feature = "failpoints")]
pub fn inject(node: &RaftNode, r: pb::InjectFaultRequest) -> Result<(), Status> {
    let hooks = node.hooks();
    if let Some(isolate) = r.isolate {
        if isolate {
            let members: Vec<u64> = node.members().into_keys().collect();
            hooks.partition.isolate(node.id(), &members);
        } else {
            hooks.partition.heal();
        }
        tracing::warn!(
            isolate,
            "fault injected: Raft RPCs to and from the other members"
        );
    }
    if let Some(p) = r.disk_used_percent {
        let p = if p < 0 {
            None
        } else {
            Some(u8::try_from(p.min(100)).unwrap_or(100))
        };
        hooks.store.set_disk_used_percent(p);
        tracing::warn!(disk_used_percent = ?p, "fault injected: disk usage");
    }
    if let Some(fails) = r.allocation_fails {
        hooks.store.set_allocation_fails(fails);
        tracing::warn!(fails, "fault injected: disk block reservations");
    }
    Ok(())
}

/// Refuses: this build has no fault injection.
#[cfg(not(feature = "failpoints"))]
pub fn inject(_node: &RaftNode, _r: pb::InjectFaultRequest) -> Result<(), Status> {
    Err(Status::failed_precondition(NOT_BUILT))
}

/// What a build without fault injection says when asked for it.
pub const NOT_BUILT: &str = "this broker was built without fault injection: faultInjectionEnable needs a test build (cargo build -p raftmq-broker --features failpoints)";

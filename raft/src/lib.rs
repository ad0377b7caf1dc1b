//! Replication of the commitlog through openraft: type config, log storage on the
//! store, the state machine and the tonic transport. Filled in by the Raft-group work.

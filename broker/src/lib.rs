//! The broker node: conf files, topics, offsets, pop/ack, the client service and
//! registration with the nameservers. Filled in by the processes and protocol work.

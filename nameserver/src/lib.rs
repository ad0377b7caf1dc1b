//! The route registry: brokers register and heartbeat, clients ask for routes.
//! Filled in by the nameserver work.

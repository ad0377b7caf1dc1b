//! The route cache: one route per topic, fresh for `route_refresh`, marked
//! stale after a failed call so the next use asks the nameserver again; and
//! the links of the broker groups the routes name, whose address lists
//! follow the latest route (so a new leader is tried first).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::link::GroupLink;
use super::route::{BrokerGroup, TopicRoute};

#[derive(Debug)]
struct Entry {
    route: Arc<TopicRoute>,
    fetched: Instant,
    stale: bool,
}

/// Cached routes and the broker groups they name.
#[derive(Debug)]
pub(crate) struct RouteCache {
    refresh: Duration,
    entries: Mutex<HashMap<String, Entry>>,
    groups: Mutex<HashMap<String, Arc<GroupLink>>>,
    /// Held while one caller asks the nameserver, so that many callers
    /// finding a route stale cause one query, not one each.
    pub refreshing: tokio::sync::Mutex<()>,
}

impl RouteCache {
    pub fn new(refresh: Duration) -> Self {
        Self {
            refresh,
            entries: Mutex::default(),
            groups: Mutex::default(),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// The route of `topic` if it is cached, not stale and young enough.
    pub fn fresh(&self, topic: &str) -> Option<Arc<TopicRoute>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(topic)
            .filter(|e| !e.stale && e.fetched.elapsed() < self.refresh)
            .map(|e| e.route.clone())
    }

    /// The route of `topic` however old: better than none while the
    /// nameservers cannot be reached.
    pub fn any(&self, topic: &str) -> Option<Arc<TopicRoute>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(topic).map(|e| e.route.clone())
    }

    /// Caches a route just read and updates its groups' addresses.
    pub fn store(&self, route: TopicRoute) -> Arc<TopicRoute> {
        for g in &route.groups {
            self.register_group(g);
        }
        let route = Arc::new(route);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.insert(
            route.topic.clone(),
            Entry {
                route: route.clone(),
                fetched: Instant::now(),
                stale: false,
            },
        );
        route
    }

    /// Marks every route stale (after a failed call: the leader may have
    /// moved).
    pub fn mark_stale(&self) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        for e in entries.values_mut() {
            e.stale = true;
        }
    }

    /// Records a group's addresses (from a route or an assignment).
    pub fn register_group(&self, g: &BrokerGroup) -> Arc<GroupLink> {
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        let link = groups
            .entry(g.name.clone())
            .or_insert_with(|| Arc::new(GroupLink::new(&g.name, g.addrs.clone())));
        link.update(&g.addrs);
        link.clone()
    }

    /// The link of the group one of whose members is `addr`.
    pub fn group_of(&self, addr: &str) -> Option<Arc<GroupLink>> {
        let groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        groups
            .values()
            .find(|g| g.addrs().iter().any(|a| a == addr))
            .cloned()
    }

    /// The link of a group some route or assignment named.
    pub fn group(&self, name: &str) -> Option<Arc<GroupLink>> {
        let groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        groups.get(name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::route::RouteQueue;
    use crate::sdk::MessageQueue;

    fn route(addrs: &[&str]) -> TopicRoute {
        TopicRoute {
            topic: "T".into(),
            topic_key: std::sync::Arc::from("T"),
            queues: vec![RouteQueue {
                queue: MessageQueue {
                    topic: "T".into(),
                    broker: "g".into(),
                    queue_id: 0,
                },
                readable: true,
                writable: true,
            }],
            groups: vec![BrokerGroup {
                name: "g".into(),
                addrs: addrs.iter().map(|a| a.to_string()).collect(),
            }],
        }
    }

    #[tokio::test(start_paused = true)]
    async fn routes_go_stale_with_age_or_on_demand() {
        let c = RouteCache::new(Duration::from_secs(30));
        assert!(c.fresh("T").is_none());
        c.store(route(&["a:1", "b:1"]));
        assert!(c.fresh("T").is_some());
        tokio::time::advance(Duration::from_secs(31)).await;
        assert!(c.fresh("T").is_none());
        assert!(c.any("T").is_some());
        c.store(route(&["a:1", "b:1"]));
        c.mark_stale();
        assert!(c.fresh("T").is_none());
    }

    #[test]
    fn groups_follow_the_latest_route() {
        let c = RouteCache::new(Duration::from_secs(30));
        c.store(route(&["a:1", "b:1"]));
        let link = c.group("g").unwrap();
        assert_eq!(&*link.addrs(), ["a:1", "b:1"]);
        c.store(route(&["b:1", "a:1"]));
        assert_eq!(&*link.addrs(), ["b:1", "a:1"]);
        assert_eq!(link.preferred_addr().as_deref(), Some("b:1"));
    }
}

//! Every consume queue of a store, by (topic, queue id).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use raftmq_model::TopicName;

use super::ConsumeQueue;
use crate::error::{Result, StoreError};
use crate::mapped::FileSystem;

/// Checks a topic name with the one rule, [`TopicName`]. Consume-queue
/// directories are named by topic, so the rule also keeps every path inside
/// the store. Kept as a function for the callers that want a `String` error.
pub fn validate_topic(topic: &str) -> std::result::Result<(), String> {
    TopicName::new(topic).map(drop).map_err(|e| e.to_string())
}

/// The consume queues under `<root>/consumequeue`.
#[derive(Debug)]
pub struct ConsumeQueueSet {
    dir: PathBuf,
    entries_per_file: u64,
    fs: FileSystem,
    queues: RwLock<HashMap<String, HashMap<u32, Arc<ConsumeQueue>>>>,
}

impl ConsumeQueueSet {
    /// Opens every queue found under `dir`.
    pub fn open(dir: &Path, entries_per_file: u64, fs: FileSystem) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, "create_dir_all", e))?;
        let mut queues: HashMap<String, HashMap<u32, Arc<ConsumeQueue>>> = HashMap::new();
        for topic_dir in read_dir(dir)? {
            let Some(topic) = topic_dir
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_owned)
            else {
                continue;
            };
            if validate_topic(&topic).is_err() || !topic_dir.is_dir() {
                continue;
            }
            for queue_dir in read_dir(&topic_dir)? {
                let Some(queue_id) = queue_dir
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.parse::<u32>().ok())
                else {
                    continue;
                };
                let q =
                    ConsumeQueue::open(&queue_dir, &topic, queue_id, entries_per_file, fs.clone())?;
                queues
                    .entry(topic.clone())
                    .or_default()
                    .insert(queue_id, Arc::new(q));
            }
        }
        Ok(Self {
            dir: dir.to_owned(),
            entries_per_file,
            fs,
            queues: RwLock::new(queues),
        })
    }

    /// The queue, if it exists.
    pub fn get(&self, topic: &str, queue_id: u32) -> Option<Arc<ConsumeQueue>> {
        self.queues.read().get(topic)?.get(&queue_id).cloned()
    }

    /// The queue, created if missing.
    pub fn get_or_create(&self, topic: &str, queue_id: u32) -> Result<Arc<ConsumeQueue>> {
        if let Some(q) = self.get(topic, queue_id) {
            return Ok(q);
        }
        validate_topic(topic).map_err(StoreError::Config)?;
        let mut queues = self.queues.write();
        if let Some(q) = queues.get(topic).and_then(|qs| qs.get(&queue_id)) {
            return Ok(Arc::clone(q));
        }
        let dir = self.dir.join(topic).join(queue_id.to_string());
        let q = Arc::new(ConsumeQueue::open(
            &dir,
            topic,
            queue_id,
            self.entries_per_file,
            self.fs.clone(),
        )?);
        queues
            .entry(topic.to_owned())
            .or_default()
            .insert(queue_id, Arc::clone(&q));
        Ok(q)
    }

    /// Every queue.
    pub fn all(&self) -> Vec<Arc<ConsumeQueue>> {
        self.queues
            .read()
            .values()
            .flat_map(|qs| qs.values().cloned())
            .collect()
    }

    /// The queues of one topic, by queue id.
    pub fn of_topic(&self, topic: &str) -> Vec<Arc<ConsumeQueue>> {
        let mut qs: Vec<_> = self
            .queues
            .read()
            .get(topic)
            .map(|qs| qs.values().cloned().collect())
            .unwrap_or_default();
        qs.sort_by_key(|q| q.queue_id());
        qs
    }

    /// Every topic with at least one queue.
    pub fn topics(&self) -> Vec<String> {
        self.queues.read().keys().cloned().collect()
    }

    /// Removes every queue and its files.
    pub fn remove_all(&self) -> Result<()> {
        let all: Vec<_> = self
            .queues
            .write()
            .drain()
            .flat_map(|(_, qs)| qs.into_values())
            .collect();
        for q in all {
            q.destroy()?;
        }
        Ok(())
    }

    /// Flushes every queue.
    pub fn flush(&self) -> Result<()> {
        for q in self.all() {
            q.flush()?;
        }
        Ok(())
    }
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for item in std::fs::read_dir(dir).map_err(|e| StoreError::io(dir, "read_dir", e))? {
        out.push(item.map_err(|e| StoreError::io(dir, "read_dir", e))?.path());
    }
    Ok(out)
}

//! `mqadmin topicList`: every topic, one per line, sorted.

use crate::admin::{AdminError, NamesrvClient};

/// The topics of `cluster`, or of every cluster when `None`.
pub async fn topic_list(
    namesrv: &NamesrvClient,
    cluster: Option<&str>,
) -> Result<Vec<String>, AdminError> {
    Ok(namesrv.topic_list(cluster).await?.value)
}

/// One topic a line, sorted, each once.
pub fn render_topic_list(topics: &[String]) -> String {
    let mut sorted: Vec<&String> = topics.iter().collect();
    sorted.sort();
    sorted.dedup();
    sorted.into_iter().map(|t| format!("{t}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_once_each() {
        let topics = ["b", "a", "b", "TopicTest"].map(String::from);
        assert_eq!(render_topic_list(&topics), "TopicTest\na\nb\n");
        assert_eq!(render_topic_list(&[]), "");
    }
}

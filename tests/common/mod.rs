//! Helpers shared by the integration tests that run the pipeline against librdkafka's mock
//! broker (`floods`, `hostile_input`, `pipeline_mock`): each declares `mod common;`. A file
//! uses only some of them, hence `dead_code` allowed here.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use parcel_screener::config::Config;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;

/// The repository root, where `config/` and `data/` are.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The configuration the repository ships (`config/screener.toml`).
pub fn bundled_config() -> Config {
    Config::load(&root().join("config/screener.toml")).expect("the bundled config loads")
}

/// How long [`read_topic`] waits for the next message before it has `expected` of them.
const READ_PATIENCE: Duration = Duration::from_secs(20);

/// Every message of `topic` from the beginning, as (key, payload): until `expected` have
/// arrived and then until none arrives for `then_wait` (so that extras show; zero stops at
/// `expected`), or until none arrives for 20 s before that.
pub async fn read_topic(
    brokers: &str,
    topic: &str,
    expected: usize,
    then_wait: Duration,
) -> Vec<(Option<Vec<u8>>, Vec<u8>)> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("test-reader-{topic}"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("reader");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut messages = Vec::new();
    loop {
        let wait = if messages.len() < expected {
            READ_PATIENCE
        } else if then_wait.is_zero() {
            break;
        } else {
            then_wait
        };
        match tokio::time::timeout(wait, consumer.recv()).await {
            Ok(Ok(message)) => messages.push((
                message.key().map(<[u8]>::to_vec),
                message.payload().unwrap_or_default().to_vec(),
            )),
            Ok(Err(error)) => panic!("reading {topic}: {error}"),
            Err(_) => break,
        }
    }
    messages
}

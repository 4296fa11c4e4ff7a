//! An in-process Kafka-protocol broker (librdkafka's mock cluster) for the zero-setup demo and
//! fast tests. It lives on a thread of its own for its whole life (librdkafka's mock cluster
//! must stay on the thread that created it) and stops when [`MockBroker`] is dropped.
//!
//! Known limits (SPEC §11): it drops the oldest data beyond about 5 MiB per partition, and it
//! does not store transactional offsets.

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer};
use std::ffi::CString;
use std::sync::mpsc;
use std::thread::JoinHandle;

use super::config::TopicsConfig;

/// A running mock broker.
pub struct MockBroker {
    bootstrap_servers: String,
    /// Dropping it tells the broker thread to stop.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MockBroker {
    /// Starts a mock cluster with the service's topics: the input, decisions and rejected
    /// topics with `partitions` each, the two list topics with one (each is one ordered log).
    pub fn start_with_service_topics(
        topics: &TopicsConfig,
        partitions: i32,
    ) -> Result<MockBroker, String> {
        MockBroker::start(&[
            (topics.advance.as_str(), partitions),
            (topics.decisions.as_str(), partitions),
            (topics.rejected.as_str(), partitions),
            (topics.watchlist.as_str(), 1),
            (topics.known_shippers.as_str(), 1),
        ])
    }

    /// Starts a one-broker mock cluster with the given topics (name, partitions), and the
    /// consumer-group rebalance delay set to 0 so that consumers join at once.
    pub fn start(topics: &[(&str, i32)]) -> Result<MockBroker, String> {
        let topics: Vec<(String, i32)> = topics.iter().map(|(n, p)| (n.to_string(), *p)).collect();
        let (ready_sender, ready_receiver) = mpsc::channel::<Result<String, String>>();
        let (stop_sender, stop_receiver) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("mock-broker".to_string())
            .spawn(move || {
                // The client that owns the mock cluster; the cluster lives as long as it does.
                let owner: BaseProducer = match ClientConfig::new()
                    .set("test.mock.num.brokers", "1")
                    .create()
                {
                    Ok(owner) => owner,
                    Err(error) => {
                        let _ = ready_sender
                            .send(Err(format!("cannot start the mock cluster: {error}")));
                        return;
                    }
                };
                let _ = ready_sender.send(configure(&owner, &topics));
                // Wait until told to stop (or the handle is dropped).
                let _ = stop_receiver.recv();
                drop(owner);
            })
            .map_err(|error| format!("cannot start the mock broker thread: {error}"))?;
        let bootstrap_servers = ready_receiver
            .recv()
            .map_err(|_| "the mock broker thread stopped before it was ready".to_string())??;
        Ok(MockBroker {
            bootstrap_servers,
            stop: Some(stop_sender),
            thread: Some(thread),
        })
    }

    /// `host:port` of the broker, for any Kafka client.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }
}

impl Drop for MockBroker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Creates the topics and sets the rebalance delay on the owner's mock cluster; returns the
/// bootstrap servers.
fn configure(owner: &BaseProducer, topics: &[(String, i32)]) -> Result<String, String> {
    use rdkafka::bindings as native;
    // SAFETY: `owner` is a live client created with `test.mock.num.brokers`, so it has a mock
    // cluster, which lives as long as `owner`; every pointer passed below is valid for the
    // duration of the call, and the strings are NUL-terminated.
    unsafe {
        let cluster = native::rd_kafka_handle_mock_cluster(owner.client().native_ptr());
        if cluster.is_null() {
            return Err("the client has no mock cluster".to_string());
        }
        native::rd_kafka_mock_group_initial_rebalance_delay_ms(cluster, 0);
        for (name, partitions) in topics {
            let name_c =
                CString::new(name.as_str()).map_err(|_| format!("bad topic name {name:?}"))?;
            let error =
                native::rd_kafka_mock_topic_create(cluster, name_c.as_ptr(), *partitions, 1);
            if error != native::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                return Err(format!("cannot create topic {name}: {error:?}"));
            }
        }
        let bootstraps = native::rd_kafka_mock_cluster_bootstraps(cluster);
        if bootstraps.is_null() {
            return Err("the mock cluster has no bootstrap address".to_string());
        }
        Ok(std::ffi::CStr::from_ptr(bootstraps)
            .to_string_lossy()
            .into_owned())
    }
}

#!/bin/sh
# Creates the topics of parcel-screener, named as in config/screener.toml [kafka.topics]
# (tests/deployment.rs checks that they agree). Idempotent: existing topics are left alone.
#
# docker-compose.yml's one-shot `create-topics` service runs it inside the apache/kafka image.
# Against another cluster, from a machine with Kafka's command-line tools:
#
#   BOOTSTRAP_SERVERS=kafka-1:9093 REPLICATION_FACTOR=3 COMMAND_CONFIG=client.properties \
#   KAFKA_TOPICS=/opt/kafka/bin/kafka-topics.sh docker/create-topics.sh
#
# Environment (defaults in brackets):
#   BOOTSTRAP_SERVERS    [kafka:9092]
#   PARTITIONS           [12] partitions of parcels.advance, parcels.decisions and
#                        parcels.rejected: the most screener instances that get work.
#                        Choose it up front: adding partitions later moves parcel keys to
#                        other partitions, whose dedup state has not seen them.
#   REPLICATION_FACTOR   [1] 3 on a production cluster
#   ADVANCE_RETENTION_MS [604800000] (7 days) retention of parcels.advance; must exceed
#                        dedup.window (72 h): a reassigned partition rebuilds its dedup state
#                        by replaying this topic over the window
#   COMMAND_CONFIG       [unset] a client properties file (SASL/SSL) for kafka-topics.sh
#   KAFKA_TOPICS         [/opt/kafka/bin/kafka-topics.sh]
set -eu

: "${BOOTSTRAP_SERVERS:=kafka:9092}"
: "${PARTITIONS:=12}"
: "${REPLICATION_FACTOR:=1}"
: "${ADVANCE_RETENTION_MS:=604800000}"
: "${KAFKA_TOPICS:=/opt/kafka/bin/kafka-topics.sh}"

# kafka-topics.sh with the bootstrap servers and, if set, the client properties file.
topics() {
    if [ -n "${COMMAND_CONFIG:-}" ]; then
        set -- "$@" --command-config "$COMMAND_CONFIG"
    fi
    "$KAFKA_TOPICS" --bootstrap-server "$BOOTSTRAP_SERVERS" "$@"
}

# create TOPIC PARTITIONS [--config KEY=VALUE ...]
create() {
    topic=$1
    partitions=$2
    shift 2
    topics --create --if-not-exists --topic "$topic" --partitions "$partitions" \
        --replication-factor "$REPLICATION_FACTOR" "$@"
    echo "create-topics: $topic ready"
}

# Parcel records in, keyed by parcel key ("{carrier}:{house_bill}").
create parcels.advance "$PARTITIONS" --config "retention.ms=$ADVANCE_RETENTION_MS"
# Decision records out, keyed by parcel key.
create parcels.decisions "$PARTITIONS"
# Rejected records out (original bytes, error, source offset).
create parcels.rejected "$PARTITIONS"
# Lists, broadcast to every instance: compacted, the latest value per key is kept.
create lists.watchlist 1 --config cleanup.policy=compact
create lists.known-shippers 1 --config cleanup.policy=compact

topics --describe --exclude-internal

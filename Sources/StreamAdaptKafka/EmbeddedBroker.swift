import CRdkafka

/// librdkafka's mock cluster (`rdkafka_mock.h`): brokers that speak the real Kafka protocol over TCP
/// on loopback, for the demo and the tests. Any Kafka client can use ``bootstrapServers``.
///
/// Limits of librdkafka 2.0.2's mock: about the last 5 MB of each partition are kept (older records
/// vanish and the low watermark rises: a way to simulate retention), no compaction, no static membership.
///
/// Destroy the clients connected to it before it (they would otherwise log "brokers are down").
public final class EmbeddedBroker {
    private let owner: OpaquePointer  // the rd_kafka_t the mock cluster needs for its bookkeeping
    private let cluster: OpaquePointer
    private let context: ClientContext

    /// Starts `brokers` mock brokers on 127.0.0.1 (ephemeral ports).
    /// - Parameter log: where the mock cluster's own log lines go; nil drops them.
    public init(brokers: Int32 = 1, log: KafkaLogHandler? = nil) throws(KafkaError) {
        context = ClientContext(role: "embedded-broker", bootstrap: "-", log: log, connectivity: nil)
        owner = try makeClient(RD_KAFKA_PRODUCER, ["log_level": "3"], context)
        guard let cluster = rd_kafka_mock_cluster_new(owner, brokers) else {
            rd_kafka_destroy(owner)
            throw KafkaError(.other, "cannot start the mock cluster")
        }
        self.cluster = cluster
    }

    deinit {
        rd_kafka_mock_cluster_destroy(cluster)
        rd_kafka_destroy(owner)
        withExtendedLifetime(context) {}
    }

    /// The `host:port[,host:port...]` list clients bootstrap from.
    public var bootstrapServers: String { String(cString: rd_kafka_mock_cluster_bootstraps(cluster)) }

    /// Creates a topic with `partitions` partitions.
    public func createTopic(_ name: String, partitions: Int32) throws(KafkaError) {
        let err = rd_kafka_mock_topic_create(cluster, name, partitions, 1)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err, "create topic \(name)") }
    }

    /// Makes the brokers answer metadata requests for `topic` with librdkafka error `code` (0 clears it),
    /// e.g. 3 (UNKNOWN_TOPIC_OR_PART): the mock otherwise creates every topic a client asks about.
    func setMetadataError(topic: String, code: Int32) {
        rd_kafka_mock_topic_set_error(cluster, topic, rd_kafka_resp_err_t(code))
    }

    /// Takes broker `id` (1-based) down: its connections are closed and it refuses new ones.
    public func setDown(broker id: Int32 = 1) { _ = rd_kafka_mock_broker_set_down(cluster, id) }

    /// Brings broker `id` back up.
    public func setUp(broker id: Int32 = 1) { _ = rd_kafka_mock_broker_set_up(cluster, id) }
}

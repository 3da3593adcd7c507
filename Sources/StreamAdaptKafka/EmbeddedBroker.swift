import CRdkafka

/// librdkafka's mock cluster (`rdkafka_mock.h`): brokers that speak the real Kafka protocol over TCP
/// on loopback, for the demo and the tests. Any Kafka client can use ``bootstrapServers``.
public final class EmbeddedBroker {
    private let owner: OpaquePointer  // the rd_kafka_t the mock cluster needs for its bookkeeping
    private let cluster: OpaquePointer

    /// Starts `brokers` mock brokers on 127.0.0.1 (ephemeral ports).
    public init(brokers: Int32 = 1) throws {
        let conf = try KafkaConfiguration(["log_level": "3"]).makeConf()
        owner = try makeClient(RD_KAFKA_PRODUCER, conf)
        guard let cluster = rd_kafka_mock_cluster_new(owner, brokers) else {
            rd_kafka_destroy(owner)
            throw KafkaError("cannot start the mock cluster")
        }
        self.cluster = cluster
    }

    deinit {
        rd_kafka_mock_cluster_destroy(cluster)
        rd_kafka_destroy(owner)
    }

    /// The `host:port[,host:port...]` list clients bootstrap from.
    public var bootstrapServers: String { String(cString: rd_kafka_mock_cluster_bootstraps(cluster)) }

    /// Creates a topic with `partitions` partitions.
    public func createTopic(_ name: String, partitions: Int32) throws {
        let err = rd_kafka_mock_topic_create(cluster, name, partitions, 1)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err, "create topic \(name)") }
    }

    /// Takes broker `id` (1-based) down: its connections are closed and it refuses new ones.
    public func setDown(broker id: Int32 = 1) { _ = rd_kafka_mock_broker_set_down(cluster, id) }

    /// Brings broker `id` back up.
    public func setUp(broker id: Int32 = 1) { _ = rd_kafka_mock_broker_set_up(cluster, id) }
}

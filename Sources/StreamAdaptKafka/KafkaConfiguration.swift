/// librdkafka client properties, passed through unchanged (so SASL, SSL and every other client setting
/// works as the user writes it), e.g. `["bootstrap.servers": "127.0.0.1:9092", "security.protocol": "SASL_SSL"]`.
/// The producer and consumer add StreamAdapt's defaults (``producerDefaults``, ``consumerDefaults``) for
/// every property the user did not set.
public struct KafkaConfiguration: Sendable, Equatable {
    public var properties: [String: String]

    public init(_ properties: [String: String] = [:]) { self.properties = properties }

    public init(bootstrapServers: String, _ extra: [String: String] = [:]) {
        properties = extra
        properties["bootstrap.servers"] = bootstrapServers
    }

    /// The bootstrap address, for messages.
    public var bootstrapServers: String {
        properties["bootstrap.servers"] ?? properties["metadata.broker.list"] ?? "(no bootstrap.servers)"
    }

    /// Producer defaults (docs/kafka.md says why):
    /// - `enable.idempotence=true`: librdkafka's retries neither duplicate nor reorder outputs.
    /// - `linger.ms=5`: batches form within 5 ms; a prediction is not held longer than that.
    /// - `message.timeout.ms=0` (infinite): an outage does not fail deliveries; the owner decides how
    ///   long to wait (the daemon's `kafka.outageLimitSeconds`), through flush deadlines.
    public static let producerDefaults: [String: String] = [
        "enable.idempotence": "true",
        "linger.ms": "5",
        "message.timeout.ms": "0",
    ]

    /// Consumer defaults (docs/kafka.md says why):
    /// - `auto.offset.reset=error`: an offset that is no longer (or not yet) in the partition is reported
    ///   as a ``KafkaConsumerEvent/offsetOutOfRange(_:)`` event, never skipped silently.
    /// - `fetch.wait.max.ms=10`: hand over what has arrived instead of waiting up to 500 ms for a fuller fetch.
    /// - `group.id=streamadapt`, auto-commit and offset store off: offsets live in the daemon's checkpoints.
    /// - `enable.partition.eof=false`.
    public static let consumerDefaults: [String: String] = [
        "auto.offset.reset": "error",
        "fetch.wait.max.ms": "10",
        "group.id": "streamadapt",
        "enable.partition.eof": "false",
    ]

    /// `properties` over `defaults`.
    func with(defaults: [String: String]) -> [String: String] {
        properties.merging(defaults) { user, _ in user }
    }
}

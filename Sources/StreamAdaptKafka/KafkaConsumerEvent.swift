/// Something the consumer reports besides messages, from ``KafkaConsumer/poll(timeoutMilliseconds:_:afterBatch:)``.
public enum KafkaConsumerEvent: Sendable, Equatable, CustomStringConvertible {
    /// A partition's position is not in the log: the input there is gone (retention removed it, or the
    /// topic was emptied or re-created) or not there yet. With `auto.offset.reset=error` (the default)
    /// librdkafka stops fetching that partition; it stays stopped until
    /// ``KafkaConsumer/resume(topic:partition:at:)``.
    case offsetOutOfRange(OffsetOutOfRange)
    /// A consumer error librdkafka recovers from by itself (a broker connection dropped, ...).
    case error(KafkaError)

    public var description: String {
        switch self {
        case .offsetOutOfRange(let gap): "\(gap)"
        case .error(let error): "\(error)"
        }
    }
}

/// A partition whose position librdkafka could not fetch (RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET).
public struct OffsetOutOfRange: Sendable, Equatable, CustomStringConvertible {
    public let topic: String
    public let partition: Int32
    /// The offset that was asked for and is not in the partition.
    public let offset: Int64
    /// The partition's watermarks as last reported by the broker's fetch responses, when known (the
    /// mock broker and Kafka's fetch responses carry them); ask ``KafkaConsumer/watermarks(topic:partition:until:)``
    /// for the broker's current values.
    public let low: Int64?
    public let high: Int64?
    /// librdkafka's text (e.g. `fetch failed due to requested offset not available on the broker:
    /// Broker: Offset out of range (broker 1)`).
    public let reason: String

    public init(topic: String, partition: Int32, offset: Int64, low: Int64?, high: Int64?, reason: String) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.low = low
        self.high = high
        self.reason = reason
    }

    public var description: String {
        let range = low.flatMap { low in high.map { " (partition holds \(low)..<\($0))" } } ?? ""
        return "offset \(offset) of \(topic) [\(partition)] is out of range\(range), partition stopped: \(reason)"
    }
}

/// The oldest offset still in a partition (`low`) and the offset the next message will get (`high`):
/// the partition holds offsets `low..<high`.
public struct Watermarks: Sendable, Equatable {
    public let low: Int64
    public let high: Int64

    public init(low: Int64, high: Int64) {
        self.low = low
        self.high = high
    }
}

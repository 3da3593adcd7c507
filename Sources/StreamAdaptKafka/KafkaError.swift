import CRdkafka

/// An error from librdkafka or from the Kafka layer: a stable ``Code`` to match on, the librdkafka
/// error number when there is one, and a message an operator can act on (it names the topic, and the
/// bootstrap address for connection problems).
///
/// Match on ``code`` only; the message is for people and may change.
public struct KafkaError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What went wrong, as a stable string (used in logs, metrics labels and dead-letter reasons).
    public enum Code: String, Sendable, CaseIterable {
        /// The message is larger than the producer's or the broker's `message.max.bytes`
        /// (RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE). Retrying the same message cannot succeed.
        case messageTooLarge = "message-too-large"
        /// The producer's local queue is full (`queue.buffering.max.messages`/`.kbytes`).
        case queueFull = "queue-full"
        /// A wait reached its deadline, or librdkafka timed out (message, request, flush).
        case timedOut = "timed-out"
        /// A wait gave up because the caller asked to stop.
        case stopped
        /// A connection to a broker failed or was lost (RD_KAFKA_RESP_ERR__TRANSPORT, ..._RESOLVE,
        /// NETWORK_EXCEPTION).
        case transport
        /// No broker of the cluster is reachable (RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN).
        case allBrokersDown = "all-brokers-down"
        /// The topic or partition does not exist.
        case unknownTopic = "unknown-topic"
        /// The offset asked for is not in the partition (any more): RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE,
        /// and RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET with `auto.offset.reset=error`.
        case offsetOutOfRange = "offset-out-of-range"
        /// The client raised a fatal error (`rd_kafka_fatal_error`) and cannot be used any more: create a
        /// new client (for the daemon: exit and let the supervisor restart it).
        case fatal
        /// A property or argument librdkafka refused.
        case configuration
        /// Anything else; ``KafkaError/librdkafkaCode`` says what.
        case other
    }

    public let code: Code
    /// The librdkafka error number (`rd_kafka_resp_err_t`), or nil for errors of the layer itself.
    public let librdkafkaCode: Int32?
    public let message: String

    public init(_ code: Code, _ message: String, librdkafkaCode: Int32? = nil) {
        self.code = code
        self.message = message
        self.librdkafkaCode = librdkafkaCode
    }

    /// An error of code ``Code/other`` with no librdkafka number (for callers that report their own
    /// Kafka-related failures, e.g. "3 events not delivered").
    public init(_ message: String) {
        self.init(.other, message)
    }

    /// A librdkafka error in `context` ("produce to predictions", ...): the code is mapped, the message is
    /// `context: librdkafka's text`.
    init(_ err: rd_kafka_resp_err_t, _ context: String) {
        self.init(Self.code(of: err), "\(context): \(String(cString: rd_kafka_err2str(err)))", librdkafkaCode: err.rawValue)
    }

    /// The stable code of a librdkafka error number.
    static func code(of err: rd_kafka_resp_err_t) -> Code {
        switch err {
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE: .messageTooLarge
        case RD_KAFKA_RESP_ERR__QUEUE_FULL: .queueFull
        case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE,
            RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
            .timedOut
        case RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__RESOLVE, RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION: .transport
        case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN: .allBrokersDown
        case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION,
            RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
            .unknownTopic
        case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE, RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET: .offsetOutOfRange
        case RD_KAFKA_RESP_ERR__FATAL: .fatal
        case RD_KAFKA_RESP_ERR__INVALID_ARG: .configuration
        default: .other
        }
    }

    /// Whether waiting and asking again may help (the broker is unreachable or slow, or a leader is
    /// being elected), as opposed to an answer that will not change.
    var isRetriable: Bool {
        switch code {
        case .transport, .allBrokersDown, .timedOut: true
        case .other: librdkafkaCode == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE.rawValue
            || librdkafkaCode == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION.rawValue
        default: false
        }
    }

    public var description: String { message }
}

import CRdkafka

/// An error from librdkafka or from the Kafka wrappers, with the librdkafka error code when there is one.
public struct KafkaError: Error, CustomStringConvertible, Sendable {
    /// The librdkafka error code (`rd_kafka_resp_err_t`), or nil for wrapper errors.
    public let code: Int32?
    public let message: String

    /// A wrapper error (no librdkafka code).
    public init(_ message: String) {
        code = nil
        self.message = message
    }

    init(_ err: rd_kafka_resp_err_t, _ context: String) {
        code = err.rawValue
        message = "\(context): \(String(cString: rd_kafka_err2str(err)))"
    }

    public var description: String { message }
}

import StreamAdaptCore

/// How many bytes one output record (prediction, alert or dead letter) may take, so that the producer
/// can always send it.
///
/// librdkafka refuses to enqueue a record when `36 + key + value + serialized headers` is larger than
/// the producer's `message.max.bytes` (default 1,000,000; 36 bytes is its worst-case record framing,
/// `RD_KAFKAP_MESSAGE_V2_MAX_OVERHEAD`), and a header serializes as its name and value with a varint
/// length each. The budget keeps a documented margin of ``framingMargin`` bytes below
/// `message.max.bytes` for the record framing (36 bytes) and the record-batch header (61 bytes), and
/// counts every header at its worst-case framing (``headerFraming``), so a record within the budget is
/// never refused by the producer. The broker's limit for a topic (`max.message.bytes`, 1,048,588 by
/// default) must be at least the producer's `message.max.bytes`; see docs/outputs.md.
public struct OutputBudget: Sendable, Equatable {
    /// librdkafka's default `message.max.bytes`.
    public static let defaultMessageMaxBytes = 1_000_000
    /// Bytes kept below `message.max.bytes` for the record framing and the batch header.
    public static let framingMargin = 512
    /// The smallest `message.max.bytes` StreamAdapt accepts: room for a dead letter's own headers at
    /// their longest (at most 2,882 bytes with both notes, see ``DeadLetter``) and a useful part of the input.
    public static let minimumMessageMaxBytes = 8192
    /// Worst-case bytes of a header's two varint lengths (name and value, 5 bytes each).
    public static let headerFraming = 10

    /// The producer's `message.max.bytes`.
    public let messageMaxBytes: Int
    /// The most bytes of key + value + headers (each header counted by ``headerBytes(name:value:)``).
    public var limit: Int { messageMaxBytes - Self.framingMargin }

    /// A budget for a producer whose `message.max.bytes` is `messageMaxBytes` (librdkafka accepts
    /// 1,000 to 1,000,000,000).
    public init(messageMaxBytes: Int = OutputBudget.defaultMessageMaxBytes) {
        precondition(messageMaxBytes > Self.framingMargin, "message.max.bytes \(messageMaxBytes) is below the framing margin")
        self.messageMaxBytes = messageMaxBytes
    }

    /// The budget of a producer built from these librdkafka properties (the pipeline's
    /// `kafka.properties`): their `message.max.bytes` when set, else librdkafka's default.
    /// - Throws: ``ConfigurationError`` when `message.max.bytes` is not an integer from
    ///   ``minimumMessageMaxBytes`` to 1,000,000,000 (librdkafka's maximum).
    public init(kafkaProperties: [String: String]) throws(ConfigurationError) {
        guard let text = kafkaProperties["message.max.bytes"] else {
            self.init()
            return
        }
        guard let value = Int(text), (Self.minimumMessageMaxBytes...1_000_000_000).contains(value) else {
            throw ConfigurationError(
                field: "kafka.properties.message.max.bytes",
                reason: "\"\(text)\" is not an integer from \(Self.minimumMessageMaxBytes) to 1000000000")
        }
        self.init(messageMaxBytes: value)
    }

    /// The bytes a header takes in the budget: its name and value and their worst-case varint lengths.
    public static func headerBytes(name: Int, value: Int) -> Int { name + value + headerFraming }

    /// The bytes a list of headers takes in the budget.
    public static func headerBytes(_ headers: [(String, [UInt8])]) -> Int {
        headers.reduce(0) { $0 + headerBytes(name: $1.0.utf8.count, value: $1.1.count) }
    }

    /// The bytes a record takes in the budget.
    public static func recordBytes(key: Int, value: Int, headers: Int = 0) -> Int { key + value + headers }

    /// Whether a record of these sizes fits.
    public func fits(key: Int, value: Int, headers: Int = 0) -> Bool {
        Self.recordBytes(key: key, value: value, headers: headers) <= limit
    }
}

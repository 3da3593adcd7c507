/// One log line of librdkafka: its syslog level (0 emergency ... 7 debug), facility (`FAIL`, `OFFSET`,
/// `REQTMOUT`, ...), text, and the client that wrote it (librdkafka's instance name, e.g. `rdkafka#producer-1`).
public struct KafkaLogRecord: Sendable, Equatable {
    public let level: Int32
    public let facility: String
    public let message: String
    public let client: String
}

/// Receives librdkafka's log lines. Called on librdkafka's own threads (any of them, concurrently),
/// also during client creation and destruction: it must be thread-safe and must not call back into the
/// client. With no handler, librdkafka's log lines are dropped (librdkafka never writes to stderr
/// itself: the layer always installs a log callback).
public typealias KafkaLogHandler = @Sendable (KafkaLogRecord) -> Void

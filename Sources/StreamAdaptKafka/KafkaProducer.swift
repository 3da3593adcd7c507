import CRdkafka

/// A Kafka producer: asynchronous, batched sends with checked delivery reports.
///
/// librdkafka batches messages itself (`linger.ms`, `batch.num.messages`); `send` only enqueues.
/// Delivery reports, errors and statistics are served by ``poll()``, ``flush(until:)`` and the waits of
/// ``sendWaiting(topic:partition:key:value:headers:until:)`` on the caller's thread; failed deliveries
/// are counted and the last failure kept (with its code), so the caller can act on them.
///
/// Not `Sendable`: one thread owns a producer (librdkafka itself is thread-safe, but the waits and the
/// delivery bookkeeping are meant for one owner).
public final class KafkaProducer {
    private let handle: OpaquePointer
    private let context: ClientContext
    /// The bootstrap servers, for messages.
    public let bootstrapServers: String

    /// - Parameters:
    ///   - configuration: librdkafka producer properties (`bootstrap.servers` at least), over
    ///     ``KafkaConfiguration/producerDefaults``.
    ///   - connectivity: a monitor this producer reports broker loss and recovery to (it then also turns
    ///     on `statistics.interval.ms=1000` unless set).
    ///   - log: where librdkafka's log lines go; nil drops them.
    public init(
        configuration: KafkaConfiguration, connectivity: KafkaConnectivity? = nil, log: KafkaLogHandler? = nil
    ) throws(KafkaError) {
        var properties = configuration.with(defaults: KafkaConfiguration.producerDefaults)
        if connectivity != nil, properties["statistics.interval.ms"] == nil { properties["statistics.interval.ms"] = "1000" }
        bootstrapServers = configuration.bootstrapServers
        context = ClientContext(role: "producer", bootstrap: bootstrapServers, log: log, connectivity: connectivity)
        handle = try makeClient(RD_KAFKA_PRODUCER, properties, context)
    }

    deinit {
        // Outputs still queued get a short chance; the owner should have flushed with its own deadline.
        rd_kafka_flush(handle, 2000)
        rd_kafka_destroy(handle)
        withExtendedLifetime(context) {}  // callbacks use it until rd_kafka_destroy returns
    }

    /// Messages delivered, and failed, so far (counted when their delivery report is served).
    public var deliveredCount: Int { context.deliveries.withLock { $0.delivered } }
    public var failedCount: Int { context.deliveries.withLock { $0.failed } }
    /// The last delivery failure, with its code (e.g. ``KafkaError/Code/messageTooLarge`` when the
    /// broker's limit is lower than the producer's).
    public var lastDeliveryFailure: KafkaError? { context.deliveries.withLock { $0.lastFailure } }
    /// The last delivery failure's text.
    public var lastDeliveryError: String? { lastDeliveryFailure?.message }
    /// Messages enqueued and not yet delivered or failed (counted by this wrapper:
    /// `rd_kafka_outq_len` also counts unserved callbacks).
    public var inFlight: Int {
        let done = context.deliveries.withLock { $0.delivered + $0.failed }
        return enqueued - done
    }
    private var enqueued = 0
    /// The fatal error this producer raised, if any (it then delivers nothing more).
    public var fatalError: KafkaError? { context.fatalError(handle) }

    /// Enqueues one message (key, value and headers are copied).
    /// - Parameter partition: the partition, or nil for the partitioner's choice (by key).
    /// - Throws: ``KafkaError``: ``KafkaError/Code/messageTooLarge`` (larger than `message.max.bytes`),
    ///   ``KafkaError/Code/queueFull`` (call ``poll()`` and retry, or use
    ///   ``sendWaiting(topic:partition:key:value:headers:until:)``), ``KafkaError/Code/fatal``, ...
    public func send(
        topic: String, partition: Int32? = nil, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer,
        headers: [(String, [UInt8])] = []
    ) throws(KafkaError) {
        try produce(topic: topic, partition: partition, key: key, value: value, headers: headers, waiting: nil)
    }

    /// Sends, and while the local queue is full serves delivery reports and retries (back-pressure),
    /// until `until` ends the wait.
    /// - Throws: as ``send(topic:partition:key:value:headers:)``, and ``KafkaError/Code/stopped`` or
    ///   ``KafkaError/Code/timedOut`` when `until` ends the wait (the message was not enqueued).
    public func sendWaiting(
        topic: String, partition: Int32? = nil, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer,
        headers: [(String, [UInt8])] = [], until: StopCondition = .never
    ) throws(KafkaError) {
        try produce(topic: topic, partition: partition, key: key, value: value, headers: headers, waiting: until)
    }

    /// ``sendWaiting(topic:partition:key:value:headers:until:)`` with the UTF-8 bytes of `key` (no copy for
    /// a native string).
    public func sendWaiting(
        topic: String, partition: Int32? = nil, key: String, value: UnsafeRawBufferPointer,
        headers: [(String, [UInt8])] = [], until: StopCondition = .never
    ) throws(KafkaError) {
        var key = key
        let result: Result<Void, KafkaError> = key.withUTF8 { utf8 in
            Result { () throws(KafkaError) in
                try produce(
                    topic: topic, partition: partition, key: UnsafeRawBufferPointer(utf8), value: value,
                    headers: headers, waiting: until)
            }
        }
        try result.get()
    }

    /// Builds the headers once; with a `waiting` condition, retries on a full queue with the same
    /// headers (the caller keeps them when producev fails), else throws.
    private func produce(
        topic: String, partition: Int32?, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer,
        headers: [(String, [UInt8])], waiting: StopCondition?
    ) throws(KafkaError) {
        if let fatal = fatalError { throw fatal }
        var hdrs: OpaquePointer? = nil
        if !headers.isEmpty {
            hdrs = rd_kafka_headers_new(headers.count)
            for (name, bytes) in headers {
                bytes.withUnsafeBytes { _ = rd_kafka_header_add(hdrs, name, -1, $0.baseAddress, $0.count) }
            }
        }
        while true {
            let err = streamadapt_produce(
                handle, topic, partition ?? RD_KAFKA_PARTITION_UA, key?.baseAddress, key?.count ?? 0, value.baseAddress,
                value.count, hdrs)
            if err == RD_KAFKA_RESP_ERR_NO_ERROR {  // librdkafka owns the headers now
                enqueued += 1
                return
            }
            guard let waiting, err == RD_KAFKA_RESP_ERR__QUEUE_FULL else {
                if let hdrs { rd_kafka_headers_destroy(hdrs) }
                if err == RD_KAFKA_RESP_ERR__FATAL, let fatal = fatalError { throw fatal }
                throw KafkaError(err, "produce to \(topic) (\(value.count) bytes) via \(bootstrapServers)")
            }
            do throws(KafkaError) {
                try waiting.check("room in the producer queue for \(topic) (\(inFlight) messages in flight to \(bootstrapServers); \(context.lastErrorText))")
                if let fatal = fatalError { throw fatal }
            } catch {
                if let hdrs { rd_kafka_headers_destroy(hdrs) }
                throw error
            }
            rd_kafka_poll(handle, min(50, waiting.sliceMilliseconds()))
        }
    }

    /// Serves queued delivery reports, errors and statistics without blocking.
    public func poll() { rd_kafka_poll(handle, 0) }

    /// Serves delivery reports, errors and statistics, waiting up to `timeoutMilliseconds` for the first.
    public func poll(timeoutMilliseconds: Int32) { rd_kafka_poll(handle, timeoutMilliseconds) }

    /// Waits until every enqueued message is delivered or failed, serving delivery reports, or until
    /// `until` ends the wait.
    /// - Returns: the messages still in flight: 0 when everything was delivered or failed (check
    ///   ``failedCount``), more when the deadline passed first.
    /// - Throws: ``KafkaError/Code/stopped`` when `until` asked to stop while messages are still in
    ///   flight (the message says how many; they stay queued), ``KafkaError/Code/fatal``.
    @discardableResult
    public func flush(until: StopCondition) throws(KafkaError) -> Int {
        while true {
            if let fatal = fatalError { throw fatal }
            if until.shouldStop() {
                if rd_kafka_flush(handle, 0) == RD_KAFKA_RESP_ERR_NO_ERROR { return 0 }  // nothing to wait for
                throw KafkaError(.stopped, "flush to \(bootstrapServers) stopped with \(inFlight) messages still in flight")
            }
            let slice = until.sliceMilliseconds()
            if rd_kafka_flush(handle, slice) == RD_KAFKA_RESP_ERR_NO_ERROR { return 0 }
            if until.isPastDeadline { return inFlight }
        }
    }

    /// ``flush(until:)`` with a timeout and no stop.
    /// - Throws: ``KafkaError/Code/timedOut`` when messages are still in flight at the timeout.
    public func flush(timeoutMilliseconds: Int32 = 10_000) throws(KafkaError) {
        let remaining = try flush(until: .timeout(.milliseconds(Int64(timeoutMilliseconds))))
        if remaining > 0 {
            throw KafkaError(
                .timedOut, "flush to \(bootstrapServers) (\(remaining) messages still in flight after \(timeoutMilliseconds) ms; \(context.lastErrorText))",
                librdkafkaCode: RD_KAFKA_RESP_ERR__TIMED_OUT.rawValue)
        }
    }

    /// Raises a fatal error as librdkafka would (rd_kafka_test_fatal_error), for tests.
    func raiseFatalErrorForTesting(_ reason: String) {
        _ = rd_kafka_test_fatal_error(handle, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, reason)
    }
}

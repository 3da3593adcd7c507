import CRdkafka

/// A Kafka producer: asynchronous, batched sends with checked delivery reports.
///
/// librdkafka batches messages itself (`linger.ms`, `batch.num.messages`); `send` only enqueues.
/// Delivery reports are served by ``poll()`` and ``flush(timeoutMilliseconds:)`` on the caller's
/// thread; failed deliveries are counted and the last error kept, so the caller can act on them.
public final class KafkaProducer {
    private let handle: OpaquePointer
    private let deliveries: DeliveryLedger

    /// - Parameter configuration: librdkafka producer properties (`bootstrap.servers` at least).
    public init(configuration: KafkaConfiguration) throws {
        let conf = try configuration.makeConf()
        deliveries = DeliveryLedger()
        // The ledger is retained by this producer for its whole life; librdkafka calls the callback only
        // from rd_kafka_poll/flush, which run on the thread that calls poll()/flush() on this object.
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(deliveries).toOpaque())
        rd_kafka_conf_set_dr_msg_cb(conf) { _, message, opaque in
            guard let opaque, let message else { return }
            let ledger = Unmanaged<DeliveryLedger>.fromOpaque(opaque).takeUnretainedValue()
            if message.pointee.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                ledger.failed += 1
                ledger.lastError = String(cString: rd_kafka_err2str(message.pointee.err))
            }
        }
        handle = try makeClient(RD_KAFKA_PRODUCER, conf)
    }

    deinit {
        rd_kafka_flush(handle, 5000)
        rd_kafka_destroy(handle)
    }

    /// Messages whose delivery failed so far, and the last failure's reason.
    public var failedCount: Int { deliveries.failed }
    public var lastDeliveryError: String? { deliveries.lastError }
    /// Messages enqueued and not yet delivered (or failed).
    public var inFlight: Int { Int(rd_kafka_outq_len(handle)) }

    /// Enqueues one message (key, value and headers are copied).
    /// - Parameters:
    ///   - partition: the partition, or nil for the partitioner's choice (by key).
    /// - Throws: ``KafkaError`` when the message cannot be enqueued (e.g. the queue is full:
    ///   call ``poll()`` and retry, or use ``sendWaiting(topic:partition:key:value:headers:)``).
    public func send(
        topic: String, partition: Int32? = nil, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer,
        headers: [(String, [UInt8])] = []
    ) throws {
        try produce(topic: topic, partition: partition, key: key, value: value, headers: headers, waiting: false)
    }

    /// Sends, and when the local queue is full serves delivery reports and retries (back-pressure).
    public func sendWaiting(
        topic: String, partition: Int32? = nil, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer,
        headers: [(String, [UInt8])] = []
    ) throws {
        try produce(topic: topic, partition: partition, key: key, value: value, headers: headers, waiting: true)
    }

    /// ``sendWaiting(topic:partition:key:value:headers:)`` with the UTF-8 bytes of `key` (no copy for a
    /// native string).
    public func sendWaiting(
        topic: String, partition: Int32? = nil, key: String, value: UnsafeRawBufferPointer,
        headers: [(String, [UInt8])] = []
    ) throws {
        var key = key
        try key.withUTF8 {
            try produce(
                topic: topic, partition: partition, key: UnsafeRawBufferPointer($0), value: value, headers: headers,
                waiting: true)
        }
    }

    /// Builds the headers once; when `waiting`, retries on a full queue with the same headers (the caller
    /// keeps them when producev fails), else throws.
    private func produce(
        topic: String, partition: Int32?, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer,
        headers: [(String, [UInt8])], waiting: Bool
    ) throws {
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
            if err == RD_KAFKA_RESP_ERR_NO_ERROR { return }  // librdkafka owns the headers now
            guard waiting, err == RD_KAFKA_RESP_ERR__QUEUE_FULL else {
                if let hdrs { rd_kafka_headers_destroy(hdrs) }
                throw KafkaError(err, "produce to \(topic)")
            }
            rd_kafka_poll(handle, 50)
        }
    }

    /// Serves queued delivery reports without blocking.
    public func poll() { rd_kafka_poll(handle, 0) }

    /// Waits until every enqueued message is delivered or failed, or the timeout passes.
    /// - Throws: ``KafkaError`` when messages are still in flight at the timeout.
    public func flush(timeoutMilliseconds: Int32 = 10_000) throws {
        let err = rd_kafka_flush(handle, timeoutMilliseconds)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err, "flush (\(inFlight) messages still in flight)") }
    }
}

/// Delivery-report counters of one producer. Only touched from librdkafka's delivery callback, which
/// runs inside rd_kafka_poll/rd_kafka_flush on the producer owner's thread, and read by that owner.
final class DeliveryLedger {
    var failed = 0
    var lastError: String?
}

import CRdkafka

/// One consumed message, valid only inside the closure it is handed to (it points into librdkafka's
/// buffer, which is released afterwards).
public struct KafkaMessage {
    let pointer: UnsafeMutablePointer<rd_kafka_message_t>

    public var topic: String { String(cString: rd_kafka_topic_name(pointer.pointee.rkt)) }
    public var partition: Int32 { pointer.pointee.partition }
    public var offset: Int64 { pointer.pointee.offset }
    /// The message value (empty for a null value).
    public var value: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: pointer.pointee.payload, count: pointer.pointee.len)
    }
    public var key: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: pointer.pointee.key, count: pointer.pointee.key_len)
    }
    /// Milliseconds since the epoch of the message timestamp, if it has one.
    public var timestamp: Int64? {
        var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let t = rd_kafka_message_timestamp(pointer, &type)
        return type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : t
    }

    /// The last value of header `name`, if present.
    public func header(_ name: String) -> UnsafeRawBufferPointer? {
        var headers: OpaquePointer? = nil
        guard rd_kafka_message_headers(pointer, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR, let headers else { return nil }
        var value: UnsafeRawPointer? = nil
        var size = 0
        guard rd_kafka_header_get_last(headers, name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        return UnsafeRawBufferPointer(start: value, count: size)
    }

    /// All headers, copied (for forwarding a message unchanged).
    public var headers: [(String, [UInt8])] {
        var headers: OpaquePointer? = nil
        guard rd_kafka_message_headers(pointer, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR, let headers else { return [] }
        var result: [(String, [UInt8])] = []
        var index = 0
        while true {
            var name: UnsafePointer<CChar>? = nil
            var value: UnsafeRawPointer? = nil
            var size = 0
            guard rd_kafka_header_get_all(headers, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR,
                let name
            else { break }
            result.append((String(cString: name), Array(UnsafeRawBufferPointer(start: value, count: size))))
            index += 1
        }
        return result
    }
}

/// A Kafka consumer with manual partition assignment: the caller says where each partition starts
/// (StreamAdapt keeps its offsets in its checkpoints, together with the model state, instead of
/// committing them to Kafka), and messages arrive in partition order.
public final class KafkaConsumer {
    private let handle: OpaquePointer
    private let queue: OpaquePointer
    private var batch: [UnsafeMutablePointer<rd_kafka_message_t>?]

    /// - Parameters:
    ///   - configuration: librdkafka consumer properties; `group.id` defaults to `streamadapt` (used for
    ///     nothing but librdkafka's bookkeeping: offsets are never committed) and auto-commit is off.
    ///   - batchSize: the most messages one ``poll(timeoutMilliseconds:_:)`` hands over.
    public init(configuration: KafkaConfiguration, batchSize: Int = 512) throws {
        var properties = configuration.properties
        if properties["group.id"] == nil { properties["group.id"] = "streamadapt" }
        properties["enable.auto.commit"] = "false"
        properties["enable.auto.offset.store"] = "false"
        properties["enable.partition.eof"] = properties["enable.partition.eof"] ?? "false"
        // An assigned offset that no longer exists (retention deleted it) restarts at the oldest kept
        // message rather than skipping to the end (librdkafka logs the reset).
        properties["auto.offset.reset"] = properties["auto.offset.reset"] ?? "earliest"
        let conf = try KafkaConfiguration(properties).makeConf()
        handle = try makeClient(RD_KAFKA_CONSUMER, conf)
        rd_kafka_poll_set_consumer(handle)
        guard let queue = rd_kafka_queue_get_consumer(handle) else {
            rd_kafka_destroy(handle)
            throw KafkaError("no consumer queue")
        }
        self.queue = queue
        batch = Array(repeating: nil, count: max(1, batchSize))
    }

    deinit {
        rd_kafka_queue_destroy(queue)
        rd_kafka_consumer_close(handle)
        rd_kafka_destroy(handle)
    }

    /// The partition ids of `topic`, from the cluster's metadata (the topic is created if the broker
    /// auto-creates topics).
    public func partitions(of topic: String, timeoutMilliseconds: Int32 = 10_000) throws -> [Int32] {
        guard let rkt = rd_kafka_topic_new(handle, topic, nil) else { throw KafkaError("topic \(topic)") }
        defer { rd_kafka_topic_destroy(rkt) }
        var metadata: UnsafePointer<rd_kafka_metadata>? = nil
        let err = rd_kafka_metadata(handle, 0, rkt, &metadata, timeoutMilliseconds)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else { throw KafkaError(err, "metadata of \(topic)") }
        defer { rd_kafka_metadata_destroy(metadata) }
        for t in 0..<Int(metadata.pointee.topic_cnt) {
            let entry = metadata.pointee.topics[t]
            guard String(cString: entry.topic) == topic else { continue }
            if entry.err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(entry.err, "topic \(topic)") }
            return (0..<Int(entry.partition_cnt)).map { entry.partitions[$0].id }.sorted()
        }
        throw KafkaError("topic \(topic) not found")
    }

    /// Assigns partitions, each starting at the given offset (nil: the beginning). Replaces any
    /// previous assignment.
    public func assign(_ entries: [(topic: String, partition: Int32, offset: Int64?)]) throws {
        guard let list = rd_kafka_topic_partition_list_new(Int32(entries.count)) else {
            throw KafkaError("partition list")
        }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for entry in entries {
            let element = rd_kafka_topic_partition_list_add(list, entry.topic, entry.partition)
            element?.pointee.offset = entry.offset ?? Int64(RD_KAFKA_OFFSET_BEGINNING)
        }
        let err = rd_kafka_assign(handle, list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err, "assign") }
    }

    /// The high watermark (the offset after the last message) of a partition, as last seen by the
    /// consumer (no broker round trip); nil when unknown.
    public func highWatermark(topic: String, partition: Int32) -> Int64? {
        var low: Int64 = 0
        var high: Int64 = 0
        let err = rd_kafka_get_watermark_offsets(handle, topic, partition, &low, &high)
        return err == RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0 ? high : nil
    }

    /// The high watermark of a partition asked of the broker (blocks up to the timeout); nil on error.
    public func queryHighWatermark(topic: String, partition: Int32, timeoutMilliseconds: Int32 = 1000) -> Int64? {
        var low: Int64 = 0
        var high: Int64 = 0
        let err = rd_kafka_query_watermark_offsets(handle, topic, partition, &low, &high, timeoutMilliseconds)
        return err == RD_KAFKA_RESP_ERR_NO_ERROR ? high : nil
    }

    /// Waits up to `timeoutMilliseconds` for messages and hands each one, in partition order, to `body`.
    /// Transport errors reported as messages (broker down, ...) are returned as events, not thrown:
    /// librdkafka retries them itself.
    /// - Returns: the number of messages handed over and the transport errors seen.
    @discardableResult
    public func poll(timeoutMilliseconds: Int32, _ body: (KafkaMessage) throws -> Void) rethrows -> (
        messages: Int, errors: [KafkaError]
    ) {
        // rd_kafka_consume_batch_queue waits for a full batch or the timeout; instead, wait for the first
        // message only, then take whatever else is already queued.
        let count = batch.withUnsafeMutableBufferPointer { buffer -> Int in
            guard let first = rd_kafka_consume_queue(queue, Int32(timeoutMilliseconds)) else { return 0 }
            buffer[0] = first
            guard buffer.count > 1 else { return 1 }
            let more = rd_kafka_consume_batch_queue(queue, 0, buffer.baseAddress! + 1, buffer.count - 1)
            return 1 + max(0, more)
        }
        var delivered = 0
        var errors: [KafkaError] = []
        guard count > 0 else { return (0, []) }
        var index = 0
        defer {
            // Release whatever the body did not get to (when it threw).
            while index < count {
                rd_kafka_message_destroy(batch[index])
                index += 1
            }
        }
        while index < count {
            let message = batch[index]!
            defer {
                rd_kafka_message_destroy(message)
                index += 1
            }
            if message.pointee.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                if message.pointee.err != RD_KAFKA_RESP_ERR__PARTITION_EOF {
                    errors.append(KafkaError(message.pointee.err, "consume"))
                }
                continue
            }
            try body(KafkaMessage(pointer: message))
            delivered += 1
        }
        return (delivered, errors)
    }
}

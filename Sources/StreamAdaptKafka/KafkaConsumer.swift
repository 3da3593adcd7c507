import CRdkafka

/// A Kafka consumer with manual partition assignment: the caller says where each partition starts
/// (StreamAdapt keeps its offsets in its checkpoints, together with the model state, instead of
/// committing them to Kafka), and messages arrive in partition order.
///
/// Not `Sendable`: one thread owns a consumer and calls everything on it. Error, statistics and log
/// callbacks run on that thread inside ``poll(timeoutMilliseconds:_:afterBatch:)`` and the waits (the log callback
/// also on librdkafka's threads).
public final class KafkaConsumer {
    let handle: OpaquePointer
    let queue: OpaquePointer
    let context: ClientContext
    private var batch: [UnsafeMutablePointer<rd_kafka_message_t>?]
    /// Scratch of ``groupByPartition(_:)``, allocated once: the batch reordered, the partitions seen.
    private var reordered: [UnsafeMutablePointer<rd_kafka_message_t>?] = []
    private var partitionsSeen: [Int32] = []
    /// The most messages one ``poll(timeoutMilliseconds:_:afterBatch:)`` hands over.
    public var batchSize: Int { batch.count }
    /// During ``poll(timeoutMilliseconds:_:afterBatch:)``: the number of messages (and events) taken
    /// by this poll, known before the first is handed over (so a caller can tell a trickle from a
    /// backlog); 0 between polls.
    public private(set) var currentBatchCount = 0
    /// Hand each poll's messages over partition by partition (each partition's in order, partitions in
    /// the order they first appear in the batch) instead of as librdkafka interleaves them. For a
    /// consumer whose partitions are independent (a group member with a model per partition): its
    /// blocks of events then end less often. Off by default.
    public var runsOfPartitions = false
    /// The bootstrap servers, for messages.
    public let bootstrapServers: String

    /// - Parameters:
    ///   - configuration: librdkafka consumer properties, over ``KafkaConfiguration/consumerDefaults``.
    ///     Auto-commit and the offset store are always off.
    ///   - batchSize: the most messages one ``poll(timeoutMilliseconds:_:afterBatch:)`` hands over.
    ///   - connectivity: a monitor this consumer reports broker loss and recovery to (it then also turns
    ///     on `statistics.interval.ms=1000` unless set).
    ///   - log: where librdkafka's log lines go; nil drops them.
    public init(
        configuration: KafkaConfiguration, batchSize: Int = 512, connectivity: KafkaConnectivity? = nil,
        log: KafkaLogHandler? = nil
    ) throws(KafkaError) {
        var properties = configuration.with(defaults: KafkaConfiguration.consumerDefaults)
        properties["enable.auto.commit"] = "false"
        properties["enable.auto.offset.store"] = "false"
        if connectivity != nil, properties["statistics.interval.ms"] == nil { properties["statistics.interval.ms"] = "1000" }
        bootstrapServers = configuration.bootstrapServers
        context = ClientContext(role: "consumer", bootstrap: bootstrapServers, log: log, connectivity: connectivity)
        handle = try makeClient(RD_KAFKA_CONSUMER, properties, context)
        // The main queue (errors, statistics) is NOT forwarded to the consumer queue
        // (rd_kafka_poll_set_consumer): it is served by rd_kafka_poll, which never hands over messages,
        // so the waits below can serve callbacks without consuming input.
        guard let queue = rd_kafka_queue_get_consumer(handle) else {
            rd_kafka_destroy(handle)
            throw KafkaError(.other, "no consumer queue")
        }
        self.queue = queue
        batch = Array(repeating: nil, count: max(1, batchSize))
        reordered.reserveCapacity(batch.count)
    }

    deinit {
        if context.rebalance.subscribed {
            // A group member not closed by its owner: leave the group without calling the owner back
            // (destroying a subscribed consumer without a close waits for its group to terminate).
            context.rebalance.handler = nil
            try? close()
        }
        if context.rebalance.abandoned {
            // The close did not finish (librdkafka 2.0.2 #4527): destroying would join threads that may
            // never end. Leaked on purpose, with its context (its callbacks may still run).
            _ = Unmanaged.passRetained(context)
            return
        }
        rd_kafka_queue_destroy(queue)
        // No offsets to commit (offsets live in checkpoints and snapshots), and a group member leaves its
        // group in ``close()``: skip the consumer close.
        rd_kafka_destroy_flags(handle, Int32(RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE))
        withExtendedLifetime(context) {}  // callbacks use it until rd_kafka_destroy returns
    }

    /// The fatal error this consumer raised, if any.
    public var fatalError: KafkaError? { context.fatalError(handle) }

    /// Assigns partitions, each starting at the given offset (nil: the oldest retained). Replaces any
    /// previous assignment.
    public func assign(_ entries: [(topic: String, partition: Int32, offset: Int64?)]) throws(KafkaError) {
        let list = try Self.partitionList(entries)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_assign(handle, list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err, "assign") }
    }

    /// Restarts one assigned partition at `offset` (nil: the oldest offset retained), e.g. after an
    /// ``KafkaConsumerEvent/offsetOutOfRange(_:)`` event when the caller accepts the gap. Other
    /// partitions keep their position and their already fetched messages. The partition must be
    /// assigned (an ``assign(_:)`` entry).
    ///
    /// Implemented as an incremental unassign and assign of that partition: after
    /// RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET librdkafka 2.0.2 leaves the partition in fetch state NONE, in
    /// which `rd_kafka_seek` fails with RD_KAFKA_RESP_ERR__STATE (and its seek timeouts are 1000 times too
    /// short, librdkafka #4230).
    public func resume(topic: String, partition: Int32, at offset: Int64?) throws(KafkaError) {
        let list = try Self.partitionList([(topic, partition, offset)])
        defer { rd_kafka_topic_partition_list_destroy(list) }
        if let error = rd_kafka_incremental_unassign(handle, list) {
            throw Self.take(error, "resume \(topic) [\(partition)]: unassign")
        }
        if let error = rd_kafka_incremental_assign(handle, list) {
            throw Self.take(error, "resume \(topic) [\(partition)] at \(offset.map(String.init) ?? "the oldest offset")")
        }
    }

    /// Waits up to `timeoutMilliseconds` for messages and hands each one, in partition order, to `body`,
    /// then, when the batch had messages, calls `afterBatch`. Every message of the batch stays valid
    /// until `afterBatch` returns (so a caller may keep them to finish their work there); they are all
    /// released before `poll` returns. Also serves the error, statistics and log callbacks.
    /// - Returns: the number of messages handed over, and the events seen: partitions whose offset is
    ///   out of range (stopped until ``resume(topic:partition:at:)``) and errors librdkafka retries itself.
    /// - Throws: ``KafkaError/Code/fatal`` when the consumer raised a fatal error; whatever `body` or
    ///   `afterBatch` throws (the remaining messages of the batch are released, not handed over).
    @discardableResult
    public func poll(
        timeoutMilliseconds: Int32, _ body: (KafkaMessage) throws -> Void, afterBatch: () throws -> Void = {}
    ) throws -> (messages: Int, events: [KafkaConsumerEvent]) {
        rd_kafka_poll(handle, 0)  // errors, statistics
        if let fatal = fatalError { throw fatal }
        // rd_kafka_consume_batch_queue waits for a full batch or the timeout; instead, wait for the first
        // message only, then take whatever else is already queued.
        let relay = context.rebalance
        let count = batch.withUnsafeMutableBufferPointer { buffer -> Int in
            guard let first = rd_kafka_consume_queue(queue, Int32(timeoutMilliseconds)) else { return 0 }
            guard buffer.count > 1 else {
                buffer[0] = first
                return 1
            }
            let served = relay.served
            relay.touched = []
            let more = max(0, rd_kafka_consume_batch_queue(queue, 0, buffer.baseAddress! + 1, buffer.count - 1))
            // The first message was taken before a rebalance served while taking the rest: librdkafka's
            // purge of messages fetched before a rebalance does not reach it. Dropped when the rebalance
            // touched its partition (it is fetched again from where the new assignment starts).
            if relay.served != served, first.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR, let rkt = first.pointee.rkt,
                relay.touched.contains(TopicPartition(topic: String(cString: rd_kafka_topic_name(rkt)), partition: first.pointee.partition))
            {
                rd_kafka_message_destroy(first)
                for i in 0..<more { buffer[i] = buffer[i + 1] }
                return more
            }
            buffer[0] = first
            return 1 + more
        }
        guard count > 0 else {
            try checkRebalance()  // a rebalance served while waiting
            return (0, [])
        }
        var delivered = 0
        var events: [KafkaConsumerEvent] = []
        currentBatchCount = count
        defer {
            currentBatchCount = 0
            // Released together at the end: a message handed over stays valid until afterBatch returns.
            for index in 0..<count { rd_kafka_message_destroy(batch[index]) }
        }
        try checkRebalance()  // a rebalance served while taking the batch
        if runsOfPartitions { groupByPartition(count) }
        for index in 0..<count {
            let message = batch[index]!
            let err = message.pointee.err
            if err == RD_KAFKA_RESP_ERR_NO_ERROR {
                if delivered == 0 { context.reportUp("a message was fetched") }
                try body(KafkaMessage(pointer: message))
                delivered += 1
            } else if let event = try event(of: message) {
                events.append(event)
            }
        }
        if delivered > 0 { try afterBatch() }
        return (delivered, events)
    }

    /// Reorders the first `count` messages of the batch so that each partition's messages form one run,
    /// partitions in the order they first appear, each partition's messages in their order (a stable
    /// sort by partition; the messages of one poll are of one topic when this is on).
    private func groupByPartition(_ count: Int) {
        guard count > 2 else { return }
        partitionsSeen.removeAll(keepingCapacity: true)
        for index in 0..<count {
            let p = batch[index]!.pointee.partition
            if !partitionsSeen.contains(p) { partitionsSeen.append(p) }
        }
        guard partitionsSeen.count > 1 else { return }
        reordered.removeAll(keepingCapacity: true)
        for p in partitionsSeen {
            for index in 0..<count where batch[index]!.pointee.partition == p { reordered.append(batch[index]) }
        }
        for index in 0..<count { batch[index] = reordered[index] }
    }

    /// The event an error message stands for (nil for end-of-partition).
    private func event(of message: UnsafeMutablePointer<rd_kafka_message_t>) throws(KafkaError) -> KafkaConsumerEvent? {
        let err = message.pointee.err
        let topic = message.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) }
        let text = rd_kafka_message_errstr(message).map { String(cString: $0) } ?? String(cString: rd_kafka_err2str(err))
        switch err {
        case RD_KAFKA_RESP_ERR__PARTITION_EOF:
            return nil
        case RD_KAFKA_RESP_ERR__FATAL:
            throw fatalError ?? KafkaError(err, "consumer \(bootstrapServers)")
        case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET, RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
            if let topic {
                var low: Int64 = -1
                var high: Int64 = -1
                _ = rd_kafka_get_watermark_offsets(handle, topic, message.pointee.partition, &low, &high)
                return .offsetOutOfRange(OffsetOutOfRange(
                    topic: topic, partition: message.pointee.partition, offset: message.pointee.offset,
                    low: low >= 0 ? low : nil, high: high >= 0 ? high : nil, reason: text))
            }
            fallthrough
        default:
            let place = topic.map { " \($0) [\(message.pointee.partition)]" } ?? ""
            return .error(KafkaError(
                KafkaError.code(of: err), "consume\(place) via \(bootstrapServers): \(text)", librdkafkaCode: err.rawValue))
        }
    }

    /// Raises a fatal error as librdkafka would (rd_kafka_test_fatal_error), for tests.
    func raiseFatalErrorForTesting(_ reason: String) {
        _ = rd_kafka_test_fatal_error(handle, RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID, reason)
    }

    static func partitionList(_ entries: [(topic: String, partition: Int32, offset: Int64?)]) throws(KafkaError)
        -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t>
    {
        guard let list = rd_kafka_topic_partition_list_new(Int32(entries.count)) else {
            throw KafkaError(.other, "partition list")
        }
        for entry in entries {
            let element = rd_kafka_topic_partition_list_add(list, entry.topic, entry.partition)
            element?.pointee.offset = entry.offset ?? Int64(RD_KAFKA_OFFSET_BEGINNING)
        }
        return list
    }

    /// A KafkaError from an rd_kafka_error_t, which it destroys.
    static func take(_ error: OpaquePointer, _ context: String) -> KafkaError {
        defer { rd_kafka_error_destroy(error) }
        let err = rd_kafka_error_code(error)
        let text = rd_kafka_error_string(error).map { String(cString: $0) } ?? ""
        return KafkaError(KafkaError.code(of: err), "\(context): \(text)", librdkafkaCode: err.rawValue)
    }
}

import CRdkafka

/// Consumer-group membership: the group assigns partitions to its members and moves them when members
/// join, leave or fail. The owner restores a partition's state and says where it starts when it is
/// assigned, and writes its state when it is revoked (``Rebalance``); offsets committed to the group are
/// not used.
extension KafkaConsumer {
    /// Properties a group member needs over ``KafkaConfiguration/consumerDefaults``, unless the user set
    /// them: the cooperative-sticky assignor (a rebalance moves only the partitions that change owner, the
    /// others keep being consumed) and the group id.
    public static func groupProperties(group: String) -> [String: String] {
        ["group.id": group, "partition.assignment.strategy": "cooperative-sticky"]
    }

    /// Joins the consumer group of `group.id` (set it with ``groupProperties(group:)``) for `topics`.
    /// `onRebalance` runs on this thread inside ``poll(timeoutMilliseconds:_:afterBatch:)`` (not inside
    /// ``close(timeout:)``): for ``Rebalance/assigned(_:)`` it returns where each partition starts (missing or nil:
    /// the oldest offset held); for revoked and lost partitions its result is ignored. The partitions are
    /// assigned or unassigned when it returns. Messages of a partition fetched before it was revoked can
    /// still be handed over in the same poll: the caller skips messages of partitions it does not own.
    public func subscribe(_ topics: [String], onRebalance: @escaping (Rebalance) -> PartitionStarts) throws(KafkaError) {
        context.rebalance.handler = onRebalance
        guard let list = rd_kafka_topic_partition_list_new(Int32(topics.count)) else {
            throw KafkaError(.other, "partition list")
        }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for topic in topics { rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA) }
        let err = rd_kafka_subscribe(handle, list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err, "subscribe to \(topics.joined(separator: ", "))") }
        context.rebalance.subscribed = true
    }

    /// The partitions the group has assigned to this member.
    public var ownedPartitions: Set<TopicPartition> { context.rebalance.owned }

    /// Leaves the group, within `timeout`: the partitions still owned are revoked without calling the
    /// rebalance handler (the owner writes its state before it closes), then the group rebalances without
    /// this member at once instead of after its session timeout. Served here, on this thread, in three
    /// phases of a third of `timeout` each, working around librdkafka 2.0.2:
    /// 1. a member still waiting for its first assignment waits for it (#4381: destroying a cooperative
    ///    consumer between JoinGroup and SyncGroup can crash);
    /// 2. unsubscribe, and serve the queue until every partition is unassigned (#4527: an assignment
    ///    arriving during the close leaves the group waiting for an assign call forever);
    /// 3. `rd_kafka_consumer_close_queue`, served until closed (the blocking close has no deadline:
    ///    #4527, #4187).
    /// When the last phase does not finish, the client is abandoned rather than destroyed (destroying it
    /// would join librdkafka's threads, which may never end): its memory and threads are leaked.
    /// - Throws: ``KafkaError/Code/timedOut`` when the group was not left in time (it then notices this
    ///   member's absence after `session.timeout.ms`); an assign or unassign error of a rebalance served
    ///   meanwhile.
    public func close(timeout: Duration = .seconds(12)) throws(KafkaError) {
        let relay = context.rebalance
        guard relay.subscribed else { return }
        relay.subscribed = false
        relay.closing = true
        let phase = timeout / 3
        var deadline = ContinuousClock.now + phase
        while !relay.everAssigned, ContinuousClock.now < deadline { serveQueue() }
        _ = rd_kafka_unsubscribe(handle)
        deadline = ContinuousClock.now + phase
        while !relay.owned.isEmpty, ContinuousClock.now < deadline { serveQueue() }
        if let error = rd_kafka_consumer_close_queue(handle, queue) { throw Self.take(error, "leave the consumer group") }
        deadline = ContinuousClock.now + phase
        while rd_kafka_consumer_closed(handle) == 0 {
            guard ContinuousClock.now < deadline else {
                relay.abandoned = true
                throw KafkaError(.timedOut, "the consumer group was not left within \(timeout): the group notices after session.timeout.ms")
            }
            serveQueue()
        }
        if let failure = relay.failure { throw failure }
    }

    /// Serves the consumer queue once for up to 100 ms (rebalance callbacks); a message is dropped (its
    /// offset is not committed: it is read again by whoever owns the partition next).
    private func serveQueue() {
        if let message = rd_kafka_consume_queue(queue, 100) { rd_kafka_message_destroy(message) }
    }

    /// Messages (and events) fetched and waiting in the consumer queue, for tests.
    var queuedCount: Int { Int(rd_kafka_queue_length(queue)) }

    /// Serves the main queue (errors, statistics) for up to `milliseconds`: a bounded wait, for tests.
    func serveMainQueue(milliseconds: Int32) { rd_kafka_poll(handle, milliseconds) }

    /// Throws the error an assign or unassign returned inside the rebalance callback.
    func checkRebalance() throws(KafkaError) {
        if let failure = context.rebalance.failure { throw failure }
    }
}

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
    /// `onRebalance` runs on this thread inside ``poll(timeoutMilliseconds:_:afterBatch:)`` and
    /// ``close()``: for ``Rebalance/assigned(_:)`` it returns where each partition starts (missing or nil:
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
    public var ownedPartitions: Set<GroupPartition> { context.rebalance.owned }

    /// Leaves the group: the partitions still owned are revoked through the rebalance handler (which
    /// writes their state), then the group rebalances without this member at once instead of after its
    /// session timeout. A member that never had an assignment only unsubscribes (librdkafka #4381:
    /// closing a cooperative consumer before its first assignment can crash); the group then notices its
    /// absence after `session.timeout.ms`.
    public func close() throws(KafkaError) {
        guard context.rebalance.subscribed else { return }
        context.rebalance.subscribed = false
        guard context.rebalance.everAssigned else {
            _ = rd_kafka_unsubscribe(handle)
            return
        }
        let err = rd_kafka_consumer_close(handle)
        if let failure = context.rebalance.failure { throw failure }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err, "leave the consumer group") }
    }

    /// Throws the error an assign or unassign returned inside the rebalance callback.
    func checkRebalance() throws(KafkaError) {
        if let failure = context.rebalance.failure { throw failure }
    }
}

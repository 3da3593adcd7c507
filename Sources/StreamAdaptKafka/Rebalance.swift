import CRdkafka

/// What a consumer group did to this member's assignment (see ``KafkaConsumer/subscribe(_:onRebalance:)``).
public enum Rebalance: Sendable, Equatable {
    /// The partitions are now this member's: restore their state and say where each starts.
    case assigned([TopicPartition])
    /// The partitions are being taken away in an orderly rebalance: write their state, flush, then return
    /// (they are unassigned when the handler returns; the next owner starts from what was written).
    case revoked([TopicPartition])
    /// The partitions were lost (the session timed out, the member was fenced): another member may
    /// already own them. Drop their state and write nothing for them.
    case lost([TopicPartition])
}

/// Where an assigned partition starts: an offset, or nil for the oldest offset the partition holds.
public typealias PartitionStarts = [TopicPartition: Int64?]

/// Carries the rebalance handler from the consumer to librdkafka's rebalance callback.
///
/// `@unchecked Sendable` because ``ClientContext`` (which is `Sendable`, as it is shared with callbacks
/// that run on librdkafka's threads) holds it, while its handler is an ordinary closure of the consumer's
/// owner. That is safe because librdkafka calls the rebalance callback only from the calls that serve the
/// consumer queue (`rd_kafka_consume_queue`, `rd_kafka_consume_batch_queue`, `rd_kafka_consumer_close`),
/// which only the consumer's owning thread makes (``KafkaConsumer`` is not `Sendable`), and the handler
/// and the fields below are set and read only there. (The relay is reachable from other threads through
/// the context, but no other callback touches it.)
final class RebalanceRelay: @unchecked Sendable {
    var handler: ((Rebalance) -> PartitionStarts)?
    /// Whether the consumer subscribed (it must then leave its group before it is destroyed).
    var subscribed = false
    /// The consumer is leaving its group: rebalances are served without calling the handler.
    var closing = false
    /// The close did not finish: the client must not be destroyed (see ``KafkaConsumer/close(timeout:)``).
    var abandoned = false
    /// Rebalance callbacks served, and the partitions they touched since ``touched`` was last emptied
    /// (for the first message of a poll, taken before a rebalance served in the same poll).
    var served = 0
    var touched: Set<TopicPartition> = []
    /// The first error librdkafka returned to an assign or unassign in the callback (the next poll throws it).
    var failure: KafkaError?
    /// Whether this member was ever assigned partitions (librdkafka #4381: closing a cooperative consumer
    /// that never was can crash, so ``KafkaConsumer/close(timeout:)`` first waits for an assignment).
    var everAssigned = false
    /// The partitions this member owns now.
    var owned: Set<TopicPartition> = []

    /// The rebalance callback's work: calls the handler, then assigns or unassigns incrementally. Only the
    /// cooperative protocol is supported (``KafkaConsumer/groupProperties(group:)``): under the eager one
    /// the next poll throws.
    func rebalance(_ rk: OpaquePointer, _ err: rd_kafka_resp_err_t, _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        guard rd_kafka_rebalance_protocol(rk).map({ String(cString: $0) }) == "COOPERATIVE" else {
            record(KafkaError(.configuration, "the consumer group uses the eager protocol: set partition.assignment.strategy=cooperative-sticky"))
            return
        }
        var partitions: [TopicPartition] = []
        for i in 0..<Int(list.pointee.cnt) {
            let element = list.pointee.elems[i]
            partitions.append(TopicPartition(topic: String(cString: element.topic), partition: element.partition))
        }
        served += 1
        touched.formUnion(partitions)
        if err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS {
            // The cooperative protocol also calls back with empty lists (a round that moves nothing here).
            let starts = partitions.isEmpty || closing ? [:] : handler?(.assigned(partitions)) ?? [:]
            for i in 0..<Int(list.pointee.cnt) {
                let start = starts[partitions[i]] ?? nil
                list.pointee.elems[i].offset = start ?? Int64(RD_KAFKA_OFFSET_BEGINNING)
            }
            everAssigned = true
            owned.formUnion(partitions)
            if let error = rd_kafka_incremental_assign(rk, list) { record(KafkaConsumer.take(error, "incremental assign")) }
        } else {
            let lost = rd_kafka_assignment_lost(rk) != 0
            if !partitions.isEmpty, !closing { _ = handler?(lost ? .lost(partitions) : .revoked(partitions)) }
            owned.subtract(partitions)
            if let error = rd_kafka_incremental_unassign(rk, list) { record(KafkaConsumer.take(error, "incremental unassign")) }
        }
    }

    private func record(_ error: KafkaError) {
        if failure == nil { failure = error }
    }
}

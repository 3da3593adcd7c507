import StreamAdaptKafka

/// Kafka I/O of the state topic (`topics.state`): one partition per input partition, holding
/// ``StateSnapshot`` chunks.
public struct StateTopic: Sendable {
    public let name: String
    /// Client properties for the reader (bootstrap servers and the user's `kafka.properties`).
    let properties: [String: String]

    /// - Parameters:
    ///   - name: the topic.
    ///   - properties: librdkafka client properties, `bootstrap.servers` included.
    public init(name: String, properties: [String: String]) {
        self.name = name
        self.properties = properties
    }

    /// Enqueues a snapshot's records on `producer` (partition = the snapshot's partition), waiting on a
    /// full queue until `until` ends the wait. Delivery is the caller's to wait for (a flush).
    func write(_ snapshot: StateSnapshot, producer: KafkaProducer, until: StopCondition) throws {
        for record in snapshot.records() { try send(record, partition: snapshot.partition, producer: producer, until: until) }
    }

    /// Enqueues the claim of `epoch` for `partition` (``StateSnapshot/claim(partition:epoch:)``).
    func claim(partition: Int32, epoch: UInt64, producer: KafkaProducer, until: StopCondition) throws {
        try send(StateSnapshot.claim(partition: partition, epoch: epoch), partition: partition, producer: producer, until: until)
    }

    /// Enqueues tombstones (null values) for `keys` of `partition`: compaction then removes them.
    func tombstone(_ keys: [String], partition: Int32, producer: KafkaProducer, until: StopCondition) throws {
        for key in keys { try send((key, []), partition: partition, producer: producer, until: until) }
    }

    /// One record (an empty value is sent as a null value, a tombstone).
    private func send(_ record: (key: String, value: [UInt8]), partition: Int32, producer: KafkaProducer, until: StopCondition) throws {
        try record.value.withUnsafeBytes { value in
            try producer.sendWaiting(
                topic: name, partition: partition, key: record.key,
                value: value.isEmpty ? UnsafeRawBufferPointer(start: nil, count: 0) : value, until: until)
        }
    }

    /// The topic's partitions.
    public func partitions(until: StopCondition) throws -> [Int32] {
        try KafkaConsumer(configuration: KafkaConfiguration(properties), batchSize: 1).partitions(of: name, until: until)
    }

    /// Reads partition `partition` from its oldest record to its end (the high watermark when the read
    /// starts) with a consumer of its own.
    /// - Throws: ``KafkaError`` when the partition cannot be read before `until` ends the wait (the topic
    ///   is missing or has fewer partitions: `unknownTopic`).
    public func read(partition: Int32, until: StopCondition) throws -> StateSnapshotReader {
        var reader = StateSnapshotReader(partition: partition)
        var properties = self.properties
        properties["enable.partition.eof"] = "false"
        let consumer = try KafkaConsumer(configuration: KafkaConfiguration(properties), batchSize: 64)
        let partitions = try consumer.partitions(of: name, until: until)
        guard partitions.contains(partition) else {
            throw KafkaError(
                .unknownTopic,
                "state topic \(name) has no partition \(partition) (it has \(partitions.count)): create it with as many partitions as the input topic")
        }
        let marks = try consumer.watermarks(topic: name, partition: partition, until: until)
        guard marks.high > marks.low else { return reader }
        try consumer.assign([(name, partition, marks.low)])
        var next = marks.low
        while next < marks.high {
            if until.shouldStop() { throw KafkaError(.stopped, "stopped while reading state topic \(name) [\(partition)]") }
            if let deadline = until.deadline, ContinuousClock.now >= deadline {
                throw KafkaError(.timedOut, "state topic \(name) [\(partition)]: read to \(next) of \(marks.high) before the deadline")
            }
            let (_, events) = try consumer.poll(timeoutMilliseconds: 100) { message in
                reader.take(message.value, key: message.key)
                next = message.offset + 1
            }
            for case .offsetOutOfRange(let range) in events {
                // Retention removed older records while reading: read on from the oldest still held.
                try consumer.resume(topic: name, partition: partition, at: range.low)
            }
        }
        return reader
    }
}

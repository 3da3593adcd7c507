import CRdkafka

extension KafkaConsumer {
    /// The partition ids of `topic`, from the cluster's metadata, asking again while the cluster is
    /// unreachable until `until` ends the wait (default: 10 s).
    /// - Throws: ``KafkaError/Code/unknownTopic`` at once when the cluster answers that the topic does not
    ///   exist; ``KafkaError/Code/stopped`` on stop; at the deadline the last error seen (e.g.
    ///   ``KafkaError/Code/transport`` or ``KafkaError/Code/allBrokersDown``, the message naming the
    ///   bootstrap address), or ``KafkaError/Code/timedOut`` when there was none.
    public func partitions(of topic: String, until: StopCondition = .timeout(.seconds(10))) throws(KafkaError) -> [Int32] {
        try partitions(of: topic, retryingUntil: until, backoff: KafkaTiming.quickRetry, onRetry: { _ in })
    }

    /// ``partitions(of:until:)`` for a daemon that starts before its broker: each failed attempt is
    /// reported to `onRetry` (what is awaited, the bootstrap address, the attempt, its error and the
    /// delay before the next one; call it to log), then the consumer waits `backoff` (serving its
    /// callbacks) and asks again, until `retryingUntil` ends the wait (a stop, or a deadline such as the
    /// daemon's outage limit; no deadline: wait as long as it takes).
    public func partitions(
        of topic: String, retryingUntil: StopCondition, backoff: Backoff = Backoff(),
        onRetry: (RetryNotice) -> Void
    ) throws(KafkaError) -> [Int32] {
        try retrying("metadata of topic \(topic)", until: retryingUntil, backoff: backoff, onRetry: onRetry) {
            (timeout) throws(KafkaError) -> [Int32] in
            try self.partitionsOnce(of: topic, timeoutMilliseconds: timeout)
        }
    }

    /// The low and high watermarks of a partition, asked of the broker (retried while the cluster is
    /// unreachable, until `until` ends the wait; default 10 s). Compare a stored next offset `n` with
    /// them: `n > high`: the partition holds less than was read (topic re-created or emptied);
    /// `n < low`: input `n..<low` was removed by retention before it was read.
    /// - Throws: as ``partitions(of:until:)``.
    public func watermarks(topic: String, partition: Int32, until: StopCondition = .timeout(.seconds(10)))
        throws(KafkaError) -> Watermarks
    {
        try retrying("watermarks of \(topic) [\(partition)]", until: until, backoff: KafkaTiming.quickRetry, onRetry: { _ in }) {
            (timeout) throws(KafkaError) -> Watermarks in
            var low: Int64 = 0
            var high: Int64 = 0
            let err = rd_kafka_query_watermark_offsets(self.handle, topic, partition, &low, &high, timeout)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, "watermarks of \(topic) [\(partition)] from \(self.bootstrapServers)") }
            return Watermarks(low: low, high: high)
        }
    }

    /// The high watermark of a partition as last seen by the consumer's fetches (no broker round trip);
    /// nil when unknown.
    public func highWatermark(topic: String, partition: Int32) -> Int64? {
        var low: Int64 = 0
        var high: Int64 = 0
        let err = rd_kafka_get_watermark_offsets(handle, topic, partition, &low, &high)
        return err == RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0 ? high : nil
    }

    /// The high watermark of a partition asked of the broker (blocks up to the timeout); nil on error.
    public func queryHighWatermark(topic: String, partition: Int32, timeoutMilliseconds: Int32 = 1000) -> Int64? {
        try? watermarks(topic: topic, partition: partition, until: .timeout(.milliseconds(Int64(timeoutMilliseconds)))).high
    }

    private func partitionsOnce(of topic: String, timeoutMilliseconds: Int32) throws(KafkaError) -> [Int32] {
        guard let rkt = rd_kafka_topic_new(handle, topic, nil) else { throw KafkaError(.other, "topic \(topic)") }
        defer { rd_kafka_topic_destroy(rkt) }
        var metadata: UnsafePointer<rd_kafka_metadata>? = nil
        let err = rd_kafka_metadata(handle, 0, rkt, &metadata, timeoutMilliseconds)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else { throw KafkaError(err, "metadata of topic \(topic) from \(bootstrapServers)") }
        defer { rd_kafka_metadata_destroy(metadata) }
        for t in 0..<Int(metadata.pointee.topic_cnt) {
            let entry = metadata.pointee.topics[t]
            guard String(cString: entry.topic) == topic else { continue }
            if entry.err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(entry.err, "topic \(topic) at \(bootstrapServers)") }
            return (0..<Int(entry.partition_cnt)).map { entry.partitions[$0].id }.sorted()
        }
        throw KafkaError(.unknownTopic, "topic \(topic) not found at \(bootstrapServers)")
    }

    /// Runs `attempt` (given a request timeout in ms) until it succeeds, it fails with an error that
    /// waiting cannot fix, or `until` ends the wait; waits `backoff` between attempts, serving callbacks.
    func retrying<T>(
        _ what: String, until: StopCondition, backoff: Backoff, onRetry: (RetryNotice) -> Void,
        _ attempt: (Int32) throws(KafkaError) -> T
    ) throws(KafkaError) -> T {
        let started = ContinuousClock.now
        var number = 0
        var last: KafkaError?
        func giveUp() throws(KafkaError) {
            let elapsed = Double((ContinuousClock.now - started).milliseconds) / 1000
            let after = "after \(number) attempts in \(elapsed.formatted1) s"
            if until.shouldStop() {
                throw KafkaError(
                    .stopped, "stopped waiting for \(what) from \(bootstrapServers) \(after)\(last.map { "; last error: \($0.message)" } ?? "")",
                    librdkafkaCode: last?.librdkafkaCode)
            }
            if until.isPastDeadline {
                if let last {
                    throw KafkaError(last.code, "\(last.message) (gave up \(after))", librdkafkaCode: last.librdkafkaCode)
                }
                throw KafkaError(.timedOut, "no \(what) from \(bootstrapServers) \(after)")
            }
        }
        while true {
            try giveUp()
            number += 1
            do throws(KafkaError) {
                if let fatal = fatalError { throw fatal }
                return try attempt(max(1, until.sliceMilliseconds(KafkaTiming.requestTimeout)))
            } catch {
                guard error.isRetriable else { throw error }
                last = error
            }
            let delay = backoff.delay(after: number)
            try giveUp()
            onRetry(RetryNotice(what: what, bootstrap: bootstrapServers, attempt: number, error: last!, nextDelay: delay))
            let next = ContinuousClock.now + delay
            while ContinuousClock.now < next {
                try giveUp()
                var slice = StopCondition(deadline: next)
                if let deadline = until.deadline, deadline < next { slice.deadline = deadline }
                rd_kafka_poll(handle, max(0, slice.sliceMilliseconds()))  // serves errors and statistics, never messages
            }
        }
    }
}

extension KafkaTiming {
    /// The timeout of one metadata or watermark request inside a wait: a stop is noticed within it.
    public static let requestTimeout: Duration = .seconds(1)
    /// The backoff of the single bounded waits (``KafkaConsumer/partitions(of:until:)``, watermarks).
    static let quickRetry = Backoff(initial: .milliseconds(200), maximum: .milliseconds(200))
}

extension Double {
    var formatted1: String {
        let tenths = (self * 10).rounded()
        return "\(Int(tenths) / 10).\(abs(Int(tenths)) % 10)"
    }
}

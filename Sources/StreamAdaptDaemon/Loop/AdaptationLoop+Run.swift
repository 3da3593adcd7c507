import StreamAdaptCore
import StreamAdaptKafka

extension AdaptationLoop {
    /// Hooks for tests and tools (internal), called on the loop's thread.
    struct Hooks {
        /// After each message (input or labels topic) is handled, predicted or dead-lettered, with its
        /// position: the order in which the model saw the input.
        var handled: ((TopicPartition, Int64) -> Void)?
        /// At the start of every checkpoint (periodic and final), before the producer is flushed.
        var beforeCheckpoint: (() -> Void)?
        /// After each fold of the shared model, with the heads of the owned partitions (which hold it now).
        var folded: (([Int32: KalmanHead]) -> Void)?
    }

    /// Consumes, handles and publishes until a stop, then flushes and writes a final checkpoint.
    ///
    /// The messages of a poll batch are taken one by one; the valid input events among them are
    /// processed together, in blocks of up to `model.maxBlock` (see ``processBatch()``), and their
    /// outputs are published in message order once their batch is processed.
    ///
    /// Stops are checked before every message is taken: when `shouldStop()` turns true (it is called
    /// once per message and at least every 100 ms while idle) or `maximumEvents` messages have been taken
    /// since the loop was built, no further message is taken; the messages already taken (the pending
    /// events of the batch included) are processed and published first. Messages of the current poll
    /// batch that were not taken do not count as consumed: ``nextOffsets`` stays at the first of them,
    /// so they are read again after a restart (or by the next `run` of this loop, which re-assigns the
    /// partitions there first).
    /// - Parameters:
    ///   - maximumEvents: stop once this many messages have been taken, so that ``handled`` reaches it
    ///     exactly (counted since the loop was built).
    ///   - untilCaughtUp: also stop once every partition has been read to its end (a batch job).
    /// - Throws: a Kafka error (failed delivery, transport), or a checkpoint error; no final checkpoint
    ///   is written then, so offsets never move past an event whose outputs were not delivered. The loop
    ///   is then failed: `run` and ``checkpoint()`` throw ``LoopFailure``; build a new loop (it restores
    ///   the last checkpoint).
    public func run(maximumEvents: Int? = nil, untilCaughtUp: Bool = false, shouldStop: () -> Bool) throws {
        if let failure { throw failure }
        do {
            try consume(maximumEvents: maximumEvents, untilCaughtUp: untilCaughtUp, shouldStop: shouldStop)
        } catch {
            // The messages in hand may be half handled (model updated, outputs not sent) and marked consumed:
            // only a restart from the last checkpoint is consistent.
            var error = error
            if let interrupted = error as? KafkaError, interrupted.code == .stopped {
                // A send given up because the outage outlasted its limit: say so.
                do { try checkOutageLimit() } catch let limit { error = limit }
            }
            failure = LoopFailure(reason: "\(error)")
            throw error
        }
    }

    private func consume(maximumEvents: Int?, untilCaughtUp: Bool, shouldStop: () -> Bool) throws {
        func stopping() -> Bool {
            if let maximumEvents, taken >= maximumEvents { return true }
            return shouldStop()
        }
        if !connected {
            guard try connect(stopping: stopping) else { return }
        }
        if needsRewind { try rewind() }
        if lastCheckpoint == nil { lastCheckpoint = clock() }
        followConnectivity()
        defer { health.setReady(false) }
        var lastLagTime = clock()
        while !stopping() {
            health.beat()
            var unhandled = 0
            let (count, events) = try consumer.poll(timeoutMilliseconds: 100) { message in
                // Once one message of the batch is left, so are all after it (no gap in a partition).
                guard unhandled == 0, !stopping() else {
                    unhandled += 1
                    return
                }
                try handle(message)
            } afterBatch: {
                try processBatch()  // while the batch's messages are still valid
            }
            if let groupFailure { throw groupFailure }
            if unhandled > 0 {
                needsRewind = true
                break
            }
            try handle(events)
            producer.poll()
            followConnectivity()
            try checkDeliveries()
            try checkOutageLimit()
            if untilCaughtUp, count == 0, isCaughtUp() { break }
            if store != nil || group != nil, checkpointIsDue() { try checkpointWhenDelivered(stopping: stopping) }
            if let dashboard, dashboard.isWanted, clock() &- lastDashboard > 500_000_000 { publishDashboard() }
            if clock() &- lastLagTime > 1_000_000_000 {
                lastLagTime = clock()
                recordLag()
                if group != nil { recordSnapshotAge() }
            }
        }
        health.setReady(false)  // no longer consuming: /readyz answers 503 during the final checkpoint
        try checkpoint(flushTimeoutSeconds: configuration.stopTimeoutSeconds)
        if group != nil { try leaveGroup() }
        if dashboard != nil { publishDashboard() }
        logger.info(
            "stopped", metadata: ["handled": "\(handled)", "events": "\(model.eventCount)",
                                  "late-labels-applied": "\(lateLabelsApplied)", "late-labels-unmatched": "\(lateLabelsUnmatched)"])
    }

    /// Every `checkpoint.everyEvents` messages, or `checkpoint.everySeconds` after the last checkpoint
    /// when at least one message was handled since.
    func checkpointIsDue() -> Bool {
        if eventsSinceCheckpoint >= configuration.checkpointEveryEvents { return true }
        guard eventsSinceCheckpoint > 0, let lastCheckpoint else { return false }
        return Double(clock() &- lastCheckpoint) / 1e9 >= configuration.checkpointEverySeconds
    }

    /// Starts every partition again at its next offset (after messages of a batch were left unhandled).
    func rewind() throws {
        if group != nil {
            for p in partitions { try consumer.resume(topic: p.topic, partition: p.partition, at: nextOffsets[p]) }
        } else {
            try consumer.assign(partitions.map { ($0.topic, $0.partition, nextOffsets[$0]) })
        }
        needsRewind = false
    }

    func checkDeliveries() throws {
        if producer.failedCount > 0 {
            throw KafkaError("\(producer.failedCount) output messages could not be delivered: \(producer.lastDeliveryError ?? "?")")
        }
    }

    /// Whether every assigned partition has been read up to the broker's high watermark (a partition
    /// never read counts from its oldest offset, so one emptied by retention is caught up). Each query
    /// gives up after 1 s or on a stop.
    private func isCaughtUp() -> Bool {
        if group != nil, !assignedOnce { return false }
        for p in partitions {
            let wait = StopCondition(deadline: .now + .seconds(1), shouldStop: { [health] in health.isStopping })
            guard let marks = try? consumer.watermarks(topic: p.topic, partition: p.partition, until: wait),
                (nextOffsets[p] ?? marks.low) >= marks.high
            else { return false }
        }
        return true
    }

    private func recordLag() {
        var lag: Int64 = 0
        for p in partitions where p.topic == configuration.inputTopic {
            if let high = consumer.highWatermark(topic: p.topic, partition: p.partition) {
                lag += max(0, high - (nextOffsets[p] ?? 0))
            }
        }
        metrics.consumerLag.record(lag)
        lastLag = lag
        if let threshold = model.scorer?.threshold { metrics.driftThreshold.record(threshold) }
        metrics.modelVersion.record(model.head.updateCount)
        if let lastCheckpoint { metrics.checkpointAge.record(Double(clock() &- lastCheckpoint) / 1e9) }
    }
}

/// The loop stopped on an error and can neither run nor checkpoint again: restart from the last
/// checkpoint (build a new ``AdaptationLoop``).
public struct LoopFailure: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public var description: String { "the adaptation loop stopped on an error (\(reason)); restart it from its last checkpoint" }
}

import Logging
import StreamAdaptCore
import StreamAdaptKafka

/// The loop's side of Kafka: connecting (waiting for the cluster with backoff), checking stored offsets
/// against what the partitions still hold, reacting to gaps while consuming, following the cluster's
/// reachability (log lines, metrics, readiness), and waiting for outputs in flight.
extension AdaptationLoop {
    /// The librdkafka clients of a loop, sharing one connectivity monitor and routing librdkafka's own log
    /// lines into swift-log.
    ///
    /// Unless `kafka.properties` sets it, `reconnect.backoff.max.ms` is 1000 (librdkafka: 10000): a client
    /// retries a lost broker at least every second, so the end of an outage is seen within about 1-2 s
    /// instead of up to 11 s (measured in `anOutageWithOutputsInFlightIsWaitedThroughAndResumed`).
    static func makeClients(
        _ configuration: PipelineConfiguration, connectivity: KafkaConnectivity, logger: Logger
    ) throws -> (KafkaProducer, KafkaConsumer) {
        var kafka = configuration.kafkaProperties
        kafka["bootstrap.servers"] = configuration.bootstrapServers
        if kafka["reconnect.backoff.max.ms"] == nil { kafka["reconnect.backoff.max.ms"] = "1000" }
        let log = librdkafkaLog(logger)
        let producer = try KafkaProducer(configuration: KafkaConfiguration(kafka), connectivity: connectivity, log: log)
        var consumerProperties = kafka
        if let group = configuration.group {
            consumerProperties.merge(KafkaConsumer.groupProperties(group: group)) { user, _ in user }
            consumerProperties["group.id"] = group
        }
        let consumer = try KafkaConsumer(configuration: KafkaConfiguration(consumerProperties), connectivity: connectivity, log: log)
        return (producer, consumer)
    }

    /// librdkafka's log lines (syslog levels) through swift-log, with the client and facility. Connection
    /// loss and recovery are logged by the loop itself, once each (see ``followConnectivity()``), so
    /// librdkafka's own lines about them are at most info.
    static func librdkafkaLog(_ logger: Logger) -> KafkaLogHandler {
        { record in
            let level: Logger.Level
            switch record.level {
            case ...2: level = .critical
            case 3: level = .error
            case 4: level = .warning
            case 5: level = .notice
            case 6: level = .info
            default: level = .debug
            }
            // Transport errors repeat for as long as the broker is down: the loop's own lines say it once.
            let transport = record.facility == "ERROR" || record.facility == "FAIL"
            logger.log(
                level: transport ? min(level, .info) : level, "librdkafka: \(record.message)",
                metadata: ["client": "\(record.client)", "facility": "\(record.facility)"])
        }
    }

    /// Waits for the cluster (with backoff, logging what it waits for), compares the stored offsets with
    /// what each partition still holds (``OffsetGapPolicy``), and assigns every partition. Gives up on
    /// stop (returns false) or after `kafka.outageLimitSeconds` (throws).
    func connect(stopping: () -> Bool) throws -> Bool {
        try withoutActuallyEscaping(stopping) { stopping in
            let wait = StopCondition(
                deadline: configuration.outageLimitSeconds > 0 ? .now + .seconds(configuration.outageLimitSeconds) : nil,
                shouldStop: { [health] in
                    health.beat()  // waiting for the cluster is progress, not a stall
                    return stopping()
                })
            var found: [TopicPartition] = []
            do {
                // (A control topic that is the input topic is the input topic: subscribed once.)
                let control = configuration.controlTopic.flatMap { $0 == configuration.inputTopic ? nil : $0 }
                let topics = [configuration.inputTopic] + [configuration.labelsTopic, control].compactMap { $0 }
                for topic in topics {
                    let ids = try consumer.partitions(of: topic, retryingUntil: wait) { notice in
                        logger.warning(
                            "waiting for the Kafka cluster", metadata: [
                                "bootstrap": "\(notice.bootstrap)", "for": "\(notice.what)", "attempt": "\(notice.attempt)",
                                "error": "\(notice.error.message)", "next-try-in": "\(notice.nextDelay)",
                            ])
                    }
                    found += ids.map { TopicPartition(topic: topic, partition: $0) }
                }
                for p in found {
                    guard let stored = nextOffsets[p] else { continue }
                    let marks = try consumer.watermarks(topic: p.topic, partition: p.partition, until: wait)
                    if let gap = OffsetGap(partition: p, stored: stored, low: marks.low, high: marks.high) {
                        try accept(gap)
                    }
                }
            } catch let error as KafkaError where error.code == .stopped {
                logger.notice("stopped while waiting for the Kafka cluster", metadata: ["bootstrap": "\(configuration.bootstrapServers)"])
                return false
            } catch let error as KafkaError where wait.deadline.map({ ContinuousClock.now >= $0 }) ?? false {
                throw KafkaError(
                    error.code,
                    "the Kafka cluster at \(configuration.bootstrapServers) did not answer within kafka.outageLimitSeconds (\(Self.seconds(configuration.outageLimitSeconds)) s): \(error.message)",
                    librdkafkaCode: error.librdkafkaCode)
            }
            if group != nil {
                try subscribe()  // partitions come with the group's assignments
            } else {
                partitions = found
                try consumer.assign(partitions.map { ($0.topic, $0.partition, nextOffsets[$0]) })
            }
            connected = true
            // The start was logged as a wait ("waiting for the Kafka cluster"), not as an outage: forget the
            // losses the clients reported meanwhile. The producer's are served only now (its callbacks run
            // in its own polls). A client that has not proven the cluster back yet keeps readiness off.
            producer.poll()
            _ = connectivity.takeEvents()
            followConnectivity()
            logger.info(
                "consuming", metadata: ["topic": "\(configuration.inputTopic)", "partitions": "\(partitions)",
                                        "offsets": "\(nextOffsets)", "head": "\(model.head.name)",
                                        "classes": "\(classes.count)", "dimension": "\(classes.dimension)"])
            return true
        }
    }

    /// Applies `input.offsetGaps` to a gap: `refuse` throws ``OffsetGapError``; `accept` logs it, counts
    /// it and moves the partition's next offset to the oldest offset it still holds.
    func accept(_ gap: OffsetGap) throws(OffsetGapError) {
        metrics.offsetGaps(gap.kind.rawValue).increment()
        // Delayed labels expire by design (a label whose event left the cache is dropped anyway): a gap in
        // the labels topic is always logged, counted and skipped; the policy is for the input topic.
        let isInput = gap.partition.topic == configuration.inputTopic
        guard configuration.offsetGaps == .accept || !isInput else { throw OffsetGapError(gap) }
        logger.warning(
            isInput ? "input gap accepted (input.offsetGaps: accept)" : "labels gap skipped (labels topic)", metadata: [
                "kind": "\(gap.kind.rawValue)", "partition": "\(gap.partition)", "stored-offset": "\(gap.stored)",
                "oldest-offset": "\(gap.low)", "end-offset": "\(gap.high)", "continues-at": "\(gap.low)",
            ])
        nextOffsets[gap.partition] = gap.low
    }

    /// Acts on what the consumer reported besides messages: a gap found while consuming (input removed by
    /// retention before it was read) follows `input.offsetGaps`; a fatal error stops the loop; other errors
    /// are transient (librdkafka retries; reachability is followed by ``followConnectivity()``).
    func handle(_ events: [KafkaConsumerEvent]) throws {
        for event in events {
            switch event {
            case .offsetOutOfRange(let range):
                // In a group: a partition revoked meanwhile is none of this member's business.
                if group != nil, lanes[range.partition] == nil { continue }
                let p = TopicPartition(topic: range.topic, partition: range.partition)
                let stored = nextOffsets[p] ?? range.offset
                var marks = range.low.flatMap { low in range.high.map { Watermarks(low: low, high: $0) } }
                if marks == nil {
                    // Asked of the broker (bounded, stop-aware); when it cannot say, no gap is guessed: the loop
                    // stops and a restart checks the offsets against the watermarks at connect.
                    do {
                        marks = try consumer.watermarks(
                            topic: p.topic, partition: p.partition,
                            until: .timeout(.seconds(10), shouldStop: { [health] in health.isStopping }))
                    } catch {
                        throw KafkaError(
                            .offsetOutOfRange,
                            "\(range); its watermarks are unknown (\(error.message)): restart to check the stored offsets against them")
                    }
                }
                guard let marks, let gap = OffsetGap(partition: p, stored: stored, low: marks.low, high: marks.high) else {
                    // The offset is in the partition after all (the report raced a change): read on from it.
                    logger.notice(
                        "offset reported out of range is within the partition: reading on from it",
                        metadata: ["partition": "\(p)", "offset": "\(stored)", "report": "\(range)"])
                    try consumer.resume(topic: p.topic, partition: p.partition, at: stored)
                    continue
                }
                try accept(gap)
                try consumer.resume(topic: p.topic, partition: p.partition, at: nextOffsets[p])
            case .error(let error):
                if error.code == .fatal { throw error }
                logger.debug("consumer error (librdkafka retries)", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Logs one line when the cluster becomes unreachable and one when it is back, counts outages, keeps
    /// readiness truthful (503 while unreachable) and ends the loop when an outage outlasts
    /// `kafka.outageLimitSeconds` (when set).
    ///
    /// An outage ends when every client has proven the cluster back. A client learns of a loss only when
    /// its callbacks are served: the consumer's only in its poll. While the loop waits for outputs it does
    /// not poll the consumer, whose loss report is then still queued; ending the outage on the producer's
    /// word would log and count that stale report as a second outage. So an outage ends only on a call
    /// made after a consumer poll (`consumerServed`).
    /// - Parameters:
    ///   - consumerServed: the consumer's callbacks were served since the last call (the run loop's poll).
    ///   - consuming: the loop is consuming (false during the final checkpoint: readiness stays off).
    func followConnectivity(consumerServed: Bool = true, consuming: Bool = true) {
        let events = connectivity.takeEvents()
        if outageStarted == nil, let lost = events.first(where: { $0.kind == .lost }) {
            outageStarted = clock()
            metrics.brokerOutages.increment()
            logger.warning(
                "Kafka cluster unreachable: outputs wait in the producer, readiness is off until it is back",
                metadata: ["bootstrap": "\(lost.bootstrap)", "client": "\(lost.client)", "reason": "\(lost.reason)"])
        }
        let up = connectivity.state == .up
        if let started = outageStarted, up, consumerServed {
            outageStarted = nil
            let seconds = Double(clock() &- started) / 1e9
            let restored = events.last { $0.kind == .restored }
            logger.notice(
                "Kafka cluster reachable again", metadata: [
                    "bootstrap": "\(restored?.bootstrap ?? configuration.bootstrapServers)",
                    "client": "\(restored?.client ?? "all")", "outage-seconds": "\(Self.seconds(seconds))",
                ])
        }
        let reachable = outageStarted == nil && connectivity.state != .down
        metrics.brokerReachable.record(reachable ? 1 : 0)
        health.setReady(connected && consuming && reachable && !health.isStopping)
    }

    /// Throws when the cluster has been unreachable for longer than `kafka.outageLimitSeconds` (0: never).
    func checkOutageLimit() throws {
        guard configuration.outageLimitSeconds > 0, let outageStarted else { return }
        let seconds = Double(clock() &- outageStarted) / 1e9
        if seconds > configuration.outageLimitSeconds {
            throw KafkaError(
                .allBrokersDown,
                "the Kafka cluster at \(configuration.bootstrapServers) has been unreachable for \(Int(seconds)) s, longer than kafka.outageLimitSeconds (\(Self.seconds(configuration.outageLimitSeconds)) s)")
        }
    }

    /// Waits until every output enqueued so far is delivered (or failed), following reachability and
    /// beating the health check meanwhile.
    /// - Parameters:
    ///   - limit: seconds to wait at most (0: no limit).
    ///   - consuming: a periodic checkpoint of a consuming loop (an outage longer than
    ///     `kafka.outageLimitSeconds` ends the wait with an error); false for the final checkpoint
    ///     (readiness stays off).
    ///   - stopping: ends the wait early; then returns false (outputs stay queued).
    /// - Returns: true when nothing is in flight any more.
    /// - Throws: ``KafkaError/Code/timedOut`` past `limit` (naming `setting`); the outage limit; fatal
    ///   producer errors.
    func waitForOutputs(limit: Double, setting: String, consuming: Bool, stopping: () -> Bool) throws -> Bool {
        let end = limit > 0 ? ContinuousClock.now + .seconds(limit) : nil
        return try withoutActuallyEscaping(stopping) { stopping in
            while true {
                // Slices of at most 1 s, the last one ending at the limit; the flush asks `stopping` every
                // 200 ms (KafkaTiming.stopCheckInterval).
                let slice = StopCondition(deadline: min(.now + .seconds(1), end ?? .now + .seconds(1)), shouldStop: stopping)
                let left: Int
                do {
                    left = try producer.flush(until: slice)
                } catch let error as KafkaError where error.code == .stopped {
                    return false
                }
                health.beat()
                followConnectivity(consumerServed: false, consuming: consuming)
                if left == 0 { return true }
                if stopping() { return false }
                if consuming { try checkOutageLimit() }
                if let end, ContinuousClock.now >= end {
                    throw KafkaError(
                        .timedOut,
                        "\(producer.inFlight) outputs still undelivered to \(configuration.bootstrapServers) after \(Self.seconds(limit)) s (\(setting))")
                }
            }
        }
    }

    /// How long a send waits when the producer's queue is full (the cluster is slow or unreachable):
    /// until a stop (SIGTERM) or `kafka.outageLimitSeconds`; meanwhile the health check keeps beating and
    /// reachability is followed (readiness off during an outage, the loss logged).
    /// A send blocked on a full queue ends on a stop request, or once the current outage (counted from its
    /// start, as ``checkOutageLimit()`` does) outlasts `kafka.outageLimitSeconds`; ``run`` then reports
    /// the outage limit, not the interrupted send.
    func makeOutputWait() -> StopCondition {
        StopCondition(
            shouldStop: { [unowned self] in
                health.beat()
                followConnectivity(consumerServed: false)
                return health.isStopping || (try? checkOutageLimit()) == nil
            })
    }

    /// Seconds for messages: `2` for 2.0, `0.5` for 0.5 (one decimal).
    static func seconds(_ value: Double) -> String {
        let tenths = (value * 10).rounded()
        return tenths.truncatingRemainder(dividingBy: 10) == 0 ? "\(Int(tenths / 10))" : "\(tenths / 10)"
    }
}

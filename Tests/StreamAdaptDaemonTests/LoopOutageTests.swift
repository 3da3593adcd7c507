import Foundation
import StreamAdaptKafka
import Testing

@testable import StreamAdaptDaemon

extension KafkaLifecycleTests {
    /// The broker goes down while the loop has outputs in flight: the loop waits (readiness off, one log
    /// line and one count per outage), resumes when it is back and loses or repeats nothing; a stop
    /// during the outage is bounded by `kafka.stopTimeoutSeconds` and writes no checkpoint.
    @Suite struct Outage {
        @Test func anOutageWithOutputsInFlightIsWaitedThroughAndResumed() throws {
            _ = TestMetrics.registry
            let fixture = try LoopFixture()
            try fixture.produceJSON(SyntheticStream.events(40))
            let outages = TestMetrics.value("streamadapt_broker_outages_total")
            let logs = LogCapture()
            let health = HealthState()
            let handled = Shared(0)
            let downAt = Shared<ContinuousClock.Instant?>(nil)
            let broker = fixture.broker
            let stopTimeout = 2.0
            let loop = try fixture.loop(health: health, logger: logs.logger()) {
                $0.checkpointEveryEvents = 10
                $0.stopTimeoutSeconds = stopTimeout
            }
            loop.hooks.handled = { _, _ in
                handled.update { $0 += 1 }
                if handled.get() == 5 {
                    broker.setDown()  // the rest of the fetched batch is handled with its outputs undelivered
                    downAt.update { $0 = .now }
                }
            }
            let run = BackgroundRun(loop) { health.isStopping }
            #expect(waitUntil { logs.count("Kafka cluster unreachable") == 1 && !health.isReady }, "\(logs.all.map(\.message))")
            let lost = try #require(logs.lines(containing: "Kafka cluster unreachable").first)
            let down = try #require(downAt.get())
            #expect(lost.level == .warning)
            #expect(lost.metadata["bootstrap"] == broker.bootstrapServers)
            // The outage lasts longer than kafka.stopTimeoutSeconds: the periodic checkpoint's wait is not
            // bounded by it. (This sleep defines the outage's length; it synchronises nothing.)
            Thread.sleep(forTimeInterval: stopTimeout + 3)
            #expect(run.isRunning)
            #expect(!health.isReady)
            #expect(fixture.storedCheckpointBytes() == nil)  // the due checkpoint waits for the outputs
            let up = ContinuousClock.now
            broker.setUp()
            #expect(waitUntil(seconds: 60) { health.isReady }, "not ready again after the outage")
            let ready = ContinuousClock.now
            #expect(waitUntil { handled.get() == 40 })
            // Every output delivered: the periodic checkpoint got written at the end of the input.
            #expect(waitUntil {
                (fixture.storedCheckpointBytes().flatMap { try? storedOffsets($0, configuration: fixture.configuration).offsets }) == [0: 40]
            })
            let back = try #require(logs.lines(containing: "Kafka cluster reachable again").first)
            print("measured: outage detected \((lost.at - down).seconds) s after set_down; reachable again \((back.at - up).seconds) s, ready \((ready - up).seconds) s after set_up")
            #expect(health.isReady)
            health.requestStop()
            try #require(run.wait()).get()

            // Every event exactly once.
            let predictions = try fixture.read("predictions").map(Prediction.init)
            #expect(predictions.map(\.id) == (0..<40).map { "e\($0)" })
            // One line when lost, one when back, one outage counted.
            #expect(logs.count("Kafka cluster unreachable") == 1, "\(logs.all.map(\.message))")
            #expect(logs.count("Kafka cluster reachable again") == 1)
            #expect(Double(back.metadata["outage-seconds"] ?? "") ?? 0 >= stopTimeout + 3)
            #expect(TestMetrics.value("streamadapt_broker_outages_total") == outages + 1)
            #expect(TestMetrics.value("streamadapt_broker_reachable") == 1)
        }

        /// A loop with a checkpoint at next offset 10, handling events 10..<40 with the broker taken down
        /// at its `downAfter`-th event.
        func loopLosingItsBroker(
            _ fixture: LoopFixture, health: HealthState, logs: LogCapture, downAfter: Int,
            _ change: @escaping (inout PipelineConfiguration) -> Void
        ) throws -> (AdaptationLoop, [UInt8]) {
            let events = SyntheticStream.events(40)
            try fixture.produceJSON(Array(events[..<10]))
            try fixture.loop().run(maximumEvents: 10) { false }
            let checkpoint = try #require(fixture.storedCheckpointBytes())
            try fixture.produceJSON(Array(events[10...]))
            let loop = try fixture.loop(health: health, logger: logs.logger(), change)
            let handled = Shared(0)
            let broker = fixture.broker
            loop.hooks.handled = { _, _ in
                handled.update { $0 += 1 }
                if handled.get() == downAfter { broker.setDown() }
            }
            return (loop, checkpoint)
        }

        @Test func aStopDuringAnOutageEndsWithinTheStopTimeoutWithoutACheckpoint() throws {
            let fixture = try LoopFixture()
            let health = HealthState()
            let logs = LogCapture()
            let stopTimeout = 2.0
            let (loop, checkpoint) = try loopLosingItsBroker(fixture, health: health, logs: logs, downAfter: 3) {
                $0.checkpointEveryEvents = 5  // due at once: the stop comes during the periodic checkpoint's wait
                $0.stopTimeoutSeconds = stopTimeout
            }
            let run = BackgroundRun(loop) { health.isStopping }
            #expect(waitUntil { logs.count("Kafka cluster unreachable") == 1 && !health.isReady })
            let stop = ContinuousClock.now
            health.requestStop()
            let outcome = try #require(run.wait(seconds: stopTimeout + 20), "no end within the stop timeout + 20 s")
            let took = ((run.end ?? .now) - stop).seconds
            print("measured: stop during an outage ended run after \(took) s (kafka.stopTimeoutSeconds: \(stopTimeout))")
            #expect(took >= stopTimeout)  // the final flush waited for the outputs that long
            #expect(took < stopTimeout + 3)  // and no longer (a stop is noticed within 200 ms; margin for a busy machine)
            guard case .failure(let error) = outcome else {
                Issue.record("run ended without an error although outputs were undelivered")
                return
            }
            #expect((error as? KafkaError)?.code == .timedOut, "\(error)")
            #expect("\(error)".contains("kafka.stopTimeoutSeconds"), "\(error)")
            #expect("\(error)".contains(fixture.broker.bootstrapServers), "\(error)")
            #expect(fixture.storedCheckpointBytes() == checkpoint)  // the previous checkpoint stands
            #expect(!health.isReady)
            fixture.broker.setUp()
        }

        @Test func aSendBlockedOnAFullQueueGivesUpOnStop() throws {
            let fixture = try LoopFixture()
            let health = HealthState()
            let logs = LogCapture()
            let (loop, checkpoint) = try loopLosingItsBroker(fixture, health: health, logs: logs, downAfter: 1) {
                $0.kafkaProperties = ["queue.buffering.max.messages": "3"]
            }
            let handled = Shared(0)
            let previous = loop.hooks.handled
            loop.hooks.handled = {
                previous?($0, $1)
                handled.update { $0 += 1 }
            }
            let run = BackgroundRun(loop) { health.isStopping }
            // The queue holds 3 outputs: handling stops at the 4th or 5th event, blocked in its send.
            #expect(waitUntil { logs.count("Kafka cluster unreachable") == 1 && !health.isReady }, "\(logs.all.map(\.message))")
            let blockedAt = handled.get()
            #expect(waitUntil(seconds: 2) { handled.get() > blockedAt } == false)  // blocked: no more events are handled
            #expect(blockedAt <= 5)
            #expect(run.isRunning)
            let stop = ContinuousClock.now
            health.requestStop()
            let outcome = try #require(run.wait(seconds: 20), "a blocked send ignored the stop")
            print("measured: a send blocked on a full queue gave up \(((run.end ?? .now) - stop).seconds) s after the stop")
            guard case .failure(let error) = outcome else {
                Issue.record("run ended without an error although an output was not sent")
                return
            }
            #expect((error as? KafkaError)?.code == .stopped, "\(error)")
            #expect("\(error)".contains("room in the producer queue"), "\(error)")
            #expect(fixture.storedCheckpointBytes() == checkpoint)
            fixture.broker.setUp()
        }

        @Test func anOutageLongerThanTheLimitEndsTheLoopWithoutACheckpoint() throws {
            let fixture = try LoopFixture()
            let health = HealthState()
            let logs = LogCapture()
            let (loop, checkpoint) = try loopLosingItsBroker(fixture, health: health, logs: logs, downAfter: 3) {
                $0.checkpointEveryEvents = 5  // the outage is waited through in the periodic checkpoint
                $0.outageLimitSeconds = 2
            }
            let run = BackgroundRun(loop) { health.isStopping }
            #expect(waitUntil { logs.count("Kafka cluster unreachable") == 1 })
            let lost = try #require(logs.lines(containing: "Kafka cluster unreachable").first).at
            let outcome = try #require(run.wait(seconds: 30), "an outage outlasted kafka.outageLimitSeconds: 2 by 30 s")
            let took = ((run.end ?? .now) - lost).seconds
            print("measured: outage limit 2 s ended the loop \(took) s after the loss was logged")
            #expect(took >= 2)
            guard case .failure(let error) = outcome else {
                Issue.record("run ended without an error")
                return
            }
            #expect((error as? KafkaError)?.code == .allBrokersDown, "\(error)")
            #expect("\(error)".contains("longer than kafka.outageLimitSeconds (2 s)"), "\(error)")
            #expect("\(error)".contains(fixture.broker.bootstrapServers), "\(error)")
            #expect(fixture.storedCheckpointBytes() == checkpoint)
            #expect(!health.isReady)
            fixture.broker.setUp()
        }

        /// An outage while the loop is idle (nothing in flight, polling): one line and one count each way,
        /// readiness off and on again, and the loop consumes what was produced after the outage.
        @Test func anIdleLoopReportsTheOutageOnceAndResumes() throws {
            _ = TestMetrics.registry
            let fixture = try LoopFixture()
            try fixture.produceJSON(Array(SyntheticStream.events(10)[..<5]))
            let outages = TestMetrics.value("streamadapt_broker_outages_total")
            let logs = LogCapture()
            let health = HealthState()
            let handled = Shared(0)
            let loop = try fixture.loop(health: health, logger: logs.logger())
            loop.hooks.handled = { _, _ in handled.update { $0 += 1 } }
            let run = BackgroundRun(loop) { health.isStopping }
            #expect(waitUntil { handled.get() == 5 && health.isReady })
            let down = ContinuousClock.now
            fixture.broker.setDown()
            #expect(waitUntil { logs.count("Kafka cluster unreachable") == 1 && !health.isReady })
            let lost = ContinuousClock.now
            #expect(run.isRunning)
            let up = ContinuousClock.now
            fixture.broker.setUp()
            #expect(waitUntil { health.isReady && logs.count("Kafka cluster reachable again") == 1 })
            print("measured (idle loop): outage seen \((lost - down).seconds) s after set_down, ready again \((ContinuousClock.now - up).seconds) s after set_up")
            try fixture.produceJSON(Array(SyntheticStream.events(10)[5...]))
            #expect(waitUntil { handled.get() == 10 })
            health.requestStop()
            try #require(run.wait()).get()
            #expect(try fixture.read("predictions").map(Prediction.init).map(\.id) == (0..<10).map { "e\($0)" })
            #expect(logs.count("Kafka cluster unreachable") == 1, "\(logs.all.map(\.message))")
            #expect(logs.count("Kafka cluster reachable again") == 1)
            #expect(TestMetrics.value("streamadapt_broker_outages_total") == outages + 1)
        }
    }
}

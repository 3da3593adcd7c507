import Foundation
import StreamAdaptKafka
import Testing

@testable import StreamAdaptDaemon

extension KafkaLifecycleTests {
    /// A loop started while nothing answers at its bootstrap address waits with backoff, says what it
    /// waits for, is not ready, and honours a stop; `kafka.outageLimitSeconds` bounds the wait.
    @Suite struct StartWithoutBroker {
        @Test func waitsLoggingTheAddressAndEndsOnStop() throws {
            let fixture = try LoopFixture()
            let logs = LogCapture()
            let health = HealthState()
            let loop = try fixture.loop(health: health, logger: logs.logger()) { $0.bootstrapServers = "127.0.0.1:1" }
            let run = BackgroundRun(loop) { health.isStopping }
            // Retries: at least two attempts logged, each naming the address and what is awaited.
            #expect(waitUntil(seconds: 20) { logs.count("waiting for the Kafka cluster") >= 2 }, "\(logs.all.map(\.message))")
            let waiting = logs.lines(containing: "waiting for the Kafka cluster")
            #expect(waiting.allSatisfy { $0.metadata["bootstrap"] == "127.0.0.1:1" && $0.level == .warning })
            #expect(waiting.first?.metadata["for"] == "metadata of topic in")
            #expect(waiting.prefix(2).map { $0.metadata["attempt"] } == ["1", "2"])
            #expect(waiting.first?.metadata["next-try-in"] == "0.5 seconds")
            #expect(!health.isReady)
            #expect(run.isRunning)

            let stop = ContinuousClock.now
            health.requestStop()
            let outcome = try #require(run.wait(seconds: 10), "run did not end within 10 s of the stop")
            #expect(throws: Never.self) { try outcome.get() }
            print("measured: stop while waiting for the cluster honoured in \(((run.end ?? .now) - stop).seconds) s")
            #expect(logs.count("stopped while waiting for the Kafka cluster") == 1)
            #expect(logs.lines(containing: "stopped while waiting").first?.metadata["bootstrap"] == "127.0.0.1:1")
            #expect(fixture.storedCheckpointBytes() == nil)  // nothing consumed: no checkpoint written
            #expect(!health.isReady)
        }

        @Test func givesUpAfterTheOutageLimitNamingTheAddressAndTheSetting() throws {
            let fixture = try LoopFixture()
            let health = HealthState()
            let loop = try fixture.loop(health: health) {
                $0.bootstrapServers = "127.0.0.1:1"
                $0.outageLimitSeconds = 1
            }
            let run = BackgroundRun(loop) { health.isStopping }
            let outcome = try #require(run.wait(seconds: 20), "still waiting 20 s after start with kafka.outageLimitSeconds: 1")
            guard case .failure(let error) = outcome else {
                Issue.record("run returned without an error")
                return
            }
            let text = "\(error)"
            #expect(text.contains("127.0.0.1:1"), "\(text)")
            #expect(text.contains("kafka.outageLimitSeconds (1 s)"), "\(text)")
            #expect(error is KafkaError)
            let duration = try #require(run.duration)
            print("measured: gave up after \(duration) s with kafka.outageLimitSeconds: 1: \(text)")
            #expect(duration >= 1)  // not before the limit
            #expect(!health.isReady)
            #expect(fixture.storedCheckpointBytes() == nil)
        }

        @Test func aLoopStartedBeforeItsBrokerConsumesOnceItIsUp() throws {
            let fixture = try LoopFixture()
            try fixture.produceJSON(SyntheticStream.events(10))
            fixture.broker.setDown()
            _ = TestMetrics.registry
            let outagesBefore = TestMetrics.value("streamadapt_broker_outages_total")
            let logs = LogCapture()
            let health = HealthState()
            let handled = Shared(0)
            let loop = try fixture.loop(health: health, logger: logs.logger())
            loop.hooks.handled = { _, _ in handled.update { $0 += 1 } }
            let run = BackgroundRun(loop) { health.isStopping }
            #expect(waitUntil { logs.count("waiting for the Kafka cluster") >= 1 })
            #expect(logs.lines(containing: "waiting for the Kafka cluster").first?.metadata["bootstrap"] == fixture.broker.bootstrapServers)
            #expect(!health.isReady)
            #expect(handled.get() == 0)

            let up = ContinuousClock.now
            fixture.broker.setUp()
            #expect(waitUntil { handled.get() == 10 }, "handled \(handled.get()) of 10")
            let consumed = ContinuousClock.now
            #expect(waitUntil { health.isReady }, "not ready while consuming")
            print("measured: broker up -> 10 events handled in \((consumed - up).seconds) s, ready after \((ContinuousClock.now - up).seconds) s")
            health.requestStop()
            try #require(run.wait()).get()

            let predictions = try fixture.read("predictions")
            #expect(predictions.map(\.keyString) == (0..<10).map { "e\($0)" })
            #expect(try storedOffsets(try #require(fixture.storedCheckpointBytes()), configuration: fixture.configuration).offsets == [0: 10])
            // The start was logged as a wait ("waiting for the Kafka cluster"), not as an outage.
            #expect(logs.count("Kafka cluster unreachable") == 0, "\(logs.all.map(\.message))")
            #expect(logs.count("Kafka cluster reachable again") == 0)
            #expect(TestMetrics.value("streamadapt_broker_outages_total") == outagesBefore)
        }
    }
}

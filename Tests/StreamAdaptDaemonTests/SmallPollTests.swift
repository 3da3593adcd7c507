import StreamAdaptCore
import Testing

@testable import StreamAdaptDaemon

/// A poll too small for a block (a trickle) goes through the model event by event, each event published
/// before the next is decoded, whatever `model.maxBlock`; a backlog still goes in blocks (docs/operations.md).
@Suite struct SmallPollTests {
    init() { BLAS.setThreads(1) }

    @Test func smallPollsGoEventByEventAndBacklogsInBlocks() throws {
        let fixture = try LoopFixture()
        #expect(fixture.configuration.maximumBlock == StreamModel.defaultMaximumBlock)
        let loop = try fixture.loop()
        // At each event's outputs: the events held by the batch, and the size of the poll that took it.
        var seen: [(batch: Int, poll: Int)] = []
        loop.observer = { [unowned loop] _ in seen.append((loop.batch.count, loop.consumer.currentBatchCount)) }

        let events = SyntheticStream.events(105)
        try fixture.produceJSON(Array(events.prefix(5)))
        try loop.run(untilCaughtUp: true) { false }
        #expect(seen.count == 5)
        #expect(seen.allSatisfy { $0.batch == 1 }, "\(seen)")
        // (The five events came in polls of more than one, or the check above proves nothing.)
        #expect(seen.contains { $0.poll > 1 }, "\(seen)")

        seen = []
        try fixture.produceJSON(Array(events.suffix(100)))
        try loop.run(untilCaughtUp: true) { false }
        #expect(seen.count == 100)
        #expect(seen.contains { $0.batch >= StreamModel.defaultMinimumBlock }, "a backlog went in blocks: \(seen.map(\.batch))")
        #expect(seen.allSatisfy { $0.poll >= StreamModel.defaultMinimumBlock || $0.batch == 1 })
    }
}

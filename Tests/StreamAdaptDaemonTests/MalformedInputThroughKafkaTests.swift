import Foundation
import StreamAdaptCore
import StreamAdaptKafka
import Testing

@testable import StreamAdaptDaemon

/// The decoder's whole table of refused inputs (``MalformedInputCases``) sent through the embedded
/// broker between valid events: each is one dead letter with its code and byte offset, the daemon
/// keeps running, and the valid events' predictions are exactly those of a run without the bad input
/// (nothing of it reached the model).
@Suite(.serialized) struct MalformedInputThroughKafkaTests {
    // One OpenBLAS thread, as the daemon runs (and as the other loop suites set it): the two runs
    // compared here must not see the thread count change between them, which changes the rounding.
    init() { BLAS.setThreads(1) }

    /// The prediction without its input position (offsets differ between the two runs).
    func positionFree(_ record: OutputRecord) -> String {
        var json = record.json
        json["offset"] = nil
        json["partition"] = nil
        let data = try? JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])
        return data.map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    @Test func everyRefusedCaseIsOneDeadLetterAndTheValidEventsAreUntouched() throws {
        let cases = MalformedInputCases.cases
        #expect(cases.count >= 60)
        let events = SyntheticStream.events(120)

        // With the bad input: after valid event i, the cases whose index is i (mod events.count).
        let mixed = try LoopFixture()
        mixed.configuration.maximumBlock = 1  // compared byte for byte with the clean run, whose batches differ
        var records: [(key: [UInt8]?, value: [UInt8], partition: Int32?, headers: [(String, [UInt8])])] = []
        var badOffsets: [Int64] = []
        for (i, event) in events.enumerated() {
            records.append((Array(event.id.utf8), SyntheticStream.json(event), 0, []))
            for c in stride(from: i, to: cases.count, by: events.count) {
                badOffsets.append(Int64(records.count))
                records.append((nil, cases[c].bytes, 0, []))
            }
        }
        try mixed.produce(records)
        let loop = try mixed.loop()
        try loop.run(untilCaughtUp: true) { false }
        #expect(loop.handled == records.count)
        #expect(loop.model.eventCount == events.count)

        let dead = try mixed.read("dead")
        #expect(dead.count == cases.count)
        let bySource = Dictionary(uniqueKeysWithValues: dead.map { (Int64($0.header("streamadapt-source-offset") ?? "") ?? -1, $0) })
        #expect(Set(bySource.keys) == Set(badOffsets))
        var caseAtOffset: [Int64: Int] = [:]
        var n = 0
        for (i, _) in events.enumerated() {
            for c in stride(from: i, to: cases.count, by: events.count) {
                caseAtOffset[badOffsets[n]] = c
                n += 1
            }
        }
        for (offset, c) in caseAtOffset {
            let letter = try #require(bySource[offset], "no dead letter for \(cases[c].name)")
            #expect(letter.header("streamadapt-reason") == cases[c].code.rawValue, "\(cases[c].name)")
            let text = letter.header("streamadapt-error") ?? ""
            #expect(text.contains("byte \(cases[c].offset)"), "\(cases[c].name): \(text)")
            #expect(letter.value == cases[c].bytes, "\(cases[c].name): value not forwarded unchanged")
            #expect(!letter.headers.contains { $0.1.contains { $0 < 0x20 } }, "\(cases[c].name): raw control byte in a header")
        }

        // Without it: the same valid events alone.
        let clean = try LoopFixture()
        clean.configuration.maximumBlock = 1
        try clean.produceJSON(events)
        let reference = try clean.loop()
        try reference.run(untilCaughtUp: true) { false }
        #expect(try clean.read("dead").isEmpty)

        let withBad = try mixed.read("predictions")
        let without = try clean.read("predictions")
        #expect(withBad.count == events.count)
        #expect(withBad.map(\.keyString) == events.map(\.id))
        #expect(withBad.map(positionFree) == without.map(positionFree))
        #expect(stateBytes(loop.model) == stateBytes(reference.model))
    }

    /// The issue's crash: an 800 KB event whose ignored field nests 400,000 arrays. Through the broker it
    /// is one `too-deep` dead letter (value forwarded whole), and the daemon goes on with the next event.
    @Test func deepNestingThroughTheBrokerIsOneDeadLetter() throws {
        let fixture = try LoopFixture()
        let events = SyntheticStream.events(3)
        let depth = 400_000
        var deep = Array(#"{"x":"#.utf8)
        deep += [UInt8](repeating: UInt8(ascii: "["), count: depth) + [UInt8](repeating: UInt8(ascii: "]"), count: depth)
        deep += Array(#","id":"deep","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)
        #expect(deep.count > 800_000)
        try fixture.produce([
            (Array(events[0].id.utf8), SyntheticStream.json(events[0]), 0, []),
            (Array("deep".utf8), deep, 0, []),
            (Array(events[1].id.utf8), SyntheticStream.json(events[1]), 0, []),
        ])
        let loop = try fixture.loop()
        try loop.run(untilCaughtUp: true) { false }
        #expect(loop.handled == 3)
        let dead = try fixture.read("dead")
        #expect(dead.count == 1)
        #expect(dead.first?.header("streamadapt-reason") == "too-deep")
        // The object is level 1: the 64th array (at byte 5 + 63) is level 65, one past the limit.
        let text = dead.first?.header("streamadapt-error") ?? ""
        #expect(text.contains("byte \(5 + JSONScanner.maximumDepth - 1)"), "\(text)")
        #expect(text.utf8.count < 200 && !text.utf8.contains { $0 < 0x20 })
        #expect(dead.first?.value == deep)
        #expect(try fixture.read("predictions").map(\.keyString) == [events[0].id, events[1].id])
    }
}

import Foundation
import Logging
import Testing

@testable import StreamAdaptDaemon
import StreamAdaptKafka

/// The issue's inputs that made outputs the producer could not send, through the in-process embedded
/// broker and the real loop: each becomes a dead letter within the output budget and the daemon goes on.
/// The decoder's own id bound (`input.maxIdBytes`) is set out of the way, so this tests the output
/// side's defence alone.
@Suite struct OutputBudgetBrokerTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let dimension = 1024

    /// Row `row` of the sample embeddings as JSON numbers.
    static func embedding(_ row: Int) throws -> [Float] {
        let data = try Data(contentsOf: root.appendingPathComponent("samples/fmnist-drift/images.f32"))
        return data.withUnsafeBytes { raw in
            (0..<dimension).map {
                Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: (row * dimension + $0) * 4, as: UInt32.self)))
            }
        }
    }

    static func event(id: String, row: Int) throws -> [UInt8] {
        Array("{\"id\":\"\(id)\",\"embedding\":[\(try embedding(row).map { "\($0)" }.joined(separator: ","))]}".utf8)
    }

    struct Record {
        var key: [UInt8]
        var value: [UInt8]
        var headers: [(String, [UInt8])]
        func header(_ name: String) -> String? { headers.last { $0.0 == name }.map { String(decoding: $0.1, as: UTF8.self) } }
        var budgetBytes: Int { OutputBudget.recordBytes(key: key.count, value: value.count, headers: OutputBudget.headerBytes(headers)) }
    }

    /// Reads `count` records of `topic` (partition 0) from the start, waiting up to 30 s.
    static func read(_ topic: String, count: Int, bootstrap: String) throws -> [Record] {
        let consumer = try KafkaConsumer(configuration: KafkaConfiguration(bootstrapServers: bootstrap, ["group.id": "check-\(topic)"]))
        try consumer.assign([(topic: topic, partition: 0, offset: 0)])
        var records: [Record] = []
        let deadline = Date().addingTimeInterval(30)
        while records.count < count, Date() < deadline {
            try consumer.poll(timeoutMilliseconds: 200) { message in
                records.append(Record(key: Array(message.key), value: Array(message.value), headers: message.headers))
            }
        }
        return records
    }

    @Test func oversizedIdsKeysAndHeadersBecomeDeadLettersWithinTheBudget() throws {
        let broker = try EmbeddedBroker()
        for topic in ["in", "predictions", "dead", "alerts"] { try broker.createTopic(topic, partitions: 1) }
        let input = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers, ["message.max.bytes": "10000000"]))
        func send(key: [UInt8], value: [UInt8], headers: [(String, [UInt8])] = []) throws {
            try key.withUnsafeBytes { k in
                try value.withUnsafeBytes { try input.sendWaiting(topic: "in", key: k.isEmpty ? nil : k, value: $0, headers: headers) }
            }
        }
        let bigKey = Array(repeating: UInt8(ascii: "k"), count: 1_100_000)
        try send(key: [], value: try Self.event(id: "ok-0", row: 0))
        // 0..<1: a 600 KB id: its prediction (key + value) would be 1.2 MB.
        try send(key: [], value: try Self.event(id: String(repeating: "x", count: 600_000), row: 1))
        // a binary event whose id header is 170,000 raw control characters (escaped 6 times in JSON).
        let binary = try Self.embedding(2).flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
        try send(
            key: [], value: binary,
            headers: [("content-type", Array("application/x-embedding-f32".utf8)), ("id", Array(repeating: 1, count: 170_000))])
        // bad messages with a 1.1 MB key, and with a 1.1 MB header.
        try send(key: bigKey, value: Array("not json".utf8))
        try send(key: Array("small".utf8), value: Array("{\"id\":".utf8), headers: [("trace", Array("t-1".utf8)), ("big", bigKey)])
        try send(key: [], value: try Self.event(id: "ok-1", row: 3))
        try input.flush()

        var configuration = try PipelineConfiguration.parse(yaml: """
            topics: {input: in, predictions: predictions, alerts: alerts, deadLetter: dead}
            model: {classes: \(Self.root.appendingPathComponent("samples/fmnist-drift").path), head: zeroshot}
            input: {maxIdBytes: 1000000}
            """)
        configuration.bootstrapServers = broker.bootstrapServers
        let loop = try AdaptationLoop(configuration: configuration, logger: Logger(label: "test"), health: HealthState())
        try loop.run(untilCaughtUp: true) { false }
        #expect(loop.handled == 6)

        let predictions = try Self.read("predictions", count: 2, bootstrap: broker.bootstrapServers)
        #expect(predictions.map { String(decoding: $0.key, as: UTF8.self) } == ["ok-0", "ok-1"])
        let dead = try Self.read("dead", count: 4, bootstrap: broker.bootstrapServers)
        try #require(dead.count == 4)
        let budget = OutputBudget()
        for record in dead { #expect(record.budgetBytes <= budget.limit) }
        #expect(dead.map { $0.header("streamadapt-reason") } == ["output-too-large", "output-too-large", "unparseable", "unparseable"])
        #expect(dead.map { $0.header("streamadapt-source-offset") } == ["1", "2", "3", "4"])
        // The events too large to predict are forwarded whole: they fit as inputs.
        #expect(dead[0].value == (try Self.event(id: String(repeating: "x", count: 600_000), row: 1)))
        #expect(dead[1].value == binary && dead[1].header("id")?.utf8.count == 170_000)
        #expect(dead[0].header("streamadapt-error")?.contains("over the output budget of 999488 bytes") == true)
        // The 1.1 MB key and header are cut, and the cut is named.
        #expect(dead[2].header("streamadapt-truncated") == "key")
        #expect(dead[2].key.count < bigKey.count && dead[2].key.count > 990_000 && dead[2].value == Array("not json".utf8))
        #expect(dead[3].header("streamadapt-truncated") == "header:big")
        #expect(dead[3].header("trace") == "t-1" && dead[3].key == Array("small".utf8))
        #expect(dead.allSatisfy { $0.header("streamadapt-value-dropped") == nil })
    }
}

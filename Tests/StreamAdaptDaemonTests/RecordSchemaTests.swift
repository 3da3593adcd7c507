import Foundation
import Testing

@testable import StreamAdaptCore
@testable import StreamAdaptDaemon

/// The published record formats: the encoder's records and the dead letters' headers are checked
/// against docs/schemas/ by an independent validator (Python jsonschema), and so are accepted and
/// rejected input events and label records, which the decoder must judge the same way. Every group has
/// negative controls, so a schema that accepts anything fails.
@Suite(.enabled(if: SchemaValidator.isAvailable, SchemaValidator.skipMessage))
struct RecordSchemaTests {
    typealias Enc = OutputEncoderTests

    static func prediction(_ body: (inout OutputEncoder) throws -> String) throws -> String {
        var encoder = try Enc.encoder()
        return try body(&encoder)
    }

    @Test func predictionsMatchTheSchema() throws {
        let records = [
            try Self.prediction { try Enc.predict(&$0) },
            try Self.prediction {
                try Enc.predict(&$0, id: "7", timestamp: nil, result: Enc.result(index: 3, mahalanobis2: nil, drifting: true, updated: false))
            },
            try Self.prediction { try Enc.predict(&$0, id: "q\"\\\u{0}\u{1F}\n\u{7F}é😀\u{2028}") },
            try Self.prediction {
                try Enc.predict(&$0, result: Enc.result(probability: .nan, entropy: .infinity, mahalanobis2: -.infinity), probabilities: [0, 1, 0, 0])
            },
            try Self.prediction { try Enc.predict(&$0, result: Enc.result(probability: .leastNonzeroMagnitude, entropy: 1e300, variance: 0)) },
        ]
        #expect(try SchemaValidator.check(records, against: "prediction") == Array(repeating: "valid", count: records.count))

        let good = records[0]
        let broken = [
            good.replacingOccurrences(of: #""drifting":false"#, with: #""drifting":0"#),
            good.replacingOccurrences(of: #","head":"kalman""#, with: ""),
            good.replacingOccurrences(of: #""index":1"#, with: #""index":1.5"#),
            good.replacingOccurrences(of: #""probability":0.91"#, with: #""probability":1.5"#),
            good.replacingOccurrences(of: #""partition":0}"#, with: #""partition":0,"extra":1}"#),
            good.replacingOccurrences(of: #""id":"img-000123""#, with: #""id":"""#),
            good.replacingOccurrences(of: #"{"label":"sneaker","p":0.06}"#, with: #"{"label":"sneaker"}"#),
        ]
        for (record, verdict) in zip(broken, try SchemaValidator.check(broken, against: "prediction")) {
            #expect(verdict.hasPrefix("invalid"), "\(record)")
        }
    }

    @Test func alertsMatchTheSchema() throws {
        var encoder = try Enc.encoder()
        var alert = DriftAlert(kind: .inputDrift, sequence: 0, raisedAt: 647, value: 0.3, threshold: 0.3)
        var records: [String] = []
        try encoder.alert(alert, state: "raised", windowEvents: 50, modelVersion: 648, topic: "embeddings", offsets: [.init(partition: 0, from: 598, to: 647)])
        records.append(String(decoding: encoder.bytes, as: UTF8.self))
        alert.clearedAt = 700
        alert.clearedValue = 0.08
        try encoder.alert(alert, state: "cleared", windowEvents: 50, modelVersion: 701, topic: "embeddings", offsets: [])
        records.append(String(decoding: encoder.bytes, as: UTF8.self))
        try encoder.alert(
            DriftAlert(kind: .accuracyDrop, sequence: 0, raisedAt: 0, value: .infinity, threshold: 0), state: "raised", windowEvents: 0, modelVersion: 0,
            topic: "t", offsets: [.init(partition: 3, from: 0, to: 0)])
        records.append(String(decoding: encoder.bytes, as: UTF8.self))
        #expect(try SchemaValidator.check(records, against: "alert") == ["valid", "valid", "valid"])

        let broken = [
            records[1].replacingOccurrences(of: #""cleared_at_event":700"#, with: #""cleared_at_event":null"#),
            records[0].replacingOccurrences(of: #""kind":"input-drift""#, with: #""kind":"other""#),
            records[0].replacingOccurrences(of: #""state":"raised""#, with: #""state":"active""#),
            records[0].replacingOccurrences(of: #","window_events":50"#, with: ""),
            records[0].replacingOccurrences(of: #""to":647"#, with: #""to":"647""#),
        ]
        for verdict in try SchemaValidator.check(broken, against: "alert") { #expect(verdict.hasPrefix("invalid")) }
    }

    /// Dead-letter headers as a JSON object (values as text), for the validator.
    static func headerObject(_ headers: [(String, [UInt8])]) -> [UInt8] {
        var writer = JSONWriter()
        writer.raw("{")
        for (n, (name, value)) in headers.enumerated() {
            if n > 0 { writer.raw(",") }
            writer.string(name)
            writer.raw(":")
            writer.string(String(decoding: value, as: UTF8.self))
        }
        writer.raw("}")
        return writer.bytes
    }

    static func reasonEnum() throws -> [String] {
        let schema = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: SchemaValidator.schemaURL("dead-letter-headers"))) as? [String: Any])
        let defs = try #require(schema["$defs"] as? [String: Any])
        return try #require((defs["reason"] as? [String: Any])?["enum"] as? [String])
    }

    @Test func deadLetterHeadersMatchTheSchema() throws {
        let reasons = try Self.reasonEnum()
        for code in OutputError.Code.allCases { #expect(reasons.contains(code.rawValue)) }
        let big = Array(repeating: UInt8(ascii: "b"), count: 20_000)
        var letters: [DeadLetter] = reasons.map {
            DeadLetterTests.letter(reason: $0, error: "what went wrong \u{0} at byte 3", budget: OutputBudget())
        }
        letters.append(DeadLetterTests.letter(value: 1_100_000, headers: [("trace", Array("t".utf8))], budget: OutputBudget()))
        letters.append(DeadLetterTests.letter(key: big, value: 9_000, headers: [("big", big), (String(repeating: "n", count: 9_000), [1])]))
        letters.append(DeadLetterTests.letter(error: String(repeating: "long ", count: 1_000)))
        #expect(letters.contains { DeadLetterTests.header($0, "streamadapt-truncated") != nil })
        #expect(letters.contains { DeadLetterTests.header($0, "streamadapt-value-dropped") != nil })
        let verdicts = try SchemaValidator.check(letters.map { Self.headerObject($0.headers) }, against: "dead-letter-headers")
        #expect(verdicts == Array(repeating: "valid", count: letters.count))

        let good = DeadLetterTests.letter().headers
        func replacing(_ name: String, _ value: String) -> [(String, [UInt8])] {
            good.map { $0.0 == name ? ($0.0, Array(value.utf8)) : $0 }
        }
        let broken = [
            replacing("streamadapt-reason", "bogus"),
            replacing("streamadapt-error", "raw \u{0} byte"),
            replacing("streamadapt-source-offset", "-1"),
            good.filter { $0.0 != "streamadapt-source-topic" },
            good + [("streamadapt-extra", [])],
        ]
        for verdict in try SchemaValidator.check(broken.map(Self.headerObject), against: "dead-letter-headers") {
            #expect(verdict.hasPrefix("invalid"))
        }
    }

    // MARK: - Input

    func decoderAccepts(_ text: String) -> Bool {
        let decoder = EventDecoder(dimension: 3, maximumBytes: 1 << 16)
        return Array(text.utf8).withUnsafeBytes { raw in (try? decoder.decodeJSON(raw)) != nil }
    }

    func decoderAcceptsLabel(_ text: String) -> Bool {
        let decoder = EventDecoder(dimension: 3, maximumBytes: 1 << 16)
        return Array(text.utf8).withUnsafeBytes { raw in (try? decoder.decodeLabelRecord(raw)) != nil }
    }

    @Test func inputEventsAgainstTheSchemaAndTheDecoder() throws {
        let accepted = [
            #"{"id":"img-000123","embedding":[0.0132,0.2271,-1],"label":5,"ts":1700000000123}"#,
            #"{"id":"a","embedding":[1,0,0]}"#,
            #"{"id":"a","embedding":[1,0,0],"label":"sandal"}"#,
            #"{"id":"a","embedding":[1,0,0],"label":null,"ts":null}"#,
            #"{"embedding":[1e-3,2E2,0],"id":7,"extra":{"x":[true,null]}}"#,
            #"{"id":"q\"\u00e9\ud83d\ude00","embedding":[1,0,0]}"#,
        ]
        #expect(try SchemaValidator.check(accepted, against: "input-event") == Array(repeating: "valid", count: accepted.count))
        for event in accepted { #expect(decoderAccepts(event), "\(event)") }

        let rejected = [
            #"{"embedding":[1,0,0]}"#,  // missing id
            #"{"id":"a"}"#,  // missing embedding
            #"{"id":"","embedding":[1,0,0]}"#,  // empty id
            #"{"id":"a","embedding":"1,0,0"}"#,
            #"{"id":"a","embedding":[1,"0",0]}"#,
            #"{"id":"a","embedding":[1,0,0],"label":true}"#,
            #"{"id":"a","embedding":[1,0,0],"label":1.5}"#,
            #"{"id":"a","embedding":[1,0,0],"ts":"yesterday"}"#,
            #"{"id":"a","embedding":[NaN,0,0]}"#,
            #"[1,0,0]"#,
            #"{"id":true,"embedding":[1,0,0]}"#,
        ]
        for (event, verdict) in zip(rejected, try SchemaValidator.check(rejected, against: "input-event")) {
            #expect(verdict.hasPrefix("invalid") || verdict.hasPrefix("unparseable"), "\(event): \(verdict)")
            #expect(!decoderAccepts(event), "\(event)")
        }

        // What JSON Schema cannot say: checked against the pipeline at run time (wrong-dimension,
        // label-out-of-range, unknown-class), or by the strict parser (duplicate keys).
        let runTime = [
            #"{"id":"a","embedding":[1,0]}"#,
            #"{"id":"a","embedding":[1,0,0],"label":99}"#,
            #"{"id":"a","embedding":[1,0,0],"label":"no-such-class"}"#,
        ]
        #expect(try SchemaValidator.check(runTime, against: "input-event") == ["valid", "valid", "valid"])
        #expect(!decoderAccepts(runTime[0]))
        #expect(try SchemaValidator.check([#"{"id":"a","id":"b","embedding":[1]}"#], against: "input-event") == ["unparseable: duplicate key"])
        #expect(try SchemaValidator.check([#"{"id":"a","embedding":[1],"label":-1}"#], against: "input-event")[0].hasPrefix("invalid"))
    }

    @Test func labelRecordsAgainstTheSchemaAndTheDecoder() throws {
        let accepted = [#"{"id":"a","label":3}"#, #"{"id":"a","label":"sandal"}"#, #"{"label":0,"id":7,"x":[]}"#]
        #expect(try SchemaValidator.check(accepted, against: "label-record") == ["valid", "valid", "valid"])
        for record in accepted { #expect(decoderAcceptsLabel(record), "\(record)") }
        let rejected = [#"{"id":"a"}"#, #"{"id":"a","label":null}"#, #"{"label":1}"#, #"{"id":"","label":1}"#, #"{"id":"a","label":[1]}"#]
        for (record, verdict) in zip(rejected, try SchemaValidator.check(rejected, against: "label-record")) {
            #expect(verdict.hasPrefix("invalid"), "\(record): \(verdict)")
            #expect(!decoderAcceptsLabel(record), "\(record)")
        }
    }
}

/// The decoder's whole accept/refuse table (``MalformedInputCases``) against `input-event.schema.json`
/// and an independent strict parser: what the decoder accepts the schema accepts, and what it refuses
/// for a reason JSON (Schema) can express, the schema refuses too. The remaining reasons are the ones
/// JSON Schema cannot state (the pipeline's D and classes, byte limits, nesting depth, finiteness of
/// float32, lone surrogates, which JSON's grammar allows and StreamAdapt refuses): docs/input.md.
@Suite(.enabled(if: SchemaValidator.isAvailable, SchemaValidator.skipMessage))
struct InputTableSchemaTests {
    /// Refusal reasons the schema cannot express.
    static let beyondTheSchema: Set<InputError.Code> = [
        .wrongDimension, .nonFinite, .zeroVector, .unknownClass, .labelOutOfRange, .tooDeep, .idTooLong,
        .labelTooLong, .loneSurrogate, .oversized, .outputTooLarge,
    ]

    @Test func theDecodersTableAgainstTheInputSchema() throws {
        // One document per line for the validator: cases with a raw newline are left to the decoder tests.
        let accepted = MalformedInputCases.accepted.filter { !$0.bytes.contains(0x0A) }
        let verdicts = try SchemaValidator.check(accepted.map(\.bytes), against: "input-event")
        for (c, verdict) in zip(accepted, verdicts) { #expect(verdict == "valid", "\(c.name): \(verdict)") }
        #expect(accepted.count >= 20)

        let refused = MalformedInputCases.cases.filter { !$0.bytes.contains(0x0A) }
        let refusedVerdicts = try SchemaValidator.check(refused.map(\.bytes), against: "input-event")
        var checked = 0
        for (c, verdict) in zip(refused, refusedVerdicts) where !Self.beyondTheSchema.contains(c.code) {
            #expect(verdict != "valid", "\(c.name) (\(c.code.rawValue)): the schema accepts what the decoder refuses")
            checked += 1
        }
        #expect(checked >= 60)
    }
}

import Foundation
import Testing

@testable import StreamAdaptCore
@testable import StreamAdaptDaemon

/// The prediction and alert records, field by field, byte for byte, and their size checks.
@Suite struct OutputEncoderTests {
    static let names = ["t-shirt", "sandal", "sneaker", "ankle boot"]

    /// One place that builds an `EventResult` (its memberwise initialiser is internal to the core).
    static func result(
        index: Int = 1, probability: Double = 0.91, entropy: Double = 0.37, variance: Double = 0.0021,
        mahalanobis2: Double? = 812.4, drifting: Bool = false, updated: Bool = true
    ) -> EventResult {
        EventResult(
            index: index, probability: probability, entropy: entropy, variance: variance, mahalanobis2: mahalanobis2,
            drifting: drifting, updated: updated, correct: nil, alertChanged: false)
    }

    static func encoder(topClasses: Int = 3, names: [String] = names, budget: OutputBudget = OutputBudget()) throws -> OutputEncoder {
        try OutputEncoder(topClasses: topClasses, classNames: names, head: "kalman", budget: budget)
    }

    /// The prediction of the README's example event.
    static func predict(
        _ encoder: inout OutputEncoder, id: String = "img-000123", timestamp: Int64? = 1_700_000_000_123,
        result: EventResult = result(), probabilities: [Double] = [0.01, 0.91, 0.06, 0.02], names: [String] = names,
        source: OutputEncoder.Source = .init(partition: 0, offset: 4300)
    ) throws(OutputError) -> String {
        let matrix = Matrix(rows: probabilities.count, columns: 1, values: probabilities)
        try encoder.prediction(
            id: id, timestamp: timestamp, result: result, probabilities: matrix.pointer, classNames: names, modelVersion: 4211,
            head: "kalman", source: source)
        return String(decoding: encoder.bytes, as: UTF8.self)
    }

    static func object(_ text: String) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func predictionByteForByte() throws {
        var encoder = try Self.encoder()
        #expect(try Self.predict(&encoder) == #"{"id":"img-000123","ts":1700000000123,"label":"sandal","index":1,"probability":0.91,"top":[{"label":"sandal","p":0.91},{"label":"sneaker","p":0.06},{"label":"ankle boot","p":0.02}],"uncertainty":{"entropy":0.37,"variance":0.0021},"mahalanobis":812.4,"drifting":false,"updated":true,"model_version":4211,"head":"kalman","offset":4300,"partition":0}"#)
    }

    /// Every field with its type (decoded strictly: a Bool is not a number, an Int not a fraction) and value.
    @Test func predictionFieldsTypesAndValues() throws {
        struct Top: Decodable, Equatable { var label: String; var p: Double }
        struct Uncertainty: Decodable, Equatable { var entropy: Double; var variance: Double }
        struct Record: Decodable {
            var id: String; var ts: Int64?; var label: String; var index: Int; var probability: Double; var top: [Top]
            var uncertainty: Uncertainty; var mahalanobis: Double?; var drifting: Bool; var updated: Bool
            var model_version: Int; var head: String; var offset: Int64; var partition: Int32
        }
        var encoder = try Self.encoder(topClasses: 2)
        let text = try Self.predict(
            &encoder, id: "e-7", timestamp: nil,
            result: Self.result(index: 2, probability: 0.5, entropy: 1.25, variance: 0, mahalanobis2: nil, drifting: true, updated: false),
            probabilities: [0.25, 0.125, 0.5, 0.125], source: .init(partition: 3, offset: 9_000_000_000))
        let record = try JSONDecoder().decode(Record.self, from: Data(text.utf8))
        #expect(record.id == "e-7")
        #expect(record.ts == nil)
        #expect(record.label == "sneaker")
        #expect(record.index == 2)
        #expect(record.probability == 0.5)
        #expect(record.top == [Top(label: "sneaker", p: 0.5), Top(label: "t-shirt", p: 0.25)])
        #expect(record.uncertainty == Uncertainty(entropy: 1.25, variance: 0))
        #expect(record.mahalanobis == nil)
        #expect(record.drifting == true)
        #expect(record.updated == false)
        #expect(record.model_version == 4211)
        #expect(record.head == "kalman")
        #expect(record.offset == 9_000_000_000)
        #expect(record.partition == 3)
        // Nulls are written, not left out; no other keys; the fixed field order.
        let keys = ["id", "ts", "label", "index", "probability", "top", "uncertainty", "mahalanobis", "drifting", "updated",
                    "model_version", "head", "offset", "partition"]
        #expect(Set(try Self.object(text).keys) == Set(keys))
        #expect(text.contains(#""ts":null,"#) && text.contains(#""mahalanobis":null,"#))
        let positions = keys.map { text.range(of: "\"\($0)\":")!.lowerBound }
        #expect(positions == positions.sorted())
    }

    @Test func topIsBestFirstAndTiesGoInClassOrder() throws {
        func top(_ probabilities: [Double], k: Int) throws -> [String] {
            var encoder = try Self.encoder(topClasses: k)
            let text = try Self.predict(&encoder, probabilities: probabilities)
            let entries = try #require(try Self.object(text)["top"] as? [[String: Any]])
            return entries.map { $0["label"] as! String }
        }
        #expect(try top([0.1, 0.2, 0.3, 0.4], k: 3) == ["ankle boot", "sneaker", "sandal"])
        #expect(try top([0.25, 0.25, 0.25, 0.25], k: 3) == ["t-shirt", "sandal", "sneaker"])
        #expect(try top([0.1, 0.4, 0.1, 0.4], k: 4) == ["sandal", "ankle boot", "t-shirt", "sneaker"])
        // k larger than the class count lists every class once.
        #expect(try top([0.4, 0.3, 0.2, 0.1], k: 10) == ["t-shirt", "sandal", "sneaker", "ankle boot"])
        #expect(try top([0.4, 0.3, 0.2, 0.1], k: 1) == ["t-shirt"])
    }

    @Test func idsAreEscapedAndRoundTrip() throws {
        var encoder = try Self.encoder()
        let id = "q\"b\\s/\u{0}\u{1}\u{8}\u{9}\u{A}\u{B}\u{C}\u{D}\u{1B}\u{1F} é\u{7F}\u{2028}😀"
        let text = try Self.predict(&encoder, id: id)
        let expected = #""id":"q\"b\\s/\u0000\u0001\b\t\n\u000b\f\r\u001b\u001f é"# + "\u{7F}\u{2028}😀\","
        #expect(text.hasPrefix("{" + expected))
        #expect(try Self.object(text)["id"] as? String == id)
        #expect(!encoder.bytes.contains { $0 < 0x20 })
    }

    @Test func everyControlCharacterIsEscaped() {
        let short: [UInt8: String] = [8: #"\b"#, 9: #"\t"#, 10: #"\n"#, 12: #"\f"#, 13: #"\r"#]
        for c in UInt8(0)..<0x20 {
            var writer = JSONWriter()
            writer.string(String(UnicodeScalar(c)))
            let hex = String(c, radix: 16)
            let expected = short[c] ?? #"\u00"# + (hex.count == 1 ? "0" + hex : hex)
            #expect(String(decoding: writer.bytes, as: UTF8.self) == "\"\(expected)\"", "U+\(hex)")
            #expect(JSONWriter.encodedCount(String(UnicodeScalar(c))) == writer.bytes.count)
        }
    }

    @Test func outputIsValidUTF8EvenForIdsBuiltFromInvalidBytes() throws {
        let id = String(decoding: [0x61, 0xFF, 0xC3, 0x28, 0xED, 0xA0, 0x80, 0x62], as: UTF8.self)  // repaired with U+FFFD
        var encoder = try Self.encoder()
        _ = try Self.predict(&encoder, id: id)
        let text = try #require(String(validating: encoder.bytes, as: UTF8.self))
        #expect(try Self.object(text)["id"] as? String == id)
        #expect(JSONWriter.encodedCount(id) == id.utf8.count + 2)
    }

    @Test func nonFiniteNumbersAreNull() throws {
        var encoder = try Self.encoder(topClasses: 1)
        let text = try Self.predict(
            &encoder, result: Self.result(probability: .nan, entropy: .infinity, variance: -.infinity, mahalanobis2: .nan),
            probabilities: [0, .infinity, 0, 0])
        #expect(text.contains(#""probability":null,"top":[{"label":"sandal","p":null}],"uncertainty":{"entropy":null,"variance":null},"mahalanobis":null,"#))
        _ = try Self.object(text)
    }

    @Test func numbersRoundTripAndStayWithinTheirWidth() {
        var values: [Double] = [
            0, -0.0, 1, -1, 0.1, 0.91, 1e-5, 1e16, 1e21, .leastNonzeroMagnitude, -2.2250738585072014e-308, .greatestFiniteMagnitude,
            -.greatestFiniteMagnitude, .leastNormalMagnitude, 0.30000000000000004, 1234567890123456.7, -0.00012345678901234567,
        ]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 { values.append(Double(bitPattern: generator.next()) ) }
        for v in values where v.isFinite {
            var writer = JSONWriter()
            writer.number(v)
            let text = String(decoding: writer.bytes, as: UTF8.self)
            #expect(Double(text) == v, "\(text)")
            #expect(writer.bytes.count <= JSONWriter.maximumNumberBytes, "\(text)")
        }
        for v: Int64 in [0, 7, -1, 10, -10, 1_700_000_000_123, .max, .min] {
            var writer = JSONWriter()
            writer.number(v)
            #expect(String(decoding: writer.bytes, as: UTF8.self) == String(v))
            #expect(writer.bytes.count <= JSONWriter.maximumNumberBytes)
        }
    }

    @Test func alertRaisedAndClearedByteForByte() throws {
        var encoder = try Self.encoder()
        var alert = DriftAlert(kind: .inputDrift, sequence: 0, raisedAt: 647, value: 10, threshold: 8)
        try encoder.alert(
            alert, state: "raised", windowEvents: 50, modelVersion: 648, topic: "embeddings",
            offsets: [.init(partition: 0, from: 598, to: 647)])
        #expect(String(decoding: encoder.bytes, as: UTF8.self) == #"{"kind":"input-drift","sequence":0,"state":"raised","raised_at_event":647,"cleared_at_event":null,"value":10.0,"threshold":8.0,"severity":1.25,"cleared_value":null,"clear_reason":null,"error_rate_before":null,"error_rate_at_raise":null,"error_rate_at_clear":null,"window_events":50,"model_version":648,"topic":"embeddings","offsets":[{"partition":0,"from":598,"to":647}]}"#)

        alert = DriftAlert(kind: .accuracyDrop, sequence: 3, raisedAt: 100, value: 30, threshold: 25)
        alert.clearedAt = 400
        alert.clearedValue = 0.125
        alert.clearReason = .settled
        alert.errorRateBefore = 0.125
        alert.errorRateAtRaise = 0.25
        alert.errorRateAtClear = 0.375
        try encoder.alert(
            alert, state: "cleared", windowEvents: 3, modelVersion: 401, topic: "in",
            offsets: [.init(partition: 0, from: 398, to: 399), .init(partition: 2, from: 17, to: 17)])
        #expect(String(decoding: encoder.bytes, as: UTF8.self) == #"{"kind":"accuracy-drop","sequence":3,"state":"cleared","raised_at_event":100,"cleared_at_event":400,"value":30.0,"threshold":25.0,"severity":1.2,"cleared_value":0.125,"clear_reason":"settled","error_rate_before":0.125,"error_rate_at_raise":0.25,"error_rate_at_clear":0.375,"window_events":3,"model_version":401,"topic":"in","offsets":[{"partition":0,"from":398,"to":399},{"partition":2,"from":17,"to":17}]}"#)
    }

    // MARK: - Size budget

    @Test func budgetFollowsTheProducersMessageMaxBytes() throws {
        #expect(try OutputBudget(kafkaProperties: [:]).messageMaxBytes == 1_000_000)
        #expect(try OutputBudget(kafkaProperties: [:]).limit == 1_000_000 - 512)
        #expect(try OutputBudget(kafkaProperties: ["message.max.bytes": "20000"]).limit == 20000 - 512)
        for bad in ["abc", "", "1000", "8191", "1000000001", "-5"] {
            let error = try #require(throws: ConfigurationError.self) { try OutputBudget(kafkaProperties: ["message.max.bytes": bad]) }
            #expect(error.field == "kafka.properties.message.max.bytes")
        }
        #expect(try OutputBudget(kafkaProperties: ["message.max.bytes": "8192"]).limit == 8192 - 512)
        #expect(OutputBudget.headerBytes([("ab", [1, 2, 3]), ("", [])]) == (2 + 3 + 10) + 10)
    }

    /// The issue's cases: a 600 KB id, and 170,000 control characters (escaped 6 times), are refused
    /// before the model runs; ordinary and 170,000-byte ASCII ids pass.
    @Test func oversizedIdsAreRefusedBeforeTheModel() throws {
        let encoder = try Self.encoder()
        let long = try #require(throws: OutputError.self) { try encoder.checkPrediction(id: String(repeating: "x", count: 600_000)) }
        #expect(long.code == .outputTooLarge)
        #expect(long.message.contains("600000 bytes"))
        let controls = try #require(throws: OutputError.self) { try encoder.checkPrediction(id: String(repeating: "\u{1}", count: 170_000)) }
        #expect(controls.message.contains("(1020000 escaped)"))
        try encoder.checkPrediction(id: String(repeating: "x", count: 256))
        try encoder.checkPrediction(id: String(repeating: "x", count: 170_000))
    }

    /// The bound is exact at the edge of the budget and above every real record: a prediction with the
    /// longest id allowed and every number at its widest still fits.
    @Test func predictionBoundIsSafeAtTheEdge() throws {
        let budget = OutputBudget(messageMaxBytes: 8192)
        let names = ["a\u{0}\u{1}\"", "bb", "c\u{1F}"]
        var encoder = try Self.encoder(topClasses: 2, names: names, budget: budget)
        let edge = (budget.limit - 2 - encoder.predictionBytesBesidesID) / 2
        let id = String(repeating: "i", count: edge)
        #expect(encoder.maximumPredictionBytes(id: id) <= budget.limit)
        try encoder.checkPrediction(id: id)
        #expect(throws: OutputError.self) { try encoder.checkPrediction(id: id + "ii") }
        let widest = -2.2250738585072014e-308
        _ = try Self.predict(
            &encoder, id: id, timestamp: .min,
            result: Self.result(index: 0, probability: widest, entropy: widest, variance: widest, mahalanobis2: widest),
            probabilities: [widest, widest, widest], names: names, source: .init(partition: .min, offset: .min))
        #expect(id.utf8.count + encoder.bytes.count <= encoder.maximumPredictionBytes(id: id))
    }

    /// The encoder's own check (a last line of defence) throws instead of handing over a record too large.
    @Test func predictionOverTheBudgetThrows() throws {
        var encoder = try Self.encoder(budget: OutputBudget(messageMaxBytes: 8192))
        let error = try #require(throws: OutputError.self) { try Self.predict(&encoder, id: String(repeating: "\"", count: 3000)) }
        #expect(error.code == .outputTooLarge)
        #expect(error.description.hasPrefix("output-too-large: the prediction record takes 6"))
        _ = try Self.predict(&encoder, id: String(repeating: "x", count: 3000))
    }

    @Test func alertOverTheBudgetThrows() throws {
        var encoder = try Self.encoder(budget: OutputBudget(messageMaxBytes: 8192))
        let alert = DriftAlert(kind: .inputDrift, sequence: 0, raisedAt: 1, value: 0.5, threshold: 0.3)
        let offsets = (0..<200).map { OutputEncoder.OffsetRange(partition: Int32($0), from: 1_000_000, to: 2_000_000) }
        let error = try #require(throws: OutputError.self) {
            try encoder.alert(alert, state: "raised", windowEvents: 50, modelVersion: 1, topic: "t", offsets: offsets)
        }
        #expect(error.code == .outputTooLarge)
        try encoder.alert(alert, state: "raised", windowEvents: 50, modelVersion: 1, topic: "t", offsets: Array(offsets.prefix(20)))
    }

    @Test func classNamesTooLongForAnyPredictionAreRefusedAtStart() throws {
        let error = try #require(throws: ConfigurationError.self) {
            try Self.encoder(names: ["a", String(repeating: "n", count: 3000)], budget: OutputBudget(messageMaxBytes: 8192))
        }
        #expect(error.reason.contains("over the output budget of 7680 bytes"))
    }
}

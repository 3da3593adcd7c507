import Testing

@testable import StreamAdaptDaemon

/// The decoder against MalformedInputCases: every refused message with its exact code and byte
/// offset, every accepted one with its decoded values; the hostile large inputs of issue 7.
@Suite struct MalformedInputTests {
    /// A table row, shown by name in test output (the bytes can be 100 KB).
    struct Rejected: Sendable, CustomTestStringConvertible {
        let name: String
        let bytes: [UInt8]
        let code: InputError.Code
        let offset: Int
        var testDescription: String { name }
    }

    struct Accepted: Sendable, CustomTestStringConvertible {
        let name: String
        let bytes: [UInt8]
        let id: String
        let label: EventLabel
        let embedding: [Float]
        var testDescription: String { name }
    }

    static let rejected = MalformedInputCases.cases.map { Rejected(name: $0.name, bytes: $0.bytes, code: $0.code, offset: $0.offset) }
    static let accepted = MalformedInputCases.accepted.map {
        Accepted(name: $0.name, bytes: $0.bytes, id: $0.id, label: $0.label, embedding: $0.embedding)
    }

    static func decoder(maximumBytes: Int = 1 << 20) -> EventDecoder {
        EventDecoder(dimension: MalformedInputCases.dimension, maximumBytes: maximumBytes)
    }

    static func decode(_ bytes: [UInt8], with decoder: EventDecoder) -> Result<DecodedEvent, InputError> {
        bytes.withUnsafeBytes { raw in Result { () throws(InputError) in try decoder.decodeJSON(raw) } }
    }

    /// Whether `message` names `byte N` with exactly this N (not a longer number starting with it).
    static func names(_ message: String, offset: Int) -> Bool {
        var rest = Substring(message)
        let mark = "byte \(offset)"
        while let range = rest.range(of: mark) {
            let after = rest[range.upperBound...]
            if after.first.map({ !$0.isNumber }) ?? true { return true }
            rest = after
        }
        return false
    }

    /// Printable ASCII only (safe in a Kafka header and a log line), and bounded.
    static func isPrintable(_ message: String) -> Bool {
        message.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F } && message.utf8.count <= 400
    }

    static func check(_ error: InputError, code: InputError.Code, offset: Int, _ name: String) {
        #expect(error.code == code, "\(name): \(error)")
        #expect(error.offset == offset, "\(name): \(error)")
        #expect(names(error.message, offset: offset), "\(name): \(error.message)")
        #expect(isPrintable(error.message), "\(name): \(error.message)")
    }

    @Test func theTableIsLargeAndCoversJSONTestSuitePrefixes() {
        #expect(MalformedInputCases.cases.count >= 60)
        #expect(MalformedInputCases.cases.filter { $0.name.hasPrefix("n_") }.count >= 60)
        #expect(MalformedInputCases.cases.contains { $0.name.hasPrefix("i_") })
        #expect(Set(MalformedInputCases.cases.map(\.name) + MalformedInputCases.accepted.map(\.name)).count
            == MalformedInputCases.cases.count + MalformedInputCases.accepted.count)
        #expect(Set(MalformedInputCases.accepted.map(\.id)).count == MalformedInputCases.accepted.count)
        // The table is written for the daemon tests' pipeline.
        #expect(MalformedInputCases.dimension == SyntheticStream.dimension)
        #expect(MalformedInputCases.classes == SyntheticStream.names)
    }

    @Test(arguments: rejected)
    func refusedWithCodeAndOffset(_ row: Rejected) {
        switch Self.decode(row.bytes, with: Self.decoder()) {
        case .success(let event): Issue.record("\(row.name) was accepted: \(event)")
        case .failure(let error): Self.check(error, code: row.code, offset: row.offset, row.name)
        }
    }

    @Test(arguments: accepted)
    func acceptedWithValues(_ row: Accepted) throws {
        let decoder = Self.decoder()
        let event = try Self.decode(row.bytes, with: decoder).get()
        #expect(event.id == row.id)
        #expect(event.label == row.label)
        #expect(decoder.count == MalformedInputCases.dimension)
        // Bit patterns, so that -0.0 is told from 0.
        #expect(decoder.embedding.map(\.bitPattern) == row.embedding.map(\.bitPattern), "\(decoder.embedding)")
    }

    /// One decoder for the whole table, in order, twice: the key table and scratch buffer it reuses
    /// carry nothing from one message to the next.
    @Test func oneDecoderForTheWholeTable() {
        let decoder = Self.decoder()
        for _ in 0..<2 {
            for row in MalformedInputCases.cases {
                guard case .failure(let error) = Self.decode(row.bytes, with: decoder) else {
                    Issue.record("\(row.name) was accepted")
                    continue
                }
                #expect(error.code == row.code && error.offset == row.offset, "\(row.name): \(error)")
            }
            for row in MalformedInputCases.accepted {
                #expect((try? Self.decode(row.bytes, with: decoder).get())?.id == row.id, "\(row.name)")
            }
        }
    }

    @Test func messagesQuoteTheInputEscaped() throws {
        let bytes: [UInt8] = Array(#"{"id":"a"#.utf8) + [0x01, 0xFF, 0x22, 0x5C] + Array(#"","embedding":[1]}"#.utf8)
        guard case .failure(let error) = Self.decode(bytes, with: Self.decoder()) else { throw TestFailure() }
        #expect(error.code == .controlCharacter)
        #expect(error.message == #"raw control character in a string (escape it as \u00XX) at byte 8, near "\u0001\xFF\"\\\",\"embedding\":[1]}""#)
        // At most 32 input bytes are quoted.
        let long = Array(#"{"x":"#.utf8) + [UInt8](repeating: 0x01, count: 1000)
        guard case .failure(let cut) = Self.decode(long, with: Self.decoder()) else { throw TestFailure() }
        #expect(cut.code == .unparseable && cut.offset == 5)
        #expect(cut.message.hasSuffix(#"near "\#(String(repeating: #"\u0001"#, count: 32))...""#), "\(cut.message)")
    }

    /// Issue 7's crash: 400,000 nested arrays in an ignored field (800 KB) crashed the daemon's stack.
    @Test func deepNestingIsRefusedWithoutRecursion() {
        let depth = 400_000
        let bytes = Array(#"{"x":"#.utf8) + [UInt8](repeating: 0x5B, count: depth) + [UInt8](repeating: 0x5D, count: depth)
            + Array(#","id":"a","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)
        #expect(bytes.count > 800_000)
        guard case .failure(let error) = Self.decode(bytes, with: Self.decoder(maximumBytes: 1 << 21)) else {
            Issue.record("accepted")
            return
        }
        // `{` is level 1; the arrays from byte 5 on are levels 2, 3, ...: the one at byte 68 is the 65th.
        Self.check(error, code: .tooDeep, offset: 5 + 63, "deep")
        // The same depth in the embedding, and objects instead of arrays.
        let objects = Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":"#.utf8)
            + Array(String(repeating: #"{"a":"#, count: depth).utf8)
        guard case .failure(let objectError) = Self.decode(objects, with: Self.decoder(maximumBytes: 1 << 22)) else {
            Issue.record("accepted")
            return
        }
        Self.check(objectError, code: .tooDeep, offset: 44 + 63 * 5, "deep objects")
    }

    static func manyKeys(_ count: Int, duplicateAtEnd: Bool) -> (bytes: [UInt8], duplicateOffset: Int) {
        var text = #"{"x":{"#
        for k in 0..<count { text += #""k\#(k)":\#(k),"# }
        let duplicateOffset = text.utf8.count
        text += duplicateAtEnd ? #""k0":0},"# : #""end":null},"#
        text += #""id":"keys","embedding":[1,0,0,0,0,0,0,0]}"#
        return (Array(text.utf8), duplicateOffset)
    }

    /// 100,000 distinct keys in one object: the key table's work stays linear (checked by the time the
    /// whole test takes, not by a timed assertion), and a duplicate after them is still found.
    @Test func hundredThousandKeys() throws {
        let decoder = Self.decoder(maximumBytes: 1 << 22)
        let distinct = Self.manyKeys(100_000, duplicateAtEnd: false)
        #expect(try Self.decode(distinct.bytes, with: decoder).get().id == "keys")
        let repeated = Self.manyKeys(100_000, duplicateAtEnd: true)
        guard case .failure(let error) = Self.decode(repeated.bytes, with: decoder) else { throw TestFailure() }
        Self.check(error, code: .duplicateKey, offset: repeated.duplicateOffset, "100k keys")
        // Then a small message with one of those keys: nothing of the big one is left.
        let small = Array(#"{"x":{"k0":1},"k0":2,"id":"s","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)
        #expect(try Self.decode(small, with: decoder).get().id == "s")
    }

    @Test func oversizedNamesTheLimit() throws {
        let bytes = Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)
        guard case .failure(let error) = Self.decode(bytes, with: Self.decoder(maximumBytes: 16)) else { throw TestFailure() }
        Self.check(error, code: .oversized, offset: 16, "oversized")
        #expect(error.message.contains("input.maxMessageBytes (16)"))
    }

    static func decodeLabel(_ text: String) -> Result<(id: String, label: EventLabel), InputError> {
        let decoder = Self.decoder()
        return Array(text.utf8).withUnsafeBytes { raw in Result { () throws(InputError) in try decoder.decodeLabelRecord(raw) } }
    }

    @Test(arguments: [
        (#"{"id":"a"}"#, InputError.Code.missingLabel, 9),
        (#"{"id":"a","label":null}"#, .missingLabel, 22),
        (#"{"label":1}"#, .missingID, 10),
        (#"{"id":"","label":1}"#, .missingID, 6),
        (#"{"id":"a","label":[1]}"#, .wrongType, 18),
        (#"{"id":"a","label":1,"label":2}"#, .duplicateKey, 20),
        (#"{"id":"a","label":[1],"x":01}"#, .invalidNumber, 26),
        (#"{"id":"a","label":1,"x":{"y":[{"z":1,"z":1}]}}"#, .duplicateKey, 37),
    ])
    func labelRecordsRefused(text: String, code: InputError.Code, offset: Int) {
        switch Self.decodeLabel(text) {
        case .success(let record): Issue.record("\(text) accepted: \(record)")
        case .failure(let error): Self.check(error, code: code, offset: offset, text)
        }
    }

    @Test func labelRecordsAccepted() throws {
        let record = try Self.decodeLabel(#" {"x":{"id":1},"label":"b\u0065ta","id":"r1"} "#).get()
        #expect(record.id == "r1" && record.label == .name("beta"))
        #expect(try Self.decodeLabel(#"{"id":5,"label":2}"#).get().label == .index(2))
    }

    struct TestFailure: Error {}
}

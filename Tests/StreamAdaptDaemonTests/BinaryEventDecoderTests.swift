import Testing

@testable import StreamAdaptDaemon

/// Binary events: the value is D float32; id and label come from headers or the key, which are
/// untrusted bytes (UTF-8 and length checked, offsets within the header or key).
@Suite struct BinaryEventDecoderTests {
    static let values: [Float] = [0.5, -1.25, 3]

    static func decode(
        value: [UInt8]? = nil, id: [UInt8]?, key: [UInt8]? = nil, label: [UInt8]? = nil, maximumIdBytes: Int = 256
    ) -> (Result<DecodedEvent, InputError>, [Float]) {
        let decoder = EventDecoder(dimension: 3, maximumIdBytes: maximumIdBytes)
        let value = value ?? values.withUnsafeBytes { Array($0) }
        func optional<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
            guard let bytes else { return body(nil) }
            return bytes.withUnsafeBytes { body($0) }
        }
        let result = value.withUnsafeBytes { v in
            optional(id) { i in
                optional(key) { k in
                    optional(label) { l in
                        Result { () throws(InputError) in
                            try decoder.decodeBinary(v, idHeader: i, key: k, labelHeader: l, timestamp: 9, fallbackID: "embeddings-0-42")
                        }
                    }
                }
            }
        }
        return (result, Array(decoder.embedding))
    }

    static func failure(_ result: Result<DecodedEvent, InputError>) -> InputError? {
        if case .failure(let error) = result { return error }
        Issue.record("accepted: \(result)")
        return nil
    }

    static func check(_ error: InputError?, _ code: InputError.Code, offset: Int, mentions: String) {
        guard let error else { return }
        #expect(error.code == code, "\(error)")
        #expect(error.offset == offset, "\(error)")
        #expect(MalformedInputTests.names(error.message, offset: offset), "\(error.message)")
        #expect(MalformedInputTests.isPrintable(error.message), "\(error.message)")
        #expect(error.message.contains(mentions), "\(error.message)")
    }

    @Test func idFromHeaderThenKeyThenFallback() throws {
        let (header, embedding) = Self.decode(id: Array("h1".utf8), key: Array("k1".utf8), label: Array("2".utf8))
        #expect(try header.get() == DecodedEvent(id: "h1", label: .index(2), timestamp: 9))
        #expect(embedding == Self.values)
        #expect(try Self.decode(id: nil, key: Array("k1".utf8)).0.get().id == "k1")
        #expect(try Self.decode(id: [], key: Array("k1".utf8)).0.get().id == "k1")  // an empty header is no id
        #expect(try Self.decode(id: nil, key: nil).0.get().id == "embeddings-0-42")
        #expect(try Self.decode(id: [], key: []).0.get().id == "embeddings-0-42")
    }

    @Test func labels() throws {
        #expect(try Self.decode(id: nil, label: Array("coat".utf8)).0.get().label == .name("coat"))
        #expect(try Self.decode(id: nil, label: Array("-1".utf8)).0.get().label == .index(-1))  // out of range: the model says so
        #expect(try Self.decode(id: nil, label: Array("1.5".utf8)).0.get().label == .name("1.5"))  // not an integer: a name
        #expect(try Self.decode(id: nil, label: Array("-".utf8)).0.get().label == .name("-"))
        #expect(try Self.decode(id: nil, label: Array("1234567890123456".utf8)).0.get().label == .name("1234567890123456"))
        #expect(try Self.decode(id: nil, label: []).0.get().label == EventLabel.none)
        #expect(try Self.decode(id: nil, label: Array("l\u{E9}".utf8)).0.get().label == .name("l\u{E9}"))
    }

    @Test func invalidUTF8InIdKeyAndLabel() {
        let bad: [[UInt8]] = [[0x61, 0xC0, 0xAF], [0x61, 0xED, 0xA0, 0x80], [0x61, 0xE2, 0x82], [0x61, 0xFF], [0x61, 0x80]]
        for bytes in bad {
            Self.check(Self.failure(Self.decode(id: bytes).0), .invalidUTF8, offset: 1, mentions: "the id header")
            Self.check(Self.failure(Self.decode(id: nil, key: bytes).0), .invalidUTF8, offset: 1, mentions: "the message key")
            Self.check(Self.failure(Self.decode(id: nil, label: bytes).0), .invalidUTF8, offset: 1, mentions: "the label header")
        }
    }

    @Test func overlongIdKeyAndLabel() {
        let long = [UInt8](repeating: 0x78, count: 257)
        Self.check(Self.failure(Self.decode(id: long).0), .idTooLong, offset: 256, mentions: "input.maxIdBytes (256)")
        Self.check(Self.failure(Self.decode(id: nil, key: long).0), .idTooLong, offset: 256, mentions: "the message key")
        Self.check(Self.failure(Self.decode(id: nil, label: long).0), .labelTooLong, offset: 256, mentions: "the label header")
        // A 1.1 MB key (issue 7) is refused by length, whatever its bytes.
        let huge = [UInt8](repeating: 0xFF, count: 1_100_000)
        Self.check(Self.failure(Self.decode(id: nil, key: huge).0), .idTooLong, offset: 256, mentions: "1100000 bytes")
        // The limit is the setting's, and exactly the limit is accepted.
        Self.check(Self.failure(Self.decode(id: Array("abcde".utf8), maximumIdBytes: 4).0), .idTooLong, offset: 4, mentions: "(4)")
        #expect((try? Self.decode(id: Array("abcd".utf8), maximumIdBytes: 4).0.get())?.id == "abcd")
        #expect((try? Self.decode(id: nil, label: [UInt8](repeating: 0x78, count: 256)).0.get())?.label == .name(String(repeating: "x", count: 256)))
        // Control characters are valid UTF-8: accepted (outputs escape them), within the bound.
        #expect((try? Self.decode(id: [0x00, 0x1F]).0.get())?.id == "\u{0}\u{1F}")
    }

    @Test func wrongSizedValue() {
        let short = [UInt8](repeating: 0, count: 11)
        Self.check(Self.failure(Self.decode(value: short, id: nil).0), .wrongDimension, offset: 11, mentions: "11 bytes, expected 12")
        let long = [UInt8](repeating: 0, count: 13)
        Self.check(Self.failure(Self.decode(value: long, id: nil).0), .wrongDimension, offset: 12, mentions: "13 bytes")
        Self.check(Self.failure(Self.decode(value: [], id: nil).0), .wrongDimension, offset: 0, mentions: "0 bytes")
    }
}

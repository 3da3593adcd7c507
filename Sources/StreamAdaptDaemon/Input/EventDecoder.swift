import StreamAdaptCore

/// The label an input event carries.
public enum EventLabel: Equatable, Sendable {
    case none
    case index(Int)
    case name(String)
}

/// The fields of a decoded input event; the embedding itself is in ``EventDecoder/embedding``.
public struct DecodedEvent: Equatable, Sendable {
    public var id: String
    public var label: EventLabel
    public var timestamp: Int64?
}

/// Decodes input events into a reusable embedding buffer, without Foundation's JSONDecoder.
///
/// JSON: `{"id": "...", "embedding": [D numbers], "label": 3 | "sandal" | null, "ts": ms}` (other
/// keys are ignored). Binary: the value is D little-endian float32 and the message has the header
/// `content-type: application/x-embedding-f32`; `id` and `label` come from headers (a label header is a
/// class name, or a decimal index).
public final class EventDecoder {
    public static let binaryContentType = "application/x-embedding-f32"

    public let dimension: Int
    public let maximumBytes: Int
    /// The embedding of the last decoded event; valid entries: ``count``.
    public private(set) var embedding: [Float]
    /// Number of values in the last decoded embedding (may differ from `dimension` only when decoding
    /// failed with a wrong dimension).
    public private(set) var count = 0

    public init(dimension: Int, maximumBytes: Int = 1 << 20) {
        self.dimension = dimension
        self.maximumBytes = maximumBytes
        embedding = Array(repeating: 0, count: dimension)
    }

    /// Decodes a binary event (`application/x-embedding-f32`).
    public func decodeBinary(
        _ value: UnsafeRawBufferPointer, id: String, label: String?, timestamp: Int64?
    ) throws(InputError) -> DecodedEvent {
        guard value.count <= maximumBytes else {
            throw InputError("oversized", "message of \(value.count) bytes exceeds the limit of \(maximumBytes)")
        }
        guard value.count == dimension * 4 else {
            throw InputError(
                "wrong-dimension",
                "binary embedding has \(value.count) bytes, expected \(dimension * 4) (\(dimension) float32 values)")
        }
        embedding.withUnsafeMutableBufferPointer { out in
            for i in 0..<dimension {
                out[i] = Float(bitPattern: UInt32(littleEndian: value.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
            }
        }
        count = dimension
        var eventLabel = EventLabel.none
        if let label, !label.isEmpty {
            eventLabel = Int(label).map(EventLabel.index) ?? .name(label)
        }
        return DecodedEvent(id: id, label: eventLabel, timestamp: timestamp)
    }

    /// Decodes a JSON event.
    public func decodeJSON(_ value: UnsafeRawBufferPointer) throws(InputError) -> DecodedEvent {
        guard value.count <= maximumBytes else {
            throw InputError("oversized", "message of \(value.count) bytes exceeds the limit of \(maximumBytes)")
        }
        var parser = JSONScanner(value)
        var id: String?
        var label = EventLabel.none
        var timestamp: Int64?
        var sawEmbedding = false
        count = 0
        try parser.expect(UInt8(ascii: "{"))
        if !parser.consume(UInt8(ascii: "}")) {
            repeat {
                let key = try parser.string()
                try parser.expect(UInt8(ascii: ":"))
                switch key {
                case "id":
                    id = try Self.readID(&parser)
                case "embedding":
                    sawEmbedding = true
                    try readEmbedding(&parser)
                case "label":
                    label = try Self.readLabel(&parser)
                case "ts":
                    if !parser.consumeLiteral("null") {
                        let number = try parser.number()
                        guard abs(number) < 9e18 else { throw .unparseable("ts \(number) is out of range") }
                        timestamp = Int64(number)
                    }
                default:
                    try parser.skipValue()
                }
            } while parser.consume(UInt8(ascii: ","))
            try parser.expect(UInt8(ascii: "}"))
        }
        guard parser.atEnd else { throw .unparseable("trailing characters after the JSON object") }
        guard sawEmbedding else { throw InputError("missing-embedding", "the event has no \"embedding\" array") }
        guard count == dimension else {
            throw InputError("wrong-dimension", "embedding has \(count) values, the model expects \(dimension)")
        }
        guard let id, !id.isEmpty else { throw InputError("missing-id", "the event has no \"id\"") }
        return DecodedEvent(id: id, label: label, timestamp: timestamp)
    }

    /// Decodes a delayed-label record `{"id": "...", "label": 3 | "sandal"}`.
    public func decodeLabelRecord(_ value: UnsafeRawBufferPointer) throws(InputError) -> (id: String, label: EventLabel) {
        guard value.count <= maximumBytes else {
            throw InputError("oversized", "message of \(value.count) bytes exceeds the limit of \(maximumBytes)")
        }
        var parser = JSONScanner(value)
        var id: String?
        var label = EventLabel.none
        try parser.expect(UInt8(ascii: "{"))
        if !parser.consume(UInt8(ascii: "}")) {
            repeat {
                let key = try parser.string()
                try parser.expect(UInt8(ascii: ":"))
                switch key {
                case "id": id = try Self.readID(&parser)
                case "label": label = try Self.readLabel(&parser)
                default: try parser.skipValue()
                }
            } while parser.consume(UInt8(ascii: ","))
            try parser.expect(UInt8(ascii: "}"))
        }
        guard parser.atEnd else { throw .unparseable("trailing characters after the JSON object") }
        guard let id, !id.isEmpty else { throw InputError("missing-id", "the label record has no \"id\"") }
        guard label != .none else { throw InputError("missing-label", "the label record has no \"label\"") }
        return (id, label)
    }

    /// An id: a string, or a number kept as its text.
    private static func readID(_ parser: inout JSONScanner) throws(InputError) -> String {
        parser.peek == UInt8(ascii: "\"") ? try parser.string() : try parser.numberText()
    }

    /// A label: a class name, an integer class index, or null.
    private static func readLabel(_ parser: inout JSONScanner) throws(InputError) -> EventLabel {
        if parser.peek == UInt8(ascii: "\"") { return .name(try parser.string()) }
        if parser.consumeLiteral("null") { return .none }
        let number = try parser.number()
        guard number == number.rounded(), abs(number) < 1e15 else {
            throw .unparseable("label \(number) is not an integer class index")
        }
        return .index(Int(number))
    }

    private func readEmbedding(_ parser: inout JSONScanner) throws(InputError) {
        try parser.expect(UInt8(ascii: "["))
        if parser.consume(UInt8(ascii: "]")) { return }
        var n = 0
        repeat {
            let v = try parser.number()
            if n < dimension { embedding[n] = Float(v) }
            n += 1
        } while parser.consume(UInt8(ascii: ","))
        try parser.expect(UInt8(ascii: "]"))
        count = n
    }
}


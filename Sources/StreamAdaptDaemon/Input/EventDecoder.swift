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

/// Decodes input events into a reusable embedding buffer, strictly and with bounded work
/// (docs/input.md lists what is refused and why).
///
/// JSON: `{"id": "...", "embedding": [D numbers], "label": 3 | "sandal" | null, "ts": ms}` (other
/// keys are validated and ignored), strict RFC 8259: no duplicate keys, UTF-8 only, nesting at most
/// ``maximumDepth``. Binary: the value is D little-endian float32 and the message has the header
/// `content-type: application/x-embedding-f32`; id and label come from headers or the key
/// (EventDecoder+Binary.swift).
public final class EventDecoder {
    public static let binaryContentType = "application/x-embedding-f32"
    /// Arrays and objects may nest this deep, the event's own object included.
    public static let maximumDepth = JSONScanner.maximumDepth
    /// Longest class name a label may carry (UTF-8 bytes).
    public static let maximumLabelBytes = 256

    public let dimension: Int
    /// Longest message accepted (`input.maxMessageBytes`).
    public let maximumBytes: Int
    /// Longest event id accepted, in UTF-8 bytes after unescaping (`input.maxIdBytes`).
    public let maximumIdBytes: Int
    /// The embedding of the last decoded event; valid entries: ``count``.
    public internal(set) var embedding: [Float]
    /// Number of values in the last decoded embedding (may differ from `dimension` only when decoding
    /// failed with a wrong dimension).
    public internal(set) var count = 0
    let keys = KeyTable()

    public init(dimension: Int, maximumBytes: Int = 1 << 20, maximumIdBytes: Int = 256) {
        self.dimension = dimension
        self.maximumBytes = maximumBytes
        self.maximumIdBytes = maximumIdBytes
        embedding = Array(repeating: 0, count: dimension)
    }

    func checkSize(_ value: UnsafeRawBufferPointer) throws(InputError) {
        guard value.count <= maximumBytes else {
            throw InputError(
                code: .oversized,
                message: "message of \(value.count) bytes is larger than input.maxMessageBytes (\(maximumBytes)): refused at byte \(maximumBytes), unread",
                offset: maximumBytes)
        }
    }

    /// Decodes a JSON event.
    ///
    /// The whole message is checked as JSON before any error about its content is reported: a field
    /// of the wrong type (or too long, or not finite) is remembered, skipped as a JSON value, and
    /// reported only if the rest of the message is valid JSON. So a message that is not JSON is
    /// always refused with its first syntax error, wherever it is.
    public func decodeJSON(_ value: UnsafeRawBufferPointer) throws(InputError) -> DecodedEvent {
        try checkSize(value)
        var scanner = JSONScanner(value, keys: keys)
        var id: String?
        var idOffset = 0
        var label = EventLabel.none
        var timestamp: Int64?
        var embeddingOffset: Int?
        count = 0
        let close = try scanObject(&scanner) { (key, valueStart, scanner, seen) throws(InputError) -> Bool in
            if scanner.key(key, is: "embedding") {
                try seen(.embedding)
                embeddingOffset = valueStart
                try readEmbedding(&scanner)
            } else if scanner.key(key, is: "id") {
                try seen(.id)
                idOffset = valueStart
                id = try readID(&scanner)
            } else if scanner.key(key, is: "label") {
                try seen(.label)
                label = try Self.readLabel(&scanner)
            } else if scanner.key(key, is: "ts") {
                try seen(.ts)
                timestamp = try Self.readTimestamp(&scanner)
            } else {
                return false
            }
            return true
        }
        guard let embeddingOffset else {
            throw scanner.error(.missingEmbedding, "the event has no \"embedding\" array (its object ends)", at: close)
        }
        guard count == dimension else {
            throw scanner.error(
                .wrongDimension, "embedding has \(count) values, the model expects \(dimension)", at: embeddingOffset)
        }
        guard let id else { throw scanner.error(.missingID, "the event has no \"id\" (its object ends)", at: close) }
        guard !id.isEmpty else { throw scanner.error(.missingID, "the event's \"id\" is empty", at: idOffset) }
        return DecodedEvent(id: id, label: label, timestamp: timestamp)
    }

    /// Decodes a delayed-label record `{"id": "...", "label": 3 | "sandal"}` (other keys are
    /// validated and ignored, as in events; content errors wait for the end, as in events).
    public func decodeLabelRecord(_ value: UnsafeRawBufferPointer) throws(InputError) -> (id: String, label: EventLabel) {
        try checkSize(value)
        var scanner = JSONScanner(value, keys: keys)
        var id: String?
        var idOffset = 0
        var label = EventLabel.none
        let close = try scanObject(&scanner) { (key, valueStart, scanner, seen) throws(InputError) -> Bool in
            if scanner.key(key, is: "id") {
                try seen(.id)
                idOffset = valueStart
                id = try readID(&scanner)
            } else if scanner.key(key, is: "label") {
                try seen(.label)
                label = try Self.readLabel(&scanner)
            } else {
                return false
            }
            return true
        }
        guard let id else { throw scanner.error(.missingID, "the label record has no \"id\" (its object ends)", at: close) }
        guard !id.isEmpty else { throw scanner.error(.missingID, "the label record's \"id\" is empty", at: idOffset) }
        guard label != .none else {
            throw scanner.error(.missingLabel, "the label record has no \"label\" (or it is null; its object ends)", at: close)
        }
        return (id, label)
    }

    /// Scans the message's one JSON object to its end: for each key, `field` reads the value when the key
    /// is one it knows (after calling `seen` with it, which refuses a second occurrence) and returns true;
    /// other keys are checked for duplicates and their values validated and skipped. A content error of
    /// a known field is held until the rest is known to be JSON (see ``decodeJSON(_:)``).
    /// - Returns: the offset of the object's closing brace (where a missing field is reported).
    private func scanObject(
        _ scanner: inout JSONScanner,
        _ field: (KeyTable.Key, _ valueStart: Int, inout JSONScanner, _ seen: (Seen.Field) throws(InputError) -> Void) throws(InputError) -> Bool
    ) throws(InputError) -> Int {
        var seen = Seen()
        var pending: InputError?
        try scanner.beginObject()
        let object = keys.newObject()
        var close = scanner.position
        if !scanner.consume(UInt8(ascii: "}")) {
            repeat {
                let keyStart = scanner.position
                let key = try scanner.key()
                let valueStart = scanner.position
                do throws(InputError) {
                    let known = try field(key, valueStart, &scanner) { [scanner] (f) throws(InputError) in
                        guard seen.insert(f) else { throw Self.duplicate(scanner, keyStart) }
                    }
                    if !known { try Self.skipUnknown(key, keyStart, object, &scanner) }
                } catch {
                    try Self.postponeContentError(error, &pending, valueStart, &scanner)
                }
                close = scanner.position
            } while try scanner.next(inObject: true)
        }
        try scanner.end()
        if let pending { throw pending }
        return close
    }

    /// Codes about a value's content rather than JSON syntax: reported only once the whole message is
    /// known to be JSON (see ``decodeJSON(_:)``).
    static func isContentError(_ code: InputError.Code) -> Bool {
        switch code {
        case .wrongType, .idTooLong, .labelTooLong, .nonFinite: true
        default: false
        }
    }

    /// Rethrows a syntax error; keeps the first content error in `pending` and skips (validates) the
    /// value it was about, which starts at `valueStart`.
    private static func postponeContentError(
        _ error: InputError, _ pending: inout InputError?, _ valueStart: Int, _ scanner: inout JSONScanner
    ) throws(InputError) {
        guard isContentError(error.code) else { throw error }
        if pending == nil { pending = error }
        scanner.position = valueStart
        try scanner.skipValue(depth: 1)
    }

    /// The known keys already read, so that a second one is a duplicate without hashing anything.
    private struct Seen {
        enum Field: UInt8 { case id = 1, embedding = 2, label = 4, ts = 8 }
        var bits: UInt8 = 0

        mutating func insert(_ field: Field) -> Bool {
            defer { bits |= field.rawValue }
            return bits & field.rawValue == 0
        }
    }

    private static func duplicate(_ scanner: JSONScanner, _ keyStart: Int) -> InputError {
        scanner.error(.duplicateKey, "duplicate key in the event", at: keyStart)
    }

    /// An unknown member of the top-level object: its key must not repeat; its value is validated.
    private static func skipUnknown(
        _ key: KeyTable.Key, _ keyStart: Int, _ object: UInt64, _ scanner: inout JSONScanner
    ) throws(InputError) {
        guard scanner.keys.insert(key, object: object, input: scanner.bytes) else { throw duplicate(scanner, keyStart) }
        try scanner.skipValue(depth: 1)
    }

    /// An id: a string, or a number kept as its text; at most ``maximumIdBytes`` UTF-8 bytes.
    private func readID(_ scanner: inout JSONScanner) throws(InputError) -> String {
        let start = scanner.position
        let id: String
        switch scanner.peek {
        case UInt8(ascii: "\"")?:
            id = try scanner.stringValue()
        case UInt8(ascii: "-")?, (UInt8(ascii: "0")...UInt8(ascii: "9"))?:
            id = try scanner.numberText()
            scanner.skipSpace()
        default:
            throw Self.wrongType(scanner, "\"id\" must be a string or a number", at: start)
        }
        let length = id.utf8.count
        guard length <= maximumIdBytes else {
            throw scanner.error(.idTooLong, "id of \(length) bytes is longer than input.maxIdBytes (\(maximumIdBytes))", at: start)
        }
        return id
    }

    /// A label: a class name, an integer class index, or null.
    private static func readLabel(_ scanner: inout JSONScanner) throws(InputError) -> EventLabel {
        let start = scanner.position
        switch scanner.peek {
        case UInt8(ascii: "\"")?:
            let name = try scanner.stringValue()
            let length = name.utf8.count
            guard length <= maximumLabelBytes else {
                throw scanner.error(.labelTooLong, "label of \(length) bytes is longer than \(maximumLabelBytes)", at: start)
            }
            return .name(name)
        case UInt8(ascii: "n")?:
            _ = try scanner.consumeNull()
            return .none
        case UInt8(ascii: "-")?, (UInt8(ascii: "0")...UInt8(ascii: "9"))?:
            let number = try scanner.number()
            scanner.skipSpace()
            guard number == number.rounded(), abs(number) < 1e15 else {
                throw wrongType(scanner, "\"label\" must be an integer class index, a class name or null", at: start)
            }
            return .index(Int(number))
        default:
            throw wrongType(scanner, "\"label\" must be an integer class index, a class name or null", at: start)
        }
    }

    /// A timestamp: integer milliseconds, or null.
    private static func readTimestamp(_ scanner: inout JSONScanner) throws(InputError) -> Int64? {
        let start = scanner.position
        switch scanner.peek {
        case UInt8(ascii: "n")?:
            _ = try scanner.consumeNull()
            return nil
        case UInt8(ascii: "-")?, (UInt8(ascii: "0")...UInt8(ascii: "9"))?:
            let number = try scanner.number()
            scanner.skipSpace()
            guard number == number.rounded(), abs(number) < 9e18 else {
                throw wrongType(scanner, "\"ts\" must be integer milliseconds or null", at: start)
            }
            return Int64(number)
        default:
            throw wrongType(scanner, "\"ts\" must be integer milliseconds or null", at: start)
        }
    }

    /// The embedding array, into ``embedding``; its length goes to ``count``.
    private func readEmbedding(_ scanner: inout JSONScanner) throws(InputError) {
        guard scanner.consume(UInt8(ascii: "[")) else {
            throw Self.wrongType(scanner, "\"embedding\" must be an array of numbers", at: scanner.position)
        }
        var n = 0
        if !scanner.consume(UInt8(ascii: "]")) {
            repeat {
                let start = scanner.position
                guard let c = scanner.peek, c == UInt8(ascii: "-") || JSONScanner.isDigit(c) else {
                    throw Self.wrongType(scanner, "\"embedding\" must be an array of numbers", at: start)
                }
                let value = Float(try scanner.number())
                guard value.isFinite else {
                    throw scanner.error(.nonFinite, "embedding value \(n) is too large for a float32", at: start)
                }
                if n < dimension { embedding[n] = value }
                n += 1
                scanner.skipSpace()
            } while try scanner.next(inObject: false)
        }
        count = n
    }

    /// A wrong-type error for the value at `offset`. (Whether that value is JSON at all is checked
    /// afterwards: see ``decodeJSON(_:)``.)
    static func wrongType(_ scanner: JSONScanner, _ what: String, at offset: Int) -> InputError {
        scanner.error(.wrongType, what, at: offset)
    }
}

import StreamAdaptCore

/// Why an input message cannot be used. `code` goes into the dead-letter record's
/// `streamadapt-reason` header and the `dead_letters` metric label; `message` (which names the byte
/// offset when there is one) goes into `streamadapt-error`.
///
/// Messages are printable ASCII and bounded in length: they quote at most
/// ``InputError/quotedBytes`` bytes of the input, escaped (control bytes as `\u00XX`, other
/// non-ASCII bytes as `\xXX`), so they are safe in a Kafka header and a log line.
public struct InputError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A machine-readable reason; the raw values are stable (documented in docs/input.md).
    public enum Code: String, CaseIterable, Sendable {
        /// Not JSON, or not the event's JSON shape: unexpected or missing character, unterminated
        /// string/array/object, trailing comma or garbage, empty message, byte-order mark, bad literal.
        case unparseable
        /// A number outside RFC 8259's grammar (`01`, `.5`, `5.`, `1e`, `+1`, `0x10`, `NaN`, ...).
        case invalidNumber = "invalid-number"
        /// A backslash escape that JSON does not define (`\x`, `\U`, `\u12`).
        case invalidEscape = "invalid-escape"
        /// A `\uD800`-`\uDFFF` escape that is not half of a high-low surrogate pair.
        case loneSurrogate = "lone-surrogate"
        /// A raw control character (U+0000-U+001F) inside a string.
        case controlCharacter = "control-character"
        /// Bytes that are not UTF-8 (in a JSON string, or in a binary event's id/label header or key).
        case invalidUTF8 = "invalid-utf8"
        /// The same key twice in one JSON object (at any depth).
        case duplicateKey = "duplicate-key"
        /// Arrays/objects nested deeper than ``EventDecoder/maximumDepth``.
        case tooDeep = "too-deep"
        /// A known field of the event has the wrong JSON type (embedding not an array of numbers, id
        /// not a string or number, label not a string, integer or null, ts not an integer).
        case wrongType = "wrong-type"
        /// The message is larger than `input.maxMessageBytes`.
        case oversized
        /// The event's id is longer than `input.maxIdBytes` (UTF-8 bytes, after unescaping).
        case idTooLong = "id-too-long"
        /// The label's class name is longer than ``EventDecoder/maximumLabelBytes``.
        case labelTooLong = "label-too-long"
        /// The event has no (or an empty) `id`.
        case missingID = "missing-id"
        /// The event has no `embedding`.
        case missingEmbedding = "missing-embedding"
        /// A label record has no `label`.
        case missingLabel = "missing-label"
        /// The embedding does not have the model's dimension.
        case wrongDimension = "wrong-dimension"
        /// An embedding value is NaN or infinite (or too large for a float32).
        case nonFinite = "non-finite"
        /// The embedding is a zero vector.
        case zeroVector = "zero-vector"
        /// The label names no class of the model.
        case unknownClass = "unknown-class"
        /// The label's class index is outside the class list.
        case labelOutOfRange = "label-out-of-range"
        /// The label names a retired class (`docs/classes.md`).
        case retiredClass = "retired-class"
        /// A control record that is not `{"op": "add-class", "name", "embedding"}` or
        /// `{"op": "retire-class", "name"}` (`docs/classes.md`).
        case invalidControl = "invalid-control"
        /// add-class: a class of that name exists with another embedding, or is retired.
        case duplicateClass = "duplicate-class"
        /// add-class: an empty class name or one longer than 256 UTF-8 bytes.
        case invalidClassName = "invalid-class-name"
        /// retire-class: the class is the last active one.
        case lastActiveClass = "last-active-class"
        /// add-class: the head cannot take new classes.
        case unsupportedHead = "unsupported-head"
        /// add-class: the model holds `model.maxClasses` classes (active and retired).
        case tooManyClasses = "too-many-classes"
        /// An output record for this input would be larger than the producer can send (output side).
        case outputTooLarge = "output-too-large"
    }

    public var code: Code
    /// What is wrong, with `at byte N` when there is an offset; printable ASCII.
    public var message: String
    /// Byte offset of the problem: in the message value for JSON; in the header or key named by the
    /// message for a binary event's id and label.
    public var offset: Int?

    public init(code: Code, message: String, offset: Int? = nil) {
        self.code = code
        self.message = message
        self.offset = offset
    }

    public init(_ error: EmbeddingError) {
        message = error.description
        switch error {
        case .wrongDimension: code = .wrongDimension
        case .nonFinite: code = .nonFinite
        case .zeroVector: code = .zeroVector
        case .labelOutOfRange: code = .labelOutOfRange
        case .retiredClass: code = .retiredClass
        case .unknownClassName(let name):
            code = .unknownClass
            // The name is input: quote it escaped and bounded, never raw.
            message = "unknown class name \"\(name.utf8.withContiguousStorageIfAvailable { Self.quote($0) } ?? Self.quote(Array(name.utf8)))\""
        }
    }

    public var description: String { "\(code.rawValue): \(message)" }

    /// At most this many input bytes are quoted in a message.
    public static let quotedBytes = 32

    /// A syntax-level error at `offset` of `input`: the message is `what at byte N, near "<context>"`.
    static func at(_ code: Code, _ what: String, offset: Int, in input: UnsafeRawBufferPointer) -> InputError {
        let message: String
        if offset < input.count {
            let end = min(input.count, offset + quotedBytes)
            let context = quote(UnsafeRawBufferPointer(rebasing: input[offset..<end]))
            message = "\(what) at byte \(offset), near \"\(context)\(end < input.count ? "..." : "")\""
        } else {
            message = "\(what) at byte \(offset) (end of input)"
        }
        return InputError(code: code, message: message, offset: offset)
    }

    /// `bytes` (at most ``quotedBytes`` of them, then `...`) as printable ASCII: `"` and `\` escaped,
    /// control bytes and DEL as `\u00XX`, bytes >= 0x80 as `\xXX`.
    static func quote<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        let hex: [Character] = Array("0123456789ABCDEF")
        var out = ""
        var n = 0
        for b in bytes {
            if n == quotedBytes {
                out += "..."
                break
            }
            n += 1
            switch b {
            case UInt8(ascii: "\""): out += "\\\""
            case UInt8(ascii: "\\"): out += "\\\\"
            case 0x20..<0x7F: out.append(Character(UnicodeScalar(b)))
            case 0x80...: out += "\\x"; out.append(hex[Int(b >> 4)]); out.append(hex[Int(b & 15)])
            default: out += "\\u00"; out.append(hex[Int(b >> 4)]); out.append(hex[Int(b & 15)])
            }
        }
        return out
    }
}

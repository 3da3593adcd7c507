#if canImport(Glibc)
import Glibc
#endif

/// A strict RFC 8259 JSON scanner over raw bytes, with bounded work and no allocation for strings
/// without escapes. Hand-written rather than Foundation's `JSONSerialization`/`JSONDecoder`: those
/// build an object tree (or boxed values) per event and took 11 to 19 times the scanner's time on
/// D = 512 and 1024 events (`streamadapt bench --decoder`, docs/input.md), and they do not refuse
/// duplicate keys.
///
/// The token methods leave ``position`` just after the token; the structural methods skip the
/// whitespace that follows. Every error is an ``InputError`` naming the byte offset.
/// Values the decoder does not read are skipped by ``skipValue(depth:)`` (JSONScanner+Skip.swift).
struct JSONScanner {
    /// Arrays and objects may nest this deep, the event's own object included.
    static let maximumDepth = 64

    let bytes: UnsafeRawBufferPointer
    var position = 0
    let keys: KeyTable

    init(_ bytes: UnsafeRawBufferPointer, keys: KeyTable) {
        self.bytes = bytes
        self.keys = keys
        keys.beginMessage()
    }

    var atEnd: Bool { position >= bytes.count }
    var peek: UInt8? { position < bytes.count ? bytes[position] : nil }

    func error(_ code: InputError.Code, _ what: String, at offset: Int) -> InputError {
        .at(code, what, offset: offset, in: bytes)
    }

    @inline(__always)
    mutating func skipSpace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    /// Consumes `c` and the whitespace after it, if `c` is next.
    @inline(__always)
    mutating func consume(_ c: UInt8) -> Bool {
        guard position < bytes.count, bytes[position] == c else { return false }
        position += 1
        skipSpace()
        return true
    }

    // MARK: Structure

    /// The start of a message: `{` after optional whitespace; refuses an empty message and a BOM.
    mutating func beginObject() throws(InputError) -> Void {
        if bytes.isEmpty { throw error(.unparseable, "empty message", at: 0) }
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
            throw error(.unparseable, "byte-order mark (EF BB BF) before the JSON text", at: 0)
        }
        skipSpace()
        guard consume(UInt8(ascii: "{")) else {
            throw atEnd ? error(.unparseable, "expected '{' but the message is only whitespace", at: position)
                : error(.unparseable, "expected a JSON object '{'", at: position)
        }
    }

    /// After a member of an object (or an element of an array): true after a `,` (and checks that a
    /// member or element follows), false after the closing `}` (or `]`).
    mutating func next(inObject: Bool) throws(InputError) -> Bool {
        let close = inObject ? UInt8(ascii: "}") : UInt8(ascii: "]")
        guard position < bytes.count else {
            throw error(.unparseable, inObject ? "unterminated object" : "unterminated array", at: position)
        }
        let c = bytes[position]
        if c == close {
            position += 1
            skipSpace()
            return false
        }
        guard c == UInt8(ascii: ",") else {
            throw error(
                .unparseable, inObject ? "expected ',' or '}' after an object member" : "expected ',' or ']' after an array element",
                at: position)
        }
        let comma = position
        position += 1
        skipSpace()
        if peek == close { throw error(.unparseable, "trailing comma", at: comma) }
        return true
    }

    /// A member's key and the `:` after it; the position is then at the member's value.
    mutating func key() throws(InputError) -> KeyTable.Key {
        guard peek == UInt8(ascii: "\"") else {
            throw atEnd ? error(.unparseable, "unterminated object", at: position)
                : error(.unparseable, "expected a string key", at: position)
        }
        let string = try scanString()
        let key: KeyTable.Key
        if string.escaped {
            let start = keys.scratch.count
            unescape(string.start, string.end)
            key = KeyTable.Key(start: start, length: keys.scratch.count - start, inScratch: true)
        } else {
            key = KeyTable.Key(start: string.start, length: string.end - string.start, inScratch: false)
        }
        skipSpace()
        guard consume(UInt8(ascii: ":")) else { throw error(.unparseable, "expected ':' after the key", at: position) }
        return key
    }

    /// Whether `key` is `name`.
    func key(_ key: KeyTable.Key, is name: StaticString) -> Bool {
        guard key.length == name.utf8CodeUnitCount else { return false }
        return keys.withBytes(key, bytes) { k in
            let p = name.utf8Start
            for i in 0..<k.count where k[i] != p[i] { return false }
            return true
        }
    }

    /// Refuses anything but whitespace after the event's object.
    func end() throws(InputError) {
        guard atEnd else { throw error(.unparseable, "trailing characters after the JSON object", at: position) }
    }

    /// The error for a byte that cannot start a JSON value.
    func notAValue(at offset: Int) -> InputError {
        guard offset < bytes.count else { return error(.unparseable, "expected a value", at: offset) }
        switch bytes[offset] {
        case UInt8(ascii: "."), UInt8(ascii: "+"):
            return error(.invalidNumber, "invalid number: a number starts with '-' or a digit", at: offset)
        case UInt8(ascii: "N"), UInt8(ascii: "I"):
            if hasPrefix("NaN", at: offset) || hasPrefix("Infinity", at: offset) {
                return error(.invalidNumber, "invalid number: NaN and Infinity are not JSON", at: offset)
            }
        case UInt8(ascii: "]"), UInt8(ascii: "}"), UInt8(ascii: ","):
            return error(.unparseable, "expected a value", at: offset)
        default: break
        }
        return error(.unparseable, "unexpected character, expected a value", at: offset)
    }

    private func hasPrefix(_ literal: StaticString, at offset: Int) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard offset + n <= bytes.count else { return false }
        let p = literal.utf8Start
        for i in 0..<n where bytes[offset + i] != p[i] { return false }
        return true
    }

    // MARK: Literals

    /// `true`, `false` or `null` at the position (whose first letter is checked by the caller).
    mutating func literal() throws(InputError) {
        let start = position
        let literal: StaticString
        switch bytes[position] {
        case UInt8(ascii: "t"): literal = "true"
        case UInt8(ascii: "f"): literal = "false"
        default: literal = "null"
        }
        let n = literal.utf8CodeUnitCount
        guard hasPrefix(literal, at: start), !(start + n < bytes.count && Self.continuesToken(bytes[start + n])) else {
            throw error(.unparseable, "invalid literal (expected true, false or null)", at: start)
        }
        position += n
    }

    /// Consumes `null` (and the whitespace after it) if it is next.
    mutating func consumeNull() throws(InputError) -> Bool {
        guard peek == UInt8(ascii: "n") else { return false }
        try literal()
        skipSpace()
        return true
    }

    /// Letters, digits and the characters of numbers: a token followed by one of these is malformed.
    @inline(__always)
    static func continuesToken(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "."), UInt8(ascii: "+"), UInt8(ascii: "-"):
            true
        default: false
        }
    }
}

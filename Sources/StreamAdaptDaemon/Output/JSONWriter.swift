/// Appends JSON to a reusable byte buffer (no Foundation, no intermediate strings for structure).
///
/// Strings are escaped as RFC 8259 requires: `"` and `\`, and every control character U+0000..U+001F
/// (`\b \t \n \f \r` in their short forms, the others as `\u00XX`); everything else is copied as its
/// UTF-8 bytes (a Swift `String` is always valid UTF-8, so the output is too). Numbers: finite doubles
/// in Swift's shortest round-tripping form, non-finite ones as `null`; integers as integers.
///
/// It is a `TextOutputStream` only so that numbers can write themselves into it (see
/// ``number(_:)-(Double)``): text written that way is copied unescaped.
struct JSONWriter: TextOutputStream {
    var bytes: [UInt8] = []

    init(capacity: Int = 1024) { bytes.reserveCapacity(capacity) }

    mutating func reset() { bytes.removeAll(keepingCapacity: true) }

    mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// `s` as a quoted, escaped JSON string.
    mutating func string(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for c in s.utf8 {
            if let letter = Self.shortEscape(c) {
                bytes.append(UInt8(ascii: "\\"))
                bytes.append(letter)
            } else if c < 0x20 {
                raw("\\u00")
                bytes.append(Self.hexDigit(c >> 4))
                bytes.append(Self.hexDigit(c & 0xF))
            } else {
                bytes.append(c)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// The bytes ``string(_:)`` writes for `s`, quotes included, without writing them (the same table:
    /// the size check before the model relies on the two agreeing).
    static func encodedCount(_ s: String) -> Int {
        var n = 2
        for c in s.utf8 { n += shortEscape(c) != nil ? 2 : c < 0x20 ? 6 : 1 }
        return n
    }

    /// The letter of a byte's two-character JSON escape (`\"`, `\\`, `\b`, `\t`, `\n`, `\f`, `\r`), or nil
    /// (other control bytes are written `\u00XX`, everything else as is).
    private static func shortEscape(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "\""): UInt8(ascii: "\"")
        case UInt8(ascii: "\\"): UInt8(ascii: "\\")
        case 0x08: UInt8(ascii: "b")
        case 0x09: UInt8(ascii: "t")
        case 0x0A: UInt8(ascii: "n")
        case 0x0C: UInt8(ascii: "f")
        case 0x0D: UInt8(ascii: "r")
        default: nil
        }
    }

    /// The most bytes ``number(_:)-(Double)`` and the integer forms write (`-2.2250738585072014e-308`
    /// is 24; `-9223372036854775808` is 20).
    static let maximumNumberBytes = 24

    /// A finite double in Swift's shortest round-tripping form (`0.91`, `1e-05`, `1.0`), else `null`.
    ///
    /// Through `TextOutputStreamable`: the standard library formats the digits in a stack buffer and
    /// hands them to ``_writeASCII(_:)``, so no String is allocated per number (measured in
    /// docs/outputs.md: 0 allocations instead of 1 per number, about half the time).
    mutating func number(_ v: Double) {
        if v.isFinite { v.write(to: &self) } else { raw("null") }
    }

    mutating func number(_ v: Int) { number(Int64(v)) }

    /// Decimal digits written straight into the buffer (no String per number).
    mutating func number(_ v: Int64) {
        if v < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = v.magnitude
        let start = bytes.count
        repeat {
            bytes.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        } while magnitude > 0
        var (i, j) = (start, bytes.count - 1)  // reversed in place (a slice's reverse() copies the buffer)
        while i < j {
            bytes.swapAt(i, j)
            i += 1
            j -= 1
        }
    }

    mutating func bool(_ v: Bool) { v ? raw("true") : raw("false") }

    /// `"key":` (the key must not need escaping).
    mutating func key(_ k: StaticString) {
        bytes.append(UInt8(ascii: "\""))
        raw(k)
        raw("\":")
    }

    static func hexDigit(_ n: UInt8) -> UInt8 { n < 10 ? UInt8(ascii: "0") + n : UInt8(ascii: "a") + n - 10 }

    // MARK: - TextOutputStream (for numbers only)

    mutating func write(_ string: String) { bytes.append(contentsOf: string.utf8) }

    /// The standard library's hook for ASCII text formatted in a buffer (floating-point numbers): the
    /// bytes are copied without building a String. Should the hook go away, ``write(_:)`` is called
    /// instead, with the same bytes.
    mutating func _writeASCII(_ buffer: UnsafeBufferPointer<UInt8>) { bytes.append(contentsOf: buffer) }
}

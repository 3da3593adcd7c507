#if canImport(Glibc)
import Glibc
#endif

/// Numbers, by RFC 8259's grammar: `-? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?`.
extension JSONScanner {
    /// Scans the number at the position (which starts with `-` or a digit) and returns its value
    /// (when `value` is set; otherwise 0): exact for up to 19 significant digits and |exponent| <= 22,
    /// otherwise correctly rounded through strtod. The position is then just after the number.
    @inline(__always)
    mutating func number(value: Bool = true) throws(InputError) -> Double {
        let start = position
        let n = bytes.count
        var i = position
        var negative = false
        if bytes[i] == UInt8(ascii: "-") {
            negative = true
            i += 1
        }
        var mantissa: UInt64 = 0
        var digits = 0
        var exponent = 0
        guard i < n, Self.isDigit(bytes[i]) else {
            throw error(.invalidNumber, "invalid number: '-' must be followed by a digit", at: start)
        }
        if bytes[i] == UInt8(ascii: "0") {
            i += 1
            if i < n, Self.isDigit(bytes[i]) { throw error(.invalidNumber, "invalid number: leading zero", at: start) }
        } else {
            while i < n, Self.isDigit(bytes[i]) {
                if digits < 19 {
                    mantissa = mantissa &* 10 &+ UInt64(bytes[i] &- 0x30)
                    digits += 1
                } else {
                    exponent += 1
                }
                i += 1
            }
        }
        if i < n, bytes[i] == UInt8(ascii: ".") {
            i += 1
            guard i < n, Self.isDigit(bytes[i]) else {
                throw error(.invalidNumber, "invalid number: the decimal point must be followed by a digit", at: start)
            }
            while i < n, Self.isDigit(bytes[i]) {
                if digits < 19 {
                    mantissa = mantissa &* 10 &+ UInt64(bytes[i] &- 0x30)
                    if mantissa > 0 { digits += 1 }
                    exponent -= 1
                }
                i += 1
            }
        }
        if i < n, bytes[i] | 0x20 == UInt8(ascii: "e") {
            i += 1
            var exponentNegative = false
            if i < n, bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+") {
                exponentNegative = bytes[i] == UInt8(ascii: "-")
                i += 1
            }
            guard i < n, Self.isDigit(bytes[i]) else {
                throw error(.invalidNumber, "invalid number: the exponent has no digits", at: start)
            }
            var e = 0
            while i < n, Self.isDigit(bytes[i]) {
                if e < 100_000 { e = e * 10 + Int(bytes[i] &- 0x30) }
                i += 1
            }
            exponent += exponentNegative ? -e : e
        }
        if i < n, Self.continuesToken(bytes[i]) {
            throw error(.invalidNumber, "invalid number: unexpected character after it", at: start)
        }
        position = i
        guard value else { return 0 }
        if mantissa < (1 << 53), exponent >= -22, exponent <= 22 {
            var v = Double(mantissa)
            if exponent < 0 { v /= Self.powers[-exponent] } else if exponent > 0 { v *= Self.powers[exponent] }
            return negative ? -v : v
        }
        // Correctly rounded through strtod, from a NUL-terminated copy on the stack (the text was
        // checked above, so strtod reads exactly the JSON number).
        let count = i - start
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: count + 1) { text in
            for k in 0..<count { text[k] = CChar(bitPattern: bytes[start + k]) }
            text[count] = 0
            return strtod(text.baseAddress!, nil)
        }
    }

    /// The text of the number at the position (for ids given as numbers).
    mutating func numberText() throws(InputError) -> String {
        let start = position
        _ = try number(value: false)
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
    }

    @inline(__always)
    static func isDigit(_ c: UInt8) -> Bool { c &- 0x30 < 10 }

    private static let powers: [Double] = (0...22).map { n in (0..<n).reduce(1.0) { v, _ in v * 10 } }
}

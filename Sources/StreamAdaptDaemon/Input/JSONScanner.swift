#if canImport(Glibc)
import Glibc
#endif

/// A minimal, allocation-light JSON scanner over raw bytes.
struct JSONScanner {
    let bytes: UnsafeRawBufferPointer
    var position = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        skipSpace()
    }

    var atEnd: Bool { position >= bytes.count }
    var peek: UInt8? { position < bytes.count ? bytes[position] : nil }

    mutating func skipSpace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    mutating func consume(_ c: UInt8) -> Bool {
        guard peek == c else { return false }
        position += 1
        skipSpace()
        return true
    }

    mutating func expect(_ c: UInt8) throws(InputError) {
        guard consume(c) else {
            let found = peek.map { "'\(Character(UnicodeScalar($0)))'" } ?? "end of input"
            throw .unparseable("expected '\(Character(UnicodeScalar(c)))' at byte \(position), found \(found)")
        }
    }

    mutating func consumeLiteral(_ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard position + n <= bytes.count else { return false }
        let p = literal.utf8Start
        for i in 0..<n where bytes[position + i] != p[i] { return false }
        position += n
        skipSpace()
        return true
    }

    mutating func string() throws(InputError) -> String {
        guard peek == UInt8(ascii: "\"") else { throw .unparseable("expected a string at byte \(position)") }
        position += 1
        let start = position
        // Fast path: no escapes.
        while position < bytes.count, bytes[position] != UInt8(ascii: "\""), bytes[position] != UInt8(ascii: "\\") {
            position += 1
        }
        guard position < bytes.count else { throw .unparseable("unterminated string") }
        if bytes[position] == UInt8(ascii: "\"") {
            let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
            position += 1
            skipSpace()
            return s
        }
        var scalars = Array(bytes[start..<position])
        while position < bytes.count {
            let c = bytes[position]
            position += 1
            if c == UInt8(ascii: "\"") {
                skipSpace()
                return String(decoding: scalars, as: UTF8.self)
            }
            guard c == UInt8(ascii: "\\") else {
                scalars.append(c)
                continue
            }
            guard position < bytes.count else { break }
            let e = bytes[position]
            position += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(e)
            case UInt8(ascii: "b"): scalars.append(0x08)
            case UInt8(ascii: "f"): scalars.append(0x0C)
            case UInt8(ascii: "n"): scalars.append(0x0A)
            case UInt8(ascii: "r"): scalars.append(0x0D)
            case UInt8(ascii: "t"): scalars.append(0x09)
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800..<0xDC00).contains(code), consumeLiteral("\\u") {
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else {
                        throw .unparseable("invalid surrogate pair \\u\(String(code, radix: 16))\\u\(String(low, radix: 16))")
                    }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                }
                UTF8.encode(UnicodeScalar(code) ?? "\u{FFFD}", into: { scalars.append($0) })
            default: throw .unparseable("bad escape '\\\(Character(UnicodeScalar(e)))' at byte \(position - 1)")
            }
        }
        throw .unparseable("unterminated string")
    }

    private mutating func hex4() throws(InputError) -> UInt32 {
        guard position + 4 <= bytes.count else { throw .unparseable("short \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[position]
            position += 1
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw .unparseable("bad \\u escape")
            }
            v = v << 4 | d
        }
        return v
    }

    /// The text of a number (for ids given as numbers).
    mutating func numberText() throws(InputError) -> String {
        let start = position
        _ = try number()
        var end = position
        while end > start, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[end - 1]) { end -= 1 }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
    }

    /// Parses a JSON number: exact for up to 19 significant digits and |exponent| <= 22, otherwise
    /// correctly rounded through strtod.
    mutating func number() throws(InputError) -> Double {
        let start = position
        var negative = false
        if peek == UInt8(ascii: "-") {
            negative = true
            position += 1
        }
        var mantissa: UInt64 = 0
        var digits = 0
        var exponent = 0
        var sawDigit = false
        while let c = peek, c >= 0x30, c <= 0x39 {
            sawDigit = true
            if digits < 19 {
                mantissa = mantissa * 10 + UInt64(c - 0x30)
                if mantissa > 0 { digits += 1 }
            } else {
                exponent += 1
            }
            position += 1
        }
        if peek == UInt8(ascii: ".") {
            position += 1
            while let c = peek, c >= 0x30, c <= 0x39 {
                sawDigit = true
                if digits < 19 {
                    mantissa = mantissa * 10 + UInt64(c - 0x30)
                    if mantissa > 0 { digits += 1 }
                    exponent -= 1
                }
                position += 1
            }
        }
        guard sawDigit else { throw .unparseable("expected a number at byte \(start)") }
        if let c = peek, c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
            position += 1
            var expNegative = false
            if peek == UInt8(ascii: "-") || peek == UInt8(ascii: "+") {
                expNegative = peek == UInt8(ascii: "-")
                position += 1
            }
            var e = 0
            var sawExp = false
            while let c = peek, c >= 0x30, c <= 0x39 {
                sawExp = true
                if e < 100_000 { e = e * 10 + Int(c - 0x30) }
                position += 1
            }
            guard sawExp else { throw .unparseable("bad exponent at byte \(start)") }
            exponent += expNegative ? -e : e
        }
        let end = position
        skipSpace()
        var value: Double
        if mantissa < (1 << 53), abs(exponent) <= 22 {
            value = Double(mantissa)
            if exponent < 0 { value /= Self.powers[-exponent] } else if exponent > 0 { value *= Self.powers[exponent] }
        } else {
            // Correctly rounded through strtod, from a NUL-terminated copy on the stack.
            let count = end - start
            return withUnsafeTemporaryAllocation(of: CChar.self, capacity: count + 1) { text in
                for i in 0..<count { text[i] = CChar(bitPattern: bytes[start + i]) }
                text[count] = 0
                return strtod(text.baseAddress!, nil)
            }
        }
        return negative ? -value : value
    }

    private static let powers: [Double] = (0...22).map { pow10($0) }

    private static func pow10(_ n: Int) -> Double {
        var v = 1.0
        for _ in 0..<n { v *= 10 }
        return v
    }

    /// Skips any JSON value.
    mutating func skipValue() throws(InputError) {
        guard let c = peek else { throw .unparseable("expected a value at end of input") }
        switch c {
        case UInt8(ascii: "\""): _ = try string()
        case UInt8(ascii: "{"):
            position += 1
            skipSpace()
            if consume(UInt8(ascii: "}")) { return }
            repeat {
                _ = try string()
                try expect(UInt8(ascii: ":"))
                try skipValue()
            } while consume(UInt8(ascii: ","))
            try expect(UInt8(ascii: "}"))
        case UInt8(ascii: "["):
            position += 1
            skipSpace()
            if consume(UInt8(ascii: "]")) { return }
            repeat { try skipValue() } while consume(UInt8(ascii: ","))
            try expect(UInt8(ascii: "]"))
        case UInt8(ascii: "t"): guard consumeLiteral("true") else { throw .unparseable("bad literal at byte \(position)") }
        case UInt8(ascii: "f"): guard consumeLiteral("false") else { throw .unparseable("bad literal at byte \(position)") }
        case UInt8(ascii: "n"): guard consumeLiteral("null") else { throw .unparseable("bad literal at byte \(position)") }
        default: _ = try number()
        }
    }
}

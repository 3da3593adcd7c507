/// Strings: validated in one pass (UTF-8, control characters, escapes, surrogate pairs); unescaped
/// in a second pass only when they have escapes.
extension JSONScanner {
    /// Scans the string at the position (a `"`), leaving the position after its closing quote.
    /// Returns the range of its content in the message and whether it has escapes.
    mutating func scanString() throws(InputError) -> (start: Int, end: Int, escaped: Bool) {
        let open = position
        position += 1
        var escaped = false
        let n = bytes.count
        while true {
            // Fast path: printable ASCII.
            while position < n {
                let b = bytes[position]
                if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") || b < 0x20 || b >= 0x80 { break }
                position += 1
            }
            guard position < n else { throw error(.unparseable, "unterminated string", at: open) }
            let b = bytes[position]
            if b == UInt8(ascii: "\"") {
                position += 1
                return (open + 1, position - 1, escaped)
            } else if b == UInt8(ascii: "\\") {
                escaped = true
                try scanEscape(open: open)
            } else if b < 0x20 {
                throw error(.controlCharacter, "raw control character in a string (escape it as \\u00XX)", at: position)
            } else if let length = UTF8Validation.sequenceLength(bytes, at: position) {
                position += length
            } else {
                throw error(.invalidUTF8, "invalid UTF-8 in a string", at: position)
            }
        }
    }

    /// Checks the escape at the position (a `\`) and moves past it; a high-surrogate `\u` escape
    /// must be followed by a low-surrogate one.
    private mutating func scanEscape(open: Int) throws(InputError) {
        let start = position
        guard start + 1 < bytes.count else { throw error(.unparseable, "unterminated string", at: open) }
        switch bytes[start + 1] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
            UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            position += 2
        case UInt8(ascii: "u"):
            let unit = try hex4(escapeAt: start)
            position += 6
            if unit >= 0xDC00 && unit <= 0xDFFF {
                throw error(.loneSurrogate, "low surrogate escape without a high surrogate before it", at: start)
            }
            if unit >= 0xD800 && unit <= 0xDBFF {
                guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u")
                else { throw error(.loneSurrogate, "high surrogate escape not followed by a low surrogate escape", at: start) }
                let low = try hex4(escapeAt: position)
                guard low >= 0xDC00 && low <= 0xDFFF else {
                    throw error(.loneSurrogate, "high surrogate escape not followed by a low surrogate escape", at: start)
                }
                position += 6
            }
        default:
            throw error(.invalidEscape, "invalid escape (JSON has \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)", at: start)
        }
    }

    /// The 4 hex digits of the `\u` escape at `escapeAt`.
    private func hex4(escapeAt start: Int) throws(InputError) -> UInt32 {
        guard start + 6 <= bytes.count else { throw error(.invalidEscape, "\\u escape needs 4 hex digits", at: start) }
        var value: UInt32 = 0
        for i in (start + 2)..<(start + 6) {
            let c = bytes[i]
            let digit: UInt32
            switch c {
            case 0x30...0x39: digit = UInt32(c - 0x30)
            case 0x41...0x46: digit = UInt32(c - 0x41 + 10)
            case 0x61...0x66: digit = UInt32(c - 0x61 + 10)
            default: throw error(.invalidEscape, "\\u escape needs 4 hex digits", at: start)
            }
            value = value << 4 | digit
        }
        return value
    }

    /// Appends the unescaped UTF-8 of the content `start..<end` of a string validated by
    /// ``scanString()`` to the key table's scratch buffer.
    func unescape(_ start: Int, _ end: Int) {
        var i = start
        while i < end {
            let b = bytes[i]
            guard b == UInt8(ascii: "\\") else {
                keys.scratch.append(b)
                i += 1
                continue
            }
            let e = bytes[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "b"): keys.scratch.append(0x08)
            case UInt8(ascii: "f"): keys.scratch.append(0x0C)
            case UInt8(ascii: "n"): keys.scratch.append(0x0A)
            case UInt8(ascii: "r"): keys.scratch.append(0x0D)
            case UInt8(ascii: "t"): keys.scratch.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = hexValue(i)
                i += 4
                if scalar >= 0xD800 && scalar <= 0xDBFF {  // validated: a low surrogate escape follows
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (hexValue(i + 2) - 0xDC00)
                    i += 6
                }
                // Validated: not a lone surrogate, so always a scalar.
                UTF8.encode(Unicode.Scalar(scalar) ?? "\u{FFFD}") { keys.scratch.append($0) }
            default: keys.scratch.append(e)  // " \ /
            }
        }
    }

    private func hexValue(_ at: Int) -> UInt32 {
        var value: UInt32 = 0
        for i in at..<(at + 4) {
            let c = bytes[i]
            value = value << 4 | UInt32(c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x61 + 10)
        }
        return value
    }

    /// The string at the position as a Swift string; the position is then after the string and the
    /// whitespace after it.
    mutating func stringValue() throws(InputError) -> String {
        let string = try scanString()
        skipSpace()
        if !string.escaped {
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[string.start..<string.end]), as: UTF8.self)
        }
        let mark = keys.scratch.count
        unescape(string.start, string.end)
        let value = keys.scratch.withUnsafeBufferPointer {
            String(decoding: UnsafeBufferPointer(rebasing: $0[mark...]), as: UTF8.self)
        }
        keys.scratch.removeSubrange(mark...)
        return value
    }
}

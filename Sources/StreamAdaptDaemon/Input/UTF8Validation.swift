/// UTF-8 validation by the well-formed byte sequences of the Unicode standard (Table 3-7): no
/// overlong forms, no encoded surrogates (U+D800-U+DFFF), nothing above U+10FFFF, no truncated
/// sequences, no bytes C0, C1 or F5-FF.
enum UTF8Validation {
    /// The length (2-4) of the well-formed multi-byte sequence starting at `i` (whose byte is
    /// >= 0x80), or nil if the bytes there are not UTF-8.
    @inline(__always)
    static func sequenceLength(_ bytes: UnsafeRawBufferPointer, at i: Int) -> Int? {
        let b0 = bytes[i]
        let n = bytes.count
        @inline(__always) func continuation(_ j: Int, _ low: UInt8 = 0x80, _ high: UInt8 = 0xBF) -> Bool {
            j < n && bytes[j] >= low && bytes[j] <= high
        }
        switch b0 {
        case 0xC2...0xDF:
            return continuation(i + 1) ? 2 : nil
        case 0xE0:
            return continuation(i + 1, 0xA0) && continuation(i + 2) ? 3 : nil
        case 0xE1...0xEC, 0xEE...0xEF:
            return continuation(i + 1) && continuation(i + 2) ? 3 : nil
        case 0xED:
            return continuation(i + 1, 0x80, 0x9F) && continuation(i + 2) ? 3 : nil
        case 0xF0:
            return continuation(i + 1, 0x90) && continuation(i + 2) && continuation(i + 3) ? 4 : nil
        case 0xF1...0xF3:
            return continuation(i + 1) && continuation(i + 2) && continuation(i + 3) ? 4 : nil
        case 0xF4:
            return continuation(i + 1, 0x80, 0x8F) && continuation(i + 2) && continuation(i + 3) ? 4 : nil
        default:
            return nil
        }
    }

    /// The offset of the first byte sequence in `bytes` that is not UTF-8, or nil if all of it is.
    static func firstInvalidOffset(_ bytes: UnsafeRawBufferPointer) -> Int? {
        var i = 0
        while i < bytes.count {
            if bytes[i] < 0x80 {
                i += 1
            } else if let length = sequenceLength(bytes, at: i) {
                i += length
            } else {
                return i
            }
        }
        return nil
    }
}

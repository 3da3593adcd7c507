/// Appends JSON to a reusable byte buffer (no Foundation, no intermediate strings for structure).
struct JSONWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 1024) { bytes.reserveCapacity(capacity) }

    mutating func reset() { bytes.removeAll(keepingCapacity: true) }

    mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func string(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for c in s.utf8 {
            switch c {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case 0x0A: raw("\\n")
            case 0x0D: raw("\\r")
            case 0x09: raw("\\t")
            case 0..<0x20:
                raw("\\u00")
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(hex[Int(c >> 4)])
                bytes.append(hex[Int(c & 0xF)])
            default: bytes.append(c)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func number(_ v: Double) {
        if v.isFinite { bytes.append(contentsOf: "\(v)".utf8) } else { raw("null") }
    }

    mutating func number(_ v: Int) { bytes.append(contentsOf: "\(v)".utf8) }
    mutating func number(_ v: Int64) { bytes.append(contentsOf: "\(v)".utf8) }
    mutating func bool(_ v: Bool) { v ? raw("true") : raw("false") }

    /// `"key":` (the key must not need escaping).
    mutating func key(_ k: StaticString) {
        bytes.append(UInt8(ascii: "\""))
        raw(k)
        raw("\":")
    }
}

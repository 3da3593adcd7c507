import Foundation

/// A minimal JSON writer for the dashboard document: numbers, strings, arrays, objects, appended to one
/// byte buffer (the document is built every half second, so it reuses its capacity).
struct DashboardJSON {
    private(set) var bytes: [UInt8] = []
    private var needsComma = [false]

    init(reservingCapacity capacity: Int) { bytes.reserveCapacity(capacity) }

    private mutating func separate() {
        if needsComma[needsComma.count - 1] { bytes.append(UInt8(ascii: ",")) }
        needsComma[needsComma.count - 1] = true
    }

    private mutating func key(_ name: String?) {
        separate()
        if let name {
            string(name)
            bytes.append(UInt8(ascii: ":"))
        }
    }

    private mutating func string(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for unit in s.utf8 {
            switch unit {
            case UInt8(ascii: "\""): bytes += Array(#"\""#.utf8)
            case UInt8(ascii: "\\"): bytes += Array(#"\\"#.utf8)
            case 0..<0x20: bytes += Array(String(format: "\\u%04x", unit).utf8)
            default: bytes.append(unit)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func beginObject(_ name: String? = nil) {
        key(name)
        bytes.append(UInt8(ascii: "{"))
        needsComma.append(false)
    }

    mutating func endObject() {
        needsComma.removeLast()
        bytes.append(UInt8(ascii: "}"))
    }

    mutating func beginArray(_ name: String? = nil) {
        key(name)
        bytes.append(UInt8(ascii: "["))
        needsComma.append(false)
    }

    mutating func endArray() {
        needsComma.removeLast()
        bytes.append(UInt8(ascii: "]"))
    }

    mutating func value(_ name: String? = nil, _ v: String?) {
        key(name)
        if let v { string(v) } else { bytes += Array("null".utf8) }
    }

    mutating func value(_ name: String? = nil, _ v: Int?) {
        key(name)
        bytes += Array((v.map(String.init) ?? "null").utf8)
    }

    mutating func value(_ name: String? = nil, _ v: Bool) {
        key(name)
        bytes += Array((v ? "true" : "false").utf8)
    }

    /// A number, the shortest text that reads back to the same Double (null for nil, NaN or infinity).
    /// (`description`, not `String(format:)`: a document of 2,000 points holds some 20,000 numbers.)
    mutating func value(_ name: String? = nil, _ v: Double?) {
        key(name)
        guard let v, v.isFinite else {
            bytes += Array("null".utf8)
            return
        }
        bytes += Array(v.description.utf8)
    }

    mutating func values(_ name: String?, _ vs: [Int]) {
        beginArray(name)
        for v in vs { value(nil, v) }
        endArray()
    }

    mutating func values(_ name: String?, _ vs: [Double?]) {
        beginArray(name)
        for v in vs { value(nil, v) }
        endArray()
    }
}

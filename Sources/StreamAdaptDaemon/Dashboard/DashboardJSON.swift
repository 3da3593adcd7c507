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
            case UInt8(ascii: "\""): bytes.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): bytes.append(contentsOf: #"\\"#.utf8)
            case 0..<0x20: bytes.append(contentsOf: String(format: "\\u%04x", unit).utf8)
            default: bytes.append(unit)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Opens an object (`{`) or an array (`[`), as the value of `name` inside an object.
    private mutating func open(_ name: String?, _ bracket: Unicode.Scalar) {
        key(name)
        bytes.append(UInt8(ascii: bracket))
        needsComma.append(false)
    }

    private mutating func close(_ bracket: Unicode.Scalar) {
        needsComma.removeLast()
        bytes.append(UInt8(ascii: bracket))
    }

    mutating func beginObject(_ name: String? = nil) { open(name, "{") }
    mutating func endObject() { close("}") }
    mutating func beginArray(_ name: String? = nil) { open(name, "[") }
    mutating func endArray() { close("]") }

    mutating func value(_ name: String? = nil, _ v: String?) {
        key(name)
        if let v { string(v) } else { bytes.append(contentsOf: "null".utf8) }
    }

    mutating func value(_ name: String? = nil, _ v: Int?) {
        key(name)
        bytes.append(contentsOf: (v.map(String.init) ?? "null").utf8)
    }

    mutating func value(_ name: String? = nil, _ v: Bool) {
        key(name)
        bytes.append(contentsOf: (v ? "true" : "false").utf8)
    }

    /// A number, the shortest text that reads back to the same Double (null for nil, NaN or infinity).
    /// (`description`, not `String(format:)`: a document of 2,000 points holds some 20,000 numbers.)
    mutating func value(_ name: String? = nil, _ v: Double?) {
        key(name)
        guard let v, v.isFinite else {
            bytes.append(contentsOf: "null".utf8)
            return
        }
        bytes.append(contentsOf: v.description.utf8)
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

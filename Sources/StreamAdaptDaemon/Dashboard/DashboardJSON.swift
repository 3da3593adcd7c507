/// The dashboard document's structure (objects, arrays, keys and commas) over the daemon's
/// ``JSONWriter``, which writes the strings and numbers (the same escaping and number forms as the
/// output records). The document is built every half second, so it reuses its capacity.
struct DashboardJSON {
    private var writer: JSONWriter
    /// Per open object or array, whether a value was written in it (the next one needs a comma).
    private var needsComma = [false]

    var bytes: [UInt8] { writer.bytes }

    init(reservingCapacity capacity: Int) { writer = JSONWriter(capacity: capacity) }

    private mutating func key(_ name: String?) {
        if needsComma[needsComma.count - 1] { writer.bytes.append(UInt8(ascii: ",")) }
        needsComma[needsComma.count - 1] = true
        if let name {
            writer.string(name)
            writer.bytes.append(UInt8(ascii: ":"))
        }
    }

    /// Opens an object (`{`) or an array (`[`), as the value of `name` inside an object.
    private mutating func open(_ name: String?, _ bracket: Unicode.Scalar) {
        key(name)
        writer.bytes.append(UInt8(ascii: bracket))
        needsComma.append(false)
    }

    private mutating func close(_ bracket: Unicode.Scalar) {
        needsComma.removeLast()
        writer.bytes.append(UInt8(ascii: bracket))
    }

    mutating func beginObject(_ name: String? = nil) { open(name, "{") }
    mutating func endObject() { close("}") }
    mutating func beginArray(_ name: String? = nil) { open(name, "[") }
    mutating func endArray() { close("]") }

    mutating func value(_ name: String? = nil, _ v: String?) {
        key(name)
        if let v { writer.string(v) } else { writer.raw("null") }
    }

    mutating func value(_ name: String? = nil, _ v: Int?) {
        key(name)
        if let v { writer.number(v) } else { writer.raw("null") }
    }

    mutating func value(_ name: String? = nil, _ v: Bool) {
        key(name)
        writer.bool(v)
    }

    /// A number in its shortest round-tripping form; null for nil, NaN or infinity.
    mutating func value(_ name: String? = nil, _ v: Double?) {
        key(name)
        if let v { writer.number(v) } else { writer.raw("null") }
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

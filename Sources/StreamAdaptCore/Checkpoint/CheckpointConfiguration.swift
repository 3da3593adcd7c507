/// Configuration values in checkpoints.
///
/// A configuration struct (``KalmanConfiguration``, ``DriftSettings``, ...) is stored as its list of
/// stored properties, found by reflection so that a field added later is covered without touching the
/// checkpoint code: UInt64 count, then per field its dotted name (`kalman.forgetting`,
/// `drift.mahalanobis.warmupEvents`), a type byte and the value (Double by bit pattern, Int, Bool,
/// UInt64, String; enums by raw value, nested structs flattened). On restore the stored list must equal
/// the model's exactly, else `configurationMismatch` names the first field that differs (or is only on
/// one side).
enum ConfigurationValue: Equatable, CustomStringConvertible {
    case double(Double)
    case int(Int)
    case bool(Bool)
    case uint64(UInt64)
    case string(String)

    static func == (a: Self, b: Self) -> Bool {
        switch (a, b) {
        case (.double(let x), .double(let y)): x.bitPattern == y.bitPattern
        case (.int(let x), .int(let y)): x == y
        case (.bool(let x), .bool(let y)): x == y
        case (.uint64(let x), .uint64(let y)): x == y
        case (.string(let x), .string(let y)): x == y
        default: false
        }
    }

    var description: String {
        switch self {
        case .double(let v): "\(v)"
        case .int(let v): "\(v)"
        case .bool(let v): "\(v)"
        case .uint64(let v): "\(v)"
        case .string(let v): "\"\(v)\""
        }
    }

    /// Fields added after checkpoints were first written, with the value older checkpoints implied:
    /// such a checkpoint restores when the current value is that one.
    static let addedLater: [(suffix: String, value: ConfigurationValue)] = [
        (".forgettingUnit", .string("event"))
    ]

    /// The stored properties of `value` (a struct), flattened with dotted names under `prefix`.
    static func flatten(_ value: Any, prefix: String) -> [(name: String, value: ConfigurationValue)] {
        var out: [(name: String, value: ConfigurationValue)] = []
        flatten(value, prefix: prefix, into: &out)
        return out
    }

    private static func flatten(_ value: Any, prefix: String, into out: inout [(name: String, value: ConfigurationValue)]) {
        let mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .optional {
            if let some = mirror.children.first {
                flatten(some.value, prefix: prefix, into: &out)
            } else {
                out.append((prefix, .string("nil")))
            }
            return
        }
        switch value {
        case let v as Double: out.append((prefix, .double(v)))
        case let v as Int: out.append((prefix, .int(v)))
        case let v as Bool: out.append((prefix, .bool(v)))
        case let v as UInt64: out.append((prefix, .uint64(v)))
        case let v as String: out.append((prefix, .string(v)))
        case let v as any RawRepresentable: out.append((prefix, .string("\(v.rawValue)")))
        default:
            if mirror.displayStyle == .struct || mirror.displayStyle == .class {
                for child in mirror.children {
                    flatten(child.value, prefix: prefix + "." + (child.label ?? "?"), into: &out)
                }
            } else {
                out.append((prefix, .string(String(describing: value))))
            }
        }
    }
}

extension CheckpointWriter {
    /// Writes the stored properties of the configuration struct `value` (see ``ConfigurationValue``).
    mutating func writeConfiguration(_ value: Any, prefix: String) {
        let fields = ConfigurationValue.flatten(value, prefix: prefix)
        writeSection("configuration")
        writeUInt64(UInt64(fields.count))
        for (name, v) in fields {
            writeString(name)
            switch v {
            case .double(let x):
                writeUInt8(1)
                writeDouble(x)
            case .int(let x):
                writeUInt8(2)
                writeInt(x)
            case .bool(let x):
                writeUInt8(3)
                writeBool(x)
            case .uint64(let x):
                writeUInt8(4)
                writeUInt64(x)
            case .string(let x):
                writeUInt8(5)
                writeString(x)
            }
        }
    }
}

extension CheckpointReader {
    /// Reads a configuration written by ``CheckpointWriter/writeConfiguration(_:prefix:)`` and throws
    /// `configurationMismatch` naming the first field that differs from `value`'s.
    mutating func expectConfiguration(_ value: Any, prefix: String) throws(CheckpointError) {
        let current = ConfigurationValue.flatten(value, prefix: prefix)
        try expectSection("configuration")
        let count = try readUInt64()
        guard count <= UInt64(remaining) else { throw .truncated(needed: Int(clamping: count), at: offset, available: remaining) }
        var stored: [(name: String, value: ConfigurationValue)] = []
        for _ in 0..<Int(count) {
            let name = try readString()
            let type = try readUInt8()
            let v: ConfigurationValue
            switch type {
            case 1: v = .double(try readDouble())
            case 2: v = .int(try readInt())
            case 3: v = .bool(try readBool())
            case 4: v = .uint64(try readUInt64())
            case 5: v = .string(try readString())
            default: throw .corrupt(name, "unknown configuration value type \(type)")
            }
            stored.append((name, v))
        }
        let storedByName = Dictionary(stored.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        for (name, v) in current {
            guard let s = storedByName[name] else {
                // A field added later reads as its default from older checkpoints; any other value needs a
                // new format version.
                if ConfigurationValue.addedLater.contains(where: { name.hasSuffix($0.suffix) && $0.value == v }) { continue }
                throw .configuration(name, expected: "\(v)", found: "no such field")
            }
            if s != v { throw .configuration(name, expected: "\(v)", found: "\(s)") }
        }
        let currentNames = Set(current.map(\.name))
        if let extra = stored.first(where: { !currentNames.contains($0.name) }) {
            throw .configuration(extra.name, expected: "no such field", found: "\(extra.value)")
        }
    }
}

/// A part of the model whose complete state can be written to and restored from a checkpoint.
///
/// Restoring is two-phase so that a failed restore never leaves a half-restored object:
/// ``prepareRestore(from:)`` reads and validates everything (shapes, configuration, value ranges) into
/// temporary storage without touching the object, and returns a ``CheckpointCommit`` that installs it
/// and cannot fail. ``restore(from:)`` does both. A composite (a combined head, a ``StreamModel``, the
/// daemon with its own fields) prepares all of its parts, reads its own fields, and only then commits.
///
/// Restore into an instance constructed with the same configuration and class embeddings as the one
/// that was saved; anything that differs is refused with ``CheckpointError`` naming the field.
/// Checkpoints are taken between events: per-event scratch (the input and products of the last
/// `predict`, which `learn` reuses) is never saved, and a restored object expects a new event.
public protocol Checkpointable: AnyObject {
    /// Appends the complete state.
    func save(to writer: inout CheckpointWriter)
    /// Reads and validates a state written by ``save(to:)`` without changing this object; the returned
    /// commit installs it. The reader is left after the state (or anywhere, when this throws).
    func prepareRestore(from reader: inout CheckpointReader) throws(CheckpointError) -> CheckpointCommit
}

extension Checkpointable {
    /// Reads a state written by ``save(to:)`` and installs it; on error nothing is changed.
    public func restore(from reader: inout CheckpointReader) throws(CheckpointError) {
        try prepareRestore(from: &reader).apply()
    }
}

/// Installs a validated checkpoint state (see ``Checkpointable/prepareRestore(from:)``). Applying it
/// cannot fail; not applying it leaves the object as it was.
public struct CheckpointCommit {
    private let action: () -> Void

    public init(_ action: @escaping () -> Void) { self.action = action }

    /// Several commits applied in order.
    public init(_ commits: [CheckpointCommit]) { action = { for c in commits { c.apply() } } }

    public func apply() { action() }
}

/// The kind of a head, stored before the head's state so that restoring a checkpoint of one head type
/// into another fails with a clear message.
enum HeadKind: UInt8, CustomStringConvertible {
    case zeroShot = 1
    case kalman = 2
    case tipAdapter = 3
    case clipood = 4
    case combined = 5

    var description: String {
        switch self {
        case .zeroShot: "ZeroShotHead"
        case .kalman: "KalmanHead"
        case .tipAdapter: "TipAdapterHead"
        case .clipood: "ClipoodHead"
        case .combined: "CombinedHead"
        }
    }
}

extension CheckpointWriter {
    /// The head header: kind, name.
    mutating func writeHeadHeader(kind: HeadKind, name: String) {
        writeSection("head")
        writeUInt8(kind.rawValue)
        writeString(name)
    }

    /// The header of a single head: kind and name, its configuration, C and D.
    mutating func writeHeadHeader(kind: HeadKind, name: String, configuration: Any, classCount: Int, dimension: Int) {
        writeHeadHeader(kind: kind, name: name)
        writeConfiguration(configuration, prefix: name)
        writeInt(classCount)
        writeInt(dimension)
    }
}

extension CheckpointReader {
    /// Reads a head header and throws `configurationMismatch` (field `head`) unless it is `kind`
    /// called `name`.
    mutating func expectHeadHeader(kind: HeadKind, name: String) throws(CheckpointError) {
        try expectSection("head")
        let raw = try readUInt8()
        let storedName = try readString()
        let storedKind = HeadKind(rawValue: raw).map(\.description) ?? "unknown head kind \(raw)"
        guard raw == kind.rawValue, storedName == name else {
            throw .configuration(
                "head", expected: "\"\(name)\" (\(kind))", found: "\"\(storedName)\" (\(storedKind))")
        }
    }

    /// Reads the header of a single head (``CheckpointWriter/writeHeadHeader(kind:name:configuration:classCount:dimension:)``)
    /// and throws naming the first field that differs.
    mutating func expectHeadHeader(
        kind: HeadKind, name: String, configuration: Any, classCount: Int, dimension: Int
    ) throws(CheckpointError) {
        try expectHeadHeader(kind: kind, name: name)
        try expectConfiguration(configuration, prefix: name)
        try expectShape(classCount, field: "\(name).classCount")
        try expectShape(dimension, field: "\(name).dimension")
    }

    /// Reads a setting and throws `configurationMismatch` naming `field` unless it equals `expected`
    /// (bit for bit).
    mutating func expectSetting(_ expected: Double, field: String) throws(CheckpointError) {
        let stored = try readDouble()
        if stored.bitPattern != expected.bitPattern {
            throw .configuration(field, expected: "\(expected)", found: "\(stored)")
        }
    }

    mutating func expectSetting(_ expected: Int, field: String) throws(CheckpointError) {
        let stored = try readInt()
        if stored != expected { throw .configuration(field, expected: "\(expected)", found: "\(stored)") }
    }

    /// Reads a fingerprint (``Checkpoint/fingerprint(_:)``) of a constant matrix and throws
    /// `configurationMismatch` naming `field` unless it equals `expected`.
    mutating func expectFingerprint(_ expected: UInt64, field: String) throws(CheckpointError) {
        let stored = try readUInt64()
        if stored != expected {
            throw .configuration(
                field, expected: "fingerprint \(Checkpoint.hex(expected))",
                found: "fingerprint \(Checkpoint.hex(stored)) (different values)")
        }
    }
}

/// Why checkpoint bytes cannot be restored. A checkpoint is either restored exactly or refused with one
/// of these; it is never loaded partially or "approximately".
public struct CheckpointError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A machine-readable category.
    public enum Code: String, Sendable, CaseIterable {
        /// The bytes end before the value being read (or the container is shorter than its header says).
        case truncated
        /// The first 8 bytes are not ``Checkpoint/magic``: not a StreamAdapt checkpoint.
        case wrongMagic = "wrong-magic"
        /// The container's format version is not ``Checkpoint/formatVersion``.
        case unsupportedVersion = "unsupported-version"
        /// The CRC-32 of the payload does not match the stored one: the bytes were damaged.
        case checksumMismatch = "checksum-mismatch"
        /// A stored matrix, vector or count has a different shape than the model's (`field` names it).
        case shapeMismatch = "shape-mismatch"
        /// The model the checkpoint is restored into was built with a different configuration, head,
        /// class list or class embeddings (`field` names the first difference).
        case configurationMismatch = "configuration-mismatch"
        /// The bytes are well formed but inconsistent (an unknown tag, an invalid Bool or UTF-8 string,
        /// a value out of range, trailing bytes).
        case corrupt
    }

    public var code: Code
    /// The field the error is about (`kalman.forgetting`, `classes.names`, `scorer.means`), when there is one.
    public var field: String?
    /// A human-readable explanation.
    public var message: String

    public init(code: Code, field: String? = nil, message: String) {
        self.code = code
        self.field = field
        self.message = message
    }

    public var description: String {
        if let field { "checkpoint \(code.rawValue) at \(field): \(message)" } else { "checkpoint \(code.rawValue): \(message)" }
    }

    static func truncated(needed: Int, at offset: Int, available: Int) -> CheckpointError {
        CheckpointError(
            code: .truncated, message: "needed \(needed) bytes at offset \(offset), only \(available) left")
    }

    static func shape(_ field: String, expected: String, found: String) -> CheckpointError {
        CheckpointError(
            code: .shapeMismatch, field: field, message: "the model has \(expected), the checkpoint has \(found)")
    }

    static func configuration(_ field: String, expected: String, found: String) -> CheckpointError {
        CheckpointError(
            code: .configurationMismatch, field: field, message: "the model has \(expected), the checkpoint has \(found)")
    }

    static func corrupt(_ field: String?, _ message: String) -> CheckpointError {
        CheckpointError(code: .corrupt, field: field, message: message)
    }
}

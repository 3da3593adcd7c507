/// Several heads combined by summing their logits (e.g. `kalman+tip`): every part predicts the same
/// input and learns the same label; the logit variance is the sum of the parts' variances.
///
/// A cache part (``TipAdapterHead``) after the first part adds its term as a residual of the logits
/// summed so far (``TipAdapterHead/addCacheTerm(_:to:)``), so that its standardized cache term is
/// measured in units of the spread of those logits (for `kalman+tip`, the Kalman head's).
public final class CombinedHead: AdapterHead {
    public let parts: [any AdapterHead]
    public let name: String
    public internal(set) var classCount: Int
    public let dimension: Int
    public var updateCount: Int { parts.first?.updateCount ?? 0 }
    var scratch: Matrix
    private let caches: [TipAdapterHead?]  // parts[i] as a cache head (i > 0), else nil

    public init(_ parts: [any AdapterHead]) {
        precondition(!parts.isEmpty, "a combined head needs at least one part")
        precondition(parts.allSatisfy { $0.classCount == parts[0].classCount && $0.dimension == parts[0].dimension })
        self.parts = parts
        name = parts.map(\.name).joined(separator: "+")
        classCount = parts[0].classCount
        dimension = parts[0].dimension
        scratch = Matrix(rows: classCount, columns: 1)
        caches = parts.enumerated().map { $0.offset > 0 ? $0.element as? TipAdapterHead : nil }
    }

    public func predict(_ x: UnsafePointer<Double>, logits: UnsafeMutablePointer<Double>) -> Double {
        var variance = parts[0].predict(x, logits: logits)
        for (part, cache) in zip(parts, caches).dropFirst() {
            if let cache {
                cache.addCacheTerm(x, to: logits)
                continue
            }
            variance += part.predict(x, logits: scratch.pointer)
            BLAS.axpy(classCount, alpha: 1, scratch.pointer, logits)
        }
        return variance
    }

    public func learn(label: Int, context: LearnContext) {
        for part in parts { part.learn(label: label, context: context) }
    }
}

// MARK: - Checkpoint

extension CombinedHead {
    /// Writes the kind and name, the number of parts, then each part in order (each with its own kind,
    /// name and state).
    public func save(to writer: inout CheckpointWriter) {
        writer.writeHeadHeader(kind: .combined, name: name)
        writer.writeInt(parts.count)
        for part in parts { part.save(to: &writer) }
    }

    /// Prepares every part before any is changed: a failure in the last part leaves the first ones intact.
    public func prepareRestore(from reader: inout CheckpointReader) throws(CheckpointError) -> CheckpointCommit {
        try reader.expectHeadHeader(kind: .combined, name: name)
        try reader.expectShape(parts.count, field: "\(name).parts")
        var commits: [CheckpointCommit] = []
        for part in parts { commits.append(try part.prepareRestore(from: &reader)) }
        return CheckpointCommit(commits)
    }
}

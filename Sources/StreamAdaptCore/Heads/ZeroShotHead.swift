/// Zero-shot CLIP head: the class scores are the scaled cosines between the image embedding and the
/// class (text) embeddings,
///
///     logit_c = tau * cos(x, t_c) = tau * x^ . t^_c
///
/// with tau = 100, CLIP's learned logit scale (Radford et al., "Learning Transferable Visual Models
/// From Natural Language Supervision", ICML 2021). It never learns; it is the reference every adapter
/// must beat and the zero-shot term of Tip-Adapter.
public final class ZeroShotHead: AdapterHead {
    public let name = "zeroshot"
    public internal(set) var classCount: Int
    public let dimension: Int
    public let temperature: Double
    public private(set) var updateCount = 0
    var classes: Matrix

    public init(classes: ClassEmbeddings, temperature: Double = 100) {
        self.classes = classes.normalized
        self.classCount = classes.count
        self.dimension = classes.dimension
        self.temperature = temperature
    }

    public func predict(_ x: UnsafePointer<Double>, logits: UnsafeMutablePointer<Double>) -> Double {
        BLAS.gemv(classCount, dimension, alpha: temperature, classes.pointer, x, beta: 0, logits)
        return 0
    }

    public func learn(label: Int, context: LearnContext) {}
}

// MARK: - Checkpoint

extension ZeroShotHead {
    /// The zero-shot head has no learned state: the checkpoint holds its kind and name, temperature,
    /// C and D, and a fingerprint of the class embeddings, so that a mismatch is refused.
    public func save(to writer: inout CheckpointWriter) {
        writer.writeHeadHeader(kind: .zeroShot, name: name)
        writer.writeDouble(temperature)
        writer.writeInt(classCount)
        writer.writeInt(dimension)
        writer.writeUInt64(Checkpoint.fingerprint(classes))
    }

    public func prepareRestore(from reader: inout CheckpointReader) throws(CheckpointError) -> CheckpointCommit {
        try reader.expectHeadHeader(kind: .zeroShot, name: name)
        try reader.expectSetting(temperature, field: "\(name).temperature")
        try reader.expectShape(classCount, field: "\(name).classCount")
        try reader.expectShape(dimension, field: "\(name).dimension")
        try reader.expectFingerprint(Checkpoint.fingerprint(classes), field: "\(name).classEmbeddings")
        return CheckpointCommit {}
    }
}

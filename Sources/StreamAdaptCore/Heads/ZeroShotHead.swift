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
    public let classCount: Int
    public let dimension: Int
    public let temperature: Double
    public private(set) var updateCount = 0
    private let classes: Matrix

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

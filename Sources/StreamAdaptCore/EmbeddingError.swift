/// Why an input event cannot be used. Every case names what is wrong so that a user (or the
/// dead-letter topic) can act on it; the model is never touched by an event that fails validation.
public enum EmbeddingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The embedding has `actual` entries where the model expects `expected`.
    case wrongDimension(expected: Int, actual: Int)
    /// Entry `index` is NaN or infinite.
    case nonFinite(index: Int)
    /// The embedding has zero (or denormal) norm and cannot be normalised.
    case zeroVector
    /// The class index is outside `0..<classCount`.
    case labelOutOfRange(label: Int, classCount: Int)
    /// The class name is not one of the model's classes.
    case unknownClassName(String)
    /// The class index names a retired class (``StreamModel/retireClass(name:)``): it is no longer
    /// predicted and takes no labels.
    case retiredClass(label: Int)

    /// Stable, machine-readable codes (the dead-letter reasons of these errors).
    public enum Code: String, Sendable, CaseIterable {
        case wrongDimension = "wrong-dimension"
        case nonFinite = "non-finite"
        case zeroVector = "zero-vector"
        case labelOutOfRange = "label-out-of-range"
        case unknownClass = "unknown-class"
        case retiredClass = "retired-class"
    }

    /// The error's stable code (the case's payload says which value or class).
    public var code: Code {
        switch self {
        case .wrongDimension: .wrongDimension
        case .nonFinite: .nonFinite
        case .zeroVector: .zeroVector
        case .labelOutOfRange: .labelOutOfRange
        case .unknownClassName: .unknownClass
        case .retiredClass: .retiredClass
        }
    }

    public var description: String {
        switch self {
        case .wrongDimension(let expected, let actual):
            "embedding has \(actual) values, the model expects \(expected)"
        case .nonFinite(let index): "embedding value \(index) is NaN or infinite"
        case .zeroVector: "embedding is a zero vector and cannot be normalised"
        case .labelOutOfRange(let label, let classCount): "label \(label) is outside 0..<\(classCount)"
        case .unknownClassName(let name): "unknown class name \"\(name)\""
        case .retiredClass(let label): "class \(label) is retired"
        }
    }
}

/// Checks an embedding and writes its L2-normalised Float64 copy into `output`.
///
/// - Throws: ``EmbeddingError`` for a wrong dimension, a NaN or infinite entry, or a zero vector;
///   `output` is then left unspecified but no model state is involved.
public func normalizeEmbedding(
    _ input: UnsafeBufferPointer<Float>, into output: UnsafeMutablePointer<Double>, dimension: Int
) throws(EmbeddingError) {
    guard input.count == dimension else { throw .wrongDimension(expected: dimension, actual: input.count) }
    var sumSquares = 0.0
    for i in 0..<dimension {
        let v = Double(input[i])
        guard v.isFinite else { throw .nonFinite(index: i) }
        output[i] = v
        sumSquares += v * v
    }
    let norm = sumSquares.squareRoot()
    guard norm > 1e-30, norm.isFinite else { throw .zeroVector }
    let inverse = 1 / norm
    for i in 0..<dimension { output[i] *= inverse }
}

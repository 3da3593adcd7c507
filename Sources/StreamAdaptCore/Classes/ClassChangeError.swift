/// Why a class change (``StreamModel/addClass(name:embedding:)``, ``StreamModel/retireClass(name:)``)
/// was refused; the model is then unchanged. ``code`` is stable (the dead-letter reason of a refused
/// control record).
public enum ClassChangeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The name is empty or longer than ``StreamModel/maximumClassNameBytes`` UTF-8 bytes.
    case invalidName(String)
    /// A class of that name exists with a different embedding (or is retired: names are never reused).
    case duplicateName(String)
    /// The embedding cannot be a class embedding (wrong dimension, NaN or infinite value, zero vector).
    case invalidEmbedding(EmbeddingError)
    /// No class has that name.
    case unknownClass(String)
    /// The class is the only one still active: a model always predicts some class.
    case lastActiveClass(String)
    /// The head cannot take new classes (a head outside the built-in set).
    case unsupportedHead(String)
    /// The model already holds ``StreamModel/maximumClassCount`` classes (active and retired).
    case tooManyClasses(limit: Int)

    public enum Code: String, Sendable, CaseIterable {
        case invalidName = "invalid-class-name"
        case duplicateName = "duplicate-class"
        case wrongDimension = "wrong-dimension"
        case nonFinite = "non-finite"
        case zeroVector = "zero-vector"
        case unknownClass = "unknown-class"
        case lastActiveClass = "last-active-class"
        case unsupportedHead = "unsupported-head"
        case tooManyClasses = "too-many-classes"
    }

    public var code: Code {
        switch self {
        case .invalidName: .invalidName
        case .duplicateName: .duplicateName
        case .invalidEmbedding(let error):
            switch error {
            case .nonFinite: .nonFinite
            case .zeroVector: .zeroVector
            default: .wrongDimension
            }
        case .unknownClass: .unknownClass
        case .lastActiveClass: .lastActiveClass
        case .unsupportedHead: .unsupportedHead
        case .tooManyClasses: .tooManyClasses
        }
    }

    public var description: String {
        switch self {
        case .invalidName(let name): "class name of \(name.utf8.count) bytes: need 1 to \(StreamModel.maximumClassNameBytes)"
        case .duplicateName(let name): "class \"\(name)\" exists with another embedding or is retired (names are not reused)"
        case .invalidEmbedding(let error): "class embedding: \(error.description)"
        case .unknownClass(let name): "no class \"\(name)\""
        case .lastActiveClass(let name): "class \"\(name)\" is the last active class"
        case .unsupportedHead(let name): "head \(name) cannot take new classes"
        case .tooManyClasses(let limit): "the model has reached its limit of \(limit) classes (active and retired)"
        }
    }
}

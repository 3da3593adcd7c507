/// The hyper-parameters of every head, and the factory that builds heads by name.
///
/// Names: `zeroshot`, `kalman`, `kalman-diagonal` (the Kalman head with a diagonal covariance),
/// `tip`, `tipx`, `clipood`, and sums of them joined by `+` (e.g. `kalman+tip`). In a sum, the cache
/// heads contribute their cache terms only: the zero-shot prior comes from the other part (the Kalman
/// head starts at it; use `zeroshot+tip` for plain Tip-Adapter as a sum).
public struct HeadSettings: Sendable, Equatable {
    public var zeroShotTemperature = 100.0
    public var kalman = KalmanConfiguration()
    /// The `kalman-diagonal` head's settings.
    public var kalmanDiagonal = KalmanConfiguration.diagonalDefaults
    public var tip = TipAdapterConfiguration()
    /// The Tip-X weight gamma used by the `tipx` head.
    public var tipXWeight = 1.0
    public var clipood = ClipoodConfiguration()

    public init() {}

    public static let knownNames = ["zeroshot", "kalman", "kalman-diagonal", "tip", "tipx", "clipood"]

    /// Sets both Kalman heads (`kalman` and `kalman-diagonal`) to the defaults of `observation`, each
    /// with its own covariance structure, then applies `overrides` to both.
    public mutating func setKalman(
        observation: KalmanConfiguration.Observation, kalmanCovariance: KalmanConfiguration.Covariance = .full,
        _ overrides: (inout KalmanConfiguration) throws -> Void = { _ in }
    ) rethrows {
        kalman = .defaults(observation: observation, covariance: kalmanCovariance)
        kalmanDiagonal = .defaults(observation: observation, covariance: .diagonal)
        try overrides(&kalman)
        try overrides(&kalmanDiagonal)
    }

    public func validate() throws(ConfigurationError) {
        try kalman.validate()
        try kalmanDiagonal.validate()
        try tip.validate()
        try clipood.validate()
        if !(zeroShotTemperature > 0) {
            throw ConfigurationError(field: "zeroshot.temperature", reason: "must be positive")
        }
        if !(tipXWeight > 0) { throw ConfigurationError(field: "tipx.gamma", reason: "must be positive") }
    }

    /// Builds the head called `spec` (a name, or names joined by `+`).
    /// - Parameter projection: the optional TA++/TX++ map for the cache heads (D x D).
    /// - Throws: ``ConfigurationError`` naming an unknown head.
    public func makeHead(_ spec: String, classes: ClassEmbeddings, projection: Matrix? = nil) throws(ConfigurationError)
        -> any AdapterHead
    {
        let names = spec.split(separator: "+", omittingEmptySubsequences: false).map(String.init)
        var parts: [any AdapterHead] = []
        for name in names {
            switch name {
            case "zeroshot": parts.append(ZeroShotHead(classes: classes, temperature: zeroShotTemperature))
            case "kalman":
                parts.append(KalmanHead(classes: classes, configuration: kalman))
            case "kalman-diagonal":
                var config = kalmanDiagonal
                config.covariance = .diagonal
                parts.append(KalmanHead(classes: classes, configuration: config, name: name))
            case "tip":
                var config = tip
                config.tipXWeight = 0
                config.includeZeroShot = names.count == 1
                parts.append(TipAdapterHead(classes: classes, configuration: config, projection: projection))
            case "tipx":
                var config = tip
                config.tipXWeight = tipXWeight
                config.includeZeroShot = names.count == 1
                parts.append(TipAdapterHead(classes: classes, configuration: config, projection: projection))
            case "clipood": parts.append(ClipoodHead(classes: classes, configuration: clipood))
            default:
                throw ConfigurationError(
                    field: "heads", reason: "unknown head \"\(name)\" (known: \(Self.knownNames.joined(separator: ", ")))")
            }
        }
        return parts.count == 1 ? parts[0] : CombinedHead(parts)
    }
}

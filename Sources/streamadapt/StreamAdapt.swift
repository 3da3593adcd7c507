import ArgumentParser
import StreamAdaptCore

@main
struct StreamAdapt: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "streamadapt",
        abstract: "Continuous adaptation of CLIP-based image classifiers on embedding streams.",
        subcommands: [RunCommand.self, DemoCommand.self, BrokerCommand.self, EvalCommand.self, BenchCommand.self, ConfigCommand.self, StateCommand.self]
    )
}

/// Command-line overrides of head hyper-parameters shared by `eval` and `bench`.
struct HeadOptions: ParsableArguments {
    @Option(help: "Kalman observation model: softmax or gaussian.")
    var kalmanObservation: String?
    @Option(help: "Storage of the kalman head's full covariance P: float64 (default) or float32.")
    var kalmanPrecision: String?
    @Option(help: "Kalman forgetting factor lambda in (0, 1].")
    var kalmanForgetting: Double?
    @Option(help: "What the Kalman forgetting factor counts: event (per update, default) or second (per second of event time; eval gives event i of the stream the time i s).")
    var kalmanForgettingUnit: String?
    @Option(help: "Kalman trace bound b (a multiple of trace(P0); inf: none).")
    var kalmanTraceBound: Double?
    @Option(help: "Kalman Gaussian target: centred (default) or onehot.")
    var kalmanTarget: String?
    @Option(help: "Kalman noise memory beta (1: fixed observation noise).")
    var kalmanNoiseMemory: Double?
    @Option(help: "Kalman Mahalanobis scaling factor s.")
    var kalmanScaling: Double?
    @Option(help: "Kalman prior variance p0 (P0 = p0 I; for kalman-diagonal, its per-weight prior).")
    var kalmanPrior: Double?
    @Option(help: "Tip-Adapter shots kept per class.")
    var tipShots: Int?
    @Option(help: "Tip-Adapter affinity correction: standardized (default) or none (the papers' alpha, beta).")
    var tipCorrection: String?
    @Option(help: "Tip-Adapter (standardized): cache weight r in units of the base logits' spread.")
    var tipRelativeAlpha: Double?
    @Option(help: "Tip-Adapter (standardized): sharpness b of exp(b (a - max a) / sd(a)).")
    var tipSharpness: Double?
    @Option(help: "Tip-Adapter (standardized): confidence z of the cache weight selection (default 2).")
    var tipSelectionConfidence: Double?
    @Option(help: "Tip-Adapter (standardized): memory of the cache weight selection, in labelled events (default 100).")
    var tipSelectionMemory: Double?
    @Option(help: "Drift scorer: events that only train it before calibration (default 500).")
    var driftWarmup: Int?
    @Option(help: "Drift scorer: events whose scores calibrate the threshold (default 1000).")
    var driftReference: Int?
    @Option(help: "Drift scorer: updates between Cholesky refreshes of the covariance once calibrated (default 400).")
    var driftRefresh: Int?
    @Option(help: "Drift scorer: random projection dimension (0: none).")
    var driftProjection: Int?
    @Flag(
        inversion: .prefixedNo,
        help: "Score each input for drift (Mahalanobis) and raise input-drift alerts; --no-input-scoring skips the scorer.")
    var inputScoring = true

    func driftSettings() throws -> DriftSettings {
        var drift = DriftSettings()
        drift.inputScoring = inputScoring
        if let driftWarmup { drift.mahalanobis.warmupEvents = driftWarmup }
        if let driftReference { drift.mahalanobis.referenceEvents = driftReference }
        if let driftRefresh { drift.mahalanobis.refreshInterval = driftRefresh }
        if let driftProjection { drift.mahalanobis.projection = driftProjection }
        do { try drift.validate() } catch { throw ValidationError(error.description) }
        return drift
    }

    func settings() throws -> HeadSettings {
        var settings = HeadSettings()
        var observation = KalmanConfiguration.Observation.gaussian
        if let kalmanObservation {
            guard let o = KalmanConfiguration.Observation(rawValue: kalmanObservation) else {
                throw ValidationError("--kalman-observation must be softmax or gaussian, not \(kalmanObservation)")
            }
            observation = o
        }
        var unit: KalmanConfiguration.ForgettingUnit?
        if let kalmanForgettingUnit {
            guard let u = KalmanConfiguration.ForgettingUnit(rawValue: kalmanForgettingUnit) else {
                throw ValidationError("--kalman-forgetting-unit must be event or second, not \(kalmanForgettingUnit)")
            }
            unit = u
        }
        var target: KalmanConfiguration.Target?
        if let kalmanTarget {
            guard let t = KalmanConfiguration.Target(rawValue: kalmanTarget) else {
                throw ValidationError("--kalman-target must be centred or onehot, not \(kalmanTarget)")
            }
            target = t
        }
        // Both Kalman heads (kalman, kalman-diagonal) take the flags.
        settings.setKalman(observation: observation) { c in
            if let unit { c.forgettingUnit = unit }
            if let target { c.target = target }
            if let kalmanTraceBound { c.traceBound = kalmanTraceBound }
            if let kalmanNoiseMemory { c.noiseMemory = kalmanNoiseMemory }
            if let kalmanForgetting { c.forgetting = kalmanForgetting }
            if let kalmanScaling { c.mahalanobisScaling = kalmanScaling }
            if let kalmanPrior { c.priorVariance = kalmanPrior }
        }
        if let kalmanPrecision {
            guard let p = KalmanConfiguration.Precision(rawValue: kalmanPrecision) else {
                throw ValidationError("--kalman-precision must be float64 or float32, not \(kalmanPrecision)")
            }
            settings.kalman.precision = p  // the full-covariance head only
        }
        if let tipShots { settings.tip.shotsPerClass = tipShots }
        if let tipCorrection {
            guard let c = TipAdapterConfiguration.AffinityCorrection(rawValue: tipCorrection) else {
                throw ValidationError("--tip-correction must be standardized or none, not \(tipCorrection)")
            }
            settings.tip.affinityCorrection = c
        }
        if let tipRelativeAlpha { settings.tip.relativeAlpha = tipRelativeAlpha }
        if let tipSharpness { settings.tip.spreadSharpness = tipSharpness }
        if let tipSelectionConfidence { settings.tip.selectionConfidence = tipSelectionConfidence }
        if let tipSelectionMemory { settings.tip.selectionMemory = tipSelectionMemory }
        do { try settings.validate() } catch { throw ValidationError(error.description) }
        return settings
    }
}

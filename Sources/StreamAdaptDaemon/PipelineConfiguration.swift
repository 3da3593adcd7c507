import Foundation
import StreamAdaptCore
import Yams

/// A pipeline: what `streamadapt run` consumes, how it adapts, and where it publishes. Read from a YAML
/// file (see `pipelines/fashion-demo.yaml` and the commented reference `etc/streamadapt.yaml`), then
/// overridden by environment variables and command-line flags. Every setting has a default except
/// `model.classes`; an unknown or malformed setting fails at start with its dotted name.
public struct PipelineConfiguration: Sendable {
    public var name = "pipeline"
    // kafka
    public var bootstrapServers = "127.0.0.1:9092"
    public var kafkaProperties: [String: String] = [:]
    /// kafka.outageLimitSeconds: how long the daemon waits for an unreachable broker (at start, or with
    /// outputs in flight) before it gives up and exits non-zero; 0 waits without limit.
    public var outageLimitSeconds = 0.0
    /// kafka.stopTimeoutSeconds: the most a graceful stop waits for the final flush of outputs before it
    /// exits without a final checkpoint (non-zero); below the systemd unit's TimeoutStopSec (60 s).
    public var stopTimeoutSeconds = 20.0
    // topics
    public var inputTopic = "embeddings"
    public var labelsTopic: String? = nil
    public var predictionsTopic = "predictions"
    public var alertsTopic = "drift-alerts"
    public var deadLetterTopic = "dead-letter"
    // model
    public var classesDirectory = ""
    public var head = "kalman"
    public var heads = HeadSettings()
    public var drift = DriftSettings()
    // input
    public var maximumMessageBytes = 1 << 20
    public var labelCacheSize = 10_000
    public var topClasses = 3
    /// input.maxIdBytes: longer event ids (JSON, header or key) are dead letters (`id-too-long`).
    public var maximumIdBytes = 256
    /// input.offsetGaps: what to do when a stored offset lies past the end of its partition or input was
    /// lost to retention: `refuse` (stop, naming topic and offsets) or `accept` (log, count, go on).
    public var offsetGaps = OffsetGapPolicy.refuse
    // checkpoints
    public var checkpointDirectory: String? = nil
    public var checkpointEveryEvents = 5_000
    public var checkpointEverySeconds = 30.0
    // metrics
    public var metricsPort = 9464
    public var metricsHost = "127.0.0.1"

    public init() {}

    /// Reads a pipeline file. Relative paths inside it (classes, checkpoint directory) are resolved
    /// against the current directory.
    public static func load(path: String) throws -> PipelineConfiguration {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigurationError(field: path, reason: "cannot read the pipeline file")
        }
        return try parse(yaml: text, source: path)
    }

    public static func parse(yaml: String, source: String = "pipeline") throws -> PipelineConfiguration {
        let node: Node
        do {
            guard let parsed = try Yams.compose(yaml: yaml) else {
                throw ConfigurationError(field: source, reason: "the pipeline file is empty")
            }
            node = parsed
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw ConfigurationError(field: source, reason: "not valid YAML: \(error)")
        }
        var config = PipelineConfiguration()
        let root = try Section(node, path: "")
        config.name = try root.string("name") ?? config.name
        if let kafka = try root.section("kafka") {
            config.bootstrapServers = try kafka.string("bootstrap") ?? config.bootstrapServers
            if let props = try kafka.section("properties") { config.kafkaProperties = try props.stringMap() }
            config.outageLimitSeconds = try kafka.double("outageLimitSeconds") ?? config.outageLimitSeconds
            config.stopTimeoutSeconds = try kafka.double("stopTimeoutSeconds") ?? config.stopTimeoutSeconds
            try kafka.rejectUnknown(["bootstrap", "properties", "outageLimitSeconds", "stopTimeoutSeconds"])
        }
        if let topics = try root.section("topics") {
            config.inputTopic = try topics.string("input") ?? config.inputTopic
            config.labelsTopic = try topics.string("labels") ?? config.labelsTopic
            config.predictionsTopic = try topics.string("predictions") ?? config.predictionsTopic
            config.alertsTopic = try topics.string("alerts") ?? config.alertsTopic
            config.deadLetterTopic = try topics.string("deadLetter") ?? config.deadLetterTopic
            try topics.rejectUnknown(["input", "labels", "predictions", "alerts", "deadLetter"])
        }
        if let model = try root.section("model") {
            config.classesDirectory = try model.string("classes") ?? config.classesDirectory
            config.head = try model.string("head") ?? config.head
            if let k = try model.section("kalman") {
                // The section sets both Kalman heads (`kalman`, and `kalman-diagonal` with its own prior
                // unless priorVariance is given); `covariance` chooses the `kalman` head's structure.
                try config.heads.setKalman(
                    observation: try k.choice("observation", of: KalmanConfiguration.Observation.self) ?? .gaussian,
                    kalmanCovariance: try k.choice("covariance", of: KalmanConfiguration.Covariance.self) ?? .full
                ) { c in
                    c.target = try k.choice("target", of: KalmanConfiguration.Target.self) ?? c.target
                    c.forgetting = try k.double("forgetting") ?? c.forgetting
                    c.priorVariance = try k.double("priorVariance") ?? c.priorVariance
                    c.traceBound = try k.double("traceBound") ?? c.traceBound
                    c.initialNoise = try k.double("initialNoise") ?? c.initialNoise
                    c.noiseMemory = try k.double("noiseMemory") ?? c.noiseMemory
                    c.minimumNoise = try k.double("minimumNoise") ?? c.minimumNoise
                    c.mahalanobisScaling = try k.double("mahalanobisScaling") ?? c.mahalanobisScaling
                    c.initialScale = try k.double("initialScale") ?? c.initialScale
                    c.targetScale = try k.double("targetScale") ?? c.targetScale
                    c.logitScale = try k.double("logitScale") ?? c.logitScale
                    c.outputScale = try k.double("outputScale") ?? c.outputScale
                }
                try k.rejectUnknown([
                    "observation", "covariance", "target", "forgetting", "priorVariance", "traceBound", "initialNoise",
                    "noiseMemory", "minimumNoise", "mahalanobisScaling", "initialScale", "targetScale", "logitScale",
                    "outputScale",
                ])
            }
            if let t = try model.section("tip") {
                var c = config.heads.tip
                c.shotsPerClass = try t.int("shotsPerClass") ?? c.shotsPerClass
                c.eviction = try t.choice("eviction", of: TipAdapterConfiguration.Eviction.self) ?? c.eviction
                c.alpha = try t.double("alpha") ?? c.alpha
                c.beta = try t.double("beta") ?? c.beta
                c.temperature = try t.double("temperature") ?? c.temperature
                config.heads.tipXWeight = try t.double("gamma") ?? config.heads.tipXWeight
                c.signatureTemperature = try t.double("signatureTemperature") ?? c.signatureTemperature
                try t.rejectUnknown(["shotsPerClass", "eviction", "alpha", "beta", "temperature", "gamma", "signatureTemperature"])
                config.heads.tip = c
            }
            if let o = try model.section("clipood") {
                var c = config.heads.clipood
                c.margin = try o.double("margin") ?? c.margin
                c.temperature = try o.double("temperature") ?? c.temperature
                c.learningRate = try o.double("learningRate") ?? c.learningRate
                c.betaShape = try o.double("betaShape") ?? c.betaShape
                c.horizon = try o.int("horizon") ?? c.horizon
                try o.rejectUnknown(["margin", "temperature", "learningRate", "betaShape", "horizon"])
                config.heads.clipood = c
            }
            try model.rejectUnknown(["classes", "head", "kalman", "tip", "clipood"])
        }
        if let d = try root.section("drift") {
            config.drift.inputScoring = try d.bool("inputScoring") ?? config.drift.inputScoring
            var m = config.drift.mahalanobis
            m.covarianceMemory = try d.double("covarianceMemory") ?? m.covarianceMemory
            m.meanRate = try d.double("meanRate") ?? m.meanRate
            m.priorVariance = try d.double("priorVariance") ?? m.priorVariance
            m.shrinkage = try d.double("shrinkage") ?? m.shrinkage
            m.refreshInterval = try d.int("refreshInterval") ?? m.refreshInterval
            m.calibrationRefreshInterval = try d.int("calibrationRefreshInterval") ?? m.calibrationRefreshInterval
            m.warmupEvents = try d.int("warmupEvents") ?? m.warmupEvents
            m.referenceEvents = try d.int("referenceEvents") ?? m.referenceEvents
            m.quantile = try d.double("quantile") ?? m.quantile
            m.projection = try d.int("projection") ?? m.projection
            config.drift.mahalanobis = m
            config.drift.inputWindow = try d.int("inputWindow") ?? config.drift.inputWindow
            config.drift.inputRaiseLevel = try d.double("inputRaiseLevel") ?? config.drift.inputRaiseLevel
            config.drift.inputClearLevel = try d.double("inputClearLevel") ?? config.drift.inputClearLevel
            config.drift.accuracyDelta = try d.double("accuracyDelta") ?? config.drift.accuracyDelta
            config.drift.accuracyThreshold = try d.double("accuracyThreshold") ?? config.drift.accuracyThreshold
            try d.rejectUnknown([
                "inputScoring", "covarianceMemory", "meanRate", "priorVariance", "shrinkage", "refreshInterval",
                "calibrationRefreshInterval", "warmupEvents",
                "referenceEvents", "quantile", "projection", "inputWindow", "inputRaiseLevel", "inputClearLevel", "accuracyDelta",
                "accuracyThreshold",
            ])
        }
        if let i = try root.section("input") {
            config.maximumMessageBytes = try i.int("maxMessageBytes") ?? config.maximumMessageBytes
            config.labelCacheSize = try i.int("labelCacheSize") ?? config.labelCacheSize
            config.topClasses = try i.int("topClasses") ?? config.topClasses
            config.maximumIdBytes = try i.int("maxIdBytes") ?? config.maximumIdBytes
            config.offsetGaps = try i.choice("offsetGaps", of: OffsetGapPolicy.self) ?? config.offsetGaps
            try i.rejectUnknown(["maxMessageBytes", "labelCacheSize", "topClasses", "maxIdBytes", "offsetGaps"])
        }
        if let c = try root.section("checkpoint") {
            config.checkpointDirectory = try c.string("directory") ?? config.checkpointDirectory
            config.checkpointEveryEvents = try c.int("everyEvents") ?? config.checkpointEveryEvents
            config.checkpointEverySeconds = try c.double("everySeconds") ?? config.checkpointEverySeconds
            try c.rejectUnknown(["directory", "everyEvents", "everySeconds"])
        }
        if let m = try root.section("metrics") {
            config.metricsPort = try m.int("port") ?? config.metricsPort
            config.metricsHost = try m.string("host") ?? config.metricsHost
            try m.rejectUnknown(["port", "host"])
        }
        try root.rejectUnknown(["name", "kafka", "topics", "model", "drift", "input", "checkpoint", "metrics"])
        return config
    }

    /// Applies `STREAMADAPT_*` environment variables (BOOTSTRAP, CHECKPOINT_DIR, METRICS_PORT).
    public mutating func applyEnvironment(_ environment: [String: String]) throws {
        if let v = environment["STREAMADAPT_BOOTSTRAP"], !v.isEmpty { bootstrapServers = v }
        if let v = environment["STREAMADAPT_CHECKPOINT_DIR"], !v.isEmpty { checkpointDirectory = v }
        if let v = environment["STREAMADAPT_METRICS_PORT"] {
            guard let port = Int(v) else {
                throw ConfigurationError(field: "STREAMADAPT_METRICS_PORT", reason: "\"\(v)\" is not a port number")
            }
            metricsPort = port
        }
    }

    /// Checks every setting; the error names the first wrong one.
    public func validate() throws {
        if classesDirectory.isEmpty {
            throw ConfigurationError(field: "model.classes", reason: "missing: a directory with classes.txt and text.f32")
        }
        try heads.validate()
        try drift.validate()
        for (field, topic) in [("topics.input", inputTopic), ("topics.predictions", predictionsTopic),
                               ("topics.alerts", alertsTopic), ("topics.deadLetter", deadLetterTopic)] where topic.isEmpty {
            throw ConfigurationError(field: field, reason: "must not be empty")
        }
        if bootstrapServers.isEmpty { throw ConfigurationError(field: "kafka.bootstrap", reason: "must not be empty") }
        if maximumMessageBytes < 16 { throw ConfigurationError(field: "input.maxMessageBytes", reason: "too small") }
        if labelCacheSize < 0 { throw ConfigurationError(field: "input.labelCacheSize", reason: "must be >= 0") }
        if maximumIdBytes < 1 { throw ConfigurationError(field: "input.maxIdBytes", reason: "must be >= 1") }
        if !(outageLimitSeconds >= 0) { throw ConfigurationError(field: "kafka.outageLimitSeconds", reason: "must be >= 0 (0: no limit)") }
        if !(stopTimeoutSeconds > 0) { throw ConfigurationError(field: "kafka.stopTimeoutSeconds", reason: "must be > 0") }
        if topClasses < 1 { throw ConfigurationError(field: "input.topClasses", reason: "must be >= 1") }
        if checkpointEveryEvents < 1 { throw ConfigurationError(field: "checkpoint.everyEvents", reason: "must be >= 1") }
        if !(checkpointEverySeconds > 0) { throw ConfigurationError(field: "checkpoint.everySeconds", reason: "must be > 0") }
        if !(0...65535).contains(metricsPort) { throw ConfigurationError(field: "metrics.port", reason: "must be 0...65535 (0 disables)") }
    }
}

/// What the daemon does when its input has a gap: a stored offset past the end of its partition (the
/// topic was re-created, or retention removed everything) or unread input removed by retention.
public enum OffsetGapPolicy: String, Sendable, CaseIterable {
    /// Stop (at start: refuse to start), naming the topic, partition and offsets.
    case refuse
    /// Log it, count it (`streamadapt_offset_gaps_total`) and continue from the oldest retained offset.
    case accept
}

/// A YAML mapping being read, with its dotted path for error messages.
struct Section {
    let mapping: Node.Mapping
    let path: String

    init(_ node: Node, path: String) throws {
        guard let mapping = node.mapping else {
            throw ConfigurationError(field: path.isEmpty ? "pipeline" : String(path.dropLast()), reason: "must be a mapping")
        }
        self.mapping = mapping
        self.path = path
    }

    private func value(_ key: String) -> Node? { mapping[Node(key)] }

    func section(_ key: String) throws -> Section? {
        guard let node = value(key) else { return nil }
        return try Section(node, path: path + key + ".")
    }

    func string(_ key: String) throws -> String? {
        guard let node = value(key) else { return nil }
        guard let s = node.scalar?.string else { throw ConfigurationError(field: path + key, reason: "must be a string") }
        return s
    }

    func double(_ key: String) throws -> Double? {
        guard let node = value(key) else { return nil }
        guard let s = node.scalar?.string, let v = Double(s), v.isFinite else {
            throw ConfigurationError(field: path + key, reason: "must be a number")
        }
        return v
    }

    func int(_ key: String) throws -> Int? {
        guard let node = value(key) else { return nil }
        guard let s = node.scalar?.string, let v = Int(s) else {
            throw ConfigurationError(field: path + key, reason: "must be an integer")
        }
        return v
    }

    func bool(_ key: String) throws -> Bool? {
        guard let node = value(key) else { return nil }
        switch node.scalar?.string {
        case "true": return true
        case "false": return false
        default: throw ConfigurationError(field: path + key, reason: "must be true or false")
        }
    }

    /// One of an enumeration's raw values.
    func choice<T: RawRepresentable & CaseIterable>(_ key: String, of type: T.Type) throws -> T? where T.RawValue == String {
        guard let text = try string(key) else { return nil }
        guard let value = T(rawValue: text) else {
            throw ConfigurationError(
                field: path + key, reason: "must be one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return value
    }

    func stringMap() throws -> [String: String] {
        var result: [String: String] = [:]
        for (k, v) in mapping {
            guard let key = k.scalar?.string, let value = v.scalar?.string else {
                throw ConfigurationError(field: String(path.dropLast()), reason: "must map names to scalar values")
            }
            result[key] = value
        }
        return result
    }

    func rejectUnknown(_ known: Set<String>) throws {
        for (k, _) in mapping {
            let key = k.scalar?.string ?? "?"
            if !known.contains(key) {
                throw ConfigurationError(
                    field: path + key, reason: "unknown setting (known here: \(known.sorted().joined(separator: ", ")))")
            }
        }
    }
}

// Stand-ins for the StreamAdaptCore types the encoder uses (scripts/bench-output-encoder/run).
public struct EventResult { var index: Int; var probability: Double; var entropy: Double; var variance: Double; var mahalanobis2: Double?; var drifting: Bool; var updated: Bool }
public final class Matrix { let p: [Double]; init(_ p: [Double]) { self.p = p }; subscript(i: Int) -> Double { p[i] } }
public struct DriftAlert { enum Kind: String { case inputDrift = "input-drift" }; var kind: Kind; var raisedAt: Int; var clearedAt: Int?; var value: Double; var threshold: Double; var severity: Double { value / threshold }; var clearedValue: Double? }
public struct ConfigurationError: Error { var field: String; var reason: String }

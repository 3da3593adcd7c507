/// Why the daemon could not publish an output record. The loop turns a prediction's error into a dead
/// letter of the input event (reason ``Code/outputTooLarge``); see docs/outputs.md.
public struct OutputError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Stable codes (the dead-letter `streamadapt-reason` values of the output side).
    public enum Code: String, Sendable, CaseIterable {
        /// The record would be larger than the output budget (the producer's `message.max.bytes` less
        /// the framing margin, see ``OutputBudget``).
        case outputTooLarge = "output-too-large"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

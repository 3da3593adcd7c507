import Foundation
import StreamAdaptCore

extension DriftAlert {
    /// One line for people: what was compared, when it was raised and cleared, and why it cleared.
    var summary: String {
        var raised = "raised at event \(raisedAt)"
        if let before = errorRateBefore, let now = errorRateAtRaise {
            raised += " (error rate \(fmt(before, 3)) before the change, \(fmt(now, 3)) since)"
        } else {
            raised += " (statistic \(fmt(value, 1)), threshold \(fmt(threshold, 1)))"
        }
        guard let clearedAt else { return "\(raised), still active" }
        var cleared = "cleared at event \(clearedAt)"
        switch (clearReason, errorRateBefore, errorRateAtClear) {
        case (.some(.settled), .some(let before), .some(let now)):
            cleared += " (settled at error rate \(fmt(now, 3)): \(fmt(now - before, 3)) above the rate before)"
        case (.some(.recovered), _, .some(let now)):
            cleared += " (recovered: error rate \(fmt(now, 3)))"
        case (.some(let reason), _, _):
            cleared += " (\(reason.rawValue))"
        default:
            break
        }
        return "\(raised), \(cleared)"
    }

    /// The JSON object of `eval --json`.
    var json: String {
        func optional(_ v: Double?) -> String { v.map(num) ?? "null" }
        return "{\"kind\": \"\(kind.rawValue)\", \"sequence\": \(sequence), \"raised_at\": \(raisedAt), "
            + "\"cleared_at\": \(clearedAt.map(String.init) ?? "null"), \"value\": \(num(value)), "
            + "\"threshold\": \(num(threshold)), \"severity\": \(num(severity)), "
            + "\"cleared_value\": \(optional(clearedValue)), "
            + "\"clear_reason\": \(clearReason.map { "\"\($0.rawValue)\"" } ?? "null"), "
            + "\"error_rate_before\": \(optional(errorRateBefore)), \"error_rate_at_raise\": \(optional(errorRateAtRaise)), "
            + "\"error_rate_at_clear\": \(optional(errorRateAtClear))}"
    }
}

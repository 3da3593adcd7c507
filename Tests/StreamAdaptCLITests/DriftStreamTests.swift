import Foundation
import Testing

/// Input-drift and accuracy-drop alerts on streams built from the shared data and the bundled sample,
/// with default settings: a shift wherever it falls (from event 500 on), returns to a domain seen
/// before in both directions, a mild shift, stationary streams (docs/drift.md, "Where the shift falls").
/// The input-drift test reads only the embeddings, so these runs use the cheap zero-shot head without
/// the Mahalanobis scorer; the shared stream's own alerts are checked with the Kalman head and the
/// scorer in `SharedDataAcceptanceTests`.
struct DriftStream {
    /// `--data` arguments: (directory, from, to) segments.
    let segments: [(String, Int, Int)]
    /// The domain of each segment (default: its directory); a shift is where the domain changes.
    var domains: [String]? = nil
    /// Events where a shift starts.
    var shifts: [Int] {
        let names = domains ?? segments.map(\.0)
        var at: [Int] = []
        var position = 0
        for (i, s) in segments.enumerated() {
            if i > 0 && names[i] != names[i - 1] { at.append(position) }
            position += s.2 - s.1
        }
        return at
    }

    func alerts(heads: String = "zeroshot", extra: [String] = []) throws -> [[String: Any]] {
        var arguments = ["eval", "--json", "--heads", heads, "--no-input-scoring"] + extra
        for (directory, from, to) in segments { arguments += ["--data", "\(directory)@\(from):\(to)"] }
        let output = try CommandRunner.run(arguments)
        #expect(output.status == 0, "stderr: \(output.stderr)")
        return try output.json()["alerts"] as? [[String: Any]] ?? []
    }

    /// The events where input-drift alerts were raised.
    func inputDriftRaised() throws -> [Int] {
        try alerts().filter { $0["kind"] as? String == "input-drift" }.compactMap { $0["raised_at"] as? Int }
    }
}

/// Every shift raises an input-drift alert within 200 events, and nothing else is raised.
func expectEveryShiftAlerted(_ stream: DriftStream, within limit: Int = 200) throws {
    let raised = try stream.inputDriftRaised()
    let shifts = stream.shifts
    #expect(raised.count == shifts.count, "shifts at \(shifts), input-drift raised at \(raised)")
    for (shift, at) in zip(shifts, raised) {
        #expect((shift..<(shift + limit)).contains(at), "shift at \(shift), raised at \(at) (all: \(raised))")
    }
}

@Suite(.enabled(if: CommandRunner.sharedData != nil, "needs ../shared/data"))
struct SharedDataDriftTests {
    static var clean: String { CommandRunner.sharedData!.appendingPathComponent("fmnist_opennsfw_clean").path }
    static var corrupted: String { CommandRunner.sharedData!.appendingPathComponent("fmnist_opennsfw_corrupted").path }
    static var mild: String { CommandRunner.sharedData!.appendingPathComponent("fmnist_opennsfw_mild").path }

    @Test func shiftAt500() throws {
        try expectEveryShiftAlerted(DriftStream(segments: [(Self.clean, 0, 500), (Self.corrupted, 500, 2500)]))
    }

    @Test func shiftAt1000() throws {
        try expectEveryShiftAlerted(DriftStream(segments: [(Self.clean, 0, 1000), (Self.corrupted, 1000, 3000)]))
    }

    /// Clean, corrupted, clean, corrupted, 1000 events each: the returns are alerted like the first shift.
    @Test func returningDomainsInBothDirections() throws {
        try expectEveryShiftAlerted(
            DriftStream(segments: [
                (Self.clean, 0, 1000), (Self.corrupted, 1000, 2000), (Self.clean, 2000, 3000), (Self.corrupted, 3000, 4000),
            ]))
        // Other rows, and the corrupted domain first.
        try expectEveryShiftAlerted(
            DriftStream(segments: [
                (Self.corrupted, 2000, 3000), (Self.clean, 3000, 4000), (Self.corrupted, 4000, 5000), (Self.clean, 5000, 6000),
            ]))
    }

    @Test func cleanToMild() throws {
        try expectEveryShiftAlerted(DriftStream(segments: [(Self.clean, 0, 3000), (Self.mild, 3000, 6000)]))
        try expectEveryShiftAlerted(DriftStream(segments: [(Self.clean, 3000, 3700), (Self.mild, 3700, 6000)]))
        // Gradual: clean, mild, corrupted.
        try expectEveryShiftAlerted(
            DriftStream(segments: [(Self.clean, 0, 2000), (Self.mild, 2000, 4000), (Self.corrupted, 4000, 6000)]))
    }

    /// 6000 clean events, in the data's order and in another one: no alert of either kind.
    @Test func stationaryCleanRaisesNothing() throws {
        for segments in [[(Self.clean, 0, 6000)], [(Self.clean, 3000, 6000), (Self.clean, 0, 3000)]] {
            let alerts = try DriftStream(segments: segments).alerts(heads: "kalman")
            #expect(alerts.isEmpty, "\(segments.map { "\($0.1):\($0.2)" }): \(alerts)")
        }
        #expect(try DriftStream(segments: [(Self.corrupted, 0, 6000)]).inputDriftRaised().isEmpty)
    }
}

/// The bundled sample (clean rows 0..599, corrupted rows 600..1199), always present.
@Suite struct SampleDriftTests {
    static var sample: String { CommandRunner.packageRoot.appendingPathComponent("samples/fmnist-drift").path }

    @Test func shiftAndReturns() throws {
        let s = Self.sample
        try expectEveryShiftAlerted(DriftStream(segments: [(s, 0, 600), (s, 600, 1200)], domains: ["clean", "corrupted"]))
        // Corrupted first, then clean.
        try expectEveryShiftAlerted(DriftStream(segments: [(s, 600, 1200), (s, 0, 600)], domains: ["corrupted", "clean"]))
        // Clean, corrupted, clean, corrupted, 300 events each.
        try expectEveryShiftAlerted(
            DriftStream(
                segments: [(s, 0, 300), (s, 600, 900), (s, 300, 600), (s, 900, 1200)],
                domains: ["clean", "corrupted", "clean", "corrupted"]))
    }

    @Test func stationaryRowsRaiseNothing() throws {
        let s = Self.sample
        #expect(try DriftStream(segments: [(s, 0, 600)]).inputDriftRaised().isEmpty)
        #expect(try DriftStream(segments: [(s, 600, 1200)]).inputDriftRaised().isEmpty)
    }
}

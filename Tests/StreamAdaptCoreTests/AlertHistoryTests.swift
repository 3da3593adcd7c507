import Testing

@testable import StreamAdaptCore

/// The bounded alert history: at most `drift.alertHistory` alerts, stable sequence numbers across
/// checkpoints, active alerts (and alerts cleared by the current call) never dropped.
@Suite struct AlertHistoryTests {
    init() { BLAS.setThreads(1) }  // runs compared within a test must round alike (docs/performance.md)

    /// Two classes along the axes; the zero-shot head always predicts class 0 for `x`, so label 0 is a
    /// correct prediction and label 1 an error: the labels drive the accuracy-drop detector exactly.
    static let x: [Float] = [1, 0]

    static func model(history: Int) throws -> StreamModel {
        let classes = try ClassEmbeddings(names: ["a", "b"], dimension: 2, values: [1, 0, 0, 1])
        var drift = DriftSettings()
        drift.inputScoring = false
        drift.accuracyDelta = 0.01
        drift.accuracyThreshold = 2
        drift.accuracyMinimumEvents = 1
        drift.accuracyWindow = 2
        drift.alertHistory = history
        try drift.validate()
        return StreamModel(classes: classes, head: ZeroShotHead(classes: classes), drift: drift)
    }

    /// Clears the active accuracy-drop alert (correct predictions), then raises a new one (10 correct
    /// predictions, then errors: the Page-Hinkley statistic passes 2 at the third error). Returns the
    /// largest history seen after any event.
    @discardableResult
    static func cycle(_ model: StreamModel) throws -> Int {
        var largest = model.alerts.count
        var events = 0
        func step(_ label: Int) throws {
            _ = try model.process(x, label: label)
            largest = max(largest, model.alerts.count)
            events += 1
            precondition(events < 100, "the detector should change within 100 events")
        }
        while model.alertHistory.active(.accuracyDrop) != nil { try step(0) }
        for _ in 0..<10 { try step(0) }
        let raised = model.alertsRaised
        while model.alertsRaised == raised { try step(1) }
        return largest
    }

    @Test func aThousandRaiseClearCyclesKeepAtMostTheHistory() throws {
        let model = try Self.model(history: 5)
        var largest = 0
        for _ in 0..<1000 { largest = max(largest, try Self.cycle(model)) }
        #expect(largest == 5)
        #expect(model.alertsRaised == 1000)
        #expect(model.alerts.map(\.sequence) == Array(995..<1000))
        #expect(model.alerts.dropLast().allSatisfy { $0.clearedAt != nil })
        #expect(model.alerts.last?.clearedAt == nil)
        #expect(model.alertHistory.active(.accuracyDrop)?.sequence == 999)
        // Raised in order, each cleared after it was raised and before the next one was raised.
        for (a, b) in zip(model.alerts, model.alerts.dropFirst()) {
            #expect(a.raisedAt < a.clearedAt! && a.clearedAt! < b.raisedAt)
        }
        // The checkpoint holds the bounded history only: its size does not grow with the cycles.
        let size = model.checkpointPayload().count
        for _ in 0..<100 { try Self.cycle(model) }
        #expect(model.checkpointPayload().count == size)
    }

    @Test func sequencesContinueAcrossCheckpointAndRestore() throws {
        let original = try Self.model(history: 5)
        for _ in 0..<12 { try Self.cycle(original) }
        #expect(original.alertHistory.active(.accuracyDrop)?.sequence == 11)  // checkpointed while active
        let payload = original.checkpointPayload()
        let restored = try Self.model(history: 5)
        try restored.restore(payload: payload)
        #expect(restored.alerts == original.alerts)
        #expect(restored.alertsRaised == 12)
        #expect(restored.checkpointPayload() == payload)
        for _ in 0..<3 {
            try Self.cycle(original)
            try Self.cycle(restored)
        }
        #expect(restored.alerts.map(\.sequence) == Array(10..<15))
        #expect(restored.alerts == original.alerts)
        #expect(restored.checkpointPayload() == original.checkpointPayload())
    }

    @Test func aDifferentHistorySizeIsRefused() throws {
        let original = try Self.model(history: 5)
        try Self.cycle(original)
        let other = try Self.model(history: 6)
        let error = try #require(throws: CheckpointError.self) { try other.restore(payload: original.checkpointPayload()) }
        #expect(error.field == "drift.alertHistory")
    }

    @Test func activeAlertsAreNeverDropped() {
        var history = AlertHistory(capacity: 2)
        history.beginCall()
        history.raise(.inputDrift, at: 0, value: 0.5, threshold: 0.3)
        for event in 1...1000 {
            history.beginCall()
            history.raise(.accuracyDrop, at: event, value: 3, threshold: 2)
            #expect(history.alerts.count <= 2)
            history.beginCall()
            history.clear(.accuracyDrop, at: event, value: 0)
        }
        #expect(history.alerts.map(\.sequence) == [0, 1000])
        #expect(history.active(.inputDrift)?.raisedAt == 0)
        #expect(history.raisedCount == 1001)
    }

    @Test func anAlertClearedInTheSameCallIsKeptForItsConsumer() {
        // [accuracy 0 cleared, input 1 active]; one call clears input 1 and raises accuracy 2. The oldest
        // cleared alert that this call did not change (0) goes, so a consumer still sees 1's clearing.
        var history = AlertHistory(capacity: 2)
        history.raise(.accuracyDrop, at: 0, value: 3, threshold: 2)
        history.clear(.accuracyDrop, at: 5, value: 0)
        history.raise(.inputDrift, at: 6, value: 0.5, threshold: 0.3)
        history.beginCall()
        history.clear(.inputDrift, at: 9, value: 0.05)
        history.raise(.accuracyDrop, at: 9, value: 3, threshold: 2)
        #expect(history.alerts.map(\.sequence) == [1, 2])
        #expect(history.alerts[0].clearedAt == 9 && history.alerts[1].clearedAt == nil)
    }

    /// A stored history whose sequences, size or open alerts do not add up is `corrupt`, not trusted.
    @Test func inconsistentStoredHistoriesAreRefused() throws {
        func stored(raised: Int, alerts: [(DriftAlert.Kind, Int, cleared: Bool)], open: [(DriftAlert.Kind, Int)]) -> [UInt8] {
            var writer = CheckpointWriter()
            writer.writeInt(raised)
            writer.writeUInt64(UInt64(alerts.count))
            for (kind, sequence, cleared) in alerts {
                writer.writeString(kind.rawValue)
                writer.writeInt(sequence)
                writer.writeInt(sequence * 10)
                writer.writeOptionalInt(cleared ? sequence * 10 + 5 : nil)
                writer.writeDouble(3)
                writer.writeDouble(2)
                writer.writeOptionalDouble(cleared ? 0 : nil)
                writer.writeOptionalString(cleared ? "settled" : nil)
                for _ in 0..<3 { writer.writeOptionalDouble(nil) }
            }
            writer.writeUInt64(UInt64(open.count))
            for (kind, sequence) in open {
                writer.writeString(kind.rawValue)
                writer.writeInt(sequence)
            }
            return writer.bytes
        }
        func read(_ bytes: [UInt8]) throws(CheckpointError) -> AlertHistory {
            var reader = CheckpointReader(bytes)
            return try AlertHistory.read(capacity: 3, from: &reader)
        }
        let good = try read(stored(raised: 9, alerts: [(.accuracyDrop, 7, true), (.inputDrift, 8, false)], open: [(.inputDrift, 8)]))
        #expect(good.raisedCount == 9 && good.alerts.map(\.sequence) == [7, 8] && good.active(.inputDrift)?.sequence == 8)
        let bad: [[UInt8]] = [
            stored(raised: 8, alerts: [(.accuracyDrop, 7, true), (.inputDrift, 8, false)], open: [(.inputDrift, 8)]),  // 8 >= raised
            stored(raised: 9, alerts: [(.accuracyDrop, 8, true), (.inputDrift, 7, false)], open: [(.inputDrift, 7)]),  // not increasing
            stored(raised: 9, alerts: (4...7).map { (.accuracyDrop, $0, true) }, open: []),  // more than the capacity
            stored(raised: 9, alerts: [(.inputDrift, 8, false)], open: []),  // an uncleared alert that is not open
            stored(raised: 9, alerts: [(.inputDrift, 8, true)], open: [(.inputDrift, 8)]),  // an open alert that is cleared
            stored(raised: -1, alerts: [], open: []),
        ]
        for bytes in bad {
            let error = try #require(throws: CheckpointError.self) { try read(bytes) }
            #expect(error.code == .corrupt, "\(error)")
        }
    }

    @Test func theHistoryMustKeepOneAlertPerKind() {
        var drift = DriftSettings()
        drift.alertHistory = 1
        #expect(throws: ConfigurationError.self) { try drift.validate() }
        drift.alertHistory = 2
        #expect(throws: Never.self) { try drift.validate() }
    }
}

import Foundation
@testable import StreamAdaptCore
import Testing

@testable import StreamAdaptDaemon

/// The live page's history and its `/api/state` document (docs/dashboard.md).
@Suite struct DashboardTests {
    static func result(index: Int, d2: Double?, drifting: Bool) -> EventResult {
        EventResult(
            index: index, probability: 0.9, entropy: 0.1, variance: 0, mahalanobis2: d2, drifting: drifting, updated: true,
            correct: nil, alertChanged: false)
    }

    /// Bounded memory: the buckets never exceed the capacity, neighbours merge in pairs, and every count
    /// survives the merges.
    @Test func theHistoryHalvesItsResolutionAndKeepsEveryCount() {
        let history = DashboardHistory(capacity: 100)
        var correct = 0
        var flagged = 0
        var largest = 0.0
        for i in 0..<10_000 {
            let label = i % 3
            let predicted = i % 5 == 0 ? (label + 1) % 3 : label
            if predicted == label { correct += 1 }
            let d2 = Double(i % 97)
            largest = max(largest, d2)
            if i % 50 == 0 { flagged += 1 }
            history.record(Self.result(index: predicted, d2: d2, drifting: i % 50 == 0), label: label, rollingAccuracy: 0.5, threshold: 80)
        }
        #expect(history.buckets.count <= 100 && history.buckets.count > 50)
        #expect(history.width == 128)  // 10,000 events in at most 100 buckets: 1 -> 2 -> ... -> 128
        #expect(history.buckets.reduce(0) { $0 + $1.count } == 10_000)
        #expect(history.buckets.reduce(0) { $0 + $1.correct } == correct && correct == history.correct)
        #expect(history.buckets.reduce(0) { $0 + $1.flagged } == flagged)
        #expect(history.buckets.compactMap(\.maximumScore).max() == largest)
        #expect(zip(history.buckets, history.buckets.dropFirst()).allSatisfy { $0.first + $0.count == $1.first })
        // The recent window: the last 1,000 labelled events; recall per class from them.
        let (labelled, right, confusion) = history.recentClasses(classCount: 3)
        #expect(labelled.reduce(0, +) == 1000 && history.recentCount == 1000)
        #expect(right.reduce(0, +) == 800)  // every fifth event is wrong
        #expect(confusion?[0][1] ?? 0 > 0 && confusion?.count == 3)
        #expect(history.recentClasses(classCount: 31).confusion == nil)  // beyond 30 classes: recall only
    }

    /// A loop with a dashboard publishes `/api/state`: its counts, accuracy and alerts are those of the
    /// outputs it published.
    @Test func theDocumentMatchesWhatTheLoopPublished() throws {
        let fixture = try LoopFixture()
        let events = SyntheticStream.events(400, shiftAt: 200)
        try fixture.produceJSON(events)
        let loop = try fixture.loop()
        let feed = DashboardFeed()
        loop.dashboard = feed
        try loop.run(maximumEvents: 400) { false }
        let state = try #require(try JSONSerialization.jsonObject(with: Data(feed.json)) as? [String: Any])
        #expect(state["schema"] as? String == "streamadapt-dashboard/1")
        #expect(state["events"] as? Int == 400 && state["labelled"] as? Int == 400 && state["handled"] as? Int == 400)
        let predictions = try fixture.read(fixture.configuration.predictionsTopic)
        #expect(predictions.count == 400)
        let right = zip(events, predictions).filter { e, p in
            (try? JSONSerialization.jsonObject(with: Data(p.value)) as? [String: Any])?["index"] as? Int == e.label
        }.count
        #expect(abs((state["accuracy"] as? Double ?? -1) - Double(right) / 400) < 1e-5)
        let series = try #require(state["series"] as? [String: Any])
        #expect((series["count"] as? [Int])?.reduce(0, +) == 400)
        #expect((series["correct"] as? [Int])?.reduce(0, +) == right)
        let alertRecords = try fixture.read(fixture.configuration.alertsTopic)
        let alerts = try #require(state["alerts"] as? [[String: Any]])
        #expect(alerts.count == alertRecords.count && !alerts.isEmpty)
        #expect(alerts.contains { $0["kind"] as? String == "input-drift" && $0["state"] as? String == "raised" && ($0["event"] as? Int ?? 0) >= 200 })
        let throughput = try #require(state["throughput"] as? [String: Any])
        #expect(throughput["predictions"] as? Int == 400)
        #expect((throughput["handle_ms_p50"] as? Double ?? -1) > 0)
        let model = try #require(state["model"] as? [String: Any])
        #expect(model["version"] as? Int == 400)
        let classes = try #require(state["recent_classes"] as? [String: Any])
        #expect((classes["labelled"] as? [Int])?.reduce(0, +) == 400)
    }
}

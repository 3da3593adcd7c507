import Foundation
import Testing

/// `streamadapt eval` end to end, as a separate process, on the bundled sample.
@Suite struct EvalCommandTests {
    static let sample = ["--data", "samples/fmnist-drift@0:600", "--data", "samples/fmnist-drift@600:1200",
                         "--drift-warmup", "150", "--drift-reference", "300"]

    func head(_ report: [String: Any], _ name: String) -> [String: Any]? {
        (report["heads"] as? [[String: Any]])?.first { $0["name"] as? String == name }
    }

    @Test func jsonReportOnTheBundledSample() throws {
        let output = try CommandRunner.run(["eval", "--json"] + Self.sample)
        #expect(output.status == 0, "stderr: \(output.stderr)")
        let report = try output.json()
        #expect(report["events"] as? Int == 1200)
        let names = (report["heads"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        #expect(names == ["zeroshot", "kalman", "tip", "tipx", "clipood"])
        let zeroshot = try #require(head(report, "zeroshot"))
        let kalman = try #require(head(report, "kalman"))
        // Zero-shot nearest-prototype accuracy of these 1200 rows, and the adapted head well above it.
        #expect(abs((zeroshot["prequential_accuracy"] as? Double ?? 0) - 0.43) < 0.01)
        #expect((kalman["prequential_accuracy"] as? Double ?? 0) > 0.65)
        let segments = try #require(kalman["segments"] as? [Double])
        #expect(segments.count == 2)
        #expect(segments[1] > 0.5)  // after the shift; zero-shot gets 0.10 there
        #expect((kalman["ece"] as? Double ?? 1) < 0.15)
        // Blocks by default: the whole run is timed (events/s), not each update.
        #expect((kalman["events_per_second"] as? Double ?? 0) > 0)
        #expect(kalman["update_us_p50"] is NSNull)
        // The drift alert comes soon after the shift at 600, none before.
        let alerts = try #require(report["alerts"] as? [[String: Any]])
        let input = alerts.filter { $0["kind"] as? String == "input-drift" }
        #expect(input.count >= 1)
        let raised = input.compactMap { $0["raised_at"] as? Int }
        #expect(raised.allSatisfy { $0 >= 600 }, "raised at \(raised)")
        #expect(raised.contains { (600..<700).contains($0) }, "raised at \(raised)")
        #expect(input.first.map { $0.keys.contains("cleared_at") } == true)
    }

    @Test func perEventPathTimesEachUpdateAndPredictsTheSame() throws {
        let blocked = try CommandRunner.run(["eval", "--json", "--heads", "kalman"] + Self.sample).json()
        let perEvent = try CommandRunner.run(["eval", "--json", "--heads", "kalman", "--max-block", "1"] + Self.sample).json()
        let a = try #require(head(blocked, "kalman"))
        let b = try #require(head(perEvent, "kalman"))
        #expect((b["update_us_p50"] as? Double ?? 0) > 0)
        #expect(a["prequential_accuracy"] as? Double == b["prequential_accuracy"] as? Double)
        #expect(a["segments"] as? [Double] == b["segments"] as? [Double])
        #expect((blocked["alerts"] as? [[String: Any]])?.compactMap { $0["raised_at"] as? Int }
            == (perEvent["alerts"] as? [[String: Any]])?.compactMap { $0["raised_at"] as? Int })
    }

    /// `--partitions N` (on the sample's corrupted rows, where zero-shot is poor): with one event per partition every model predicts from its prior, so the Kalman
    /// head (W0 = the class embeddings) agrees with zero-shot exactly; with one partition it is the
    /// ordinary run; with two, each model sees half of the labels and ends between the two.
    @Test func partitionsSpreadTheStreamOverModelsOfTheirOwn() throws {
        func accuracy(_ partitions: Int, _ name: String, rows: String = "600:800") throws -> Double {
            let output = try CommandRunner.run(
                ["eval", "--json", "--heads", "zeroshot,kalman", "--partitions", "\(partitions)", "--data", "samples/fmnist-drift@\(rows)"])
            #expect(output.status == 0, "stderr: \(output.stderr)")
            let suffix = partitions == 1 ? "" : " x\(partitions)"
            return try #require(head(try output.json(), name + suffix)?["prequential_accuracy"] as? Double)
        }
        #expect(try accuracy(30, "kalman", rows: "600:630") == accuracy(30, "zeroshot", rows: "600:630"))
        let zeroshot = try accuracy(1, "zeroshot")
        let single = try accuracy(1, "kalman")
        let two = try accuracy(2, "kalman")
        #expect(single > two && two > zeroshot, "kalman \(single), two partitions \(two), zero-shot \(zeroshot)")
        let bad = try CommandRunner.run(["eval", "--partitions", "2", "--trace", "/tmp/x.csv", "--data", "samples/fmnist-drift@0:10"])
        #expect(bad.status != 0 && bad.stderr.contains("--partitions does not combine"))
    }

    @Test func tableReportNamesHeadsAndAlerts() throws {
        let output = try CommandRunner.run(["eval", "--heads", "kalman,kalman+tip"] + Self.sample)
        #expect(output.status == 0, "stderr: \(output.stderr)")
        #expect(output.stdout.contains("events: 1200"))
        #expect(output.stdout.contains("\nkalman "))
        #expect(output.stdout.contains("\nkalman+tip "))
        #expect(output.stdout.contains("input-drift: raised at event"))
    }

    @Test func sparseLabelsKeepTheCleanSegmentAtZeroShot() throws {
        let output = try CommandRunner.run(
            ["eval", "--json", "--heads", "zeroshot,kalman", "--label-fraction", "0.1"] + Self.sample)
        #expect(output.status == 0, "stderr: \(output.stderr)")
        let report = try output.json()
        let zeroshot = try #require(head(report, "zeroshot")?["segments"] as? [Double])
        let kalman = try #require(head(report, "kalman")?["segments"] as? [Double])
        #expect(kalman[0] >= zeroshot[0] - 0.02, "clean: kalman \(kalman[0]) vs zero-shot \(zeroshot[0])")
        #expect(kalman[1] > zeroshot[1] + 0.1, "corrupted: kalman \(kalman[1]) vs zero-shot \(zeroshot[1])")
        #expect(report["label_fraction"] as? Double == 0.1)
    }

    @Test func badArgumentsFailWithAMessageNamingThem() throws {
        let missing = try CommandRunner.run(["eval", "--data", "no/such/dir"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("no/such/dir/classes.txt"))

        let head = try CommandRunner.run(["eval", "--heads", "kalman,bogus", "--data", "samples/fmnist-drift@0:10"])
        #expect(head.status != 0)
        #expect(head.stderr.contains("unknown head \"bogus\""))

        let range = try CommandRunner.run(["eval", "--data", "samples/fmnist-drift@0:5000"])
        #expect(range.status != 0)
        #expect(range.stderr.contains("has only 1200 rows"))

        let fraction = try CommandRunner.run(["eval", "--data", "samples/fmnist-drift", "--label-fraction", "2"])
        #expect(fraction.status != 0)
        #expect(fraction.stderr.contains("--label-fraction"))
    }

    /// Runs `eval --json --heads kalman` with `arguments` (a class schedule); returns the report of the
    /// first added class and the number of dropped events.
    func addedClassReport(_ arguments: [String]) throws -> (added: [String: Any], dropped: Int) {
        let output = try CommandRunner.run(["eval", "--json", "--heads", "kalman"] + arguments)
        #expect(output.status == 0, "stderr: \(output.stderr)")
        let kalman = try #require(head(try output.json(), "kalman"))
        let classes = try #require(kalman["classes"] as? [String: Any])
        let added = try #require((classes["added"] as? [[String: Any]])?.first)
        return (added, try #require(classes["dropped_events"] as? Int))
    }

    /// A class held back to event 300 and added then: it is predicted after, and its recall is reported.
    @Test func holdBackClassReportsTheNewClassRecall() throws {
        let (added, dropped) = try addedClassReport(["--data", "samples/fmnist-drift@0:600", "--hold-back-class", "sandal@300"])
        #expect(added["name"] as? String == "sandal")
        #expect(added["added_at"] as? Int == 300)
        #expect(dropped > 0)
        #expect((added["recall_after"] as? Double ?? 0) >= 0.5)
    }

    /// --add-class NAME@EVENT:FILE adds a class from a float32 file, whose path may hold "@" and ":".
    @Test func addClassReadsTheEmbeddingFile() throws {
        let d = try SampleEvents.load().dimension
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sa@1:\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("novel.f32")
        var bytes = Data()
        for i in 0..<d { withUnsafeBytes(of: Float(i % 7 == 0 ? 1 : 0).bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        try bytes.write(to: file)
        let (added, dropped) = try addedClassReport(["--data", "samples/fmnist-drift@0:400", "--add-class", "novel@250:\(file.path)"])
        #expect(dropped == 0)
        #expect(added["name"] as? String == "novel")
        #expect(added["added_at"] as? Int == 250)

        let short = try CommandRunner.run(["eval", "--data", "samples/fmnist-drift@0:10", "--add-class", "novel@5:\(file.path)x"])
        #expect(short.status != 0)
        let malformed = try CommandRunner.run(["eval", "--data", "samples/fmnist-drift@0:10", "--add-class", "novel:5"])
        #expect(malformed.status != 0)
        #expect(malformed.stderr.contains("expected NAME@EVENT:FILE"))
    }

    /// The two counterfactuals of an addition report the same windows: the control run never has the
    /// class (all its events dropped, none after), the reference run has it from the start (none dropped,
    /// the same events of it after the addition event as the run that adds it).
    @Test func controlAndReferenceRunsBracketTheAddition() throws {
        func added(_ extra: [String]) throws -> ([String: Any], Int) {
            try addedClassReport(["--data", "samples/fmnist-drift@0:600", "--hold-back-class", "sandal@300"] + extra)
        }
        let (run, runDropped) = try added([])
        let (control, controlDropped) = try added(["--control-run"])
        let (reference, referenceDropped) = try added(["--reference-run"])
        let after = try #require(run["events_after"] as? Int)
        #expect(after > 0)
        #expect(reference["events_after"] as? Int == after)
        #expect(control["events_after"] as? Int == 0)
        #expect(control["recall_after"] is NSNull)
        #expect(referenceDropped == 0)
        #expect(runDropped > 0)
        #expect(controlDropped == runDropped + after)
        for report in [run, control, reference] {
            #expect(report["added_at"] as? Int == 300)
            #expect((report["others_accuracy_after"] as? Double ?? 0) > 0.5)
        }

        let both = try CommandRunner.run(
            ["eval", "--data", "samples/fmnist-drift@0:600", "--hold-back-class", "sandal@300", "--control-run", "--reference-run"])
        #expect(both.status != 0)
        #expect(both.stderr.contains("not both"))
    }
}

/// The acceptance stream of the shared data (clean 0..2999 then corrupted 3000..5999), when present.
@Suite(.enabled(if: CommandRunner.sharedData != nil, "needs ../shared/data"))
struct SharedDataAcceptanceTests {
    func stream() -> [String] {
        let data = CommandRunner.sharedData!.path
        return ["--data", "\(data)/fmnist_opennsfw_clean@0:3000", "--data", "\(data)/fmnist_opennsfw_corrupted@3000:6000"]
    }

    func accuracies(_ report: [String: Any]) throws -> [String: (Double, [Double])] {
        var result: [String: (Double, [Double])] = [:]
        let heads = try #require(report["heads"] as? [[String: Any]])
        #expect(!heads.isEmpty)
        for head in heads {
            let name = try #require(head["name"] as? String)
            let accuracy = try #require(head["prequential_accuracy"] as? Double, "\(name)")
            let segments = try #require(head["segments"] as? [Double], "\(name)")
            result[name] = (accuracy, segments)
        }
        return result
    }

    @Test func kalmanWinsWithAllLabelsAndDriftIsDetected() throws {
        let output = try CommandRunner.run(["eval", "--json"] + stream())
        #expect(output.status == 0, "stderr: \(output.stderr)")
        let report = try output.json()
        let acc = try accuracies(report)
        let kalman = try #require(acc["kalman"]).0
        #expect(kalman >= 0.72)
        for (name, value) in acc where name != "kalman" { #expect(kalman > value.0, "kalman \(kalman) vs \(name) \(value.0)") }
        #expect(abs(try #require(acc["zeroshot"]).0 - 0.43) < 0.005)
        let input = (report["alerts"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "input-drift" }
        let raised = input.compactMap { $0["raised_at"] as? Int }
        #expect(raised.allSatisfy { $0 >= 3000 }, "raised at \(raised)")
        #expect(raised.contains { (3000...3014).contains($0) }, "raised at \(raised)")
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func sparseLabelsDoNotHurt(seed: UInt64) throws {
        let output = try CommandRunner.run(
            ["eval", "--json", "--heads", "zeroshot,kalman", "--label-fraction", "0.1", "--seed", "\(seed)"] + stream())
        #expect(output.status == 0, "stderr: \(output.stderr)")
        let acc = try accuracies(try output.json())
        let zeroshot = try #require(acc["zeroshot"]).1
        let kalman = try #require(acc["kalman"]).1
        #expect(kalman[0] >= zeroshot[0] - 0.01, "clean: \(kalman[0]) vs \(zeroshot[0])")
        #expect(kalman[1] > zeroshot[1], "corrupted: \(kalman[1]) vs \(zeroshot[1])")
    }
}

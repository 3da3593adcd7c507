import ArgumentParser
import Foundation
import StreamAdaptCore
import StreamAdaptDaemon

/// `streamadapt eval`: offline prequential evaluation of heads on embedding files.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Stream embedding files through each head prequentially (predict, then learn) and report.",
        discussion: """
            Each --data source is a directory in the StreamAdapt data format, optionally with a row range \
            (DIR@FROM:TO streams rows FROM..TO-1). Sources are streamed in order and reported as segments.
            """
    )

    @Option(name: .customLong("data"), help: "A data directory, optionally DIR@FROM:TO. Repeat for segments.")
    var data: [String]

    @Option(help: "Comma-separated heads; join with + to sum logits (e.g. kalman+tip).")
    var heads = "zeroshot,kalman,tip,tipx,clipood"

    @Option(help: "Fraction of events that keep their label (a seeded random subset).")
    var labelFraction = 1.0

    @Option(help: "Seed of the label subset.")
    var seed: UInt64 = 1

    @Option(help: "TA++/TX++: a D x D little-endian float32 map applied to embeddings before the cache.")
    var projection: String?

    @Flag(help: "Print one JSON object instead of tables.")
    var json = false

    @Option(help: "Write a per-event CSV trace of the first head to this file.")
    var trace: String?

    @Option(help: "The most events processed as one block (1: event by event, timing each labelled event).")
    var maxBlock = StreamModel.defaultMaximumBlock

    @Option(name: .customLong("add-class"), help: "Add a class NAME at stream event EVENT with the embedding in FILE (D little-endian float32): NAME@EVENT:FILE. Repeatable.")
    var addClass: [String] = []

    @Option(name: .customLong("retire-class"), help: "Retire the class NAME at stream event EVENT: NAME@EVENT. Repeatable; its later events are dropped.")
    var retireClass: [String] = []

    @Option(name: .customLong("hold-back-class"), help: "Leave the data's class NAME out of the model until event EVENT, then add it with its class embedding: NAME@EVENT (NAME@never: never). Its events before EVENT are dropped. Repeatable.")
    var holdBackClass: [String] = []

    @Option(help: "Warm-up of a class added at run time, in its labels: its probability is weighted by ((n + 1) / (N + 1))^2 until it has learned N labels (the daemon's model.classWarmup; 0: none; docs/classes.md).")
    var classWarmup = 0

    @Flag(help: "With --hold-back-class: do not add the held-back classes (drop all their events) but report the same windows: the counterfactual that isolates what the addition costs the other classes.")
    var controlRun = false

    @Flag(help: "With --hold-back-class: have the held-back classes from the start (their events kept) and report the same windows: the model that never had to add them.")
    var referenceRun = false

    @Option(help: "Spread the stream round-robin over N partitions, each with its own model (what a daemon group with model.mode per-partition does): event i goes to the model of partition i mod N. Accuracy is over all events; alerts are counted, not listed.")
    var partitions = 1

    @Option(help: "With --partitions: per-partition (a model per partition) or shared (one Kalman model learned from every partition: each partition's model records its evidence and every --merge-every events the members fold them, docs/scale-out.md).")
    var modelMode = "per-partition"

    @Option(help: "Shared model: events between folds (over all partitions). 100 keeps the shared model within 0.01 of one model on the five streams of docs/scale-out.md.")
    var mergeEvery = 100

    @Option(help: "Shared model: members (daemons) the partitions are spread over, round-robin. At a merge each member in turn folds its own partitions' current evidence with the others' as of their last merge (as a daemon reads them from the state topic), then publishes its own.")
    var members = 2

    @Option(help: "Write a self-contained HTML report (accuracy over time per head with segments and alerts, drift score and threshold, reliability diagrams, the table) to this file.")
    var report: String?

    @OptionGroup var headOptions: HeadOptions

    mutating func validate() throws {
        guard !data.isEmpty else { throw ValidationError("give at least one --data DIR[@FROM:TO]") }
        guard labelFraction >= 0 && labelFraction <= 1 else { throw ValidationError("--label-fraction must be in [0, 1]") }
        guard maxBlock >= 1 else { throw ValidationError("--max-block must be at least 1") }
        guard classWarmup >= 0 else { throw ValidationError("--class-warmup must be non-negative (0: none)") }
        guard !(controlRun && referenceRun) else { throw ValidationError("give --control-run or --reference-run, not both") }
        guard partitions >= 1 else { throw ValidationError("--partitions must be at least 1") }
        guard modelMode == "per-partition" || modelMode == "shared" else {
            throw ValidationError("--model-mode must be per-partition or shared, not \(modelMode)")
        }
        guard modelMode == "per-partition" || (partitions > 1 && mergeEvery >= 1 && members >= 1 && members <= partitions) else {
            throw ValidationError("--model-mode shared needs --partitions > 1, --merge-every >= 1 and 1 <= --members <= --partitions")
        }
        guard partitions == 1 || (addClass.isEmpty && retireClass.isEmpty && holdBackClass.isEmpty && classWarmup == 0 && trace == nil && report == nil) else {
            throw ValidationError("--partitions does not combine with class changes, --class-warmup, --trace or --report")
        }
        guard !(controlRun || referenceRun) || !holdBackClass.isEmpty else {
            throw ValidationError("--control-run and --reference-run need --hold-back-class")
        }
    }

    func run() throws {
        BLAS.setThreads(1)
        let settings = try headOptions.settings()
        let drift = try headOptions.driftSettings()
        let sources = try data.map(DataSource.init(argument:))
        var datasets: [String: EmbeddingDataset] = [:]
        for source in sources where datasets[source.directory] == nil {
            datasets[source.directory] = try EmbeddingDataset(directory: source.directory)
        }
        let first = datasets[sources[0].directory]!
        let classes = first.classes
        var segments: [Segment] = []
        for source in sources {
            let dataset = datasets[source.directory]!
            guard dataset.dimension == first.dimension, dataset.classNames == first.classNames else {
                throw ValidationError("\(source.directory): dimension or classes differ from \(sources[0].directory)")
            }
            let range = source.range ?? 0..<dataset.count
            guard range.upperBound <= dataset.count else {
                throw ValidationError("--data \(source.label): \(dataset.directory) has only \(dataset.count) rows")
            }
            segments.append(Segment(name: source.label, dataset: dataset, range: range))
        }
        let projectionMatrix = try projection.map { try loadProjection($0, dimension: classes.dimension) }
        let schedule = try ClassSchedule(
            add: addClass, retire: retireClass, holdBack: holdBackClass, classes: classes,
            run: controlRun ? .control : referenceRun ? .reference : .add)
        let baseClasses = try schedule.baseClasses(classes)
        let changeEvents = schedule.changeEvents

        let total = segments.reduce(0) { $0 + $1.range.count }
        var random = SplitMix64(seed: seed)
        let keepsLabel = (0..<total).map { _ in Double(random.next() >> 11) / Double(1 << 53) < labelFraction }

        let headNames = heads.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        var results: [HeadResult] = []
        var traceLines: [String] = []
        for name in headNames where partitions > 1 {
            results.append(try partitioned(
                name, settings: settings, drift: drift, classes: classes, projection: projectionMatrix, segments: segments,
                keepsLabel: keepsLabel))
        }
        for name in headNames where partitions == 1 {
            let head: any AdapterHead
            do { head = try settings.makeHead(name, classes: baseClasses, projection: projectionMatrix) } catch {
                throw ValidationError(error.description)
            }
            let model = StreamModel(classes: baseClasses, head: head, drift: drift, maximumBlock: maxBlock)
            model.classWarmup = classWarmup
            var stats = PrequentialStatistics(segments: segments.count)
            // The events go to the model in batches of `maxBlock` (all rows are at hand). With
            // --max-block 1 each labelled event's `process` is timed on its own (its update time);
            // otherwise only the whole run is timed (events/s).
            var batch = model.makeBatch(capacity: maxBlock)
            var pending: [(segment: Int, truth: Int, labelled: Bool, event: Int)] = []
            // The model's index of each of the data's classes (nil: held back, not added yet, or retired:
            // such events are dropped), recomputed after every class change.
            var modelIndex: [Int?] = []
            func mapClasses() {
                modelIndex = classes.names.map { name in model.classes.index(of: name).flatMap { model.retired[$0] ? nil : $0 } }
            }
            mapClasses()
            var classEvents: [ClassEvent] = []
            var series = report == nil ? nil : HeadSeries()
            var dropped = 0
            var event = 0
            var modelNanoseconds: UInt64 = 0
            func flush() {
                guard batch.count > 0 else { return }
                let start = monotonicNanoseconds()
                model.process(batch)
                let nanoseconds = monotonicNanoseconds() &- start
                modelNanoseconds &+= nanoseconds
                for (i, p) in pending.enumerated() {
                    let result = batch.results[i]
                    if trace != nil && results.isEmpty {
                        traceLines.append(
                            "\(event - pending.count + i),\(p.segment),\(p.truth),\(result.index),\(num(result.probability)),\(num(result.variance)),\(result.mahalanobis2.map(num) ?? ""),\(result.drifting ? 1 : 0),\(result.updated ? 1 : 0),\(result.inputDriftStatistic.map(num) ?? "")")
                    }
                    if !schedule.isEmpty {
                        classEvents.append(ClassEvent(
                            event: p.event, truth: model.classes.names[p.truth], predicted: model.classes.names[result.index],
                            labelled: p.labelled))
                    }
                    stats.record(
                        segment: p.segment, isCorrect: result.index == p.truth, confidence: result.probability,
                        updateNanoseconds: maxBlock == 1 && p.labelled ? nanoseconds : nil)
                    series?.record(event: p.event, correct: result.index == p.truth, result: result, threshold: model.scorer?.threshold)
                }
                batch.removeAll()
                pending.removeAll(keepingCapacity: true)
            }
            for (s, segment) in segments.enumerated() {
                let d = segment.dataset.dimension
                try segment.dataset.embeddings.withUnsafeBufferPointer { all in
                    for row in segment.range {
                        let x = UnsafeBufferPointer(rebasing: all[(row * d)..<((row + 1) * d)])
                        if changeEvents.contains(event) {
                            flush()  // a class change takes effect between batches, for the events after it
                            if try schedule.apply(at: event, to: model) {
                                batch = model.makeBatch(capacity: maxBlock)
                                mapClasses()
                            }
                        }
                        guard let truth = modelIndex[segment.dataset.labels[row]] else {
                            dropped += 1
                            event += 1
                            continue
                        }
                        try batch.append(x, label: keepsLabel[event] ? truth : nil, time: Double(event))
                        pending.append((s, truth, keepsLabel[event], event))
                        event += 1
                        if batch.isFull { flush() }
                    }
                }
            }
            flush()
            stats.modelNanoseconds = modelNanoseconds
            let classReport =
                schedule.isEmpty
                ? nil : ClassReport(events: classEvents, schedule: schedule, classNames: model.classes.names, dropped: dropped)
            results.append(HeadResult(name: head.name, statistics: stats, alerts: model.alerts, alertsRaised: model.alertsRaised,
                updates: model.head.updateCount, classes: classReport, series: series))
        }
        if let trace {
            let header = "event,segment,label,predicted,probability,variance,mahalanobis2,drifting,updated,input_drift\n"
            try (header + traceLines.joined(separator: "\n") + "\n").write(toFile: trace, atomically: true, encoding: .utf8)
        }
        let report = EvalReport(
            events: total, segments: segments.map(\.name), labelFraction: labelFraction, heads: results)
        if json {
            print(report.json())
        } else {
            print(report.table())
        }
        if let file = self.report {
            let starts = segments.reduce(into: [0]) { $0.append($0.last! + $1.range.count) }.dropLast()
            let html = EvalReportHTML(report: report, segmentStarts: Array(starts), command: CommandLine.arguments.dropFirst().joined(separator: " ")).html()
            try html.write(toFile: file, atomically: true, encoding: .utf8)
            FileHandle.standardError.write(Data("report: \(file)\n".utf8))
        }
    }

    /// One head over the stream spread round-robin over ``partitions`` models (``partitions`` > 1); with
    /// `--model-mode shared`, one Kalman model learned from all of them (``SharedMerge``).
    private func partitioned(
        _ name: String, settings: HeadSettings, drift: DriftSettings, classes: ClassEmbeddings, projection: Matrix?,
        segments: [Segment], keepsLabel: [Bool]
    ) throws -> HeadResult {
        var models: [StreamModel] = []
        for _ in 0..<partitions {
            let head: any AdapterHead
            do { head = try settings.makeHead(name, classes: classes, projection: projection) } catch {
                throw ValidationError(error.description)
            }
            models.append(StreamModel(classes: classes, head: head, drift: drift, maximumBlock: maxBlock))
        }
        var merge: SharedMerge?
        if modelMode == "shared" {
            let heads = try models.map { model in
                guard let head = model.head as? KalmanHead else {
                    throw ValidationError("--model-mode shared needs the kalman head, not \(name)")
                }
                return head
            }
            merge = try SharedMerge(heads: heads, members: members, classes: classes)
        }
        // Shared: one model over the whole stream alongside, to compare the final fold with.
        let reference = try merge.map { _ in
            StreamModel(classes: classes, head: try settings.makeHead(name, classes: classes, projection: projection), drift: drift, maximumBlock: maxBlock)
        }
        let referenceBatch = reference?.makeBatch(capacity: maxBlock)
        let batches = models.map { $0.makeBatch(capacity: maxBlock) }
        var pending: [[(segment: Int, truth: Int)]] = Array(repeating: [], count: partitions)
        var stats = PrequentialStatistics(segments: segments.count)
        var modelNanoseconds: UInt64 = 0
        func flush(_ p: Int) {
            guard batches[p].count > 0 else { return }
            let start = monotonicNanoseconds()
            models[p].process(batches[p])
            modelNanoseconds &+= monotonicNanoseconds() &- start
            for (i, event) in pending[p].enumerated() {
                let result = batches[p].results[i]
                stats.record(segment: event.segment, isCorrect: result.index == event.truth, confidence: result.probability, updateNanoseconds: nil)
            }
            batches[p].removeAll()
            pending[p].removeAll(keepingCapacity: true)
        }
        var event = 0
        for (s, segment) in segments.enumerated() {
            let d = segment.dataset.dimension
            try segment.dataset.embeddings.withUnsafeBufferPointer { all in
                for row in segment.range {
                    if let merge, event > 0, event % mergeEvery == 0 {
                        for p in 0..<partitions { flush(p) }
                        let start = monotonicNanoseconds()
                        try merge.merge()
                        modelNanoseconds &+= monotonicNanoseconds() &- start
                    }
                    let p = event % partitions
                    let truth = segment.dataset.labels[row]
                    try batches[p].append(
                        UnsafeBufferPointer(rebasing: all[(row * d)..<((row + 1) * d)]), label: keepsLabel[event] ? truth : nil,
                        time: Double(event))
                    pending[p].append((s, truth))
                    if let reference, let referenceBatch {
                        try referenceBatch.append(
                            UnsafeBufferPointer(rebasing: all[(row * d)..<((row + 1) * d)]), label: keepsLabel[event] ? truth : nil,
                            time: Double(event))
                        if referenceBatch.isFull {
                            reference.process(referenceBatch)
                            referenceBatch.removeAll()
                        }
                    }
                    event += 1
                    if batches[p].isFull { flush(p) }
                }
            }
        }
        for p in 0..<partitions { flush(p) }
        stats.modelNanoseconds = modelNanoseconds
        if let merge, let reference, let referenceBatch {
            if referenceBatch.count > 0 { reference.process(referenceBatch) }
            try compareFinalFold(merge, reference: reference, segments: segments)
        }
        let suffix = merge.map { " shared x\(partitions)/\(members) every \(mergeEvery) (\($0.folds) folds)" } ?? " x\(partitions)"
        return HeadResult(
            name: models[0].head.name + suffix, statistics: stats, alerts: [], alertsRaised: models.reduce(0) { $0 + $1.alertsRaised },
            updates: models.reduce(0) { $0 + $1.head.updateCount }, partitioned: true)
    }

    /// Shared model: the fold of every partition's final evidence against one model that learned the
    /// whole stream in order (to stderr): how far W and P are apart and how often their argmax agrees on
    /// the stream's inputs.
    private func compareFinalFold(_ merge: SharedMerge, reference model: StreamModel, segments: [Segment]) throws {
        guard let reference = model.head as? KalmanHead, let first = merge.heads.first else { return }
        let final = KalmanHead(classes: merge.classes, configuration: first.configuration)
        try KalmanEvidence.fold(merge.heads.map { $0.evidence! }, into: final, classes: merge.classes)
        let (c, d) = (final.classCount, final.dimension)
        let (w, p) = final.largestDifferences(from: reference)
        var agree = 0
        var total = 0
        let a = UnsafeMutablePointer<Double>.allocate(capacity: c)
        let b = UnsafeMutablePointer<Double>.allocate(capacity: c)
        let x = UnsafeMutablePointer<Double>.allocate(capacity: d)
        defer { a.deallocate(); b.deallocate(); x.deallocate() }
        for segment in segments {
            try segment.dataset.embeddings.withUnsafeBufferPointer { all in
                for row in segment.range {
                    try normalizeEmbedding(UnsafeBufferPointer(rebasing: all[(row * d)..<((row + 1) * d)]), into: x, dimension: d)
                    _ = final.predict(x, logits: a)
                    _ = reference.predict(x, logits: b)
                    if (0..<c).max(by: { a[$0] < a[$1] }) == (0..<c).max(by: { b[$0] < b[$1] }) { agree += 1 }
                    total += 1
                }
            }
        }
        let line = "shared \(first.name): the final fold against one model over the same events: W differs by \(String(format: "%.1e", w)) of its largest entry, P by \(String(format: "%.1e", p)); argmax agrees on \(agree) of \(total) inputs (\(fmt(100 * Double(agree) / Double(max(1, total)), 2)) %)\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    private func loadProjection(_ path: String, dimension: Int) throws -> Matrix {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard data.count == dimension * dimension * 4 else {
            throw ValidationError("--projection \(path): expected \(dimension * dimension) float32 values (D x D)")
        }
        let values = ClassFile.readFloats(data).map(Double.init)
        return Matrix(rows: dimension, columns: dimension, values: values)
    }
}

struct Segment {
    let name: String
    let dataset: EmbeddingDataset
    let range: Range<Int>
}

struct HeadResult {
    let name: String
    let statistics: PrequentialStatistics
    /// The model's alert history (its last `drift.alertHistory` alerts) and how many it raised in all.
    let alerts: [DriftAlert]
    let alertsRaised: Int
    /// Events the head learned from.
    let updates: Int
    /// Per-class recall around the class changes (with a class schedule).
    var classes: ClassReport? = nil
    /// Spread over partitions (`--partitions`): the alerts of several models are counted, not listed.
    var partitioned = false
    /// Per event, for `--report`.
    var series: HeadSeries? = nil
}

/// The `eval` report: a table for people, JSON for tools.
struct EvalReport {
    let events: Int
    let segments: [String]
    let labelFraction: Double
    let heads: [HeadResult]

    /// The stream's alerts: those of the first head's model (the drift scorer learns unlabelled events
    /// from that head's predictions).
    var alerts: [DriftAlert] { heads.first?.alerts ?? [] }

    func table() -> String {
        var lines: [String] = []
        lines.append("events: \(events)  segments: \(segments.joined(separator: " | "))  label fraction: \(labelFraction)")
        var header = pad("head", 18) + pad("accuracy", 10)
        for i in segments.indices { header += pad("seg\(i + 1)", 9) }
        header += pad("ECE", 8) + pad("ev/s", 8) + pad("upd p50 us", 12) + "upd p99 us"
        lines.append(header)
        for head in heads {
            let s = head.statistics
            var line = pad(head.name, 18) + pad(fmt(s.accuracy, 4), 10)
            for a in s.segmentAccuracies { line += pad(fmt(a, 4), 9) }
            line += pad(fmt(s.expectedCalibrationError, 4), 8)
            line += pad(s.eventsPerSecond.map { fmt($0, 0) } ?? "-", 8)
            line += pad(s.updateMicroseconds(quantile: 0.5).map { fmt($0, 1) } ?? "-", 12)
            line += s.updateMicroseconds(quantile: 0.99).map { fmt($0, 1) } ?? "-"
            lines.append(line)
        }
        for head in heads { if let classes = head.classes { lines += classes.table(head: head.name) } }
        lines.append("alerts (drift monitor of \(heads.first?.name ?? "-")):")
        if let first = heads.first, first.partitioned {
            lines.append("  \(first.alertsRaised) raised by the \(first.name) models together (not listed: each counts its own events)")
            return lines.joined(separator: "\n")
        }
        if alerts.isEmpty { lines.append("  none") }
        if let first = heads.first, first.alertsRaised > alerts.count {
            lines.append("  (\(first.alertsRaised - alerts.count) earlier alerts not kept: the history keeps the last \(alerts.count))")
        }
        for a in alerts { lines.append("  \(a.kind.rawValue): \(a.summary)") }
        return lines.joined(separator: "\n")
    }

    func json() -> String {
        func alertsJSON(_ alerts: [DriftAlert]) -> String {
            "[" + alerts.map(\.json).joined(separator: ", ") + "]"
        }
        let headsJSON = heads.map { h in
            let s = h.statistics
            return "{\"name\": \"\(h.name)\", \"prequential_accuracy\": \(num(s.accuracy)), \"segments\": [\(s.segmentAccuracies.map(num).joined(separator: ", "))], \"ece\": \(num(s.expectedCalibrationError)), \"updates\": \(h.updates), \"events_per_second\": \(s.eventsPerSecond.map(num) ?? "null"), \"update_us_p50\": \(s.updateMicroseconds(quantile: 0.5).map(num) ?? "null"), \"update_us_p99\": \(s.updateMicroseconds(quantile: 0.99).map(num) ?? "null"), \"alerts\": \(alertsJSON(h.alerts))\(h.classes.map { ", \"classes\": " + $0.json() } ?? "")}"
        }
        let segmentNames = segments.map { "\"\($0)\"" }.joined(separator: ", ")
        return "{\"events\": \(events), \"label_fraction\": \(num(labelFraction)), \"segment_names\": [\(segmentNames)], \"heads\": [\(headsJSON.joined(separator: ", "))], \"alerts\": \(alertsJSON(alerts))}"
    }
}

func num(_ v: Double) -> String { v.isFinite ? String(format: "%.6g", v) : "null" }
func fmt(_ v: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", v) }
func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count) }

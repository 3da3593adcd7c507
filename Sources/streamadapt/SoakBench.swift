import Foundation
import Logging
import StreamAdaptCore
import StreamAdaptDaemon
import StreamAdaptKafka

#if canImport(Glibc)
import Glibc
#endif

/// The soak: a long run of the daemon loop on the embedded broker (replayed with a bounded lead, the
/// mock broker keeps only about 5 MB per partition), sampling resident memory and throughput, to show
/// that neither drifts: no growth in memory after warm-up, no slowdown over time.
///
/// Checkpoints are on (a temporary folder, every `checkpoint.everyEvents`), a tenth of the events
/// carry no label, and the label cache is on (a labels topic that receives nothing), as in production.
struct SoakBench {
    var events: Int
    var dimension: Int
    var classCount: Int
    var format: String
    /// Resident-memory samples taken (one every events / samples).
    var samples = 50

    func run() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sa-soak-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let (d, c) = (dimension, classCount)
        var random = SplitMix64(seed: 11)
        let classValues = (0..<(c * d)).map { _ in Float(random.next() % 1000) / 1000 }
        try Data(classValues.withUnsafeBytes { Array($0) }).write(to: folder.appendingPathComponent("text.f32"))
        try (0..<c).map { "class\($0)" }.joined(separator: "\n").write(
            to: folder.appendingPathComponent("classes.txt"), atomically: true, encoding: .utf8)

        // A pool of noisy class embeddings; event i is pool row i % pool with its own id.
        let pool = 1024
        var rows: [[Float]] = []
        var labels: [Int] = []
        for r in 0..<pool {
            labels.append(r % c)
            rows.append((0..<d).map { j in classValues[(r % c) * d + j] + Float(random.next() % 1000) / 2000 })
        }

        let broker = try EmbeddedBroker()
        var config = PipelineConfiguration()
        config.classesDirectory = folder.path
        config.bootstrapServers = broker.bootstrapServers
        config.metricsPort = 0
        config.labelsTopic = "labels"
        config.checkpointDirectory = folder.appendingPathComponent("checkpoint").path
        for topic in [config.inputTopic, config.predictionsTopic, config.alertsTopic, config.deadLetterTopic, "labels"] {
            try broker.createTopic(topic, partitions: 1)
        }

        let payloads: [[UInt8]] = (0..<pool).map { r in
            if format == "json" {
                return Array(("[" + rows[r].map { "\($0)" }.joined(separator: ",") + "]").utf8)
            }
            return rows[r].withUnsafeBytes { Array($0) }
        }
        let messageBytes = payloads[0].count + 64
        let replay = Replayer(
            bootstrap: config.bootstrapServers, topic: config.inputTopic, total: events,
            lead: max(50, min(2000, 3_000_000 / messageBytes))
        ) { [format, labels] i, send in
            let r = i % pool
            let labelled = i % 10 != 9
            if format == "json" {
                var value = Array("{\"id\":\"e\(i)\",\"embedding\":".utf8)
                value += payloads[r]
                value += Array((labelled ? ",\"label\":\(labels[r])}" : "}").utf8)
                try send(value, [])
            } else {
                var headers: [(String, [UInt8])] = [
                    ("content-type", Array(EventDecoder.binaryContentType.utf8)), ("id", Array("e\(i)".utf8)),
                ]
                if labelled { headers.append(("label", Array(String(labels[r]).utf8))) }
                try send(payloads[r], headers)
            }
        }

        let loop = try AdaptationLoop(configuration: config, logger: Logger(label: "soak"), health: HealthState())
        let every = max(1, events / samples)
        var seen = 0
        let start = monotonicNanoseconds()
        var marks: [(events: Int, seconds: Double, residentBytes: Int)] = [(0, 0, residentBytes())]
        loop.observer = { _ in
            seen += 1
            replay.consumed.add(1)
            if seen % every == 0 {
                marks.append((seen, Double(monotonicNanoseconds() &- start) / 1e9, residentBytes()))
            }
        }
        replay.start()
        try loop.run(maximumEvents: events) { replay.error.value != nil }
        try replay.finish()
        withExtendedLifetime(broker) {}

        writeLine("soak: \(events) events, D = \(d), C = \(c), \(format) input, 90 % labelled, checkpoints every \(config.checkpointEveryEvents)")
        writeLine("events      seconds   RSS MB   interval ev/s")
        for k in marks.indices {
            let m = marks[k]
            let rate = k == 0 ? "-" : fmt(Double(m.events - marks[k - 1].events) / (m.seconds - marks[k - 1].seconds), 0)
            writeLine(pad(String(m.events), 12) + pad(fmt(m.seconds, 1), 10) + pad(fmt(Double(m.residentBytes) / 1e6, 1), 9) + rate)
        }
        // Warm-up: the first tenth of the run (the label cache, the broker's logs and the allocator's
        // pools fill up); after it, memory must stay flat and the rate steady.
        let settled = marks.filter { $0.events >= events / 10 }
        guard let first = settled.first, let last = settled.last else { return }
        let peak = settled.map(\.residentBytes).max() ?? 0
        // Interval rates in time order (the halves compare the run's beginning with its end).
        let rates = zip(settled.dropFirst(), settled).map { Double($0.events - $1.events) / ($0.seconds - $1.seconds) }
        writeLine(
            "after warm-up (event \(first.events)): RSS \(fmt(Double(first.residentBytes) / 1e6, 1)) MB -> \(fmt(Double(last.residentBytes) / 1e6, 1)) MB at the end "
                + "(\(fmt(100 * (Double(last.residentBytes) / Double(first.residentBytes) - 1), 1)) %), peak \(fmt(Double(peak) / 1e6, 1)) MB "
                + "(\(fmt(100 * (Double(peak) / Double(first.residentBytes) - 1), 1)) %)")
        if !rates.isEmpty {
            writeLine(
                "interval rate after warm-up: min \(fmt(rates.min()!, 0)), median \(fmt(Quantile.median(rates) ?? 0, 0)), max \(fmt(rates.max()!, 0)) events/s; "
                    + "first half median \(fmt(Quantile.median(Array(rates.prefix(rates.count / 2))) ?? 0, 0)), second half median \(fmt(Quantile.median(Array(rates.suffix(rates.count - rates.count / 2))) ?? 0, 0))")
        }
    }
}

/// The process's resident set size in bytes (from /proc/self/statm).
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

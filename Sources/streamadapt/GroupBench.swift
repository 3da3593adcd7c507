import Foundation
import Logging
import StreamAdaptCore
import StreamAdaptDaemon
import StreamAdaptKafka
import Synchronization

/// `bench --group N`: events/s of one daemon loop against N loops of one consumer group (each on its own
/// thread, as N daemons on N cores would run), through the embedded broker, on a 4-partition input with
/// per-partition models; the configurations alternate, `repetitions` times each, in one run.
///
/// The clock starts once every member owns partitions (the group has formed) and a fifth of the events
/// are handled, and stops when the last event is handled; the members' final snapshots come after it.
struct GroupBench {
    let events: Int
    let members: Int
    /// per-partition or shared.
    var modelMode = ModelMode.perPartition
    var repetitions = 3
    static let partitions: Int32 = 4

    func run(dimension d: Int, classCount c: Int) throws {
        let (folder, inputs, labels) = try ModelBench.syntheticClassFolder(d: d, c: c)
        defer { try? FileManager.default.removeItem(at: folder) }
        writeLine("D      C     members  ev/s (\(events) binary events, 4 partitions, kalman \(modelMode.rawValue), drift monitor on)")
        var rates: [Int: [Double]] = [:]
        for _ in 0..<repetitions {
            for n in [1, members] {
                let rate = try measure(members: n, folder: folder.path, inputs: inputs, labels: labels, d: d)
                rates[n, default: []].append(rate)
                writeLine(pad("\(d)", 7) + pad("\(c)", 6) + pad("\(n)", 9) + fmt(rate, 0))
            }
        }
        let ratios = zip(rates[members]!, rates[1]!).map { $0 / $1 }
        writeLine(
            "\(members) members / 1: median \(fmt(Quantile.median(ratios) ?? .nan, 2)) (pairs: \(ratios.map { fmt($0, 2) }.joined(separator: ", ")))")
    }

    private func measure(members n: Int, folder: String, inputs: [Float], labels: [Int], d: Int) throws -> Double {
        let broker = try EmbeddedBroker()
        var config = PipelineConfiguration()
        config.classesDirectory = folder
        config.bootstrapServers = broker.bootstrapServers
        config.metricsPort = 0
        config.head = "kalman"
        config.name = "bench"
        config.joinGroup("bench")
        config.modelMode = modelMode
        config.kafkaProperties = ["session.timeout.ms": "6000", "heartbeat.interval.ms": "500"]
        try broker.createTopic(config.inputTopic, partitions: Self.partitions)
        try broker.createTopic(config.stateTopic, partitions: Self.partitions)
        for topic in [config.predictionsTopic, config.alertsTopic, config.deadLetterTopic] { try broker.createTopic(topic, partitions: 1) }

        let total = events
        let warm = total / 5
        let consumed = SharedCounter()
        let owning = (0..<n).map { _ in SharedCounter() }
        let clock = Mutex<(start: UInt64?, end: UInt64?)>((nil, nil))
        let failure = ErrorBox()
        let done = (0..<n).map { _ in SharedCounter() }
        for m in 0..<n {
            let owned = owning[m]
            let thread = Thread { [config] in
                defer { done[m].add(1) }
                do {
                    let loop = try AdaptationLoop(configuration: config, logger: Logger(label: "bench"), health: HealthState())
                    loop.rebalanceObserver = { event in
                        switch event {
                        case .assigned(let ps): owned.add(ps.count)
                        case .revoked(let ps), .lost(let ps): owned.add(-ps.count)
                        }
                    }
                    loop.observer = { _ in
                        consumed.add(1)
                        let count = consumed.value
                        if count == warm + 1 { clock.withLock { if $0.start == nil { $0.start = monotonicNanoseconds() } } }
                        if count >= total { clock.withLock { if $0.end == nil { $0.end = monotonicNanoseconds() } } }
                    }
                    try loop.run { consumed.value >= total || failure.value != nil }
                } catch {
                    failure.set("member \(m): \(error)")
                }
            }
            thread.stackSize = 16 << 20
            thread.start()
        }
        // The group has formed: every member owns partitions, all four are owned.
        while failure.value == nil, !(owning.allSatisfy { $0.value > 0 } && owning.map(\.value).reduce(0, +) == Int(Self.partitions)) {
            usleep(10_000)
        }
        // Bounded lead: the embedded broker keeps only about 5 MB per partition.
        let lead = max(50, min(2000, 3_000_000 / (d * 4)))
        let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers, ["linger.ms": "2"]))
        for i in 0..<total where failure.value == nil {
            while i - consumed.value > lead, failure.value == nil { usleep(200) }
            let r = i % labels.count
            let headers: [(String, [UInt8])] = [
                ("content-type", Array(EventDecoder.binaryContentType.utf8)), ("id", Array("e\(i)".utf8)), ("label", Array(String(labels[r]).utf8)),
            ]
            try inputs[(r * d)..<((r + 1) * d)].withUnsafeBytes {
                try producer.sendWaiting(topic: config.inputTopic, partition: Int32(i) % Self.partitions, key: nil, value: $0, headers: headers)
            }
            producer.poll()
        }
        try producer.flush()
        while done.contains(where: { $0.value == 0 }) { usleep(1000) }
        if let error = failure.value { throw KafkaError("group bench: \(error)") }
        withExtendedLifetime(broker) {}
        let (start, end) = clock.withLock { ($0.start ?? 0, $0.end ?? 0) }
        return Double(total - warm) / (Double(end &- start) / 1e9)
    }
}

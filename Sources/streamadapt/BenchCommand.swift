import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import StreamAdaptCore
import StreamAdaptDaemon

/// `streamadapt bench`: per-update time of each head on random unit vectors (release build).
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the per-update time of heads (predict + learn) at given D and C; prints medians.",
        discussion: "Run a release build with OPENBLAS_NUM_THREADS=1. Times are per event: predict then learn."
    )

    @Option(help: "Comma-separated heads.")
    var heads = "kalman,kalman-diagonal,tip,tipx,clipood"
    @Option(help: "Comma-separated embedding dimensions.")
    var dimensions = "512,1024"
    @Option(help: "Comma-separated class counts.")
    var classes = "10,100,1000"
    @Option(help: "Timed events per configuration (default 2000; 20000 with --kafka, 2000 with --kafka --rate).")
    var events: Int?
    @Option(help: "Warm-up events per configuration.")
    var warmup = 200
    @Flag(help: "Also time the bare BLAS calls of the Kalman update (dsymv + dsyr + dger).")
    var blas = false

    @Flag(help: "Instead: end-to-end events/s through the embedded broker (JSON and binary), with the bare model and Kalman rates.")
    var kafka = false
    @Option(help: "With --kafka: the drift scorer's random projection dimension (drift.projection; default 0, none).")
    var driftProjection = 0
    @Option(help: "With --kafka: a trickle instead of a backlog, the producer offering this many events per second (paced) for --events events (default 2000); reports the handle-time p50 and p99.")
    var rate: Double?

    @Flag(help: "Instead: per-event time of the bare model and of the Kalman head alone, event by event against blocked (EventBatch backlogs of 512 through process(batch)), in the same run (also printed by --kafka).")
    var model = false
    @Option(help: "With --model and --kafka: the Kalman head's precision of P, float64 or float32.")
    var kalmanPrecision = KalmanConfiguration.Precision.float64.rawValue

    @Option(help: "With --model and --kafka: the blocked model's maximumBlock.")
    var maxBlock = StreamModel.defaultMaximumBlock

    @Flag(help: "Instead: the soak, a long run of the daemon loop on the embedded broker sampling resident memory and events/s (default 1000000 events at the first of --dimensions and --classes).")
    var soak = false
    @Option(help: "With --soak: input format, json or binary.")
    var soakFormat = "binary"

    @Flag(help: "Instead: the strict JSON decoder against Foundation's JSONSerialization and JSONDecoder on realistic events at --dimensions (--events per repetition, default 1000).")
    var decoder = false

    @Option(help: "Instead: events/s of one daemon loop against N loops of one consumer group (per-partition models, 4 partitions, each loop on its own thread) through the embedded broker, alternating, 3 runs each, at the first of --dimensions and --classes (--events, default 20000).")
    var group: Int?

    @Option(help: "With --group: the members' model mode, per-partition or shared (one model folded from every partition's evidence at each snapshot round).")
    var modelMode = "per-partition"

    @Flag(help: "Instead: one fold of Kalman evidence over 4 partitions (the shared model's merge: Cholesky solve and inverse) and the cost of adding an event to a partition's evidence, at --dimensions and --classes.")
    var fold = false

    @Flag(help: "Instead: classes added at run time: for each of --dimensions, --heads and N in --classes, the time of the last of N additions to 10 base classes, and of restoring their checkpoint (docs/classes.md).")
    var classGrowth = false

    func validate() throws {
        if let rate { guard kafka, rate > 0 else { throw ValidationError("--rate needs --kafka and a positive rate") } }
        guard maxBlock >= 1 else { throw ValidationError("--max-block must be at least 1") }
        guard KalmanConfiguration.Precision(rawValue: kalmanPrecision) != nil else {
            throw ValidationError("--kalman-precision must be float64 or float32")
        }
        if let events { guard events >= 1 else { throw ValidationError("--events must be at least 1") } }
    }

    func run() throws {
        BLAS.setThreads(1)
        if model {
            var bench = ModelBench(events: events ?? 2000, maximumBlock: maxBlock)
            bench.kalman.precision = KalmanConfiguration.Precision(rawValue: kalmanPrecision) ?? .float64
            try bench.run(
                dimensions: dimensions.split(separator: ",").compactMap { Int($0) },
                classCounts: classes.split(separator: ",").compactMap { Int($0) })
            return
        }
        if classGrowth {
            try ClassGrowthBench().run(
                dimensions: dimensions.split(separator: ",").compactMap { Int($0) },
                counts: classes.split(separator: ",").compactMap { Int($0) },
                heads: heads.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) })
            return
        }
        if fold {
            try FoldBench().run(
                dimensions: dimensions.split(separator: ",").compactMap { Int($0) },
                classCounts: classes.split(separator: ",").compactMap { Int($0) })
            return
        }
        if let group {
            guard group >= 2 else { throw ValidationError("--group must be at least 2") }
            bootstrapLogging(level: .error)
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: PrometheusCollectorRegistry()))
            guard let mode = ModelMode(rawValue: modelMode), mode != .single else {
                throw ValidationError("--model-mode must be per-partition or shared")
            }
            try GroupBench(events: events ?? 20_000, members: group, modelMode: mode).run(
                dimension: dimensions.split(separator: ",").compactMap { Int($0) }.first ?? 1024,
                classCount: classes.split(separator: ",").compactMap { Int($0) }.first ?? 10)
            return
        }
        if decoder {
            try DecoderBench(events: events ?? 1000, repetitions: 7).run(dimensions: dimensions.split(separator: ",").compactMap { Int($0) })
            return
        }
        if soak {
            guard soakFormat == "json" || soakFormat == "binary" else { throw ValidationError("--soak-format must be json or binary") }
            bootstrapLogging(level: .error)
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: PrometheusCollectorRegistry()))
            try SoakBench(
                events: events ?? 1_000_000, dimension: dimensions.split(separator: ",").compactMap { Int($0) }.first ?? 512,
                classCount: classes.split(separator: ",").compactMap { Int($0) }.first ?? 10, format: soakFormat
            ).run()
            return
        }
        if kafka {
            bootstrapLogging(level: .error)
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: PrometheusCollectorRegistry()))
            try KafkaBench(
                events: events ?? (rate == nil ? 20_000 : 2000), projection: driftProjection, rate: rate, maximumBlock: maxBlock
            ).run(
                dimensions: dimensions.split(separator: ",").compactMap { Int($0) },
                classCounts: classes.split(separator: ",").compactMap { Int($0) })
            return
        }
        let events = self.events ?? 2000
        let settings = HeadSettings()
        let ds = dimensions.split(separator: ",").compactMap { Int($0) }
        let cs = classes.split(separator: ",").compactMap { Int($0) }
        writeLine("head               D      C   learn p50 us  learn p99 us  predict+learn p50 us")
        for d in ds {
            for c in cs {
                var random = SplitMix64(seed: 7)
                let classValues = (0..<(c * d)).map { _ in Float(random.next() % 1000) / 1000 + 0.01 }
                let names = (0..<c).map { "c\($0)" }
                let classEmbeddings = try ClassEmbeddings(names: names, dimension: d, values: classValues)
                let pool = 256
                let inputs = Matrix(rows: pool, columns: d)
                for i in 0..<inputs.count { inputs[i] = Double(random.next() % 1000) / 1000 }
                for r in 0..<pool {
                    let norm = BLAS.dot(d, inputs.row(r), inputs.row(r)).squareRoot()
                    BLAS.scal(d, alpha: 1 / norm, inputs.row(r))
                }
                let logits = Matrix(rows: c, columns: 1)
                for name in heads.split(separator: ",").map(String.init) {
                    let head = try settings.makeHead(name, classes: classEmbeddings)
                    var learn: [UInt64] = []
                    var both: [UInt64] = []
                    learn.reserveCapacity(events)
                    both.reserveCapacity(events)
                    let context = LearnContext(mahalanobis2: Double(d))
                    for i in 0..<(warmup + events) {
                        let t0 = monotonicNanoseconds()
                        _ = head.predict(inputs.row(i % pool), logits: logits.pointer)
                        let t1 = monotonicNanoseconds()
                        head.learn(label: i % c, context: context)
                        let t2 = monotonicNanoseconds()
                        if i >= warmup {
                            learn.append(t2 - t1)
                            both.append(t2 - t0)
                        }
                    }
                    writeLine(
                        pad(name, 17) + pad(String(d), 7) + pad(String(c), 6) + pad(fmt(median(learn), 1), 14)
                            + pad(fmt(quantile(learn, 0.99), 1), 14) + fmt(median(both), 1))
                }
                if blas { benchBLAS(d: d, c: c) }
            }
        }
    }

    /// Times the three BLAS calls of a full-covariance Kalman update alone (the floor of its cost).
    private func benchBLAS(d: Int, c: Int) {
        let events = self.events ?? 2000
        let p = Matrix(rows: d, columns: d)
        for i in 0..<d { p[i, i] = 1 }
        let w = Matrix(rows: c, columns: d)
        let x = Matrix(rows: d, columns: 1, value: 1 / Double(d).squareRoot())
        let u = Matrix(rows: d, columns: 1)
        let e = Matrix(rows: c, columns: 1, value: 0.01)
        let times = timed(events) {
            BLAS.symv(d, alpha: 1, p.pointer, x.pointer, beta: 0, u.pointer)
            BLAS.syr(d, alpha: -1e-9, u.pointer, p.pointer)
            BLAS.ger(c, d, alpha: 1e-9, e.pointer, u.pointer, w.pointer)
        }
        let packed = Matrix(rows: d * (d + 1) / 2, columns: 1)
        for i in 0..<d { packed[BLAS.packedIndex(d, i, i)] = 1 }
        let packedTimes = timed(events) {
            BLAS.spmv(d, alpha: 1, packed.pointer, x.pointer, beta: 0, u.pointer)
            BLAS.spr(d, alpha: -1e-9, u.pointer, packed.pointer)
            BLAS.ger(c, d, alpha: 1e-9, e.pointer, u.pointer, w.pointer)
        }
        for (name, t) in [("blas-floor-packed", packedTimes), ("blas-floor", times)] {
            writeLine(pad(name, 17) + pad(String(d), 7) + pad(String(c), 6) + pad(fmt(median(t), 1), 14) + fmt(quantile(t, 0.99), 1))
        }
    }

    /// Runs `body` `warmup + events` times and returns the times of the last `events` runs (ns).
    private func timed(_ events: Int, _ body: () -> Void) -> [UInt64] {
        var times: [UInt64] = []
        times.reserveCapacity(events)
        for i in 0..<(warmup + events) {
            let t0 = monotonicNanoseconds()
            body()
            if i >= warmup { times.append(monotonicNanoseconds() - t0) }
        }
        return times
    }
}


/// The q-quantile of nanosecond times, in microseconds (``Quantile``'s rule; 0 without times).
private func quantile(_ values: [UInt64], _ q: Double) -> Double { (Quantile.of(values, q) ?? 0) / 1000 }

private func median(_ values: [UInt64]) -> Double { quantile(values, 0.5) }

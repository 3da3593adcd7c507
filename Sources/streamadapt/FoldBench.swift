import Foundation
import StreamAdaptCore

/// `bench --fold`: the time of one fold of Kalman evidence (``KalmanEvidence/fold(_:into:classes:)``:
/// the prior plus the evidence of each partition, a Cholesky factorisation, the solve for W and the
/// inverse for P) and of adding one event to a partition's evidence, at each D and C.
struct FoldBench {
    var partitions = 4
    var repetitions = 5

    func run(dimensions: [Int], classCounts: [Int]) throws {
        writeLine("D      C     partitions  fold ms (median of \(repetitions))  add us/event  evidence bytes  snapshot bytes per-partition  shared")
        for d in dimensions {
            for c in classCounts {
                var random = SplitMix64(seed: UInt64(d + c))
                let classes = try ClassEmbeddings(
                    names: (0..<c).map { "c\($0)" }, dimension: d, values: (0..<(c * d)).map { _ in Float(random.next() % 1000) / 1000 })
                var config = KalmanConfiguration()
                config.target = .oneHot
                let evidence = (0..<partitions).map { _ in
                    KalmanEvidence(dimension: d, classCount: c, forgetting: config.forgetting, unit: config.forgettingUnit)
                }
                var x = [Double](repeating: 0, count: d)
                let events = 2000
                let start = monotonicNanoseconds()
                for i in 0..<events {
                    for j in 0..<d { x[j] = Double(random.next() % 1000) / 1000 - 0.5 }
                    let norm = x.reduce(0) { $0 + $1 * $1 }.squareRoot()
                    for j in 0..<d { x[j] /= norm }
                    evidence[i % partitions].add(x, label: i % c, targetScale: config.targetScale, noise: config.initialNoise)
                }
                let addMicroseconds = Double(monotonicNanoseconds() &- start) / 1e3 / Double(events)
                var times: [Double] = []
                for _ in 0..<repetitions {
                    let head = KalmanHead(classes: classes, configuration: config)
                    let t0 = monotonicNanoseconds()
                    try KalmanEvidence.fold(evidence, into: head, classes: classes)
                    times.append(Double(monotonicNanoseconds() &- t0) / 1e6)
                }
                let bytes = (d * d + c * d) * 8
                // A partition's state in a snapshot: the model (the kalman head, the drift monitor at its
                // defaults) alone, and with its evidence (model.mode shared); the daemon's few other bytes
                // (offsets, the window of recent inputs) left out.
                let model = StreamModel(classes: classes, head: KalmanHead(classes: classes, configuration: config))
                var writer = CheckpointWriter()
                model.save(to: &writer)
                let perPartition = writer.bytes.count
                evidence[0].save(to: &writer)
                writeLine(
                    pad("\(d)", 7) + pad("\(c)", 6) + pad("\(partitions)", 12) + pad(fmt(Quantile.median(times) ?? .nan, 1), 33)
                        + pad(fmt(addMicroseconds, 1), 14) + pad("\(bytes)", 16) + pad("\(perPartition)", 30) + "\(writer.bytes.count)")
            }
        }
        writeLine("(evidence bytes: one partition's D x D information and C x D projection in Float64, before any encoding)")
    }
}
